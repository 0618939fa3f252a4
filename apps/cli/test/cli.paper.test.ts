// The paper's training path through the tmpose command, on the bundled sample: an ImageNet-pretrained
// backbone (--pretrained), MPII in the official HRNet folder layout with PCKh from gt_valid.mat, weights
// export, and prediction over many images.
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { root, run, tempDir } from './helpers.js';

const coco = join(root, 'data/coco-mini');
const mpiiSample = join(root, 'data/mpii-mini');
const pretrained = join(root, 'packages/train/test/fixtures/pretrained/hrnet_w8_cls.pth');

const tinyRun = (data: string, out: string) => ['--data', data, '--out', out, '--batch-size', '4', '--samples-per-epoch', '8', '--workers', '0', '--epochs', '1'];

describe('tmpose train --pretrained', () => {
  it('loads the ImageNet backbone by the official rule and says how many tensors it loaded and skipped', async () => {
    const out = tempDir('pretrained');
    const r = await run('train', '--config', 'tiny', ...tinyRun(coco, out), '--eval-every', '0', '--pretrained', pretrained);
    expect(r.code, r.stderr).toBe(0);
    // The `tiny` backbone has 138 of the checkpoint's 1,380 tensors (scripts/gen_pretrained_fixtures.py).
    expect(r.stderr).toContain(`pretrained: 138 tensors loaded into the backbone from ${pretrained}, 1242 skipped`);
  });

  it('a checkpoint of another width is one line naming the file and the tensor', async () => {
    const out = tempDir('pretrained');
    const r = await run('train', '--config', 'tmpose-b', ...tinyRun(coco, out), '--pretrained', pretrained);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^tmpose train: .*hrnet_w8_cls\.pth: '.*' is float32 \[.*\] in the checkpoint but float32 \[.*\] in the tmpose-b backbone \(HRNet-W32\)/);
    expect(r.stderr.split('\n')).toHaveLength(1);
  });
});

describe('tmpose export, eval and predict over many images', () => {
  const out = tempDir('export');
  const weights = join(out, 'model.safetensors');

  beforeAll(async () => {
    const r = await run('train', '--config', 'tiny', ...tinyRun(coco, out), '--log-every', '1');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/best AP \d\.\d{4}/);
    expect(readFileSync(join(out, 'loss.svg'), 'utf8')).toContain('validation AP');
  });

  it("export writes the weights alone; eval of the export gives the checkpoint's AP, without --config", async () => {
    const r = await run('export', '--checkpoint', join(out, 'best.safetensors'), '--out', weights);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\d+ tensors of tiny to /);
    const { io } = await import('@tmpose/tensor');
    const file = await io.readSafetensors(weights);
    expect(Object.keys(file.tensors).some((k) => k.startsWith('optim.') || k.startsWith('model.'))).toBe(false);
    expect(JSON.parse(file.metadata.tmpose_weights!).config.name).toBe('tiny');
    // Without Adam's two moments per weight the file is about a third of a training checkpoint (best's
    // holds the model alone, last's the optimizer too), and the browser-side loader reads it.
    const ratio = statSync(weights).size / statSync(join(out, 'last.safetensors')).size;
    expect(ratio).toBeGreaterThan(0.3);
    expect(ratio).toBeLessThan(0.36);
    const { loadModel } = await import('@tmpose/model');
    const loaded = await loadModel(new Uint8Array(readFileSync(weights)));
    expect(loaded.config.name).toBe('tiny');
    loaded.dispose();
    const fromCheckpoint = await run('eval', '--checkpoint', join(out, 'best.safetensors'), '--data', coco);
    const fromExport = await run('eval', '--checkpoint', weights, '--data', coco);
    expect(fromExport.code, fromExport.stderr).toBe(0);
    // The ten numbers as pycocotools prints them, and the stats JSON.
    expect(fromExport.stdout).toMatch(/Average Precision/);
    expect(fromExport.stdout).toBe(fromCheckpoint.stdout);
  });

  it('predict over a folder with a detection file writes COCO results that tmpose score reads, and the pictures', async () => {
    const results = join(out, 'results.json');
    const pictures = join(out, 'pictures');
    const r = await run('predict', '--checkpoint', weights, coco, '--boxes', join(coco, 'test_coco_det_AP_H_56.json'), '--box-score', '0.5', '--results', results, '--out', pictures);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\d+ people in 4 images to /);
    const written = JSON.parse(readFileSync(results, 'utf8')) as { image_id: number; keypoints: number[]; score: number }[];
    expect(new Set(written.map((p) => p.image_id))).toEqual(new Set([785, 40083, 196141, 197388]));
    for (const p of written) expect(p.keypoints).toHaveLength(51);
    expect(readdirSync(pictures).sort()).toEqual(['000000000785.png', '000000040083.png', '000000196141.png', '000000197388.png']);
    const score = await run('score', '--gt', join(coco, 'test_coco.json'), '--results', results);
    expect(score.code, score.stderr).toBe(0);
    expect(score.stdout.match(/Average (Precision|Recall)/g)).toHaveLength(10);
  });

  it('predict with the detection file gives the people eval gives with it (same crops, rescoring and OKS-NMS)', async () => {
    // The three best boxes of each image (a few crops keep the test quick on a software GPU).
    const all = JSON.parse(readFileSync(join(coco, 'test_coco_det_AP_H_56.json'), 'utf8')) as { image_id: number; score: number }[];
    const top = all.filter((d) => all.filter((e) => e.image_id === d.image_id && e.score > d.score).length < 3);
    const dets = join(out, 'top-detections.json');
    writeFileSync(dets, JSON.stringify(top));
    const [fromEval, fromPredict] = [join(out, 'eval-det.json'), join(out, 'predict-det.json')];
    expect((await run('eval', '--checkpoint', weights, '--data', coco, '--boxes', dets, '--out', fromEval)).code).toBe(0);
    expect((await run('predict', '--checkpoint', weights, coco, '--boxes', dets, '--results', fromPredict)).code).toBe(0);
    type Result = { image_id: number; keypoints: number[]; score: number };
    const order = (file: string) => (JSON.parse(readFileSync(file, 'utf8')) as Result[]).sort((a, b) => a.image_id - b.image_id || b.score - a.score);
    const [a, b] = [order(fromEval), order(fromPredict)];
    expect(b.length).toBe(a.length);
    a.forEach((r, i) => {
      expect(b[i]!.image_id).toBe(r.image_id);
      expect(Math.abs(b[i]!.score - r.score)).toBeLessThan(1e-5);
      r.keypoints.forEach((v, k) => expect(Math.abs(b[i]!.keypoints[k]! - v)).toBeLessThan(1e-4));
    });
  });

  it('a bad image is reported and skipped with a count at the end; without boxes the whole image is one person', async () => {
    const folder = join(out, 'folder');
    mkdirSync(folder);
    copyFileSync(join(coco, '000000000785.jpg'), join(folder, '000000000785.jpg'));
    writeFileSync(join(folder, '000000000001.jpg'), 'not a JPEG');
    const results = join(out, 'whole.json');
    const r = await run('predict', '--checkpoint', weights, folder, '--results', results);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/skipped .*000000000001\.jpg: cannot decode image/);
    expect(r.stdout).toContain('1 people in 1 images to');
    expect(r.stdout).toContain('1 of 2 images could not be read and were skipped');
    const written = JSON.parse(readFileSync(results, 'utf8')) as { image_id: number }[];
    expect(written.map((p) => p.image_id)).toEqual([785]);
    expect(existsSync(join(out, 'folder', '000000000001.png'))).toBe(false);
  });

  it('predict over a COCO image list takes its ids and finds the images beside it (or in --image-root)', async () => {
    const results = join(out, 'list.json');
    const r = await run('predict', '--checkpoint', weights, join(coco, 'test_coco.json'), '--results', results);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('4 people in 4 images to');
    const written = JSON.parse(readFileSync(results, 'utf8')) as { image_id: number }[];
    expect(written.map((p) => p.image_id).sort((a, b) => a - b)).toEqual([785, 40083, 196141, 197388]);
    const elsewhere = await run('predict', '--checkpoint', weights, join(coco, 'test_coco.json'), '--image-root', out, '--results', results);
    expect(elsewhere.stdout).toContain('4 of 4 images could not be read and were skipped');
  });
});

describe('MPII end to end in the official folder layout (annot/{train,valid}.json, annot/gt_valid.mat, images/)', () => {
  const out = tempDir('mpii');
  const data = join(out, 'mpii');
  beforeAll(() => {
    mkdirSync(join(data, 'annot'), { recursive: true });
    mkdirSync(join(data, 'images'));
    for (const f of readdirSync(mpiiSample).filter((n) => n.endsWith('.jpg'))) copyFileSync(join(mpiiSample, f), join(data, 'images', f));
    for (const f of ['train.json', 'valid.json']) copyFileSync(join(mpiiSample, 'test_mpii.json'), join(data, 'annot', f));
    // The ground truth of the 5 records with made-up head boxes, as scripts/gen_mpii_pckh_fixtures.py wrote it.
    copyFileSync(join(root, 'packages/train/test/fixtures/mpii-gt_valid.mat'), join(data, 'annot', 'gt_valid.mat'));
  });

  it('train runs an epoch, validates with PCKh from gt_valid.mat, logs it and draws it beside the loss', async () => {
    const run1 = join(out, 'run');
    const r = await run('train', '--config', 'tiny-mpii', ...tinyRun(data, run1), '--log-every', '1');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/epoch 1: PCKh \d+\.\d{4}\n# PCKh@0\.5\n\| Arch \| Head \| Shoulder/);
    expect(r.stdout).toMatch(/best PCKh \d+\.\d{4}/);
    const log = readFileSync(join(run1, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const evals = log.filter((e) => e.type === 'eval');
    expect(evals).toHaveLength(1);
    expect(evals[0]).toMatchObject({ metric: 'PCKh', epoch: 1 });
    expect(evals[0]!.score).toBe(evals[0]!.Mean);
    expect(readFileSync(join(run1, 'loss.svg'), 'utf8')).toContain('validation PCKh');
    for (const f of ['best.safetensors', 'loss.png']) expect(existsSync(join(run1, f)), f).toBe(true);

    // eval on the same folder: the official table and the per-joint lines, from gt_valid.mat.
    const e = await run('eval', '--checkpoint', join(run1, 'best.safetensors'), '--data', data);
    expect(e.code, e.stderr).toBe(0);
    expect(e.stdout.split('\n').slice(0, 3)).toEqual(['# PCKh@0.5', '| Arch | Head | Shoulder | Elbow | Wrist | Hip | Knee | Ankle | Mean | Mean@0.1 |', '|---|---|---|---|---|---|---|---|---|---|']);
    expect(e.stdout).toContain('# PCKh@0.5, per joint');
    expect(e.stdout).toMatch(/r_ankle +n= +\d+/);
    const mean = Number(e.stdout.split('\n')[3]!.split('|').at(-3));
    expect(mean).toBeCloseTo(evals[0]!.Mean as number, 3);
  });

  it('a COCO model on MPII data is one clear error', async () => {
    const r = await run('train', '--config', 'tiny', ...tinyRun(data, join(out, 'wrong')));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^tmpose train: .*train\.json: MPII data needs a 16-joint model \(an -mpii config\); tiny has 17 joints$/);
  });
});
