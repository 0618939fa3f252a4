// @tmpose/tensor cases for the TMPose kernels (attention, conv2d, batch norm), on the same host inputs
// as the peers' cases. Backward runs use a fixed upstream gradient (`y.backward(dy)`), as the peers' do.
import * as T from '@tmpose/tensor';
import { hostRandn, sizeOf } from './data.js';
import type { Case } from './timing.js';

type Tensor = T.Tensor;

function leaf(values: Float32Array, shape: number[], requiresGrad: boolean, dtype: T.DType = 'float32'): Tensor {
  return T.tensor(values, shape, { requiresGrad, dtype });
}

/** Runs forward (and backward with `dy`), waits, frees outputs and gradients. */
function gradCase(inputs: Tensor[], dy: Tensor, forward: () => Tensor, backward: boolean, extra: Omit<Case, 'run' | 'dispose'>): Case {
  const clear = () => {
    for (const t of inputs) {
      t.grad?.dispose();
      t.grad = null;
    }
  };
  return {
    ...extra,
    async run() {
      T.tidy(() => {
        const y = forward();
        if (backward) y.backward(dy);
      });
      await T.sync();
      clear();
    },
    dispose() {
      clear();
      for (const t of [...inputs, dy]) t.dispose();
    },
  };
}

export type AttentionImpl = 'fused' | 'composed';

/**
 * softmax(q kᵀ/√D) v on [B,H,L,D]: the fused kernel (as tuned, or `variant` forced forward and backward), or
 * matmul + softmax + matmul; float32, or float16 (the same inputs rounded; f32 statistics and accumulation).
 */
export function attention(B: number, H: number, L: number, D: number, backward: boolean, impl: AttentionImpl, dtype: T.DType = 'float32', variant?: string): Case {
  const shape = [B, H, L, D];
  const [q, k, v] = [1, 2, 3].map((seed) => leaf(hostRandn(sizeOf(shape), seed), shape, backward, dtype));
  const dy = T.tensor(hostRandn(sizeOf(shape), 4), shape, { dtype });
  const scale = 1 / Math.sqrt(D);
  const forward =
    impl === 'fused'
      ? () => T.scaledDotProductAttention(q!, k!, v!)
      : () => T.matmul(T.softmax(T.mul(T.matmul(q!, T.transpose(k!)), scale)), v!);
  const c = gradCase([q!, k!, v!], dy, forward, backward, { flops: (backward ? 12 : 4) * B * H * L * L * D, note: impl });
  if (!variant) return c;
  // `variant` is forced on the forward and the backward for the run only.
  const families = ['attention', 'attentionBackward'];
  return {
    ...c,
    async run() {
      families.forEach((f) => T.forceVariant(f, variant));
      try {
        await c.run();
      } finally {
        families.forEach((f) => T.forceVariant(f, null));
      }
    },
  };
}

/** 3×3 conv, stride 1, padding 1, no bias, NCHW, float32 or float16 (f32 accumulation); backward gives dx and dw. */
export function conv2d(N: number, Cin: number, Cout: number, H: number, W: number, backward: boolean, dtype: T.DType = 'float32'): Case {
  const x = leaf(hostRandn(N * Cin * H * W, 1), [N, Cin, H, W], backward, dtype);
  const w = leaf(hostRandn(Cout * Cin * 9, 2, Math.sqrt(2 / (9 * Cin))), [Cout, Cin, 3, 3], backward, dtype);
  const dy = T.tensor(hostRandn(N * Cout * H * W, 3), [N, Cout, H, W], { dtype });
  return gradCase([x, w], dy, () => T.conv2d(x, w, undefined, { padding: 1 }), backward, {
    flops: (backward ? 3 : 1) * 2 * N * Cout * H * W * Cin * 9,
    note: 'NCHW',
  });
}

/** Training-mode batch norm on NCHW with affine parameters and running statistics. */
export function batchNorm(N: number, C: number, H: number, W: number, backward: boolean): Case {
  const shape = [N, C, H, W];
  const x = leaf(hostRandn(sizeOf(shape), 1), shape, backward);
  const gamma = leaf(hostRandn(C, 2).map((v) => v + 1), [C], backward);
  const beta = leaf(hostRandn(C, 3), [C], backward);
  const runningMean = T.zeros([C]);
  const runningVar = T.ones([C]);
  const dy = T.tensor(hostRandn(sizeOf(shape), 4), shape);
  const c = gradCase([x, gamma, beta], dy, () => T.batchNorm2d(x, gamma, beta, runningMean, runningVar, { training: true }), backward, {
    bytes: (backward ? 32 : 12) * sizeOf(shape),
    note: 'NCHW',
  });
  return { ...c, dispose: () => (c.dispose(), runningMean.dispose(), runningVar.dispose()) };
}

/** A row-wise op of the norm bench on x [rows, R]: softmax or layerNorm over R, a sum over R, a mean over rows. */
export type RowOp = 'softmax' | 'layerNorm' | 'sum' | 'mean';

/** `op` on [rows, R] (forward); `variant` forces the op's tuner family to a label (none: as tuned). */
export function rowOp(op: RowOp, rows: number, R: number, variant?: string): Case {
  const x = leaf(hostRandn(rows * R, 1), [rows, R], false);
  const [w, b] = [leaf(hostRandn(R, 2), [R], false), leaf(hostRandn(R, 3), [R], false)];
  const family = op === 'sum' || op === 'mean' ? 'reduce' : 'rows';
  const forward = {
    softmax: () => T.softmax(x),
    layerNorm: () => T.layerNorm(x, [R], w, b),
    sum: () => T.sum(x, 1),
    mean: () => T.mean(x, 0),
  }[op];
  return {
    bytes: (op === 'sum' || op === 'mean' ? 1 : 2) * 4 * rows * R,
    note: op === 'mean' ? 'strided axis' : 'last axis',
    async run() {
      if (variant) T.forceVariant(family, variant);
      try {
        T.tidy(forward);
      } finally {
        if (variant) T.forceVariant(family, null);
      }
      await T.sync();
    },
    dispose: () => [x, w, b].forEach((t) => t.dispose()),
  };
}

/** Initialises all three engines on the one adapter and prints which adapter that is. */
export async function initEngines(): Promise<void> {
  const { adapterDescription } = await import('./gpu.js');
  const tfjs = await import('../peers/tfjs.js');
  const jax = await import('../peers/jax.js');
  const description = await T.init().then(
    (info) => info.description,
    async () => adapterDescription(),
  );
  console.log(`adapter: ${description}`);
  await tfjs.init();
  await jax.init();
}
