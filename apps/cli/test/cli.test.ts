// The tmpose command end to end on the bundled sample, small enough for lavapipe: train (and resume),
// eval, predict, info, score, and the one-line errors that leave nothing written.
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { root, run } from './helpers.js';

const data = join(root, 'data/coco-mini');
const out = mkdtempSync(join(tmpdir(), 'tmpose-cli-'));

const trainArgs = ['train', '--config', 'tiny', '--data', data, '--out', out, '--batch-size', '4', '--samples-per-epoch', '8', '--workers', '0', '--log-every', '1'];

describe('tmpose', () => {
  beforeAll(async () => {
    const r = await run(...trainArgs, '--epochs', '1');
    expect(r.code, r.stderr).toBe(0);
  });
  afterAll(() => {});

  it('train writes a checkpoint, the best one by AP, a JSONL log and the loss curve', () => {
    for (const f of ['last.safetensors', 'best.safetensors', 'log.jsonl', 'loss.svg', 'loss.png']) expect(existsSync(join(out, f)), f).toBe(true);
    const log = readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; step: number });
    expect(log.filter((r) => r.type === 'step').map((r) => r.step)).toEqual([1, 2]);
    expect(log.some((r) => r.type === 'eval')).toBe(true);
  });

  it('--resume continues from the checkpoint where the run stopped', async () => {
    const r = await run(...trainArgs, '--epochs', '2', '--resume');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('resumed from');
    const steps = readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; step: number; epoch: number })
      .filter((x) => x.type === 'step');
    expect(steps.map((s) => s.step)).toEqual([1, 2, 3, 4]);
    expect(steps.at(-1)!.epoch).toBe(2);
  });

  it('a resumed run continues the same loss curve as an uninterrupted one', async () => {
    const straight = mkdtempSync(join(tmpdir(), 'tmpose-cli-straight-'));
    const r = await run('train', ...trainArgs.slice(1).map((a) => (a === out ? straight : a)), '--epochs', '2');
    expect(r.code, r.stderr).toBe(0);
    const losses = (dir: string) =>
      readFileSync(join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; loss: number })
        .filter((x) => x.type === 'step').map((x) => x.loss);
    const a = losses(out);
    const b = losses(straight);
    expect(a).toHaveLength(4);
    a.forEach((v, i) => expect(Math.abs(v - b[i]!), `step ${i + 1}`).toBeLessThanOrEqual(1e-5 * Math.abs(b[i]!)));
  });

  it('stops on a non-finite loss and keeps the last good checkpoint', async () => {
    const before = readFileSync(join(out, 'last.safetensors'));
    const r = await run(...trainArgs, '--epochs', '3', '--resume', '--lr', '1e30');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the loss became (NaN|Infinity|-Infinity) at epoch 3/);
    expect(readFileSync(join(out, 'last.safetensors')).equals(before)).toBe(true);
  });

  it('train reads a JSON settings file; flags override it; a bad one is one clear error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tmpose-cli-settings-'));
    const settings = join(dir, 'train.json');
    writeFileSync(settings, JSON.stringify({ config: 'tiny', data, 'batch-size': 4, 'samples-per-epoch': 8, epochs: 5, workers: 0, 'eval-every': 0, milestones: [3, 4] }));
    const r = await run('train', '--settings', settings, '--out', dir, '--epochs', '1');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('done: 1 epochs');
    writeFileSync(settings, JSON.stringify({ config: 'tiny', 'batch-sise': 4 }));
    const bad = await run('train', '--settings', settings, '--out', dir);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/unknown option 'batch-sise'/);
  });

  it('eval prints the ten COCO numbers', async () => {
    const r = await run('eval', '--checkpoint', join(out, 'last.safetensors'), '--data', data, '--boxes', 'gt');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.match(/Average (Precision|Recall)/g)).toHaveLength(10);
  });

  it('predict draws skeletons onto the photo', async () => {
    const png = join(out, 'pred.png');
    const r = await run('predict', '--checkpoint', join(out, 'last.safetensors'), join(data, '000000196141.jpg'), '--out', png);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(png).subarray(1, 4).toString()).toBe('PNG');
  });

  it('predict --keep draws the kept tokens under the skeletons', async () => {
    const png = join(out, 'pred-keep.png');
    const json = join(out, 'pred-keep.json');
    const args = ['predict', '--checkpoint', join(out, 'last.safetensors'), join(data, '000000196141.jpg'), '--keep', '0.5', '--seed', '1', '--json', json];
    const r = await run(...args, '--out', png);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(png).equals(readFileSync(join(out, 'pred.png')))).toBe(false);
    const again = await run(...args, '--out', join(out, 'pred-keep-again.png'));
    expect(again.code, again.stderr).toBe(0);
    expect(readFileSync(join(out, 'pred-keep-again.png')).equals(readFileSync(png))).toBe(true);
    const bad = await run('predict', '--checkpoint', join(out, 'last.safetensors'), join(data, '000000196141.jpg'), '--keep', '1.5', '--out', join(out, 'bad.png'));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--keep must be in \(0, 1\]/);
  });

  it('predict --json: a model whose heatmaps are known puts every keypoint where it must be, and draws it there', async () => {
    // A `tiny` checkpoint whose heatmaps do not depend on the image: the Transformer's residual branches
    // are zeroed (attention to_out and FFN net.3), so keypoint token j reaches the head unchanged; token j
    // is the unit vector e_j, and the head (LN → Linear → LN → Linear) is set so that its output for e_j is
    // exactly the Gaussian G_j(x, y) = exp(−((x − μx_j)² + (y − μy_j)²) / 8) on the 32×24 heatmap (the two
    // LayerNorms map e_j to c1·e_j + c0·(1 − e_j); the last Linear holds G_j/(c1 − c0) in column j and its
    // negative in column 17 + j, so the c0 terms cancel).
    const { init, tensor } = await import('@tmpose/tensor');
    const { createModel } = await import('@tmpose/model');
    const { saveCheckpoint, readImage } = await import('@tmpose/train');
    await init();
    const [h, w, J, D, hidden] = [32, 24, 17, 32, 96];
    // Peaks ≥ 5 px inside the map and inside the photo (heatmap rows 9.3–21.7 and columns 2.3–20.7 show it).
    const mu = Array.from({ length: J }, (_, j) => [5.3 + 3.1 * (j % 5), 9.8 + 2.9 * Math.floor(j / 5)] as const);
    const eps = 1e-5; // nn.LayerNorm's
    const a = 1 / Math.sqrt((1 / D) * (1 - 1 / D) + eps); // LN(e_j) = a·e_j + b·1
    const b = -a / D;
    const inv2 = 1 / Math.sqrt(a * a * (1 / hidden) * (1 - 1 / hidden) + eps); // LN(a·e_j + b·1) over 96
    const gap = a * inv2; // c1 − c0
    const W1 = new Float32Array(hidden * D);
    for (let r = 0; r < D; r++) W1[r * D + r] = 1;
    const b1 = Float32Array.from({ length: hidden }, (_, r) => (r < D ? 0 : b));
    const W3 = new Float32Array(h * w * hidden);
    for (let j = 0; j < J; j++) {
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const g = Math.exp(-((x - mu[j]![0]) ** 2 + (y - mu[j]![1]) ** 2) / 8) / gap;
          W3[(y * w + x) * hidden + j] = g;
          W3[(y * w + x) * hidden + J + j] = -g;
        }
      }
    }
    const token = new Float32Array(J * D);
    for (let j = 0; j < J; j++) token[j * D + j] = 1;
    const zeros = (...shape: number[]) => tensor(new Float32Array(shape.reduce((p, q) => p * q, 1)), shape);
    const ones = (n: number) => tensor(new Float32Array(n).fill(1), [n]);
    const weights = {
      'transformer.keypoint_token': tensor(token, [1, J, D]),
      'transformer.mlp_head.0.weight': ones(D),
      'transformer.mlp_head.0.bias': zeros(D),
      'transformer.mlp_head.1.weight': tensor(W1, [hidden, D]),
      'transformer.mlp_head.1.bias': tensor(b1, [hidden]),
      'transformer.mlp_head.2.weight': ones(hidden),
      'transformer.mlp_head.2.bias': zeros(hidden),
      'transformer.mlp_head.3.weight': tensor(W3, [h * w, hidden]),
      'transformer.mlp_head.3.bias': zeros(h * w),
      ...Object.fromEntries(
        [0, 1].flatMap((i) => [
          [`transformer.transformer.layers.${i}.0.fn.fn.to_out.0.weight`, zeros(D, D)],
          [`transformer.transformer.layers.${i}.0.fn.fn.to_out.0.bias`, zeros(D)],
          [`transformer.transformer.layers.${i}.1.fn.fn.net.3.weight`, zeros(D, hidden)],
          [`transformer.transformer.layers.${i}.1.fn.fn.net.3.bias`, zeros(D)],
        ]),
      ),
    };
    const model = createModel('tiny', { seed: 3 });
    model.loadStateDict(weights, { strict: false });
    for (const t of Object.values(weights)) t.dispose();
    const checkpoint = join(out, 'known.safetensors');
    await saveCheckpoint(checkpoint, { model, state: { epoch: 0, step: 0, best: -1, rng: 0, config: 'tiny' } });
    model.dispose();

    const photo = join(data, '000000196141.jpg'); // 640×429
    const png = join(out, 'known.png');
    const json = join(out, 'known.json');
    const r = await run('predict', '--checkpoint', checkpoint, photo, '--out', png, '--json', json);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('1 person drawn');
    const doc = JSON.parse(readFileSync(json, 'utf8')) as { image: string; joints: string[]; people: { score: number; keypoints: number[][] }[] };
    expect(doc.image).toBe(photo);
    expect(doc.joints).toHaveLength(J);
    expect(doc.joints[0]).toBe('nose');
    expect(doc.people).toHaveLength(1);
    const kps = doc.people[0]!.keypoints;
    expect(kps).toHaveLength(J);

    // Where they must be, worked out here: without boxes the whole image is the person box
    // [0, 0, 640, 429] → centre ((640 − 1)/2, (429 − 1)/2), box widened to the 96:128 aspect (640 × 853.3),
    // ×1.25 → 800 px wide; the DarkPose crop maps the centre to ((24 − 1)/2, (32 − 1)/2) and 800 − 1 image
    // pixels onto 24 − 1 heatmap pixels, both axes alike. DARK finds a whole Gaussian's centre to < 1e-3
    // heatmap pixel (≈ 0.035 image px here); the score is the map's peak, G_j at the nearest pixel.
    const k = (640 * 1.25 - 1) / (w - 1);
    const [cx, cy] = [(640 - 1) / 2, (429 - 1) / 2];
    const photoPixels = await readImage(photo);
    const drawn = await readImage(png);
    expect([drawn.width, drawn.height]).toEqual([640, 429]);
    const rgb = (im: typeof drawn, x: number, y: number) => Array.from(im.data.subarray((Math.round(y) * im.width + Math.round(x)) * 3, (Math.round(y) * im.width + Math.round(x)) * 3 + 3));
    kps.forEach(([x, y, score], j) => {
      const ex = cx + (mu[j]![0] - (w - 1) / 2) * k;
      const ey = cy + (mu[j]![1] - (h - 1) / 2) * k;
      expect(Math.hypot(x! - ex, y! - ey), `joint ${j} at (${x}, ${y}), expected (${ex}, ${ey})`).toBeLessThan(0.05);
      const peak = Math.exp(-((mu[j]![0] - Math.round(mu[j]![0])) ** 2 + (mu[j]![1] - Math.round(mu[j]![1])) ** 2) / 8);
      expect(Math.abs(score! - peak), `joint ${j} score`).toBeLessThan(1e-4);
      // Drawn there: the joint's white disc over a photo pixel that is not white.
      expect(Math.min(...rgb(photoPixels, ex, ey)), `photo pixel under joint ${j}`).toBeLessThan(235);
      expect(Math.min(...rgb(drawn, ex, ey)), `drawn pixel at joint ${j}`).toBeGreaterThanOrEqual(250);
    });
    expect(doc.people[0]!.score).toBeCloseTo(kps.reduce((s, p) => s + p[2]!, 0) / J, 12);
  });

  it('predict also takes bare weights (a DataParallel `module.` prefix is dropped) with --config', async () => {
    const { modelFromCheckpoint } = await import('@tmpose/train');
    const { io } = await import('@tmpose/tensor');
    const { model } = await modelFromCheckpoint(join(out, 'last.safetensors'));
    const dict = model.stateDict();
    const bare = join(out, 'bare.safetensors');
    await io.saveSafetensors(bare, Object.fromEntries(Object.entries(dict).map(([k, t]) => [`module.${k}`, t])));
    for (const t of Object.values(dict)) t.dispose();
    model.dispose();
    const png = join(out, 'bare.png');
    const without = await run('predict', '--checkpoint', bare, join(data, '000000196141.jpg'), '--out', png);
    expect(without.code).toBe(1);
    expect(without.stderr).toMatch(/pass --config/);
    const r = await run('predict', '--checkpoint', bare, '--config', 'tiny', join(data, '000000196141.jpg'), '--out', png);
    expect(r.code, r.stderr).toBe(0);
    const wrong = await run('predict', '--checkpoint', bare, '--config', 'tmpose-b', join(data, '000000196141.jpg'), '--out', join(out, 'wrong.png'));
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/incompatible with tmpose-b/);
    expect(existsSync(join(out, 'wrong.png'))).toBe(false);
  });

  it('info prints parameters and FLOPs in both conventions', async () => {
    const r = await run('info', '--config', 'tmpose-b');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('13,514,368 (all)');
    expect(r.stdout).toContain('13,451,584');
    expect(r.stdout).toMatch(/true GMACs 5\.610/);
  });

  it('score reproduces pycocotools on a results file', async () => {
    const r = await run('score', '--gt', join(data, 'test_coco.json'), '--results', join(data, 'eval-cases/noise_small.results.json'));
    expect(r.code, r.stderr).toBe(0);
    const expected = JSON.parse(readFileSync(join(data, 'eval-cases/noise_small.expected.json'), 'utf8')) as Record<string, number>;
    const printed = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))) as Record<string, number>;
    for (const [k, v] of Object.entries(expected)) expect(Math.abs(printed[k]! - v), k).toBeLessThanOrEqual(1e-9);
  });

  it('fails with one line and a non-zero code, writing nothing', async () => {
    const before = readdirSync(out).sort();
    const cases: [string[], RegExp][] = [
      [['predict', '--checkpoint', join(out, 'nope.safetensors'), join(data, '000000196141.jpg'), '--out', join(out, 'x.png')], /nope\.safetensors/],
      [['predict', '--checkpoint', join(out, 'last.safetensors'), join(out, 'missing.jpg'), '--out', join(out, 'x.png')], /missing\.jpg: no such image/],
      [['predict', '--checkpoint', join(out, 'log.jsonl'), join(data, '000000196141.jpg'), '--out', join(out, 'x.png')], /log\.jsonl/],
      [['score', '--gt', join(data, 'test_coco.json'), '--results', join(data, 'test_coco.json')], /results/],
      [['train', '--config', 'nope', '--data', data, '--out', out], /unknown config 'nope'/],
      [['eval', '--checkpoint', join(out, 'last.safetensors'), '--data', join(out, 'no-such-dir')], /no such data folder/],
    ];
    for (const [argv, message] of cases) {
      const r = await run(...argv);
      expect(r.code, argv.join(' ')).not.toBe(0);
      expect(r.stderr.split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
    expect(readdirSync(out).sort()).toEqual(before);
  });
});
