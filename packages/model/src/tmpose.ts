// TokenPose / TMPose: HRNet-s features → tokens (patches) → [keypoint tokens | kept visual tokens] →
// pre-norm Transformer(s) → heatmaps from the keypoint outputs.
//
// Module tree (state-dict keys equal the official checkpoint's, model-spec §9):
//   pre_feature.*                         HRNet-s
//   transformer.keypoint_token            [1, J, dim]
//   transformer.pos_embedding             [1, P, dim] fixed sine table (a buffer: saved and loaded, never trained)
//   transformer.patch_to_embedding        Linear(ph·pw·C → dim)
//   transformer.transformer.layers.*      B: one Transformer
//   transformer.transformer{1,2,3}.layers.*  L: three
//   transformer.mlp_head.{0..3|0..1}      head
//
// Masking (model-spec §3, §10): in training mode the config's keep ratio applies by default (keep 1 =
// no masking); at inference only when `keep` or `indices` is passed. One index set is drawn per
// forward and shared by the batch (the official behaviour) unless `perSample`. `indices` (kept token
// ids, [K] or [B, K]) make a forward exactly reproducible; `seed` seeds the sampler for one forward
// (numpy-compatible: seed s draws numpy.random.seed(s); numpy.random.choice(P, n, replace=False)).
// The kept patch vectors are gathered before the patch embedding (the same numbers as embedding all P
// and gathering after, which the official code does, for less work).
import {
  type Tensor,
  add,
  concat,
  expand,
  gatherTokens,
  hostTensor,
  nn,
  noGrad,
  randn,
  reshape,
  slice,
  tensor,
  tidy,
  zeros,
} from '@tmpose/tensor';
import { type ConfigName, type ModelConfig, getConfig } from './configs.js';
import { type HeadKind, makeHead } from './head.js';
import { HRNetS } from './hrnet.js';
import { RandomState, type Sampler, sampleIndices } from './maskers.js';
import { sinePositionEmbedding } from './positional.js';
import { patchGrid, patchify } from './tokenizer.js';
import { Transformer } from './transformer.js';

/** Kept token ids: one list shared by the batch, or one list per sample. */
export type TokenIndices = readonly number[] | Int32Array | readonly (readonly number[] | Int32Array)[];

export interface ForwardOptions {
  /** Keep ratio for this forward (masking at inference happens only when this or `indices` is given). */
  keep?: number;
  /** Seeds the random sampler for this forward (otherwise the model's own generator advances). */
  seed?: number;
  /** Explicit kept token ids ([K] or [B, K]); overrides keep / seed / sampler. */
  indices?: TokenIndices;
  /** Sampler for this forward; default the config's. */
  sampler?: Sampler;
  /** Draw one index set per sample instead of one for the batch. */
  perSample?: boolean;
}

/** Options of the Transformer part alone (`transformer.*`). */
export interface PoseTransformerOptions {
  featureSize: [number, number];
  channels: number;
  patchSize: [number, number];
  numJoints: number;
  dim: number;
  heads: number;
  depth: number;
  stacks: number;
  mlpDim: number;
  head: HeadKind;
  heatmapSize: [number, number];
  pe: 'gathered' | 'slot';
  dropout?: number;
  /** The B head's hidden width; default heatmap H·W/8 as the official code (narrow test models set it). */
  headHidden?: number;
}

/** Derives a per-tensor seed from a base seed (splitmix32 on base + i). */
function derivedSeed(base: number, i: number): number {
  let z = (base + Math.imul(i + 1, 0x9e3779b9)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/** The official init of the Transformer part: Linear weights N(0, 0.02) (trunc ±2), biases 0; LN 1, 0. */
export function initTransformerWeights(module: nn.Module<never[], unknown>, seed?: number): void {
  let i = 0;
  const next = () => (seed === undefined ? undefined : derivedSeed(seed, i++));
  noGrad(() =>
    tidy(() => {
      for (const [, m] of module.namedModules()) {
        if (m instanceof nn.Linear) {
          const dict: Record<string, Tensor> = { weight: randn(m.weight.shape, { std: 0.02, seed: next() }) };
          if (m.bias) dict.bias = zeros(m.bias.shape);
          m.loadStateDict(dict);
        }
        // nn.LayerNorm already starts at weight 1, bias 0.
      }
    }),
  );
}

/** The official `TokenPose_TB_base` / `TokenPose_L_base`: tokenizer, Transformer(s), head. */
export class PoseTransformer extends nn.Module<[Tensor, TokenIndices | null], Tensor> {
  readonly keypoint_token: Tensor;
  readonly pos_embedding: Tensor;
  readonly patch_to_embedding: nn.Linear;
  readonly stacks: Transformer[];
  readonly mlp_head: nn.Sequential;
  readonly grid: { gh: number; gw: number; numTokens: number; patchDim: number };

  constructor(readonly options: PoseTransformerOptions) {
    super();
    const o = options;
    this.grid = patchGrid(o.featureSize[0], o.featureSize[1], o.channels, o.patchSize[0], o.patchSize[1]);
    this.keypoint_token = this.registerParameter('keypoint_token', randn([1, o.numJoints, o.dim], { std: 0.02 }));
    this.pos_embedding = this.registerBuffer('pos_embedding', sinePositionEmbedding(this.grid.gh, this.grid.gw, o.dim));
    this.patch_to_embedding = this.registerModule('patch_to_embedding', new nn.Linear(this.grid.patchDim, o.dim));
    const t = { dim: o.dim, depth: o.depth, heads: o.heads, mlpDim: o.mlpDim, dropout: o.dropout ?? 0 };
    if (o.stacks === 1) {
      this.stacks = [this.registerModule('transformer', new Transformer(t))];
    } else {
      this.stacks = Array.from({ length: o.stacks }, (_, i) => this.registerModule(`transformer${i + 1}`, new Transformer(t)));
    }
    this.mlp_head = this.registerModule('mlp_head', makeHead(o.head, o.dim * o.stacks, o.heatmapSize[0], o.heatmapSize[1], o.headHidden));
  }

  /** Re-draws the weights as the official init does (Linear N(0, .02), biases 0, keypoint_token N(0, .02)). */
  resetParameters(seed?: number): void {
    initTransformerWeights(this as nn.Module<never[], unknown>, seed);
    noGrad(() =>
      tidy(() => {
        this.loadStateDict(
          { keypoint_token: randn(this.keypoint_token.shape, { std: 0.02, seed: seed === undefined ? undefined : derivedSeed(seed, 1 << 20) }) },
          { strict: false },
        );
      }),
    );
  }

  /**
   * feature [B, C, fh, fw] → heatmaps [B, J, hmH, hmW]. `indices` = kept token ids ([K] or [B, K]),
   * or null for all tokens in order.
   */
  forward(feature: Tensor, indices: TokenIndices | Tensor | null): Tensor {
    const o = this.options;
    const B = feature.shape[0]!;
    const J = o.numJoints;
    const D = o.dim;
    return tidy(() => {
      let tokens = patchify(feature, o.patchSize[0], o.patchSize[1]);
      let pos: Tensor = this.pos_embedding;
      if (indices) {
        const idx = 'assertAlive' in indices ? indices : indexTensor(toGatherIndex(indices, B, this.grid.numTokens));
        tokens = gatherTokens(tokens, idx);
        const n = tokens.shape[1]!;
        pos = o.pe === 'slot' ? slice(this.pos_embedding, 1, 0, n) : gatherTokens(this.pos_embedding, idx);
      }
      const x = add(this.patch_to_embedding.forward(tokens), pos);
      const kp = expand(this.keypoint_token, [B, J, D]);
      let h = concat([kp, x], 1);
      // The per-layer re-add ("sine-full") is padded with zeros over the keypoint tokens.
      const posFull = concat([zeros([pos.shape[0]!, J, D], { dtype: pos.dtype }), pos], 1);
      const outs: Tensor[] = [];
      for (const t of this.stacks) {
        h = t.forward(h, posFull);
        outs.push(slice(h, 1, 0, J));
      }
      const kpOut = outs.length === 1 ? outs[0]! : concat(outs, 2);
      const y = this.mlp_head.forward(kpOut);
      return reshape(y, [B, J, o.heatmapSize[0], o.heatmapSize[1]]);
    });
  }
}

/** Kept token ids as the int32 tensor gatherTokens reads ([K] or [B, K]). */
function indexTensor(ids: number[] | number[][]): Tensor<'int32'> {
  const rows = typeof ids[0] === 'number' ? [ids as number[]] : (ids as number[][]);
  const shape = typeof ids[0] === 'number' ? [rows[0]!.length] : [rows.length, rows[0]!.length];
  return tensor(Int32Array.from(rows.flat()), shape, { dtype: 'int32' });
}

function toGatherIndex(indices: TokenIndices, B: number, P: number): number[] | number[][] {
  const rows = Array.from(indices as ArrayLike<unknown>);
  const nested = rows.length > 0 && typeof rows[0] !== 'number';
  const check = (list: ArrayLike<number>) => {
    const seen = new Set<number>();
    for (const v of Array.from(list)) {
      if (!Number.isInteger(v) || v < 0 || v >= P) throw new Error(`TMPose: token index ${v} is out of range for ${P} tokens`);
      if (seen.has(v)) throw new Error(`TMPose: token index ${v} appears twice`);
      seen.add(v);
    }
    return Array.from(list);
  };
  if (!nested) {
    if (rows.length === 0) throw new Error('TMPose: indices must keep at least one token');
    return check(rows as number[]);
  }
  if (rows.length !== B) throw new Error(`TMPose: got ${rows.length} index lists for a batch of ${B}`);
  return (rows as ArrayLike<number>[]).map(check);
}

/** TokenPose / TMPose: HRNet-s backbone (`pre_feature`) + the Transformer part (`transformer`). */
export class TMPose extends nn.Module<[Tensor, ForwardOptions?], Tensor> {
  readonly pre_feature: HRNetS;
  readonly transformer: PoseTransformer;
  readonly config: ModelConfig;
  /** The model's own masking generator (numpy-compatible MT19937), seeded with config.maskSeed ?? 0. */
  readonly maskRng: RandomState;
  /** The token ids of the last forward (null: all tokens in order). */
  lastIndices: number[] | number[][] | null = null;

  constructor(config: ModelConfig) {
    super();
    this.config = config;
    const [H, W] = config.imageSize;
    const { width, ...narrow } = config.backbone;
    const backboneSeed = config.seed === undefined ? undefined : derivedSeed(config.seed, 1 << 21);
    this.pre_feature = this.registerModule('pre_feature', new HRNetS(width, { ...narrow, seed: backboneSeed }));
    this.transformer = this.registerModule(
      'transformer',
      new PoseTransformer({
        featureSize: [H / 4, W / 4],
        channels: config.backbone.width,
        patchSize: config.patchSize,
        numJoints: config.numJoints,
        dim: config.dim,
        heads: config.heads,
        depth: config.depth,
        stacks: config.stacks,
        mlpDim: config.dim * config.mlpRatio,
        head: config.head,
        heatmapSize: config.heatmapSize,
        pe: config.pe,
        dropout: config.dropout,
      }),
    );
    this.transformer.resetParameters(config.seed);
    this.maskRng = new RandomState(config.maskSeed ?? 0);
  }

  /** Visual tokens per image (P). */
  get numTokens(): number {
    return this.transformer.grid.numTokens;
  }

  /** Parameters stored but never trained (the official `nn.Parameter(requires_grad=False)`): the sine table. */
  namedFrozenParameters(): [string, Tensor][] {
    return [['transformer.pos_embedding', this.transformer.pos_embedding]];
  }

  /** The kept token ids a forward with these options uses, or null for all tokens (advances maskRng when it draws). */
  resolveIndices(batch: number, options: ForwardOptions = {}): number[] | number[][] | null {
    if (options.indices) return toGatherIndex(options.indices, batch, this.numTokens);
    const keep = options.keep ?? (this.training ? this.config.keep : 1);
    const explicit = options.keep !== undefined;
    if (keep >= 1 && !explicit) return null;
    const sampler = options.sampler ?? this.config.sampler;
    // At keep 1 only the random sampler changes anything (a permutation), and only with slot PE.
    if (keep >= 1 && (sampler !== 'random' || this.config.pe === 'gathered')) return null;
    const rng = options.seed === undefined ? this.maskRng : new RandomState(options.seed);
    const P = this.numTokens;
    if (options.perSample) return Array.from({ length: batch }, () => sampleIndices(sampler, P, keep, rng));
    return sampleIndices(sampler, P, keep, rng);
  }

  /** Backbone features [B, C, H/4, W/4]. */
  features(images: Tensor): Tensor {
    return this.pre_feature.forward(images);
  }

  /** Heatmaps from backbone features (the Transformer part alone). */
  forwardFeatures(feature: Tensor, options: ForwardOptions = {}): Tensor {
    const B = feature.shape[0]!;
    const indices = this.resolveIndices(B, options);
    this.lastIndices = indices;
    if (!indices) return this.transformer.forward(feature, null);
    // Drawn again, from the same generator, at each replay of a captured training step (captureGraph).
    let first = true;
    const shape = typeof indices[0] === 'number' ? [indices.length] : [indices.length, (indices[0] as number[]).length];
    return tidy(() => {
      const idx = hostTensor(
        () => {
          if (!first) this.lastIndices = this.resolveIndices(B, options);
          first = false;
          return Int32Array.from(this.lastIndices!.flat());
        },
        shape,
        { dtype: 'int32' },
      );
      return this.transformer.forward(feature, idx);
    });
  }

  /**
   * images [B, 3, H, W] → heatmaps [B, J, H/4, W/4], in the weights' dtype: after `model.to('float16')`
   * the images are cast to float16 here, at the entry, and every layer runs in float16.
   */
  forward(images: Tensor, options: ForwardOptions = {}): Tensor {
    return tidy(() => this.forwardFeatures(this.features(images.to(this.transformer.keypoint_token.dtype)), options));
  }
}

/** Builds a model from a config name or object (with overrides). */
export function createModel(nameOrConfig: ConfigName | ModelConfig, overrides: Partial<ModelConfig> = {}): TMPose {
  return new TMPose(getConfig(nameOrConfig, overrides));
}
