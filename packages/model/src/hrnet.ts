// HRNet-s: the backbone of TokenPose / TMPose (docs/model-spec.md §1) — HRNet's stem, stage 1, stage 2
// and stage 3, returning the highest-resolution branch, [B, C, H/4, W/4].
//
//   conv1 3×3 s2 (3→64) + bn1 + ReLU, conv2 3×3 s2 (64→64) + bn2 + ReLU          → 1/4 resolution
//   layer1       4 Bottlenecks (planes 64, ×4 → 256 channels); the first has a 1×1 conv + BN downsample
//   transition1  0: 3×3 conv (256→C) + BN + ReLU;  1: 3×3 s2 conv (256→2C) + BN + ReLU       (as 1.0.*)
//   stage2       1 module, branches (C, 2C), 4 BasicBlocks each, fused at every resolution
//   transition2  0, 1: identity;  2: 3×3 s2 conv (2C→4C) + BN + ReLU on stage2's last output   (as 2.0.*)
//   stage3       4 modules, branches (C, 2C, 4C); the last one fuses into branch 0 only
//
// Fusion into output i from input j: j > i: 1×1 conv + BN, then nearest upsampling ×2^(j−i); j = i:
// identity; j < i: (i−j) 3×3 stride-2 convs (each conv+BN+ReLU, the last conv+BN without ReLU);
// output_i = ReLU(Σ_j). Every conv has no bias; every BN has momentum 0.1, eps 1e-5.
//
// Module and parameter names are HRNet's own, so state-dict keys equal the official checkpoint's keys
// without their `pre_feature.` prefix ('conv1.weight', 'layer1.0.downsample.0.weight',
// 'transition1.1.0.0.weight', 'stage2.0.fuse_layers.0.1.0.weight', ...). Identity slots (HRNet's None
// entries) hold no module, so their indices are simply absent, as in PyTorch.
//
// Initialisation as HRNET_base.init_weights: conv weights ~ N(0, 0.001), BN γ = 1, β = 0.
import { type Tensor, add, nn, randn, relu, tidy, upsampleNearest } from '@tmpose/tensor';

export interface HRNetSOptions {
  /** Stem width (conv1 / conv2 outputs, layer1's input). 64 in HRNet; other values are for tests. */
  stemChannels?: number;
  /** layer1's Bottleneck planes (its output is 4× this). 64 in HRNet; other values are for tests. */
  layer1Planes?: number;
  /** Bottlenecks in layer1 (4 in HRNet). */
  layer1Blocks?: number;
  /** BasicBlocks per branch in every stage2 / stage3 module (4 in HRNet). */
  blocks?: number;
  /** Modules in stage3 (4 in HRNet); the last one always fuses into branch 0 only. */
  stage3Modules?: number;
  /** Fixes the initial weights (each conv draws from seed + its index); without it the global generator supplies them. */
  seed?: number;
}

/** torch.nn.ModuleList with holes: entries are registered as "0", "1", ...; null entries (identity) are skipped. */
class ModuleList<M extends nn.AnyModule> extends nn.Module<[], never> {
  readonly items: readonly (M | null)[];

  constructor(items: (M | null)[]) {
    super();
    this.items = items;
    items.forEach((m, i) => {
      if (m) this.registerModule(String(i), m);
    });
  }

  forward(): never {
    throw new Error('ModuleList has no forward; call its items');
  }
}

/** Nearest-neighbour upsampling by an integer factor (torch.nn.Upsample(mode='nearest')). */
class Upsample extends nn.Module {
  constructor(readonly factor: number) {
    super();
  }

  /** With `addend`: addend + the upsampled x, in one pass (the fuse layers' sums); `relu` on that too. */
  forward(x: Tensor, addend?: Tensor, relu = false): Tensor {
    return upsampleNearest(x, this.factor, addend, { relu });
  }
}

class Init {
  #next: number | undefined;
  constructor(seed: number | undefined) {
    this.#next = seed;
  }

  /** A bias-free conv with weights ~ N(0, 0.001). */
  conv(cin: number, cout: number, k: number, stride = 1): nn.Conv2d {
    const conv = new nn.Conv2d(cin, cout, k, { stride, padding: (k - 1) / 2, bias: false, seed: this.#next });
    const w = randn(conv.weight.shape, { std: 0.001, seed: this.#next === undefined ? undefined : this.#next + 1 });
    if (this.#next !== undefined) this.#next += 2;
    conv.loadStateDict({ weight: w });
    w.dispose();
    return conv;
  }

  bn(c: number): nn.BatchNorm2d {
    return new nn.BatchNorm2d(c, { momentum: 0.1, eps: 1e-5 });
  }

  /** Sequential(conv, BN[, ReLU]). */
  convBn(cin: number, cout: number, k: number, stride: number, withRelu: boolean): nn.Sequential {
    const conv = this.conv(cin, cout, k, stride);
    return withRelu ? new ConvBnReLU(conv, this.bn(cout), new nn.ReLU()) : new nn.Sequential(conv, this.bn(cout));
  }
}

/** Sequential(conv, BN, ReLU) with the BN and the ReLU in one pass (same children, same state-dict names). */
class ConvBnReLU extends nn.Sequential {
  override forward(x: Tensor): Tensor {
    return tidy(() => (this.at(1) as nn.BatchNorm2d).forwardReLU(this.at(0).forward(x)));
  }
}

class Bottleneck extends nn.Module {
  static readonly expansion = 4;
  readonly conv1: nn.Conv2d;
  readonly bn1: nn.BatchNorm2d;
  readonly conv2: nn.Conv2d;
  readonly bn2: nn.BatchNorm2d;
  readonly conv3: nn.Conv2d;
  readonly bn3: nn.BatchNorm2d;
  readonly downsample: nn.Sequential | null;

  constructor(init: Init, inplanes: number, planes: number) {
    super();
    const out = planes * Bottleneck.expansion;
    this.conv1 = this.registerModule('conv1', init.conv(inplanes, planes, 1));
    this.bn1 = this.registerModule('bn1', init.bn(planes));
    this.conv2 = this.registerModule('conv2', init.conv(planes, planes, 3));
    this.bn2 = this.registerModule('bn2', init.bn(planes));
    this.conv3 = this.registerModule('conv3', init.conv(planes, out, 1));
    this.bn3 = this.registerModule('bn3', init.bn(out));
    this.downsample = inplanes !== out ? this.registerModule('downsample', init.convBn(inplanes, out, 1, 1, false)) : null;
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      let y = this.bn1.forwardReLU(this.conv1.forward(x));
      y = this.bn2.forwardReLU(this.conv2.forward(y));
      return this.bn3.forwardReLU(this.conv3.forward(y), this.downsample ? this.downsample.forward(x) : x);
    });
  }
}

class BasicBlock extends nn.Module {
  readonly conv1: nn.Conv2d;
  readonly bn1: nn.BatchNorm2d;
  readonly conv2: nn.Conv2d;
  readonly bn2: nn.BatchNorm2d;

  constructor(init: Init, channels: number) {
    super();
    this.conv1 = this.registerModule('conv1', init.conv(channels, channels, 3));
    this.bn1 = this.registerModule('bn1', init.bn(channels));
    this.conv2 = this.registerModule('conv2', init.conv(channels, channels, 3));
    this.bn2 = this.registerModule('bn2', init.bn(channels));
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      const y = this.bn1.forwardReLU(this.conv1.forward(x));
      return this.bn2.forwardReLU(this.conv2.forward(y), x);
    });
  }
}

/** HRNet's HighResolutionModule: 4 BasicBlocks per branch, then the fuse layers. */
class HighResolutionModule extends nn.Module<[Tensor[]], Tensor[]> {
  readonly branches: ModuleList<nn.Sequential>;
  readonly fuse_layers: ModuleList<ModuleList<nn.Sequential>>;

  constructor(init: Init, channels: readonly number[], blocks: number, multiScaleOutput: boolean) {
    super();
    const n = channels.length;
    this.branches = this.registerModule(
      'branches',
      new ModuleList(channels.map((c) => new nn.Sequential(...Array.from({ length: blocks }, () => new BasicBlock(init, c))))),
    );
    const rows: ModuleList<nn.Sequential>[] = [];
    for (let i = 0; i < (multiScaleOutput ? n : 1); i++) {
      const row: (nn.Sequential | null)[] = [];
      for (let j = 0; j < n; j++) {
        if (j > i) {
          row.push(new nn.Sequential(init.conv(channels[j]!, channels[i]!, 1), init.bn(channels[i]!), new Upsample(2 ** (j - i))));
        } else if (j === i) {
          row.push(null);
        } else {
          const steps: nn.Sequential[] = [];
          for (let k = 0; k < i - j; k++) {
            const last = k === i - j - 1;
            steps.push(init.convBn(channels[j]!, last ? channels[i]! : channels[j]!, 3, 2, !last));
          }
          row.push(new nn.Sequential(...steps));
        }
      }
      rows.push(new ModuleList(row));
    }
    this.fuse_layers = this.registerModule('fuse_layers', new ModuleList(rows));
  }

  forward(inputs: Tensor[]): Tensor[] {
    const xs = inputs.map((x, b) => this.branches.items[b]!.forward(x));
    const out = this.fuse_layers.items.map((row, i) =>
      tidy(() => {
        const r = row!.items;
        const term = (j: number) => (r[j] ? r[j]!.forward(xs[j]!) : xs[j]!);
        // sum + term j, in HRNet's order: an upsampled term (j > i: conv, BN, Upsample) adds the sum in
        // its store, so that such an add is no pass of its own.
        const plus = (sum: Tensor, j: number, relu = false) => {
          if (j <= i) return add(sum, term(j));
          const path = r[j]!;
          return (path.at(2) as Upsample).forward(path.at(1).forward(path.at(0).forward(xs[j]!)), sum, relu);
        };
        if (i === 0) {
          // Every other term is upsampled: the last one's pass also applies the ReLU.
          let y = term(0);
          for (let j = 1; j < xs.length; j++) y = plus(y, j, j === xs.length - 1);
          return xs.length === 1 ? relu(y) : y;
        }
        // Row i > 0: the path from branch i - 1 ends in a batch norm; the other terms go into it as the
        // residual of its ReLU epilogue, so the last add and the ReLU are no pass of their own.
        let rest: Tensor | null = null;
        for (let j = 0; j < xs.length; j++) if (j !== i - 1) rest = rest ? plus(rest, j) : term(j);
        const path = r[i - 1]!; // Sequential of convBn steps, the last one conv + BN
        let y = xs[i - 1]!;
        for (let k = 0; k < path.length - 1; k++) y = path.at(k).forward(y);
        const last = path.at(-1) as nn.Sequential;
        return (last.at(1) as nn.BatchNorm2d).forwardReLU(last.at(0).forward(y), rest!);
      }),
    );
    for (const x of xs) x.dispose();
    return out;
  }
}

export class HRNetS extends nn.Module {
  /** The channels of the branches: [C, 2C, 4C]. */
  readonly channels: readonly [number, number, number];
  readonly stemChannels: number;
  readonly layer1Planes: number;
  readonly conv1: nn.Conv2d;
  readonly bn1: nn.BatchNorm2d;
  readonly conv2: nn.Conv2d;
  readonly bn2: nn.BatchNorm2d;
  readonly layer1: nn.Sequential;
  readonly transition1: ModuleList<nn.Sequential>;
  readonly stage2: ModuleList<HighResolutionModule>;
  readonly transition2: ModuleList<nn.Sequential>;
  readonly stage3: ModuleList<HighResolutionModule>;

  /**
   * `width` is C: 32 for TokenPose-B / TMPose-B (HRNet-W32), 48 for the L models (HRNet-W48).
   * Other widths and the options make narrow variants for tests (the options' names follow
   * BackboneConfig in configs.ts, so `new HRNetS(b.width, b)` works).
   */
  constructor(
    readonly width: number,
    options: HRNetSOptions = {},
  ) {
    super();
    const stem = options.stemChannels ?? 64;
    const planes = options.layer1Planes ?? 64;
    const l1Blocks = options.layer1Blocks ?? 4;
    const blocks = options.blocks ?? 4;
    const s3Modules = options.stage3Modules ?? 4;
    const checks = [['width', width], ['stemChannels', stem], ['layer1Planes', planes], ['layer1Blocks', l1Blocks], ['blocks', blocks], ['stage3Modules', s3Modules]] as const;
    for (const [name, v] of checks) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`HRNetS: ${name} must be a positive integer, got ${v}`);
    }
    const init = new Init(options.seed);
    const C = width;
    this.channels = [C, 2 * C, 4 * C];
    this.stemChannels = stem;
    this.layer1Planes = planes;
    const l1 = planes * Bottleneck.expansion;
    this.conv1 = this.registerModule('conv1', init.conv(3, stem, 3, 2));
    this.bn1 = this.registerModule('bn1', init.bn(stem));
    this.conv2 = this.registerModule('conv2', init.conv(stem, stem, 3, 2));
    this.bn2 = this.registerModule('bn2', init.bn(stem));
    this.layer1 = this.registerModule(
      'layer1',
      new nn.Sequential(...Array.from({ length: l1Blocks }, (_, i) => new Bottleneck(init, i === 0 ? stem : l1, planes))),
    );
    this.transition1 = this.registerModule(
      'transition1',
      new ModuleList([init.convBn(l1, C, 3, 1, true), new nn.Sequential(init.convBn(l1, 2 * C, 3, 2, true))]),
    );
    this.stage2 = this.registerModule('stage2', new ModuleList([new HighResolutionModule(init, [C, 2 * C], blocks, true)]));
    this.transition2 = this.registerModule('transition2', new ModuleList([null, null, new nn.Sequential(init.convBn(2 * C, 4 * C, 3, 2, true))]));
    this.stage3 = this.registerModule(
      'stage3',
      new ModuleList(Array.from({ length: s3Modules }, (_, m) => new HighResolutionModule(init, this.channels, blocks, m < s3Modules - 1))),
    );
  }

  /** x [B, 3, H, W] → the highest-resolution branch [B, C, H/4, W/4] (H and W multiples of 16 keep every branch exact). */
  forward(x: Tensor): Tensor {
    if (x.rank !== 4 || x.shape[1] !== 3) throw new Error(`HRNetS: input must be [B, 3, H, W], got [${x.shape.join(', ')}]`);
    // Intermediates are disposed as soon as they are used (autograd keeps what backward needs); the
    // outer tidy catches the rest (e.g. the outputs of blocks inside a Sequential).
    return tidy(() => this.#forward(x));
  }

  #forward(x: Tensor): Tensor {
    const stemOut = tidy(() => {
      const a = this.bn1.forwardReLU(this.conv1.forward(x));
      return this.bn2.forwardReLU(this.conv2.forward(a));
    });
    const l1 = this.layer1.forward(stemOut);
    stemOut.dispose();
    let ys = this.#stage(this.stage2, this.transition1.items.map((t) => t!.forward(l1)));
    l1.dispose();
    const t2 = this.transition2.items[2]!.forward(ys[ys.length - 1]!);
    ys = this.#stage(this.stage3, [ys[0]!, ys[1]!, t2]);
    return ys[0]!;
  }

  #stage(stage: ModuleList<HighResolutionModule>, xs: Tensor[]): Tensor[] {
    for (const m of stage.items) {
      const ys = m!.forward(xs);
      for (const x of xs) x.dispose();
      xs = ys;
    }
    return xs;
  }
}
