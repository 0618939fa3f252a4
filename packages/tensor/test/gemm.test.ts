// Every matmul and conv2d variant — the GEMM core's tiles and split-K, and the register kernels a CPU
// adapter keeps — forced in turn at the TMPose shapes of one image (linear 273x192 -> 192 and 256x192 ->
// 576, all tokens and the patch tokens, with their weight gradients; batch 32, M 8736 and 8192, in
// `pnpm bench matmul`), HRNet's 3x3, stride-2 3x3 and 1x1 convs at 32x24 (64x48 at batch 32 in
// `pnpm bench conv`), and an odd conv, forward and backward, in float32 (and float16 for the first
// linear and the first conv), against float64 references computed here from the very values the GPU
// read (float16 inputs already rounded). The
// small odd shapes of every variant are in the PyTorch fixture tests (ops.fixtures, half.matmul,
// kernels.fixtures, half.conv).
//
// The sizes are small for lavapipe but take the paths of the full ones: M 273 leaves partial row tiles
// in every variant, and the weight gradient's sum over those rows a partial vec4 and a partial split-K
// chunk; the HRNet convs have K = C*KH*KW and output planes that are multiples of 4 (vec4 weight loads,
// stores and dy loads), planes of whole 64-column GEMM tiles, and two images; the odd conv (K 45, three
// images of 9x7) takes scalar weight loads and the edges of every tile, with kernels that the PyTorch
// fixtures compile anyway (none of its own to compile on a cold cache).
import { beforeAll, describe, expect, it } from 'vitest';
import { type Tensor, conv2d, init, linear, memory, randn } from '@tmpose/tensor';
import { CONV_VARIANTS } from '../src/ops/conv2d.js';
import { matmulVariantLabels } from '../src/ops/matmul.js';
import { forceVariant } from '../src/runtime/tune.js';

type DType = 'float32' | 'float16';

beforeAll(async () => {
  await init();
});

// |got - want| <= 1e-4 sqrt(K) + rtol |want|: f32 sums of K unit-variance products drift about
// sqrt(K) ulps of the result's scale; a float16 result is rounded once more (2^-10 relative, with slack).
function expectNear(got: Float32Array, want: Float64Array, K: number, dtype: DType, what: string): void {
  const atol = 1e-4 * Math.sqrt(K);
  const rtol = dtype === 'float16' ? 2 ** -10 : 1e-5;
  let worst = -1;
  let excess = 0;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i]! - want[i]!) - (atol + rtol * Math.abs(want[i]!));
    if (!(e <= excess)) [worst, excess] = [i, e];
  }
  expect(got.length, what).toBe(want.length);
  if (worst >= 0) expect.fail(`${what}: element ${worst} is ${got[worst]}, want ${want[worst]} (K ${K}, atol ${atol}, rtol ${rtol})`);
}

/** Seeded normal values of a dtype (float16: float32 values rounded once). */
function normal(shape: number[], seed: number, dtype: DType): Tensor {
  const t = randn(shape, { seed });
  if (dtype === 'float32') return t;
  const h = t.to(dtype);
  t.dispose();
  return h;
}

function leaf(shape: number[], seed: number, dtype: DType): Tensor {
  const t = normal(shape, seed, dtype);
  t.requiresGrad = true;
  return t;
}

const values = async (t: Tensor) => (await t.data()) as Float32Array;

/** out[i, j] = sum over k of a(i, k) b(k, j), in float64. */
function product(rows: number, cols: number, inner: number, a: (i: number, k: number) => number, b: (k: number, j: number) => number): Float64Array {
  const out = new Float64Array(rows * cols);
  const bk = new Float64Array(inner);
  for (let j = 0; j < cols; j++) {
    for (let k = 0; k < inner; k++) bk[k] = b(k, j);
    for (let i = 0; i < rows; i++) {
      let s = 0;
      for (let k = 0; k < inner; k++) s += a(i, k) * bk[k]!;
      out[i * cols + j] = s;
    }
  }
  return out;
}

describe('linear at the TMPose shapes, every matmul variant', () => {
  const shapes: [M: number, K: number, N: number, dtypes: DType[]][] = [
    [273, 192, 192, ['float32', 'float16']],
    [256, 192, 576, ['float32']],
  ];
  for (const [M, K, N, dtypes] of shapes) {
    for (const dtype of dtypes) {
      // One reference per shape and dtype, made by the first variant's test from the values it read.
      let ref: { y: Float64Array; dx: Float64Array; dw: Float64Array } | null = null;
      // Every product here (forward N wide, both gradients K wide) has the labels of the narrower width.
      for (const label of matmulVariantLabels(Math.min(N, K))) {
        it(`${dtype} ${M}x${K} -> ${N} with matmul variant ${label}: y, dx, dW`, async () => {
          const before = memory().liveTensors;
          const x = leaf([M, K], 1, dtype);
          const w = leaf([N, K], 2, dtype);
          const g = normal([M, N], 3, dtype);
          forceVariant('matmul', label);
          let y: Tensor;
          try {
            y = linear(x, w);
            y.backward(g);
          } finally {
            forceVariant('matmul', null);
          }
          const [xs, ws, gs] = [await values(x), await values(w), await values(g)];
          ref ??= {
            y: product(M, N, K, (i, k) => xs[i * K + k]!, (k, j) => ws[j * K + k]!),
            dx: product(M, K, N, (i, k) => gs[i * N + k]!, (k, j) => ws[k * K + j]!),
            dw: product(N, K, M, (i, k) => gs[k * N + i]!, (k, j) => xs[k * K + j]!),
          };
          expectNear(await values(y), ref.y, K, dtype, 'y');
          expectNear(await values(x.grad!), ref.dx, N, dtype, 'dx');
          expectNear(await values(w.grad!), ref.dw, M, dtype, 'dW');
          for (const t of [x.grad!, w.grad!, x, w, g, y]) t.dispose();
          expect(memory().liveTensors).toBe(before);
        });
      }
    }
  }
});

interface ConvCase {
  name: string;
  N: number; C: number; H: number; W: number; F: number; k: number; stride: number; pad: number; bias: boolean;
  /** Also in float16 (every conv variant in float16 is also checked against PyTorch in half.conv.test.ts). */
  half?: boolean;
}
const CONVS: ConvCase[] = [
  // On a CPU the register weight gradient splits its 64 output rows into 3 bands, one across the images.
  { name: 'HRNet 3x3 32->32 at 32x24 (batch 2)', N: 2, C: 32, H: 32, W: 24, F: 32, k: 3, stride: 1, pad: 1, bias: false, half: true },
  // 64 x 3 x 8 threads fill a CPU: one band, the weight gradient written without partials.
  { name: 'HRNet 3x3 64->64 at 16x12', N: 1, C: 64, H: 16, W: 12, F: 64, k: 3, stride: 1, pad: 1, bias: false },
  { name: 'HRNet 3x3 stride 2 32->64 at 32x24', N: 2, C: 32, H: 32, W: 24, F: 64, k: 3, stride: 2, pad: 1, bias: false },
  { name: 'HRNet 1x1 64->32 at 32x24', N: 2, C: 64, H: 32, W: 24, F: 32, k: 1, stride: 1, pad: 0, bias: false },
  { name: 'odd 3x3 stride 2 5->7 at 9x7 with bias', N: 3, C: 5, H: 9, W: 7, F: 7, k: 3, stride: 2, pad: 1, bias: true },
];

/** float64 forward, input gradient and weight gradient of a conv, by definition. */
function convReference(c: ConvCase, x: Float32Array, w: Float32Array, b: Float32Array | null, g: Float32Array) {
  const OH = Math.floor((c.H + 2 * c.pad - c.k) / c.stride) + 1;
  const OW = Math.floor((c.W + 2 * c.pad - c.k) / c.stride) + 1;
  const y = new Float64Array(c.N * c.F * OH * OW);
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(w.length);
  for (let n = 0; n < c.N; n++) {
    for (let f = 0; f < c.F; f++) {
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          const o = ((n * c.F + f) * OH + oh) * OW + ow;
          let s = b ? b[f]! : 0;
          const go = g[o]!;
          for (let ch = 0; ch < c.C; ch++) {
            for (let kh = 0; kh < c.k; kh++) {
              const ih = oh * c.stride - c.pad + kh;
              if (ih < 0 || ih >= c.H) continue;
              for (let kw = 0; kw < c.k; kw++) {
                const iw = ow * c.stride - c.pad + kw;
                if (iw < 0 || iw >= c.W) continue;
                const xi = ((n * c.C + ch) * c.H + ih) * c.W + iw;
                const wi = ((f * c.C + ch) * c.k + kh) * c.k + kw;
                s += x[xi]! * w[wi]!;
                dx[xi] += go * w[wi]!;
                dw[wi] += go * x[xi]!;
              }
            }
          }
          y[o] = s;
        }
      }
    }
  }
  return { y, dx, dw, OH, OW };
}

describe('conv2d at the TMPose (HRNet) shapes, every conv variant (forward, input and weight gradients)', () => {
  for (const c of CONVS) {
    for (const dtype of c.half ? (['float32', 'float16'] as const) : (['float32'] as const)) {
      // One reference per conv and dtype, made by the first variant's test from the values it read.
      let ref: ReturnType<typeof convReference> | null = null;
      for (const label of CONV_VARIANTS) {
        it(`${dtype} ${c.name} with conv2d variant ${label}`, async () => {
          const before = memory().liveTensors;
          const x = leaf([c.N, c.C, c.H, c.W], 4, dtype);
          const w = leaf([c.F, c.C, c.k, c.k], 5, dtype);
          const b = c.bias ? leaf([c.F], 6, dtype) : undefined;
          forceVariant('conv2d', label);
          let y: Tensor;
          let g: Tensor;
          try {
            y = conv2d(x, w, b, { stride: c.stride, padding: c.pad });
            g = normal([...y.shape], 7, dtype);
            y.backward(g);
          } finally {
            forceVariant('conv2d', null);
          }
          ref ??= convReference(c, await values(x), await values(w), b ? await values(b) : null, await values(g));
          const K = c.C * c.k * c.k;
          expectNear(await values(y), ref.y, K, dtype, 'y');
          expectNear(await values(x.grad!), ref.dx, c.F * c.k * c.k, dtype, 'dx');
          expectNear(await values(w.grad!), ref.dw, c.N * ref.OH * ref.OW, dtype, 'dW');
          for (const t of [x.grad!, w.grad!, ...(b ? [b.grad!, b] : []), x, w, g, y]) t.dispose();
          expect(memory().liveTensors).toBe(before);
        });
      }
    }
  }
});
