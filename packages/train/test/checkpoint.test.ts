// saveCheckpoint refuses weights holding NaN or ±Infinity (naming the tensor, writing nothing) and
// accepts every finite value, however large; loadCheckpoint gives back what was saved.
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { init, nn, tensor } from '@tmpose/tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCheckpoint, saveCheckpoint } from '@tmpose/train';

beforeAll(async () => {
  await init();
});

const state = { epoch: 1, step: 2, best: -1, rng: 0, config: 'tiny' };

describe('checkpoints and non-finite values', () => {
  it('large finite weights (1e30, whose squares overflow float32) are saved and loaded back', async () => {
    const model = new nn.Linear(3, 2);
    model.loadStateDict({ weight: tensor([1e30, -3e38, 0.5, 1, 2, 3], [2, 3]), bias: tensor([0, -1e-30], [2]) });
    const path = join(mkdtempSync(join(tmpdir(), 'tmpose-ckpt-')), 'last.safetensors');
    await saveCheckpoint(path, { model, state });
    const loaded = await loadCheckpoint(path);
    expect(Array.from(await loaded.model.weight!.data())).toEqual(Array.from(Float32Array.from([1e30, -3e38, 0.5, 1, 2, 3])));
    loaded.dispose();
    model.dispose();
  });

  for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
    it(`a weight holding ${bad} is refused, naming the tensor, and nothing is written`, async () => {
      const model = new nn.Linear(3, 2);
      model.loadStateDict({ weight: tensor([1, 2, 3, 4, bad, 6], [2, 3]), bias: tensor([0, 0], [2]) });
      const path = join(mkdtempSync(join(tmpdir(), 'tmpose-ckpt-')), 'last.safetensors');
      await expect(saveCheckpoint(path, { model, state })).rejects.toThrow(/last\.safetensors not written: 'model\.weight' holds NaN or Infinity/);
      expect(existsSync(path)).toBe(false);
      model.dispose();
    });
  }
});
