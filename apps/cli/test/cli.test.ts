// The tmpose command end to end on the bundled sample, small enough for lavapipe: train (and resume),
// eval, predict, info, score, and the one-line errors that leave nothing written.
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../src/main.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const data = join(root, 'data/coco-mini');
const out = mkdtempSync(join(tmpdir(), 'tmpose-cli-'));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(...argv: string[]): Promise<Run> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a) => void stdout.push(a.join(' ')));
  const err = vi.spyOn(console, 'error').mockImplementation((...a) => void stderr.push(a.join(' ')));
  try {
    const code = await main(argv);
    return { code, stdout: stdout.join('\n'), stderr: stderr.join('\n') };
  } finally {
    log.mockRestore();
    err.mockRestore();
  }
}

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
