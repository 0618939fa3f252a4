// loadModel (@tmpose/model) reads what training writes: a checkpoint (model + Adam state) and the
// weights `tmpose export` writes (about a third of the checkpoint), as bytes, Blob, path and file: URL;
// bare weights need options.config. Bad files are one error naming the file, leaving nothing on the GPU.
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { init, io, memory, optim, randn, sum, tensor, tidy } from '@tmpose/tensor';
import { type TMPose, createModel, loadModel, weightsMetadata } from '@tmpose/model';
import { exportWeights, saveCheckpoint } from '@tmpose/train';

let model: TMPose;
let dir: string;
let checkpoint: string;
let exported: string;

beforeAll(async () => {
  await init();
  model = createModel('tiny', { seed: 4 });
  const adam = new optim.Adam(model.parameters(), { lr: 1e-3 });
  tidy(() => sum(model.forward(randn([1, 3, 128, 96], { seed: 1 }))).backward());
  adam.step();
  model.zeroGrad();
  dir = mkdtempSync(join(tmpdir(), 'tmpose-load-'));
  checkpoint = join(dir, 'last.safetensors');
  exported = join(dir, 'model.safetensors');
  await saveCheckpoint(checkpoint, { model, optimizer: adam, state: { epoch: 1, step: 1, best: -1, rng: 0, config: 'tiny' } });
  await exportWeights(model, exported);
  for (const s of Object.values(adam.stateDict().state)) for (const t of Object.values(s.tensors)) t.dispose();
});

afterAll(() => model.dispose());

/** Whether `loaded` holds `model`'s weights exactly. */
async function expectSameWeights(loaded: TMPose) {
  const want = model.stateDict();
  const got = loaded.stateDict();
  expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
  for (const k of Object.keys(want)) expect(await got[k]!.data(), k).toEqual(await want[k]!.data());
  for (const t of [...Object.values(want), ...Object.values(got)]) t.dispose();
  expect(loaded.config.name).toBe('tiny');
}

describe('loadModel', () => {
  it('reads a checkpoint from its bytes, a path and a file: URL', async () => {
    for (const source of [new Uint8Array(readFileSync(checkpoint)), checkpoint, pathToFileURL(checkpoint)]) {
      const loaded = await loadModel(source);
      await expectSameWeights(loaded);
      loaded.dispose();
    }
  });

  it('reads exported weights (a third of the checkpoint) from an ArrayBuffer and a Blob', async () => {
    const ratio = statSync(exported).size / statSync(checkpoint).size;
    expect(ratio).toBeGreaterThan(0.3);
    expect(ratio).toBeLessThan(0.36);
    const bytes = readFileSync(exported);
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    for (const source of [buffer, new Blob([bytes])]) {
      const loaded = await loadModel(source);
      await expectSameWeights(loaded);
      loaded.dispose();
    }
  });

  it('bare weights need options.config', async () => {
    const dict = model.stateDict();
    const bare = await io.serialize(dict);
    for (const t of Object.values(dict)) t.dispose();
    await expect(loadModel(bare)).rejects.toThrow(/the model bytes: the file names no model configuration \(bare weights\); pass options\.config/);
    const loaded = await loadModel(bare, { config: 'tiny' });
    await expectSameWeights(loaded);
    loaded.dispose();
  });

  it('a bad file is one error naming it, and leaves nothing on the GPU', async () => {
    const before = memory().liveTensors;
    const garbage = join(dir, 'garbage.safetensors');
    writeFileSync(garbage, 'this is not a safetensors file at all');
    await expect(loadModel(garbage)).rejects.toThrow(/garbage\.safetensors/);
    const bytes = readFileSync(checkpoint);
    const truncated = join(dir, 'truncated.safetensors');
    writeFileSync(truncated, bytes.subarray(0, bytes.length - 1000));
    await expect(loadModel(truncated)).rejects.toThrow(/truncated\.safetensors/);
    await expect(loadModel(new Uint8Array(bytes.subarray(0, 100)))).rejects.toThrow(/the model bytes/);
    await expect(loadModel(new TextEncoder().encode('{"not": "safetensors"}'))).rejects.toThrow(/the model bytes/);
    await expect(loadModel(join(dir, 'missing.safetensors'))).rejects.toThrow(/missing\.safetensors: no such model file/);
    await expect(loadModel(checkpoint, { config: 'tiny-mpii' })).rejects.toThrow(/last\.safetensors: the weights are incompatible with tiny-mpii: .*nothing was loaded/);
    const dict = model.stateDict();
    const key = 'transformer.keypoint_token';
    const good = dict[key]!;
    dict[key] = tensor(new Float32Array(good.size).fill(Number.NaN), good.shape);
    good.dispose();
    const diverged = await io.serialize(dict, weightsMetadata(model.config));
    for (const t of Object.values(dict)) t.dispose();
    await expect(loadModel(new Blob([new Uint8Array(diverged)]))).rejects.toThrow(/the model Blob: 'transformer\.keypoint_token' holds \d+ NaN or Infinity values/);
    expect(memory().liveTensors).toBe(before);
  });
});
