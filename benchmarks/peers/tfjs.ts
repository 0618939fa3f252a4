// tfjs-webgpu 4.22 as a peer: `@tensorflow/tfjs` + `@tensorflow/tfjs-backend-webgpu` (the setup that
// backend's README gives), on the Dawn instance that ../lib/gpu.ts puts on `navigator.gpu`. gpu.ts
// must be imported first: the backend registers itself only if `navigator.gpu` exists when its module
// is evaluated. The union package `@tensorflow/tfjs` is needed, not just `@tensorflow/tfjs-core`: the
// gradient functions (BatchMatMul, Conv2D, Reshape, ...) are registered by it, and tfjs-core's Node
// bundle has none ("gradient function not found for BatchMatMul").
//
// What a fair tfjs user does, and what we do here:
// - default flags (commands submitted every 15 dispatches, tiny CPU-resident inputs run on the CPU);
// - activations in NHWC, tfjs's native layout, unless a case asks for NCHW (supported, but the
//   backend's fast conv paths are written for NHWC);
// - gradients with `tf.grads(f)(xs, dy)`, which runs the forward pass and then the backward pass;
// - every run wrapped in `tf.tidy`, outputs disposed after the run, so `tf.memory()` stays flat.
//
// A run ends when the GPU is done: we read back one element of the last output. Reading one element
// submits all pending commands, and the queue executes in order, so it also waits for everything
// dispatched before it, for the cost of one extra 1-element slice and a 4-byte map.
import '../lib/gpu.js';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { NCHW_TO_NHWC, OIHW_TO_HWIO, hostRandn, permute, sizeOf } from '../lib/data.js';
import type { Case } from '../lib/timing.js';

export const name = 'tfjs-webgpu 4.22';

/** Selects the webgpu backend; resolves to its adapter description. */
export async function init(): Promise<string> {
  if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs: the webgpu backend did not initialise');
  await tf.ready();
  const info = (tf.backend() as unknown as { adapterInfo?: { description?: string; vendor?: string } }).adapterInfo;
  return info?.description || info?.vendor || 'unknown adapter';
}

/** Waits until the GPU has finished everything enqueued so far, by reading one element of `t`. */
export async function finish(t: tf.Tensor): Promise<void> {
  const one = tf.tidy(() => tf.slice(tf.reshape(t, [-1]), [0], [1]));
  await one.data();
  one.dispose();
}

/**
 * A tensor whose data lives on the GPU. tfjs keeps `tf.tensor(values)` on the CPU until first used on
 * the GPU, and with tiny inputs (< 1000 elements) it then runs ops on the CPU instead (the
 * WEBGPU_CPU_FORWARD flag). Adding a GPU-made zero moves it; larger tensors are uploaded on first use.
 */
function gpuTensor(values: Float32Array, shape: number[]): tf.Tensor {
  return tf.tidy(() => tf.add(tf.tensor(values, shape), tf.fill(shape, 0)));
}

function randn(shape: number[], seed: number): tf.Tensor {
  return gpuTensor(hostRandn(sizeOf(shape), seed), shape);
}

/** Runs `f` in a tidy scope, waits for the last of its outputs, disposes them all. */
function caseOf(inputs: tf.Tensor[], f: () => tf.Tensor | tf.Tensor[], extra: Omit<Case, 'run' | 'dispose'>): Case {
  return {
    ...extra,
    async run() {
      const out = tf.tidy(f);
      const outs = Array.isArray(out) ? out : [out];
      await finish(outs[outs.length - 1]!);
      tf.dispose(outs);
    },
    async values() {
      const out = tf.tidy(f);
      const outs = Array.isArray(out) ? out : [out];
      const data = await Promise.all(outs.map((o) => o.data() as Promise<Float32Array>));
      tf.dispose(outs);
      return data;
    },
    dispose() {
      tf.dispose(inputs);
    },
  };
}

/** `tf.matMul(a, b)`, a: [M,K], b: [K,N], f32. */
export function matmul(M: number, K: number, N: number): Case {
  const a = randn([M, K], 1);
  const b = randn([K, N], 2);
  return caseOf([a, b], () => tf.matMul(a, b), { flops: 2 * M * K * N });
}

export interface AttentionShape {
  B: number;
  H: number;
  L: number;
  D: number;
}

/**
 * Composed attention softmax(Q Kᵀ · D^-½) V on [B,H,L,D] (batched `tf.matMul`, `tf.softmax` on the last
 * axis). With `backward`, gradients w.r.t. q, k, v for a fixed random dy. FLOPs count the matmuls only:
 * 4·B·H·L²·D forward, 12·B·H·L²·D forward + backward.
 */
export function attention({ B, H, L, D }: AttentionShape, backward = false): Case {
  const shape = [B, H, L, D];
  const q = randn(shape, 1);
  const k = randn(shape, 2);
  const v = randn(shape, 3);
  const dy = randn(shape, 4);
  const scale = 1 / Math.sqrt(D);
  const f = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) =>
    tf.matMul(tf.softmax(tf.mul(tf.matMul(q, k, false, true), scale)), v);
  const flops = (backward ? 12 : 4) * B * H * L * L * D;
  if (!backward) return caseOf([q, k, v, dy], () => f(q, k, v), { flops });
  const g = tf.grads(f as (...args: tf.Tensor[]) => tf.Tensor);
  return caseOf([q, k, v, dy], () => g([q, k, v], dy), { flops });
}

export interface ConvShape {
  N: number;
  Cin: number;
  Cout: number;
  H: number;
  W: number;
}

/**
 * 3×3 convolution, stride 1, padding 1, no bias. `layout` NHWC (tfjs's native one) or NCHW
 * (`dataFormat: 'NCHW'`); the filter is HWIO either way (tfjs has no other). With `backward`, gradients
 * w.r.t. input and weight for a fixed dy; outputs (and `values()`) are in the chosen layout, dw in HWIO.
 * FLOPs: 2·N·Cout·H·W·Cin·9 forward, three times that forward + backward.
 */
export function conv2d({ N, Cin, Cout, H, W }: ConvShape, backward = false, layout: 'NHWC' | 'NCHW' = 'NHWC'): Case {
  // The same numbers as the other engines: made in NCHW / OIHW, then permuted on the host.
  const xHost = hostRandn(N * Cin * H * W, 1);
  const wHost = hostRandn(Cout * Cin * 9, 2, Math.sqrt(2 / (9 * Cin)));
  const dyHost = hostRandn(N * Cout * H * W, 3);
  const nhwc = layout === 'NHWC';
  const x = (nhwc
    ? gpuTensor(permute(xHost, [N, Cin, H, W], NCHW_TO_NHWC), [N, H, W, Cin])
    : gpuTensor(xHost, [N, Cin, H, W])) as tf.Tensor4D;
  const w = gpuTensor(permute(wHost, [Cout, Cin, 3, 3], OIHW_TO_HWIO), [3, 3, Cin, Cout]) as tf.Tensor4D;
  const dy = nhwc
    ? gpuTensor(permute(dyHost, [N, Cout, H, W], NCHW_TO_NHWC), [N, H, W, Cout])
    : gpuTensor(dyHost, [N, Cout, H, W]);
  const f = (x: tf.Tensor4D, w: tf.Tensor4D) => tf.conv2d(x, w, 1, 1, layout);
  const flops = (backward ? 3 : 1) * 2 * N * Cout * H * W * Cin * 9;
  const note = layout;
  if (!backward) return caseOf([x, w, dy], () => f(x, w), { flops, note });
  const g = tf.grads(f as (...args: tf.Tensor[]) => tf.Tensor);
  return caseOf([x, w, dy], () => g([x, w], dy), { flops, note });
}

export interface BatchNormShape {
  N: number;
  C: number;
  H: number;
  W: number;
}

/**
 * Batch norm in training mode, as a tfjs user writes it: `tf.moments` over N,H,W then `tf.batchNorm`
 * with γ, β, ε = 1e-5; NHWC (channels last, which `tf.batchNorm` broadcasts over). With `backward`,
 * gradients w.r.t. x, γ, β for a fixed dy. Bytes are the nominal minimum traffic: forward reads x twice
 * and writes y (12 B/element); forward + backward adds reading x and dy twice and writing dx (32 B/element).
 */
export function batchNorm({ N, C, H, W }: BatchNormShape, backward = false): Case {
  const shape = [N, H, W, C];
  const nchw = [N, C, H, W];
  const x = gpuTensor(permute(hostRandn(sizeOf(shape), 1), nchw, NCHW_TO_NHWC), shape);
  const gamma = gpuTensor(hostRandn(C, 2).map((v) => v + 1), [C]);
  const beta = randn([C], 3);
  const dy = gpuTensor(permute(hostRandn(sizeOf(shape), 4), nchw, NCHW_TO_NHWC), shape);
  const f = (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => {
    const { mean, variance } = tf.moments(x, [0, 1, 2]);
    return tf.batchNorm(x, mean, variance, beta, gamma, 1e-5);
  };
  const bytes = (backward ? 32 : 12) * sizeOf(shape);
  const note = 'NHWC';
  if (!backward) return caseOf([x, gamma, beta, dy], () => f(x, gamma, beta), { bytes, note });
  const g = tf.grads(f as (...args: tf.Tensor[]) => tf.Tensor);
  return caseOf([x, gamma, beta, dy], () => g([x, gamma, beta], dy), { bytes, note });
}

/** The norm bench's ops on x [rows, R], forward: softmax and layer norm (tf.moments) over R, sum over R, mean over rows. */
export function rowOp(op: 'softmax' | 'layerNorm' | 'sum' | 'mean', rows: number, R: number): Case {
  const x = randn([rows, R], 1);
  const [w, b] = [randn([R], 2), randn([R], 3)];
  const f = {
    softmax: () => tf.softmax(x),
    layerNorm: () => {
      const { mean, variance } = tf.moments(x, [1], true);
      return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), w), b);
    },
    sum: () => tf.sum(x, 1),
    mean: () => tf.mean(x, 0),
  }[op];
  return caseOf([x, w, b], f, { note: op === 'layerNorm' ? 'tf.moments composed' : '' });
}

/** A chain of `n` dependent `tf.add`s on tiny GPU-resident tensors: per-op CPU cost. */
export function addChain(n = 1000, size = 64): Case {
  const a = randn([size], 1);
  const b = randn([size], 2);
  return caseOf(
    [a, b],
    () => {
      let x = a;
      for (let i = 0; i < n; i++) x = tf.add(x, b);
      return x;
    },
    { ops: n },
  );
}

/** Live tensors and bytes, to check that a benchmark does not leak. */
export function liveTensors(): number {
  return tf.memory().numTensors;
}
