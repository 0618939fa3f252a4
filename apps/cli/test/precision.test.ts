// --precision and --dtype end to end: `train --precision f16` trains and logs its loss scale (and a
// resumed run restores it), an adapter without shader-f16 (switched off in DeviceInfo, which is read at
// each use) refuses f16 in one line and trains `auto` in float32, and `export --dtype float16` writes
// half the bytes, which eval-style loading reads back.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type DeviceInfo, init } from '@tmpose/tensor';
import { run, sample, tempDir, trainArgs } from './helpers.js';

let info: DeviceInfo;
beforeAll(async () => {
  info = await init();
});

interface Record_ { type: string; step: number; scale?: number; skipped?: number }
const steps = (out: string) =>
  readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record_).filter((r) => r.type === 'step');

async function withoutShaderF16<T>(body: () => Promise<T>): Promise<T> {
  const had = info.features.shaderF16;
  info.features.shaderF16 = false;
  try {
    return await body();
  } finally {
    info.features.shaderF16 = had;
  }
}

describe('tmpose train --precision', () => {
  it('f16 trains a couple of steps, logging the loss scale; --resume continues it', async () => {
    const out = tempDir('f16');
    const r = await run(...trainArgs(sample, out), '--epochs', '1', '--eval-every', '0', '--precision', 'f16');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^done: 1 epochs \(mixed precision, 0 steps skipped on overflow\), last loss /);
    expect(steps(out).map((s) => [s.step, s.scale, s.skipped])).toEqual([[1, 65536, 0], [2, 65536, 0]]);
    const again = await run(...trainArgs(sample, out), '--epochs', '2', '--eval-every', '0', '--precision', 'f16', '--resume');
    expect(again.code, again.stderr).toBe(0);
    expect(steps(out).map((s) => s.step)).toEqual([1, 2, 3, 4]);
  }, 120_000);

  it('f16 on an adapter without shader-f16 is one line and writes nothing; auto trains in float32 there', async () => {
    const out = tempDir('nof16');
    const refused = await withoutShaderF16(() => run(...trainArgs(sample, join(out, 'run')), '--epochs', '1', '--precision', 'f16'));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      "tmpose train: precision float16: this adapter has no shader-f16; float16 tensors need it (ask for precision 'auto' to fall back to float32)",
    );
    expect(existsSync(join(out, 'run'))).toBe(false);
    const auto = await withoutShaderF16(() => run(...trainArgs(sample, out), '--epochs', '1', '--eval-every', '0', '--precision', 'auto'));
    expect(auto.code, auto.stderr).toBe(0);
    expect(auto.stderr).toContain('precision auto: this adapter has no shader-f16; training in float32');
    expect(auto.stdout).toMatch(/^done: 1 epochs, last loss /);
    expect(steps(out).every((s) => s.scale === undefined)).toBe(true);
    const bad = await run(...trainArgs(sample, tempDir('bad')), '--precision', 'f8');
    expect([bad.code, bad.stderr]).toEqual([1, "tmpose train: --precision must be f32, f16 or auto, got 'f8'"]);
  }, 120_000);
});

describe('tmpose export --dtype float16', () => {
  it('writes about half the bytes of a float32 export, and the file loads', async () => {
    const dir = tempDir('export16');
    const weights = join(sample, '../weights/tiny-coco-mini.safetensors');
    const f16 = join(dir, 'tiny-f16.safetensors');
    const r = await run('export', '--checkpoint', weights, '--out', f16, '--dtype', 'float16');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\d+ tensors of tiny to .*tiny-f16\.safetensors \(float16\)$/);
    expect(statSync(f16).size / statSync(weights).size).toBeLessThan(0.52);
    const again = await run('export', '--checkpoint', f16, '--out', join(dir, 'back.safetensors'));
    expect(again.code, again.stderr).toBe(0);
    expect(statSync(join(dir, 'back.safetensors')).size).toBe(statSync(weights).size);
    const bad = await run('export', '--checkpoint', weights, '--out', join(dir, 'x.safetensors'), '--dtype', 'int8');
    expect([bad.code, bad.stderr]).toEqual([1, "tmpose export: --dtype must be float32 or float16, got 'int8'"]);
  }, 60_000);
});
