// --pretrained: an ImageNet HRNet classification checkpoint (written by PyTorch, in the legacy format and layout of
// hrnet_w32-36af842e.pth, narrow widths; scripts/gen_pretrained_fixtures.py) goes into the backbone by the
// official HRNET_base.init_weights rule: exactly the tensors that rule loads (the lists it produced in
// Python), with the checkpoint's values, and nothing else changes.
import { createModel, getConfig, type TMPose } from '@tmpose/model';
import { init, io } from '@tmpose/tensor';
import { loadPretrainedBackbone } from '@tmpose/train';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const file = fileURLToPath(new URL('./fixtures/pretrained/hrnet_w8_cls.pth', import.meta.url));
interface Rule {
  loaded: string[];
  skipped: string[];
  missing: string[];
}
const expected = JSON.parse(readFileSync(new URL('./fixtures/pretrained/expected.json', import.meta.url), 'utf8')) as { full: Rule; tiny: Rule };
const checkpoint = io.loadPthHost(readFileSync(file), { name: file });

/** Every parameter and buffer of the model, read back to the host. */
async function snapshot(model: TMPose): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const [k, t] of Object.entries(model.stateDict())) {
    out.set(k, Array.from(await t.data()));
    t.dispose();
  }
  return out;
}

beforeAll(async () => {
  await init();
});

describe('loadPretrainedBackbone (the official HRNET_base.init_weights rule)', () => {
  const cases = {
    // The real depth (4 Bottlenecks, 4 blocks per branch, 4 stage3 modules) at the fixture's narrow widths.
    full: getConfig('tiny', { backbone: { width: 8, stemChannels: 16, layer1Planes: 8, layer1Blocks: 4, blocks: 4, stage3Modules: 4 }, seed: 3 }),
    tiny: getConfig('tiny', { seed: 3 }),
  };
  for (const [name, config] of Object.entries(cases) as [keyof typeof cases, (typeof cases)['full']][]) {
    it(`${name}: loads exactly the tensors the official rule loads, with their values; nothing else changes`, async () => {
      const model = createModel(config);
      const before = await snapshot(model);
      const result = await loadPretrainedBackbone(model, file);
      expect(result.loaded).toEqual(expected[name].loaded);
      expect(result.skipped).toEqual(expected[name].skipped);
      const after = await snapshot(model);
      model.dispose();
      const loaded = new Set(result.loaded.map((k) => `pre_feature.${k}`));
      let changed = 0;
      for (const [k, values] of after) {
        if (loaded.has(k)) {
          expect(values, k).toEqual(Array.from(checkpoint[k.slice('pre_feature.'.length)]!.data));
          changed++;
        } else {
          expect(values, `${k} must keep its initial values`).toEqual(before.get(k));
        }
      }
      expect(changed).toBe(expected[name].loaded.length);
      // Every backbone tensor has a counterpart in the checkpoint (none is left at its random init).
      expect(expected[name].missing).toEqual([]);
      expect([...after.keys()].filter((k) => k.startsWith('pre_feature.')).length).toBe(changed);
    });
  }

  it('a checkpoint of another width is one clear error, and nothing is loaded', async () => {
    const model = createModel(getConfig('tiny', { backbone: { width: 6, stemChannels: 16, layer1Planes: 8, layer1Blocks: 1, blocks: 1, stage3Modules: 1 }, seed: 3 }));
    const before = await snapshot(model);
    await expect(loadPretrainedBackbone(model, file)).rejects.toThrow(
      /hrnet_w8_cls\.pth: 'transition1\.0\.0\.weight' is float32 \[8, 32, 3, 3\] in the checkpoint but float32 \[6, 32, 3, 3\] in the tiny backbone \(HRNet-W6\)/,
    );
    expect(await snapshot(model)).toEqual(before);
    model.dispose();
  });

  it('a missing file names it', async () => {
    const model = createModel('tiny');
    await expect(loadPretrainedBackbone(model, '/nonexistent/hrnet_w32.pth')).rejects.toThrow('/nonexistent/hrnet_w32.pth: no such pretrained checkpoint');
    model.dispose();
  });
});
