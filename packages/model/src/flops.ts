// FLOP counts, analytically from a config (no forward pass), in the two conventions of model-spec §6:
//
// 'paper': the official `get_model_summary` counter that produced every GFLOPs / GFLOPs^T number in the
//   TMPose and TokenPose tables. It counts multiply-adds of Conv and Linear layers only, divides by 2³⁰,
//   and has a bug: a Linear is counted as numel(output) × input.size(1), and for a token tensor
//   [1, N, D_in] size(1) is the token count N, not D_in, so every Linear costs N²·D_out. Attention
//   matmuls, softmax, LN and GELU are not counted.
// 'macs': true multiply-accumulates of the convolutions and of every matmul (Linear layers with their
//   real input width, and QKᵀ and AV of attention), divided by 1e9. Biases, norms, activations and
//   softmax are not counted.
//
// GFLOPs^T ("transformer") is the same count for the part after the backbone (patch embedding,
// Transformer layers, head); total = backbone convolutions + transformer. The patch embedding is
// counted on all P tokens, as the official code runs it (this package embeds only the kept tokens, which
// `embed: 'kept'` counts instead).
import type { ModelConfig } from './configs.js';
import { hiddenHeatmapDim, usesMultiHead } from './head.js';
import { keptCount } from './maskers.js';

// ---------------------------------------------------------------------------------------------------
// HRNet-s (stem + stage1 + stage2 + stage3), walked layer by layer.

/** The shapes that determine HRNet-s's convolutions. */
export interface HRNetArch {
  /** Branch-0 width C; branches are C, 2C, 4C. */
  width: number;
  /** Stem output channels (64) and the Bottleneck planes of layer1 (64, expansion 4 → 256). */
  stemChannels: number;
  layer1Planes: number;
  layer1Blocks: number;
  /** BasicBlocks per branch, and modules, of stage2 and stage3. */
  stage2Blocks: number;
  stage2Modules: number;
  stage3Blocks: number;
  stage3Modules: number;
}

/** The official HRNet-s of TokenPose-B (width 32) / -L (48). */
export const hrnetArch = (width: number): HRNetArch => ({
  width,
  stemChannels: 64,
  layer1Planes: 64,
  layer1Blocks: 4,
  stage2Blocks: 4,
  stage2Modules: 1,
  stage3Blocks: 4,
  stage3Modules: 4,
});

export interface ConvLayer {
  name: string;
  cin: number;
  cout: number;
  k: number;
  /** Output resolution. */
  h: number;
  w: number;
  /** Followed by a BatchNorm (all of HRNet's are). */
  bn: boolean;
}

/** Every convolution of HRNet-s for an input of imgH×imgW, in module order (names as the state dict). */
export function hrnetConvLayers(arch: HRNetArch, imgH: number, imgW: number): ConvLayer[] {
  const out: ConvLayer[] = [];
  const conv = (name: string, cin: number, cout: number, k: number, h: number, w: number) => out.push({ name, cin, cout, k, h, w, bn: true });
  // stride-2 3×3 convs with padding 1: out = floor((in − 1)/2) + 1
  const down = (n: number) => Math.floor((n - 1) / 2) + 1;
  const res: [number, number][] = [];
  let h = down(imgH);
  let w = down(imgW);
  conv('conv1', 3, arch.stemChannels, 3, h, w);
  h = down(h);
  w = down(w);
  conv('conv2', arch.stemChannels, arch.stemChannels, 3, h, w);
  res.push([h, w]);
  const planes = arch.layer1Planes;
  const l1out = planes * 4;
  for (let b = 0; b < arch.layer1Blocks; b++) {
    const cin = b === 0 ? arch.stemChannels : l1out;
    conv(`layer1.${b}.conv1`, cin, planes, 1, h, w);
    conv(`layer1.${b}.conv2`, planes, planes, 3, h, w);
    conv(`layer1.${b}.conv3`, planes, l1out, 1, h, w);
    if (b === 0 && cin !== l1out) conv(`layer1.0.downsample.0`, cin, l1out, 1, h, w);
  }
  const C = arch.width;
  const chans = [C, 2 * C, 4 * C];
  res.push([down(res[0]![0]), down(res[0]![1])]);
  res.push([down(res[1]![0]), down(res[1]![1])]);
  // transition1: branch 0 3×3 s1 (l1out → C), branch 1 3×3 s2 (l1out → 2C)
  conv('transition1.0.0', l1out, chans[0]!, 3, ...res[0]!);
  conv('transition1.1.0.0', l1out, chans[1]!, 3, ...res[1]!);
  const stage = (prefix: string, nBranch: number, modules: number, blocks: number, lastSingle: boolean) => {
    for (let m = 0; m < modules; m++) {
      for (let br = 0; br < nBranch; br++) {
        for (let b = 0; b < blocks; b++) {
          conv(`${prefix}.${m}.branches.${br}.${b}.conv1`, chans[br]!, chans[br]!, 3, ...res[br]!);
          conv(`${prefix}.${m}.branches.${br}.${b}.conv2`, chans[br]!, chans[br]!, 3, ...res[br]!);
        }
      }
      const outs = lastSingle && m === modules - 1 ? 1 : nBranch;
      for (let i = 0; i < outs; i++) {
        for (let j = 0; j < nBranch; j++) {
          if (j > i) conv(`${prefix}.${m}.fuse_layers.${i}.${j}.0`, chans[j]!, chans[i]!, 1, ...res[j]!);
          else if (j < i) {
            for (let k = 0; k < i - j; k++) {
              const last = k === i - j - 1;
              conv(`${prefix}.${m}.fuse_layers.${i}.${j}.${k}.0`, chans[j]!, last ? chans[i]! : chans[j]!, 3, ...res[j + k + 1]!);
            }
          }
        }
      }
    }
  };
  stage('stage2', 2, arch.stage2Modules, arch.stage2Blocks, false);
  // transition2: new branch 2 from stage2's last output, 3×3 s2 (2C → 4C)
  conv('transition2.2.0.0', chans[1]!, chans[2]!, 3, ...res[2]!);
  stage('stage3', 3, arch.stage3Modules, arch.stage3Blocks, true);
  return out;
}

/** Multiply-adds of HRNet-s's convolutions (no bias, BN not counted), as the paper's counter and true MACs both count them. */
export function hrnetConvMacs(arch: HRNetArch, imgH: number, imgW: number): number {
  return hrnetConvLayers(arch, imgH, imgW).reduce((s, l) => s + l.cin * l.cout * l.k * l.k * l.h * l.w, 0);
}

/** Parameters of HRNet-s: conv weights (no bias) + BN γ, β. */
export function hrnetParamCount(arch: HRNetArch): number {
  return hrnetConvLayers(arch, 256, 192).reduce((s, l) => s + l.cin * l.cout * l.k * l.k + (l.bn ? 2 * l.cout : 0), 0);
}

// ---------------------------------------------------------------------------------------------------
// The Transformer part.

export type FlopConvention = 'paper' | 'macs';

export interface FlopOptions {
  /** Keep ratio; default the config's. */
  keep?: number;
  convention?: FlopConvention;
  /** Count the patch embedding on all P tokens (the official order, default) or only the kept ones. */
  embed?: 'all' | 'kept';
}

export interface FlopCount {
  convention: FlopConvention;
  keep: number;
  /** Visual tokens that enter the Transformer, and the sequence length N = kept + K. */
  keptTokens: number;
  sequence: number;
  /** In units of 2³⁰ ('paper', the official "GFLOPs") or 1e9 ('macs', GMACs). */
  total: number;
  transformer: number;
  backbone: number;
  /** The same as raw counts. */
  raw: { total: number; transformer: number; backbone: number; embedding: number; layers: number; head: number };
}

/** FLOPs of a model config at a keep ratio, in either convention. */
export function countFlops(config: ModelConfig, options: FlopOptions = {}): FlopCount {
  const convention = options.convention ?? 'paper';
  const keep = options.keep ?? config.keep;
  const [imgH, imgW] = config.imageSize;
  const [hmH, hmW] = config.heatmapSize;
  const K = config.numJoints;
  const D = config.dim;
  const M = config.dim * config.mlpRatio;
  const [fh, fw] = [imgH / 4, imgW / 4];
  const [ph, pw] = config.patchSize;
  const P = (fh / ph) * (fw / pw);
  const Pd = ph * pw * config.backbone.width;
  const kept = keep >= 1 ? P : keptCount(config.sampler, P, keep);
  const N = kept + K;
  const Lt = config.depth * config.stacks;
  const HW = hmH * hmW;
  const headIn = D * config.stacks;
  const multi = usesMultiHead(config.head, headIn, hmH, hmW);
  const hidden = hiddenHeatmapDim(hmH, hmW);
  const embedTokens = options.embed === 'kept' ? kept : P;
  const backbone = hrnetConvMacs(backboneArch(config), imgH, imgW);
  let embedding: number;
  let layers: number;
  let head: number;
  if (convention === 'paper') {
    // Linear = numel(out) · size(1) of its input = tokens · D_out · tokens.
    embedding = embedTokens * D * embedTokens;
    layers = Lt * N * N * (3 * D + D + M + D);
    head = multi ? K * K * (hidden + HW) : K * K * HW;
  } else {
    embedding = embedTokens * Pd * D;
    layers = Lt * (N * (4 * D * D + 2 * D * M) + 2 * N * N * D);
    head = multi ? K * (headIn * hidden + hidden * HW) : K * headIn * HW;
  }
  const transformer = embedding + layers + head;
  const unit = convention === 'paper' ? 2 ** 30 : 1e9;
  return {
    convention,
    keep,
    keptTokens: kept,
    sequence: N,
    total: (backbone + transformer) / unit,
    transformer: transformer / unit,
    backbone: backbone / unit,
    raw: { total: backbone + transformer, transformer, backbone, embedding, layers, head },
  };
}

/** The HRNet-s shapes a config's backbone has. */
export function backboneArch(config: ModelConfig): HRNetArch {
  const b = config.backbone;
  return {
    ...hrnetArch(b.width),
    stemChannels: b.stemChannels ?? 64,
    layer1Planes: b.layer1Planes ?? 64,
    layer1Blocks: b.layer1Blocks ?? 4,
    stage2Blocks: b.blocks ?? 4,
    stage3Blocks: b.blocks ?? 4,
    stage3Modules: b.stage3Modules ?? 4,
  };
}

/** A table of both conventions at several keep ratios, as text (for a CLI or a log). */
export function flopTable(config: ModelConfig, keeps: number[] = [1, 0.8, 0.6, 0.4]): string {
  const rows = keeps.map((keep) => {
    const p = countFlops(config, { keep, convention: 'paper' });
    const m = countFlops(config, { keep, convention: 'macs' });
    return [keep.toFixed(2), String(p.keptTokens), p.total.toFixed(4), p.transformer.toFixed(4), m.total.toFixed(4), m.transformer.toFixed(4)];
  });
  const head = ['keep', 'tokens', 'paper GFLOPs', 'paper GFLOPs^T', 'GMACs', 'GMACs^T'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padStart(widths[i]!)).join('  ');
  return [
    `${config.name}: ${config.imageSize.join('×')} input, sampler ${config.sampler}`,
    `(paper = the official counter, Linear as N²·D_out, /2^30; GMACs = true multiply-accumulates incl. attention, /1e9)`,
    line(head),
    ...rows.map(line),
  ].join('\n');
}

/** Prints `flopTable` to the console. */
export function printFlopTable(config: ModelConfig, keeps?: number[]): void {
  console.log(flopTable(config, keeps));
}
