// jax-js 0.1.25 as a peer, on the Dawn instance that ../lib/gpu.ts puts on `navigator.gpu` (jax-js reads
// `navigator.gpu` in `init('webgpu')` and `navigator.userAgent` in its kernel heuristics).
//
// jax-js arrays have move semantics: passing an array to an op consumes one reference, so every reuse
// goes through `.ref`; outputs are disposed after each run. Operations are lazy: elementwise work is
// fused into the kernels that consume it and nothing runs until a result is needed, so a run ends with
// `blockUntilReady()` on the outputs (dispatch everything, then a 0-byte read that waits for the queue).
//
// What a fair jax user does, and what we do here: single ops (matmul) eagerly, composed functions and
// gradients under `jit` (`jit(grad(loss, { argnums }))` with loss = Σ f(·)·dy, so the gradient equals the
// vector–Jacobian product with dy that the other engines compute); NCHW / OIHW as `lax.convGeneralDilated`
// takes them natively.
import '../lib/gpu.js';
import * as jax from '@jax-js/jax';
import { hostRandn, sizeOf } from '../lib/data.js';
import type { Case } from '../lib/timing.js';

const { numpy: np, nn, lax } = jax;
type Arr = jax.Array;

export const name = 'jax-js 0.1.25';

/** Initialises the webgpu backend and makes it the default device; resolves to the adapter description. */
export async function init(): Promise<string> {
  const available = await jax.init('webgpu');
  if (!available.includes('webgpu')) throw new Error(`jax-js: no webgpu backend (available: ${available.join(', ')})`);
  jax.defaultDevice('webgpu');
  // jax-js exposes the GPUDevice but not its adapter; the adapter is the one every engine shares.
  const device = jax.getWebGPUDevice() as GPUDevice & { adapterInfo?: GPUAdapterInfo };
  return device.adapterInfo?.description || 'webgpu (adapter description not exposed)';
}

async function randn(shape: number[], seed: number, scale = 1, shift = 0): Promise<Arr> {
  const values = hostRandn(sizeOf(shape), seed, scale);
  if (shift) for (let i = 0; i < values.length; i++) values[i]! += shift;
  const a = np.array(values, { shape });
  await a.blockUntilReady(); // upload now, not inside the first timed run
  return a;
}

/** Waits for all outputs, then disposes them. */
async function finish(outs: Arr | Arr[]): Promise<void> {
  const list = Array.isArray(outs) ? outs : [outs];
  await jax.blockUntilReady(list);
  for (const o of list) o.dispose();
}

function caseOf(inputs: Arr[], f: () => Arr | Arr[], extra: Omit<Case, 'run' | 'dispose'>, owned?: { dispose(): void }): Case {
  return {
    ...extra,
    run: () => finish(f()),
    async values() {
      const out = f();
      const outs = Array.isArray(out) ? out : [out];
      return Promise.all(outs.map((o) => o.data() as Promise<Float32Array>)); // data() consumes the array
    },
    dispose() {
      for (const a of inputs) a.dispose();
      owned?.dispose();
    },
  };
}

/** `np.matmul(a, b)`, a: [M,K], b: [K,N], f32, eager. */
export async function matmul(M: number, K: number, N: number): Promise<Case> {
  const a = await randn([M, K], 1);
  const b = await randn([K, N], 2);
  return caseOf([a, b], () => np.matmul(a.ref, b.ref), { flops: 2 * M * K * N });
}

export interface AttentionShape {
  B: number;
  H: number;
  L: number;
  D: number;
}

/**
 * Composed attention softmax(Q Kᵀ · D^-½) V on [B,H,L,D] (`np.matmul`, `nn.softmax`), under `jit`. With
 * `backward`, `jit(grad(Σ attention(q,k,v)·dy, { argnums: [0,1,2] }))`. FLOPs count the matmuls only:
 * 4·B·H·L²·D forward, 12·B·H·L²·D forward + backward.
 */
export async function attention({ B, H, L, D }: AttentionShape, backward = false): Promise<Case> {
  const shape = [B, H, L, D];
  const [q, k, v, dy] = await Promise.all([randn(shape, 1), randn(shape, 2), randn(shape, 3), randn(shape, 4)]);
  const scale = 1 / Math.sqrt(D);
  const attn = (q: Arr, k: Arr, v: Arr) =>
    np.matmul(nn.softmax(np.multiply(np.matmul(q, np.swapaxes(k, -1, -2)), scale), -1), v);
  const flops = (backward ? 12 : 4) * B * H * L * L * D;
  if (!backward) {
    const f = jax.jit(attn);
    return caseOf([q, k, v, dy], () => f(q.ref, k.ref, v.ref), { flops, note: 'jit' }, f);
  }
  const loss = (q: Arr, k: Arr, v: Arr, dy: Arr) => np.sum(np.multiply(attn(q, k, v), dy));
  const g = jax.jit(jax.grad(loss, { argnums: [0, 1, 2] }));
  return caseOf([q, k, v, dy], () => g(q.ref, k.ref, v.ref, dy.ref) as Arr[], { flops, note: 'jit(grad)' }, g);
}

export interface ConvShape {
  N: number;
  Cin: number;
  Cout: number;
  H: number;
  W: number;
}

/**
 * 3×3 convolution, stride 1, padding 1, NCHW input, OIHW weight (`lax.convGeneralDilated`), under `jit`.
 * With `backward`, `jit(grad(Σ conv(x,w)·dy, { argnums: [0,1] }))`: input and weight gradients.
 * FLOPs: 2·N·Cout·H·W·Cin·9 forward, three times that forward + backward.
 */
export async function conv2d({ N, Cin, Cout, H, W }: ConvShape, backward = false): Promise<Case> {
  const x = await randn([N, Cin, H, W], 1);
  const w = await randn([Cout, Cin, 3, 3], 2, Math.sqrt(2 / (9 * Cin)));
  const dy = await randn([N, Cout, H, W], 3);
  const conv = (x: Arr, w: Arr) => lax.convGeneralDilated(x, w, [1, 1], [[1, 1], [1, 1]]);
  const flops = (backward ? 3 : 1) * 2 * N * Cout * H * W * Cin * 9;
  if (!backward) {
    const f = jax.jit(conv);
    return caseOf([x, w, dy], () => f(x.ref, w.ref), { flops, note: 'NCHW, jit' }, f);
  }
  const loss = (x: Arr, w: Arr, dy: Arr) => np.sum(np.multiply(conv(x, w), dy));
  const g = jax.jit(jax.grad(loss, { argnums: [0, 1] }));
  return caseOf([x, w, dy], () => g(x.ref, w.ref, dy.ref) as Arr[], { flops, note: 'NCHW, jit(grad)' }, g);
}

export interface BatchNormShape {
  N: number;
  C: number;
  H: number;
  W: number;
}

/**
 * Batch norm in training mode, composed as a jax user writes it (batch mean and biased variance over
 * N,H,W, normalise, γ·x̂ + β, ε = 1e-5), NCHW, under `jit`. With `backward`, `jit(grad(Σ bn(x,γ,β)·dy))`
 * w.r.t. x, γ, β. Bytes are the nominal minimum traffic: 12 B/element forward, 32 B/element
 * forward + backward (see ../README.md).
 */
export async function batchNorm({ N, C, H, W }: BatchNormShape, backward = false): Promise<Case> {
  const shape = [N, C, H, W];
  const x = await randn(shape, 1);
  const gamma = await randn([C], 2, 1, 1);
  const beta = await randn([C], 3);
  const dy = await randn(shape, 4);
  const bn = (x: Arr, gamma: Arr, beta: Arr) => {
    const mean = np.mean(x.ref, [0, 2, 3], { keepdims: true });
    const xc = np.subtract(x, mean);
    const variance = np.mean(np.square(xc.ref), [0, 2, 3], { keepdims: true });
    const xhat = np.multiply(xc, np.reciprocal(np.sqrt(np.add(variance, 1e-5))));
    return np.add(np.multiply(xhat, np.reshape(gamma, [1, C, 1, 1])), np.reshape(beta, [1, C, 1, 1]));
  };
  const bytes = (backward ? 32 : 12) * sizeOf(shape);
  if (!backward) {
    const f = jax.jit(bn);
    return caseOf([x, gamma, beta, dy], () => f(x.ref, gamma.ref, beta.ref), { bytes, note: 'NCHW, jit' }, f);
  }
  const loss = (x: Arr, gamma: Arr, beta: Arr, dy: Arr) => np.sum(np.multiply(bn(x, gamma, beta), dy));
  const g = jax.jit(jax.grad(loss, { argnums: [0, 1, 2] }));
  return caseOf(
    [x, gamma, beta, dy],
    () => g(x.ref, gamma.ref, beta.ref, dy.ref) as Arr[],
    { bytes, note: 'NCHW, jit(grad)' },
    g,
  );
}

/** The norm bench's ops on x [rows, R], forward under `jit`: softmax and layer norm (composed) over R, sum over R, mean over rows. */
export async function rowOp(op: 'softmax' | 'layerNorm' | 'sum' | 'mean', rows: number, R: number): Promise<Case> {
  const x = await randn([rows, R], 1);
  const [w, b] = [await randn([R], 2), await randn([R], 3)];
  const fns = {
    softmax: (x: Arr) => nn.softmax(x, -1),
    layerNorm: (x: Arr, w: Arr, b: Arr) => {
      const xc = np.subtract(x.ref, np.mean(x, [1], { keepdims: true }));
      const variance = np.mean(np.square(xc.ref), [1], { keepdims: true });
      return np.add(np.multiply(np.multiply(xc, np.reciprocal(np.sqrt(np.add(variance, 1e-5)))), w), b);
    },
    sum: (x: Arr) => np.sum(x, [1]),
    mean: (x: Arr) => np.mean(x, [0]),
  };
  const f = jax.jit(fns[op] as (x: Arr, w: Arr, b: Arr) => Arr);
  return caseOf([x, w, b], () => f(x.ref, w.ref, b.ref), { note: 'jit' }, f);
}

/**
 * A chain of `n` dependent eager `np.add`s on tiny arrays: per-op CPU cost. jax-js is lazy and fuses
 * elementwise chains, so this may launch far fewer than `n` kernels: that is its design, not a bug.
 */
export async function addChain(n = 1000, size = 64): Promise<Case> {
  const a = await randn([size], 1);
  const b = await randn([size], 2);
  return caseOf(
    [a, b],
    () => {
      let x = a.ref;
      for (let i = 0; i < n; i++) x = np.add(x, b.ref);
      return x;
    },
    { ops: n, note: 'eager, lazily fused' },
  );
}
