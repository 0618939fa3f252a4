// Model configurations: the paper's TokenPose / TMPose B, L/D6, L/D24 (COCO 256×192 and MPII 256×256)
// and a `tiny` one for tests and CPU demos.
import type { HeadKind } from './head.js';
import type { Sampler } from './maskers.js';

/** How the kept tokens get position embeddings (model-spec §10). */
export type PosEmbeddingMode =
  /** Each kept token gets the embedding of its own grid position (the paper's description, MAE's way). */
  | 'gathered'
  /** Slot s gets pos[s] whatever token sits there (the official code: `pos[:, :n]`). */
  | 'slot';

/** The backbone: HRNet-s of branch width `width` (see hrnet.ts); the optional fields narrow it for tests. */
export interface BackboneConfig {
  width: number;
  /** Stem channels (64) and layer1 Bottleneck planes (64) and blocks (4). */
  stemChannels?: number;
  layer1Planes?: number;
  layer1Blocks?: number;
  /** BasicBlocks per branch in stage2 and stage3 (4). */
  blocks?: number;
  /** Modules in stage3 (4). */
  stage3Modules?: number;
}

export interface ModelConfig {
  name: string;
  dataset: 'coco' | 'mpii';
  /** Input image [H, W]; the feature map is [H/4, W/4]. */
  imageSize: [number, number];
  /** Heatmap [H, W]. */
  heatmapSize: [number, number];
  numJoints: number;
  backbone: BackboneConfig;
  /** Patch [rows, cols] on the feature map (COCO 4×3, MPII 4×4). */
  patchSize: [number, number];
  dim: number;
  heads: number;
  /** Layers per sub-transformer. */
  depth: number;
  /** Sub-transformers: 1 for B, 3 for L (the head sees each one's keypoint outputs). */
  stacks: number;
  /** MLP hidden = dim · mlpRatio (3). */
  mlpRatio: number;
  head: HeadKind;
  /** Default keep ratio in training (1 = no masking: TokenPose). */
  keep: number;
  sampler: Sampler;
  pe: PosEmbeddingMode;
  dropout: number;
  /** Seeds the initial weights (each tensor gets a seed derived from it); unset, the global generator. */
  seed?: number;
  /** Seeds the model's own masking generator (numpy's MT19937); default 0. */
  maskSeed?: number;
}

const COCO = { dataset: 'coco', imageSize: [256, 192], heatmapSize: [64, 48], numJoints: 17, patchSize: [4, 3] } as const;
const MPII = { dataset: 'mpii', imageSize: [256, 256], heatmapSize: [64, 64], numJoints: 16, patchSize: [4, 4] } as const;
const COMMON = { mlpRatio: 3, sampler: 'random', pe: 'gathered', dropout: 0 } as const;

type Base = Omit<ModelConfig, 'name' | 'keep' | keyof typeof COCO>;
const B: Base = { ...COMMON, backbone: { width: 32 }, dim: 192, heads: 8, depth: 12, stacks: 1, head: 'B' };
const L_D6: Base = { ...COMMON, backbone: { width: 48 }, dim: 192, heads: 8, depth: 2, stacks: 3, head: 'L' };
const L_D24: Base = { ...COMMON, backbone: { width: 48 }, dim: 192, heads: 12, depth: 8, stacks: 3, head: 'L' };

const make = (name: string, base: Base, data: typeof COCO | typeof MPII, keep: number): ModelConfig => ({
  name,
  ...base,
  ...data,
  imageSize: [...data.imageSize],
  heatmapSize: [...data.heatmapSize],
  patchSize: [...data.patchSize],
  backbone: { ...base.backbone },
  keep,
});

/**
 * `tiny`: for tests and CPU demos. A narrow HRNet-s (width 8, stem 16 channels, layer1 one Bottleneck of
 * 8 planes, one BasicBlock per branch, one stage3 module) + a B-style Transformer (dim 32, 2 heads of
 * 16, 2 layers, MLP 96), on 128×96 inputs: feature 32×24, 4×3 patches → an 8×8 grid of 64 tokens
 * (keep 0.6 → 38), heatmaps 32×24, the two-LN B head with hidden 32·24/8 = 96.
 * Size: 152,752 parameters (backbone 48,080; Transformer part 104,672 incl. the 2,048-value sine table);
 * 0.0148 GMACs per image at keep 0.6 (0.0158 at keep 1).
 * Speed (measured on the 2-core lavapipe machine, Dawn, batch 4, forward + MSE + backward + Adam;
 * `pnpm bench train` times it): about 0.25 s per training step on an idle machine (0.3–0.6 s with other
 * work running), after a first step that compiles the pipelines (`pnpm bench compile --quick`).
 */
const TINY: ModelConfig = {
  name: 'tiny',
  dataset: 'coco',
  imageSize: [128, 96],
  heatmapSize: [32, 24],
  numJoints: 17,
  backbone: { width: 8, stemChannels: 16, layer1Planes: 8, layer1Blocks: 1, blocks: 1, stage3Modules: 1 },
  patchSize: [4, 3],
  dim: 32,
  heads: 2,
  depth: 2,
  stacks: 1,
  mlpRatio: 3,
  head: 'B',
  keep: 0.6,
  sampler: 'random',
  pe: 'gathered',
  dropout: 0,
};

/** `tiny` for MPII (tests): 16 joints, 128×128 inputs, 4×4 patches on the 32×32 feature (an 8×8 grid), 32×32 heatmaps. */
const TINY_MPII: ModelConfig = {
  ...TINY,
  name: 'tiny-mpii',
  dataset: 'mpii',
  imageSize: [128, 128],
  heatmapSize: [32, 32],
  numJoints: 16,
  patchSize: [4, 4],
  backbone: { ...TINY.backbone },
};

export const CONFIGS = {
  'tokenpose-b': make('tokenpose-b', B, COCO, 1),
  'tmpose-b': make('tmpose-b', B, COCO, 0.6),
  'tokenpose-l-d6': make('tokenpose-l-d6', L_D6, COCO, 1),
  'tmpose-l-d6': make('tmpose-l-d6', L_D6, COCO, 0.6),
  'tokenpose-l-d24': make('tokenpose-l-d24', L_D24, COCO, 1),
  'tmpose-l-d24': make('tmpose-l-d24', L_D24, COCO, 0.6),
  'tokenpose-b-mpii': make('tokenpose-b-mpii', B, MPII, 1),
  'tmpose-b-mpii': make('tmpose-b-mpii', B, MPII, 0.6),
  'tokenpose-l-d6-mpii': make('tokenpose-l-d6-mpii', L_D6, MPII, 1),
  'tmpose-l-d6-mpii': make('tmpose-l-d6-mpii', L_D6, MPII, 0.6),
  'tokenpose-l-d24-mpii': make('tokenpose-l-d24-mpii', L_D24, MPII, 1),
  'tmpose-l-d24-mpii': make('tmpose-l-d24-mpii', L_D24, MPII, 0.6),
  tiny: TINY,
  'tiny-mpii': TINY_MPII,
} satisfies Record<string, ModelConfig>;

export type ConfigName = keyof typeof CONFIGS;

export const CONFIG_NAMES = Object.keys(CONFIGS) as ConfigName[];

/** A copy of a named config (or of a given one) with overrides; throws on unknown names and bad values. */
export function getConfig(nameOrConfig: ConfigName | ModelConfig, overrides: Partial<ModelConfig> = {}): ModelConfig {
  let base: ModelConfig;
  if (typeof nameOrConfig === 'string') {
    const found = (CONFIGS as Record<string, ModelConfig>)[nameOrConfig];
    if (!found) throw new Error(`unknown model config '${nameOrConfig}' (known: ${CONFIG_NAMES.join(', ')})`);
    base = found;
  } else {
    base = nameOrConfig;
  }
  const c: ModelConfig = {
    ...base,
    ...overrides,
    imageSize: [...(overrides.imageSize ?? base.imageSize)],
    heatmapSize: [...(overrides.heatmapSize ?? base.heatmapSize)],
    patchSize: [...(overrides.patchSize ?? base.patchSize)],
    backbone: { ...base.backbone, ...overrides.backbone },
  };
  validateConfig(c);
  return c;
}

export function validateConfig(c: ModelConfig): void {
  const fail = (msg: string) => {
    throw new Error(`model config '${c.name}': ${msg}`);
  };
  const [H, W] = c.imageSize;
  if (H % 4 || W % 4) fail(`the image size ${H}×${W} must be divisible by 4`);
  const [fh, fw] = [H / 4, W / 4];
  if (fh % c.patchSize[0] || fw % c.patchSize[1]) fail(`the ${fh}×${fw} feature map is not divisible into ${c.patchSize.join('×')} patches`);
  if (c.dim % c.heads) fail(`dim ${c.dim} is not divisible by ${c.heads} heads`);
  if ((c.dim / c.heads) % 4) fail(`the head dim ${c.dim / c.heads} must be a multiple of 4`);
  if (c.dim % 2) fail(`dim ${c.dim} must be even (sine position embedding)`);
  if (!(c.keep > 0 && c.keep <= 1)) fail(`keep ${c.keep} must be in (0, 1]`);
  if (c.stacks !== 1 && c.head === 'B') fail('the B head takes one sub-transformer (stacks: 1)');
  if (!['random', 'uniform', 'block'].includes(c.sampler)) fail(`unknown sampler '${c.sampler}'`);
  if (!['gathered', 'slot'].includes(c.pe)) fail(`unknown pe '${c.pe}'`);
}
