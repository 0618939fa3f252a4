// The training data loader alone: samples/s on data/coco-mini (the 12 GT samples with
// keypoints, repeated to an epoch of 512), full COCO training augmentation, 256×192 inputs and 17×64×48
// targets, batch 32. `pnpm bench loader [--quick] [--epoch N] [--batch B]`.
//
// Rows: 1 and 2 workers (and the in-process mode), with and without the decoded-image cache. Without
// the cache every sample reads its JPEG (640×~420) and decodes, with sharp, the rows its crop reads;
// that decode is most of the cost. Each configuration runs one untimed epoch first (worker start-up,
// which compiles the sources through tsx here, and the first decodes), then timed epochs; the median
// epoch is reported.
// The machine has 2 cores: run nothing else meanwhile.
import { fileURLToPath } from 'node:url';
import { DataLoader, loadCoco } from '../packages/train/src/data/index.js';
import { median } from './lib/timing.js';

export async function main(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const argNum = (name: string, def: number) => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : def;
  };
  const epochSize = argNum('--epoch', quick ? 128 : 512);
  const batchSize = argNum('--batch', 32);
  const timedEpochs = quick ? 1 : 3;
  const root = fileURLToPath(new URL('../data/coco-mini/', import.meta.url));
  const ds = await loadCoco({ annotationFile: `${root}test_coco.json`, imageRoot: root });
  console.log(`coco-mini: ${ds.length} samples (${ds.images.length} images) repeated to ${epochSize} per epoch, batch ${batchSize}`);
  console.log(`per sample: JPEG decode (sharp) + half-body/scale/rotation/flip + cv2-exact warp to 3×256×192 + 17 DARK targets 64×48`);
  console.log(`timing: 1 untimed epoch, then the median of ${timedEpochs} epoch(s)\n`);

  const configs: { workers: number; cache: boolean }[] = [
    { workers: 1, cache: false },
    { workers: 2, cache: false },
    { workers: 0, cache: false },
    { workers: 1, cache: true },
    { workers: 2, cache: true },
  ];
  const rows: string[][] = [['workers', 'image cache', 'samples/s', 'ms/batch', 'epoch ms (min–max)']];
  for (const c of configs) {
    const loader = new DataLoader(ds, {
      batchSize,
      seed: 1,
      samplesPerEpoch: epochSize,
      workers: c.workers,
      cacheImages: c.cache,
    });
    const times: number[] = [];
    try {
      for (let e = 0; e <= timedEpochs; e++) {
        const t0 = performance.now();
        let n = 0;
        for await (const b of loader.epoch(e)) n += b.size;
        const dt = performance.now() - t0;
        if (n !== epochSize) throw new Error(`epoch had ${n} samples`);
        if (e > 0) times.push(dt);
      }
    } finally {
      await loader.close();
    }
    const med = median(times);
    const sps = (epochSize / med) * 1000;
    rows.push([
      c.workers === 0 ? '0 (in-process)' : String(c.workers),
      c.cache ? 'yes' : 'no',
      sps.toFixed(0),
      ((med / epochSize) * batchSize).toFixed(1),
      `${med.toFixed(0)} (${Math.min(...times).toFixed(0)}–${Math.max(...times).toFixed(0)})`,
    ]);
    console.log(`workers ${rows.at(-1)![0]}, cache ${rows.at(-1)![1]}: ${sps.toFixed(0)} samples/s`);
  }
  console.log('');
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(r.map((v, i) => v.padStart(widths[i]!)).join('  '));
}
