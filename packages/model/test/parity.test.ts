// PyTorch parity of the Transformer part (tokenizer, masking with slot / gathered position embeddings,
// sine-full re-adds, attention, FFN, B and L heads): forward outputs and the gradients of every
// parameter and of the input features, against scripts/gen_tmpose_reference.py (float64 reference
// from float32 weights).
//
// Tolerances: heatmaps 1e-4 max abs (values are O(1)); gradients |Δ| ≤ 2e-4·max|g| + 1e-3·|g| per tensor.
// A NaN or ±Infinity in ours or in the reference fails both (./compare.ts, checked by compare.test.ts).
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Tensor, init, io, tensor, tidy } from '@tmpose/tensor';
import { PoseTransformer, type PoseTransformerOptions, sinePositionTable } from '@tmpose/model';
import { expectGradClose, maxAbsDiff } from './compare.js';

interface FixtureConfig {
  feature_size: [number, number];
  channels: number;
  patch_size: [number, number];
  num_keypoints: number;
  dim: number;
  depth: number;
  heads: number;
  mlp_dim: number;
  stacks: number;
  head: 'B' | 'L';
  heatmap_size: [number, number];
  head_hidden?: number;
}

function load(tag: string) {
  const parsed = io.parseHost(new Uint8Array(readFileSync(new URL(`./fixtures/tmpose_parity_${tag}.safetensors`, import.meta.url))));
  const cfg = JSON.parse(parsed.metadata!.config!) as FixtureConfig;
  return { t: parsed.tensors, cfg };
}

function build(cfg: FixtureConfig, pe: 'slot' | 'gathered'): PoseTransformer {
  const options: PoseTransformerOptions = {
    featureSize: cfg.feature_size,
    channels: cfg.channels,
    patchSize: cfg.patch_size,
    numJoints: cfg.num_keypoints,
    dim: cfg.dim,
    heads: cfg.heads,
    depth: cfg.depth,
    stacks: cfg.stacks,
    mlpDim: cfg.mlp_dim,
    head: cfg.head,
    heatmapSize: cfg.heatmap_size,
    pe,
    headHidden: cfg.head_hidden ?? undefined,
  };
  return new PoseTransformer(options);
}

/** G[i] = float32(sin(0.37 i + 0.1)): the upstream gradient of the fixed loss sum(out · G). */
const gradOutput = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(0.37 * i + 0.1));

beforeAll(async () => {
  await init();
});

for (const tag of ['b', 'l'] as const) {
  describe(`parity with PyTorch: ${tag.toUpperCase()} head`, () => {
    const { t, cfg } = load(tag);
    const weights = () =>
      Object.fromEntries(
        Object.entries(t)
          .filter(([k]) => k.startsWith('weight.'))
          .map(([k, v]) => [k.slice('weight.'.length), tensor(v.data as Float32Array, v.shape)] as const),
      );

    it('uses the official parameter names and the same sine table', () => {
      const model = build(cfg, 'gathered');
      const ours = Object.keys(model.stateDict()).sort();
      const theirs = Object.keys(t).filter((k) => k.startsWith('weight.')).map((k) => k.slice(7)).sort();
      expect(ours).toEqual(theirs);
      const table = sinePositionTable(cfg.feature_size[0] / cfg.patch_size[0], cfg.feature_size[1] / cfg.patch_size[1], cfg.dim);
      const ref = t['weight.pos_embedding']!.data as Float32Array;
      expect(maxAbsDiff(table, ref)).toBeLessThan(2e-7);
      model.dispose();
    });

    for (const run of ['slot', 'gathered', 'full'] as const) {
      it(`matches outputs${run === 'full' ? '' : ' and gradients'} (${run})`, async () => {
        const model = build(cfg, run === 'slot' ? 'slot' : 'gathered');
        tidy(() => model.loadStateDict(weights()));
        const f = t['input.feature']!;
        const feature = tensor(f.data as Float32Array, f.shape, { requiresGrad: true });
        const shared = Array.from(t['indices.shared']!.data as Int32Array);
        const ps = t['indices.per_sample']!;
        const K = ps.shape[1]!;
        const perSample = [0, 1].map((b) => Array.from((ps.data as Int32Array).subarray(b * K, (b + 1) * K)));
        const indices = run === 'slot' ? shared : run === 'gathered' ? perSample : null;
        const out = model.forward(feature, indices);
        const expected = t[`${run}.output`]!;
        expect(out.shape).toEqual(expected.shape);
        const got = await out.data();
        expect(maxAbsDiff(got, expected.data as Float32Array), 'max |Δ heatmap| (NaN anywhere fails)').toBeLessThan(1e-4);
        if (run !== 'full') {
          const G = tensor(gradOutput(out.size), out.shape);
          out.backward(G);
          G.dispose();
          const grads: [string, Tensor | null][] = [['input.feature', feature.grad], ...model.namedParameters().map(([k, p]): [string, Tensor | null] => [k, p.grad])];
          for (const [name, g] of grads) {
            const ref = t[`${run}.grad.${name}`];
            expect(ref, `reference gradient for ${name}`).toBeDefined();
            expect(g, `gradient of ${name}`).not.toBeNull();
            expectGradClose(await g!.data(), ref!.data as Float32Array, name);
          }
          // The frozen table gets none.
          expect(model.pos_embedding.grad).toBeNull();
        }
        out.dispose();
        feature.dispose();
        model.dispose();
      });
    }
  });
}
