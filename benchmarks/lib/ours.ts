// @tmpose/tensor cases, shaped like the peers' (see ../peers/*.ts): same host inputs, a `run()` that
// encodes the work and ends with `await sync()`, intermediates freed inside the run so memory stays flat.
// Ops that are not exported yet make `setup` throw a clear error, which the table prints as the reason.
import './gpu.js';
import * as T from '@tmpose/tensor';
import { hostRandn } from './data.js';
import type { Case } from './timing.js';

export const name = '@tmpose/tensor';

type Tensor = T.Tensor;
type Binary = (a: Tensor, b: Tensor) => Tensor;

/** Initialises the device; resolves to the adapter description. */
export async function init(): Promise<string> {
  return (await T.init()).description;
}

/** An export of @tmpose/tensor by name, or a clear error if it does not exist (yet). */
export function op<F>(fnName: string): F {
  const f = (T as unknown as Record<string, unknown>)[fnName];
  if (typeof f !== 'function') throw new Error(`@tmpose/tensor does not export \`${fnName}\` yet`);
  return f as F;
}

function upload(values: Float32Array, shape: number[], dtype: T.DType = 'float32'): Tensor {
  return T.tensor(values, shape, { dtype });
}

/** Runs `f` in a `tidy`, waits with `sync()`, disposes its outputs. */
export function caseOf(inputs: Tensor[], f: () => Tensor | Tensor[], extra: Omit<Case, 'run' | 'dispose'>): Case {
  return {
    ...extra,
    async run() {
      const out = T.tidy(f);
      await T.sync();
      for (const o of Array.isArray(out) ? out : [out]) o.dispose();
    },
    async values() {
      const out = T.tidy(f);
      const outs = Array.isArray(out) ? out : [out];
      const data = await Promise.all(outs.map((o) => o.data() as Promise<Float32Array>));
      for (const o of outs) o.dispose();
      return data;
    },
    dispose() {
      for (const t of inputs) t.dispose();
    },
  };
}

/** `matmul(a, b)`, a: [M,K], b: [K,N], f32 (or f16: the same inputs rounded); the same inputs as the peers get. */
export function matmul(M: number, K: number, N: number, dtype: T.DType = 'float32'): Case {
  const mm = op<Binary>('matmul');
  const a = upload(hostRandn(M * K, 1), [M, K], dtype);
  const b = upload(hostRandn(K * N, 2), [K, N], dtype);
  return caseOf([a, b], () => mm(a, b), { flops: 2 * M * K * N });
}

/** A chain of `n` dependent `add`s on [size] tensors, all encoded, then one `sync()`: per-op CPU cost. */
export function addChain(n = 1000, size = 64): Case {
  const a = upload(hostRandn(size, 1), [size]);
  const b = upload(hostRandn(size, 2), [size]);
  return caseOf(
    [a, b],
    () => {
      let x = a;
      for (let i = 0; i < n; i++) x = T.add(x, b);
      return x;
    },
    { ops: n },
  );
}

/** CPU time per op of encoding the add chain (median of 9 after warm-up), without waiting for the GPU. */
export async function addChainEncodeMicros(n = 1000, size = 64): Promise<number> {
  const a = upload(hostRandn(size, 1), [size]);
  const b = upload(hostRandn(size, 2), [size]);
  const samples: number[] = [];
  for (let i = 0; i < 12; i++) {
    const t0 = performance.now();
    const out = T.tidy(() => {
      let x = a;
      for (let k = 0; k < n; k++) x = T.add(x, b);
      return x;
    });
    const t1 = performance.now();
    await T.sync();
    out.dispose();
    if (i >= 3) samples.push(((t1 - t0) * 1000) / n);
  }
  a.dispose();
  b.dispose();
  return samples.sort((x, y) => x - y)[Math.floor(samples.length / 2)]!;
}

/** Live tensors, to check that a benchmark does not leak. */
export function liveTensors(): number {
  return T.memory().liveTensors;
}
