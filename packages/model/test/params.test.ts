// Parameter counts and state-dict keys of the full-size models (model-spec §6, §9). The models are only
// built (parameters allocated), never run.
import { beforeAll, describe, expect, it } from 'vitest';
import { init, memory } from '@tmpose/tensor';
import { type ConfigName, backboneArch, countParams, createModel, hrnetConvLayers, hrnetParamCount, paramBreakdown } from '@tmpose/model';

beforeAll(async () => {
  await init();
});

const EXPECTED: [ConfigName, number, number, number][] = [
  // name, all nn.Parameters, paper counter (Conv/BN/Linear), state-dict tensors (11 per layer)
  ['tokenpose-b', 13_514_368, 13_451_584, 1074],
  ['tmpose-l-d24', 27_531_552, 27_459_552, 1202],
  ['tmpose-l-d6', 20_864_928, 20_806_752, 1202 - 18 * 11],
  ['tmpose-l-d6-mpii', 21_492_448, 21_434_464, 1202 - 18 * 11],
];

describe('parameter counts', () => {
  for (const [name, all, paper, keys] of EXPECTED) {
    it(`${name}: ${all.toLocaleString('en')} (paper ${paper.toLocaleString('en')})`, () => {
      const before = memory().liveTensors;
      const model = createModel(name);
      expect(countParams(model, { convention: 'all' })).toBe(all);
      expect(countParams(model, { convention: 'paper' })).toBe(paper);
      expect(countParams(model, { convention: 'trainable' })).toBe(all - model.transformer.pos_embedding.size);
      const dict = model.stateDict();
      expect(Object.keys(dict)).toHaveLength(keys);
      for (const t of Object.values(dict)) t.dispose();
      model.dispose();
      expect(memory().liveTensors).toBe(before);
    });
  }

  it('breaks TokenPose-B down as the spec (per part)', () => {
    const model = createModel('tmpose-b');
    const parts = paramBreakdown(model, 2);
    const backbone = Object.entries(parts).filter(([k]) => k.startsWith('pre_feature.')).reduce((s, [, n]) => s + n, 0);
    expect(backbone).toBe(7_685_632);
    expect(parts['transformer.patch_to_embedding']).toBe(73_920);
    expect(parts['transformer.keypoint_token']).toBe(3_264);
    expect(parts['transformer.pos_embedding']).toBe(49_152);
    expect(parts['transformer.transformer']).toBe(4_444_416);
    expect(parts['transformer.mlp_head']).toBe(1_257_984);
    model.dispose();
  });
});

describe('state-dict keys (official checkpoint layout)', () => {
  it('B: pre_feature.*, transformer.{keypoint_token, pos_embedding, patch_to_embedding, transformer.layers.*, mlp_head.0-3}', () => {
    const model = createModel('tmpose-b');
    const dict = model.stateDict();
    const keys = Object.keys(dict);
    const shape = (k: string) => dict[k]?.shape;
    expect(shape('transformer.keypoint_token')).toEqual([1, 17, 192]);
    expect(shape('transformer.pos_embedding')).toEqual([1, 256, 192]);
    expect(shape('transformer.patch_to_embedding.weight')).toEqual([192, 384]);
    expect(shape('transformer.patch_to_embedding.bias')).toEqual([192]);
    for (let i = 0; i < 12; i++) {
      const p = `transformer.transformer.layers.${i}`;
      expect(shape(`${p}.0.fn.norm.weight`)).toEqual([192]);
      expect(shape(`${p}.0.fn.norm.bias`)).toEqual([192]);
      expect(shape(`${p}.0.fn.fn.to_qkv.weight`)).toEqual([576, 192]);
      expect(keys).not.toContain(`${p}.0.fn.fn.to_qkv.bias`);
      expect(shape(`${p}.0.fn.fn.to_out.0.weight`)).toEqual([192, 192]);
      expect(shape(`${p}.0.fn.fn.to_out.0.bias`)).toEqual([192]);
      expect(shape(`${p}.1.fn.norm.weight`)).toEqual([192]);
      expect(shape(`${p}.1.fn.fn.net.0.weight`)).toEqual([576, 192]);
      expect(shape(`${p}.1.fn.fn.net.0.bias`)).toEqual([576]);
      expect(shape(`${p}.1.fn.fn.net.3.weight`)).toEqual([192, 576]);
      expect(shape(`${p}.1.fn.fn.net.3.bias`)).toEqual([192]);
    }
    expect(shape('transformer.mlp_head.0.weight')).toEqual([192]);
    expect(shape('transformer.mlp_head.1.weight')).toEqual([384, 192]);
    expect(shape('transformer.mlp_head.2.weight')).toEqual([384]);
    expect(shape('transformer.mlp_head.3.weight')).toEqual([3072, 384]);
    const backbone = keys.filter((k) => k.startsWith('pre_feature.'));
    expect(backbone).toHaveLength(930);
    expect(keys).toContain('pre_feature.layer1.0.downsample.0.weight');
    expect(keys).toContain('pre_feature.stage3.3.fuse_layers.0.2.1.running_var');
    expect(keys.filter((k) => k.startsWith('transformer.'))).toHaveLength(1074 - 930);
    // pos_embedding is stored but not trained.
    expect(model.transformer.pos_embedding.requiresGrad).toBe(false);
    expect(model.parameters()).not.toContain(model.transformer.pos_embedding);
    for (const t of Object.values(dict)) t.dispose();
    model.dispose();
  });

  it('L: transformer1/2/3 and a single-Linear head on the 576-d concatenation', () => {
    const model = createModel('tmpose-l-d24');
    const dict = model.stateDict();
    const keys = Object.keys(dict);
    expect(dict['transformer.patch_to_embedding.weight']!.shape).toEqual([192, 576]);
    for (const s of [1, 2, 3]) {
      for (let i = 0; i < 8; i++) expect(keys).toContain(`transformer.transformer${s}.layers.${i}.0.fn.fn.to_qkv.weight`);
      expect(keys).not.toContain(`transformer.transformer${s}.layers.8.0.fn.fn.to_qkv.weight`);
    }
    expect(keys.some((k) => k.startsWith('transformer.transformer.'))).toBe(false);
    expect(dict['transformer.mlp_head.0.weight']!.shape).toEqual([576]);
    expect(dict['transformer.mlp_head.1.weight']!.shape).toEqual([3072, 576]);
    expect(keys).not.toContain('transformer.mlp_head.2.weight');
    for (const t of Object.values(dict)) t.dispose();
    model.dispose();
  });
});

describe('the FLOP counter walks the real backbone', () => {
  for (const name of ['tokenpose-b', 'tmpose-l-d6', 'tiny'] as const) {
    it(`${name}: every conv of hrnetConvLayers exists in pre_feature with that shape, and no other`, () => {
      const model = createModel(name);
      const dict = model.stateDict();
      const convs = Object.entries(dict).filter(([k, t]) => k.startsWith('pre_feature.') && t.rank === 4);
      const layers = hrnetConvLayers(backboneArch(model.config), ...model.config.imageSize);
      expect(convs).toHaveLength(layers.length);
      for (const l of layers) expect(dict[`pre_feature.${l.name}.weight`]?.shape, l.name).toEqual([l.cout, l.cin, l.k, l.k]);
      const backbone = model.pre_feature.parameters().reduce((s, p) => s + p.size, 0);
      expect(backbone).toBe(hrnetParamCount(backboneArch(model.config)));
      for (const t of Object.values(dict)) t.dispose();
      model.dispose();
    });
  }
});
