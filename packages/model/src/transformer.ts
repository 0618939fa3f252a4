// The pre-norm Transformer of TokenPose / TMPose, with the official module tree so that parameter names
// match the PyTorch state dict:
//   layers.{i}.0.fn.norm            LayerNorm(dim)                 (Residual → PreNorm → Attention)
//   layers.{i}.0.fn.fn.to_qkv       Linear(dim, 3·dim, no bias)
//   layers.{i}.0.fn.fn.to_out.0     Linear(dim, dim)
//   layers.{i}.1.fn.norm            LayerNorm(dim)                 (Residual → PreNorm → FeedForward)
//   layers.{i}.1.fn.fn.net.0        Linear(dim, mlp)   net.1 GELU, net.2 Dropout
//   layers.{i}.1.fn.fn.net.3        Linear(mlp, dim)   net.4 Dropout
// A block computes x = x + Attn(LN(x)); x = x + FFN(LN(x)). "sine-full": before every layer except the
// first, the position embedding is added again to the visual tokens of the residual stream (so it
// accumulates); keypoint tokens never get it. Each residual add is fused into the store of the branch's
// last linear (to_out.0, net.3) when no dropout follows it: `residual.forward(x)` is
// `fn(LN(x), { residual: x })`; so is the position re-add, into the store of the layer before (its
// feed-forward's net.3, as LinearOptions' addend). The feed-forward is one op, feedForward (GELU fused).
import { type LinearOptions, type Tensor, add, feedForward, isAutocastEnabled, multiHeadAttention, nn, tidy } from '@tmpose/tensor';

/** A residual branch: its input, and what its output linear adds in its store (a residual, an addend). */
type Branch = nn.Module<[Tensor, LinearOptions?]>;

/** A plain container (torch.nn.ModuleList): children named "0", "1", ...; it has no forward of its own. */
export class ModuleList<M extends nn.AnyModule = nn.AnyModule> extends nn.Module<never[], never> {
  readonly items: M[];

  constructor(modules: M[]) {
    super();
    this.items = modules.map((m, i) => this.registerModule(String(i), m));
  }

  forward(): never {
    throw new Error('ModuleList has no forward; call its items');
  }
}

/**
 * The output linear of a residual branch plus what the branch adds: in the linear's store, or (with
 * dropout between them) by adds.
 */
function outputPlus(linear: nn.Linear, dropout: nn.Dropout, x: Tensor, added: LinearOptions): Tensor {
  if (dropout.p === 0) return linear.forward(x, added);
  const { residual, addend } = added;
  const out = dropout.forward(linear.forward(x));
  const sum = residual ? add(residual, out) : out;
  return addend ? add(sum, addend) : sum;
}

/** Multi-head self-attention: to_qkv (no bias) → heads → softmax(q kᵀ · head_dim^-0.5) v → to_out (+ residual). */
export class Attention extends nn.Module<[Tensor, LinearOptions?]> {
  readonly to_qkv: nn.Linear;
  readonly to_out: nn.Sequential;
  readonly headDim: number;
  readonly scale: number;

  constructor(
    readonly dim: number,
    readonly heads: number,
    dropout = 0,
  ) {
    super();
    if (!Number.isInteger(dim / heads)) throw new Error(`Attention: dim ${dim} is not divisible by ${heads} heads`);
    this.headDim = dim / heads;
    if (this.headDim % 4 !== 0) throw new Error(`Attention: head dim ${this.headDim} must be a multiple of 4 (the fused attention kernel reads vec4)`);
    this.scale = this.headDim ** -0.5; // scale_with_head=True
    this.to_qkv = this.registerModule('to_qkv', new nn.Linear(dim, 3 * dim, { bias: false }));
    this.to_out = this.registerModule('to_out', new nn.Sequential(new nn.Linear(dim, dim), new nn.Dropout(dropout)));
  }

  forward(x: Tensor, added: LinearOptions = {}): Tensor {
    // qkv [B, L, 3D] is [B, L, 3, H, hd]: the attention reads q, k, v from it in place and writes the
    // heads merged, [B, L, D], as to_out reads them (no permute copies either way).
    const merged = multiHeadAttention(this.to_qkv.forward(x), this.heads, { scale: this.scale });
    return outputPlus(this.to_out.at(0) as nn.Linear, this.to_out.at(1) as nn.Dropout, merged, added);
  }
}

/** Linear → GELU (erf) → Dropout → Linear → Dropout (+ residual); without dropout, one fused op (feedForward). */
export class FeedForward extends nn.Module<[Tensor, LinearOptions?]> {
  readonly net: nn.Sequential;

  constructor(dim: number, hidden: number, dropout = 0) {
    super();
    this.net = this.registerModule(
      'net',
      new nn.Sequential(new nn.Linear(dim, hidden), new nn.GELU(), new nn.Dropout(dropout), new nn.Linear(hidden, dim), new nn.Dropout(dropout)),
    );
  }

  forward(x: Tensor, added: LinearOptions = {}): Tensor {
    const [fc1, fc2] = [this.net.at(0) as nn.Linear, this.net.at(3) as nn.Linear];
    const [drop1, drop2] = [this.net.at(2) as nn.Dropout, this.net.at(4) as nn.Dropout];
    if (drop1.p === 0 && drop2.p === 0) return feedForward(x, fc1.weight, fc1.bias ?? undefined, fc2.weight, fc2.bias ?? undefined, added);
    return outputPlus(fc2, drop2, drop1.forward(this.net.at(1).forward(fc1.forward(x))), added);
  }
}

/** fn(LN(x), added), with children `norm` and `fn`. */
export class PreNorm<F extends Branch> extends nn.Module<[Tensor, LinearOptions?]> {
  readonly norm: nn.LayerNorm;
  readonly fn: F;

  constructor(dim: number, fn: F) {
    super();
    this.norm = this.registerModule('norm', new nn.LayerNorm(dim, { eps: 1e-5 }));
    this.fn = this.registerModule('fn', fn);
  }

  forward(x: Tensor, added: LinearOptions = {}): Tensor {
    // Under autocast the branch's products run in float16: the norm writes float16 for them (its sums
    // stay float32), so no cast pass stands between, forward or backward.
    return this.fn.forward(this.norm.forward(x, isAutocastEnabled() ? { dtype: 'float16' } : {}), added);
  }
}

/** x + fn(x) (+ addend), with child `fn` (which adds them itself: see PreNorm, Attention, FeedForward). */
export class Residual<F extends Branch> extends nn.Module<[Tensor, Tensor?]> {
  readonly fn: F;

  constructor(fn: F) {
    super();
    this.fn = this.registerModule('fn', fn);
  }

  forward(x: Tensor, addend?: Tensor): Tensor {
    return this.fn.forward(x, { residual: x, addend });
  }
}

export type Block = ModuleList<Residual<PreNorm<Attention>> | Residual<PreNorm<FeedForward>>>;

export interface TransformerOptions {
  dim: number;
  depth: number;
  heads: number;
  mlpDim: number;
  dropout?: number;
}

/** A stack of `depth` pre-norm blocks (the official `Transformer`, with all_attn = sine-full). */
export class Transformer extends nn.Module<[Tensor, Tensor | null], Tensor> {
  readonly layers: ModuleList<Block>;

  constructor(readonly options: TransformerOptions) {
    super();
    const { dim, depth, heads, mlpDim, dropout = 0 } = options;
    const blocks: Block[] = [];
    for (let i = 0; i < depth; i++) {
      blocks.push(
        new ModuleList<Residual<PreNorm<Attention>> | Residual<PreNorm<FeedForward>>>([
          new Residual(new PreNorm(dim, new Attention(dim, heads, dropout))),
          new Residual(new PreNorm(dim, new FeedForward(dim, mlpDim, dropout))),
        ]),
      );
    }
    this.layers = this.registerModule('layers', new ModuleList(blocks));
  }

  /**
   * x [B, K + n, D]. `pos` is the embedding to re-add before every layer but the first, already padded
   * with zeros over the K keypoint tokens ([B or 1, K + n, D]); null adds nothing.
   */
  forward(x: Tensor, pos: Tensor | null): Tensor {
    // The re-add before layer i + 1 is done by layer i's last store, when pos has the stream's dtype.
    const fold = pos !== null && pos.dtype === x.dtype;
    const depth = this.layers.items.length;
    let h = x;
    this.layers.items.forEach((block, idx) => {
      const prev = h;
      h = tidy(() => {
        const y = idx > 0 && pos && !fold ? add(prev, pos) : prev;
        const a = block.items[0]!.forward(y);
        return block.items[1]!.forward(a, fold && idx + 1 < depth ? pos! : undefined);
      });
      if (prev !== x) prev.dispose();
    });
    return h;
  }
}
