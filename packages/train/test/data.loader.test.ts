// The DataLoader on the real coco-mini / mpii-mini images: the whole pipeline against the official code
// run with cv2 + torch (scripts/gen_data_fixtures.py), seeded determinism across worker counts, epoch
// bookkeeping, the image cache and error messages.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { affinePoint, getAffineTransform } from '@tmpose/model';
import {
  COCO_FLIP_PAIRS,
  DataLoader,
  fliplrJoints,
  generateTarget,
  getSample,
  loadCoco,
  loadMpii,
  normalizeTable,
  readImage,
  warpAffine,
  type Batch,
  type PoseDataset,
} from '@tmpose/train';

const shared = (p: string) => fileURLToPath(new URL(`../../../data/${p}`, import.meta.url));

interface PipeEntry {
  index: number;
  flip: boolean;
  scale: number[];
  rot: number;
  center: number[];
  imageSum: number;
  imageAbsSum: number;
  imagePicks: number[];
  imageValues: number[];
  u8Sum: number;
  targetSum: number[];
  targetPicks: number[];
  targetValues: number[];
  weight: number[];
  joints: number[];
  vis: number[];
  u8?: string;
}
const fx = JSON.parse(readFileSync(new URL('./fixtures/data-pipeline.json', import.meta.url), 'utf8')) as { cocoPipeline: PipeEntry[] };

const IMG = 3 * 256 * 192;
const HM = 17 * 64 * 48;

let coco: PoseDataset;
beforeAll(async () => {
  coco = await loadCoco({ annotationFile: shared('coco-mini/test_coco.json'), imageRoot: shared('coco-mini') });
});

async function collect(loader: DataLoader, epoch: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of loader.epoch(epoch)) out.push(b);
  return out;
}

function compareToReference(images: Float32Array, iOff: number, targets: Float32Array, tOff: number, weights: ArrayLike<number>, e: PipeEntry): void {
  let sum = 0;
  let abs = 0;
  for (let i = 0; i < IMG; i++) {
    const v = images[iOff + i]!;
    sum += v;
    abs += Math.abs(v);
  }
  // Byte-exact warps give float32-exact pixels; the sums differ only by summation order.
  expect(Math.abs(sum - e.imageSum)).toBeLessThan(1e-6 * e.imageAbsSum);
  expect(Math.abs(abs - e.imageAbsSum)).toBeLessThan(1e-6 * e.imageAbsSum);
  for (let k = 0; k < e.imagePicks.length; k++) expect(images[iOff + e.imagePicks[k]!]).toBe(e.imageValues[k]);
  expect(Array.from(weights)).toEqual(e.weight);
  for (let k = 0; k < e.targetPicks.length; k++) {
    expect(Math.abs(targets[tOff + e.targetPicks[k]!]! - e.targetValues[k]!)).toBeLessThan(1e-6);
  }
  for (let j = 0; j < 17; j++) {
    let s = 0;
    for (let i = 0; i < 64 * 48; i++) s += targets[tOff + j * 64 * 48 + i]!;
    expect(Math.abs(s - e.targetSum[j]!)).toBeLessThan(1e-4);
  }
}

describe('DataLoader: the pipeline against the official code (cv2 + torch)', () => {
  it('validation mode (no augmentation) reproduces every coco-mini sample, with 2 workers', async () => {
    const loader = new DataLoader(coco, { batchSize: 5, train: false, workers: 2 });
    try {
      expect(loader.length).toBe(3);
      const batches = await collect(loader, 0);
      expect(batches.map((b) => b.size)).toEqual([5, 5, 2]);
      const b0 = batches[0]!;
      expect(b0.imageShape).toEqual([5, 3, 256, 192]);
      expect(b0.targetShape).toEqual([5, 17, 64, 48]);
      expect(b0.weightShape).toEqual([5, 17]);
      expect(b0.images.length).toBe(5 * IMG);
      expect(b0.targets.length).toBe(5 * HM);
      let checked = 0;
      for (const e of fx.cocoPipeline) {
        if (e.flip || e.rot !== 0) continue;
        const b = batches[Math.floor(e.index / 5)]!;
        const k = e.index % 5;
        const m = b.meta[k]!;
        expect(m.index).toBe(e.index);
        expect(m.center).toEqual(e.center);
        expect(m.scale).toEqual(e.scale);
        expect(m.rotation).toBe(0);
        expect(m.flipped).toBe(false);
        for (let j = 0; j < 34; j++) expect(m.joints[j]).toBeCloseTo(e.joints[j]!, 9);
        compareToReference(b.images, k * IMG, b.targets, k * HM, b.targetWeights.subarray(k * 17, k * 17 + 17), e);
        if (e.u8) {
          // The first crop byte for byte: our floats are table[cv2's bytes].
          const u8 = new Uint8Array(Buffer.from(e.u8, 'base64'));
          const t = normalizeTable();
          const plane = 256 * 192;
          for (let i = 0; i < plane; i++) {
            for (let c = 0; c < 3; c++) {
              if (b.images[k * IMG + c * plane + i] !== t[c * 256 + u8[i * 3 + c]!]) {
                expect.fail(`pixel ${i} channel ${c} differs from cv2`);
              }
            }
          }
        }
        checked++;
      }
      expect(checked).toBe(4);
    } finally {
      await loader.close();
    }
  });

  it('flip, scale and rotation reproduce the official crops and targets (fixed draws)', async () => {
    let checked = 0;
    for (const e of fx.cocoPipeline) {
      if (!e.flip && e.rot === 0) continue;
      const s = getSample(coco, e.index);
      const img = await readImage(s.image.path);
      const joints = Float64Array.from(s.joints);
      const vis = Uint8Array.from(s.jointsVis);
      let center: [number, number] = [s.center[0], s.center[1]];
      const f = Math.fround;
      const scale: [number, number] = e.rot !== 0 ? [f(s.scale[0] * f(-0.7 * 0.35 + 1)), f(s.scale[1] * f(-0.7 * 0.35 + 1))] : s.scale;
      expect(scale).toEqual(e.scale);
      if (e.flip) {
        fliplrJoints(joints, vis, img.width, COCO_FLIP_PAIRS);
        center = [f(img.width - center[0] - 1), center[1]];
      }
      expect(center).toEqual(e.center);
      const trans = getAffineTransform(center, scale, e.rot, [192, 256]);
      const transHm = getAffineTransform(center, scale, e.rot, [48, 64]);
      const images = warpAffine(img.data, img.width, img.height, trans, 192, 256, { flip: e.flip });
      const hm = new Float64Array(34);
      for (let j = 0; j < 17; j++) {
        if (vis[j]! > 0) {
          const [x, y] = affinePoint(transHm, joints[2 * j]!, joints[2 * j + 1]!);
          hm[2 * j] = x;
          hm[2 * j + 1] = y;
          const [ix, iy] = affinePoint(trans, joints[2 * j]!, joints[2 * j + 1]!);
          expect(ix).toBeCloseTo(e.joints[2 * j]!, 9);
          expect(iy).toBeCloseTo(e.joints[2 * j + 1]!, 9);
        } else {
          hm[2 * j] = joints[2 * j]!;
          hm[2 * j + 1] = joints[2 * j + 1]!;
        }
      }
      const targets = new Float32Array(HM);
      const weights = new Float32Array(17);
      generateTarget(hm, vis, { heatmapSize: [48, 64] }, targets, 0, weights, 0);
      compareToReference(images, 0, targets, 0, weights, e);
      checked++;
    }
    expect(checked).toBe(8);
  });
});

describe('DataLoader: determinism and bookkeeping', () => {
  it('the same seed gives identical batches with 0, 1 and 2 workers, cached or not; another seed or epoch does not', async () => {
    const opts = { batchSize: 4, seed: 3, samplesPerEpoch: 12 } as const;
    const runs: Batch[][] = [];
    // Uncached runs decode only the rows each crop reads; the cached one decodes whole images.
    for (const [workers, cacheImages] of [[2, false], [0, true], [1, false]] as const) {
      const loader = new DataLoader(coco, { ...opts, workers, cacheImages });
      try {
        runs.push(await collect(loader, 1));
      } finally {
        await loader.close();
      }
    }
    const [a, b, c] = runs as [Batch[], Batch[], Batch[]];
    expect(a.length).toBe(3);
    for (let i = 0; i < a.length; i++) {
      for (const other of [b, c]) {
        expect(other[i]!.meta).toEqual(a[i]!.meta);
        expect(Buffer.compare(Buffer.from(other[i]!.images.buffer), Buffer.from(a[i]!.images.buffer))).toBe(0);
        expect(Buffer.compare(Buffer.from(other[i]!.targets.buffer), Buffer.from(a[i]!.targets.buffer))).toBe(0);
        expect(Array.from(other[i]!.targetWeights)).toEqual(Array.from(a[i]!.targetWeights));
      }
    }
    // Augmentation happened: some rotation, some flip, scales differ from the dataset's.
    const metas = a.flatMap((x) => x.meta);
    expect(metas.some((m) => m.rotation !== 0)).toBe(true);
    expect(metas.some((m) => m.flipped)).toBe(true);
    const other = new DataLoader(coco, { ...opts, seed: 4, workers: 0 });
    const d = await collect(other, 1);
    const e0 = await collect(other, 0);
    await other.close();
    expect(d.flatMap((x) => x.meta).map((m) => m.rotation)).not.toEqual(metas.map((m) => m.rotation));
    expect(e0.flatMap((x) => x.meta).map((m) => m.rotation)).not.toEqual(d.flatMap((x) => x.meta).map((m) => m.rotation));
  });

  it('shuffles per epoch, repeats for samplesPerEpoch, honours dropLast', async () => {
    const l = new DataLoader(coco, { batchSize: 5, seed: 1, samplesPerEpoch: 30, dropLast: true, workers: 0 });
    expect(l.length).toBe(6);
    const o0 = l.order(0);
    const o1 = l.order(1);
    expect(o0.length).toBe(30);
    // Each block of 12 is a permutation of the dataset.
    expect(Array.from(o0.subarray(0, 12)).sort((x, y) => x - y)).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(Array.from(o0.subarray(12, 24)).sort((x, y) => x - y)).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(Array.from(o0)).not.toEqual(Array.from(o1));
    expect(Array.from(l.order(0))).toEqual(Array.from(o0));
    const dl = new DataLoader(coco, { batchSize: 5, dropLast: true, train: false, workers: 0 });
    expect(dl.length).toBe(2);
    expect(Array.from(dl.order(0))).toEqual(Array.from({ length: 12 }, (_, i) => i));
    const bs = await collect(dl, 0);
    expect(bs.map((b) => b.size)).toEqual([5, 5]);
    // Breaking out early is fine and the loader stays usable.
    const w = new DataLoader(coco, { batchSize: 2, workers: 2, seed: 2 });
    try {
      for await (const b of w.epoch(0)) {
        expect(b.index).toBe(0);
        break;
      }
      const all = await collect(w, 0);
      expect(all.length).toBe(6);
    } finally {
      await w.close();
    }
    expect(() => new DataLoader(coco, { batchSize: 0 })).toThrow(/batchSize must be a positive integer/);
  });

  it('close() during an epoch ends it with "DataLoader: closed"', async () => {
    const l = new DataLoader(coco, { batchSize: 2, workers: 1, seed: 0 });
    const iter = l.epoch(0)[Symbol.asyncIterator]();
    expect((await iter.next()).done).toBe(false);
    await l.close();
    let err: unknown;
    for (let k = 0; k < 10 && err === undefined; k++) {
      try {
        if ((await iter.next()).done) break;
      } catch (e) {
        err = e;
      }
    }
    expect(String(err)).toMatch(/DataLoader: closed/);
    await expect(l.epoch(1).next()).rejects.toThrow(/DataLoader: closed/);
  });

  it('MPII: 256×256 inputs, 64×64 targets, 16 joints', async () => {
    const mpii = await loadMpii({ annotationFile: shared('mpii-mini/test_mpii.json'), imageRoot: shared('mpii-mini') });
    const l = new DataLoader(mpii, { batchSize: 5, seed: 0, workers: 1 });
    try {
      const [b] = await collect(l, 0);
      expect(b!.imageShape).toEqual([5, 3, 256, 256]);
      expect(b!.targetShape).toEqual([5, 16, 64, 64]);
      expect(b!.images.length).toBe(5 * 3 * 256 * 256);
      expect(b!.meta.every((m) => !m.halfBody)).toBe(true);
      expect(b!.meta.every((m) => Math.abs(m.rotation) <= 60)).toBe(true);
      // Some visible joints land in the target map.
      let w = 0;
      for (const v of b!.targetWeights) w += v;
      expect(w).toBeGreaterThan(40);
    } finally {
      await l.close();
    }
  });
});

describe('DataLoader: errors', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tmpose-loader-'));
    writeFileSync(join(dir, 'broken.jpg'), 'this is not a JPEG');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function withImage(path: string): PoseDataset {
    return { ...coco, images: coco.images.map((im, i) => (i === 1 ? { ...im, path } : im)) };
  }

  it('names a missing image file (worker and in-process)', async () => {
    const missing = join(dir, 'missing.jpg');
    for (const workers of [0, 2]) {
      const l = new DataLoader(withImage(missing), { batchSize: 12, train: false, workers });
      try {
        await expect(collect(l, 0)).rejects.toThrow(`cannot read image ${missing}: no such file`);
      } finally {
        await l.close();
      }
    }
  });

  it('names an undecodable image file', async () => {
    const broken = join(dir, 'broken.jpg');
    const l = new DataLoader(withImage(broken), { batchSize: 12, train: false, workers: 1 });
    try {
      await expect(collect(l, 0)).rejects.toThrow(`cannot decode image ${broken}`);
    } finally {
      await l.close();
    }
  });
});
