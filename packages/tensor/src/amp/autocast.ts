// Autocast (torch.autocast): inside `autocast('float16', fn)` the public ops cast their float operands
// per op, as PyTorch's autocast op lists do: matmul, linear, conv2d and attention run in float16; norms'
// statistics, softmax, losses and reductions in float32; elementwise ops, concat and stack take the
// widest dtype of their operands. Outside a scope (or in one with enabled: false) nothing is cast.
//
// matmul, linear and conv2d take a float16 input with float32 weights (ops/gemm.ts productDTypes): there
// only the input is cast, and float32 weights are read as they are, their gradients float32 straight
// from the kernels' f32 sums (no cast either way).
//
// The casts are ordinary `to` ops, so gradients flow back through them: a float32 master weight used
// in float16 gets a float32 gradient. A parameter (a leaf with requiresGrad) is cast once per outermost
// scope and the copy reused (PyTorch's cast cache); the copies are freed when that scope ends, so an
// optimizer step inside the scope would leave them stale — step after it, as with torch.autocast. Under
// noGrad nothing is cached: a copy made without a graph would give a later use no gradient.
import { isGradEnabled } from '../autograd.js';
import { checkDType } from '../dtype.js';
import { to } from '../ops/cast.js';
import { keep } from '../scope.js';
import { Tensor } from '../tensor.js';

/** The dtype ops of the float16 list run in (PyTorch also has bfloat16, which WebGPU lacks). */
export type AutocastDType = 'float16';

export interface AutocastOptions {
  /** false runs fn with autocast off (a region that must stay float32 inside an autocast one). Default true. */
  enabled?: boolean;
  /** Cast each parameter once per outermost scope (default true). */
  cacheEnabled?: boolean;
}

/** How an op's float operands are cast under autocast. */
export type CastPolicy = 'float16' | 'float32' | 'promote';

interface Region {
  enabled: boolean;
  cache: boolean;
}

const regions: Region[] = [];
const castCache = new Map<Tensor, Tensor>();

/**
 * Runs fn with autocast on (or off with `enabled: false`), as `with torch.autocast('cuda', torch.float16)`.
 * fn must be synchronous (the setting is global and would leak across an await). Asking for float16 on an
 * adapter without shader-f16 is one error; `resolvePrecision('auto')` picks float32 there instead.
 */
export function autocast<T>(dtype: AutocastDType, fn: () => T, options: AutocastOptions = {}): T {
  const enabled = options.enabled ?? true;
  if (enabled) checkDType('autocast', dtype, "run without autocast, or ask for precision 'auto' to fall back to float32");
  regions.push({ enabled, cache: options.cacheEnabled ?? true });
  try {
    const result = fn();
    if (result instanceof Promise) throw new Error('autocast: fn must be synchronous (it returned a Promise)');
    return result;
  } finally {
    regions.pop();
    if (!regions.length) clearAutocastCache();
  }
}

/** Whether ops called now are autocast (torch.is_autocast_enabled). */
export function isAutocastEnabled(): boolean {
  return regions[regions.length - 1]?.enabled ?? false;
}

/** Frees the cached float16 copies of parameters (done when the outermost scope ends). */
export function clearAutocastCache(): void {
  for (const t of castCache.values()) t.dispose();
  castCache.clear();
}

/**
 * @internal `operands` with each float tensor cast by `policy` when autocast is on (anything else passes
 * through), and `done()`, which frees the casts made for this call once the op has run.
 */
export function autocastOperands(policy: CastPolicy, operands: readonly unknown[]): { args: unknown[]; done: () => void } {
  const isFloat = (t: unknown): t is Tensor => t instanceof Tensor && t.dtype !== 'int32';
  if (!isAutocastEnabled() || !operands.some(isFloat)) return { args: [...operands], done: () => {} };
  const target = policy !== 'promote' ? policy : operands.some((t) => isFloat(t) && t.dtype === 'float32') ? 'float32' : 'float16';
  const cache = regions[regions.length - 1]!.cache && target === 'float16' && isGradEnabled();
  const made: Tensor[] = [];
  const args = operands.map((t) => {
    if (!isFloat(t) || t.dtype === target) return t;
    if (cache && t.requiresGrad && !t.gradFn) {
      let c = castCache.get(t);
      if (!c || c.isDisposed) castCache.set(t, (c = keep(to(t, target))));
      return c;
    }
    const c = to(t, target);
    made.push(c);
    return c;
  });
  return { args, done: () => made.forEach((c) => c.dispose()) };
}

/**
 * @internal Wraps an op so that under autocast its tensor arguments at the positions `at` are cast by
 * `policy`; `at` may be a function of the arguments (which positions to cast depends on their dtypes).
 */
export function autocastOp<A extends unknown[], R>(
  policy: CastPolicy,
  op: (...args: A) => R,
  positions: readonly number[] | ((args: A) => readonly number[]) = [0, 1, 2],
): (...args: A) => R {
  return (...args: A): R => {
    if (!isAutocastEnabled()) return op(...args);
    const at = typeof positions === 'function' ? positions(args) : positions;
    const { args: cast, done } = autocastOperands(policy, at.map((i) => args[i]));
    const all = [...args] as A;
    at.forEach((i, k) => {
      if (i < args.length) all[i] = cast[k];
    });
    try {
      return op(...all);
    } finally {
      done();
    }
  };
}

/** @internal Wraps an op on a list of tensors (concat, stack) so that under autocast they share the widest dtype. */
export function autocastList<A extends unknown[], R>(op: (tensors: Tensor[], ...rest: A) => R): (tensors: Tensor[], ...rest: A) => R {
  return (tensors: Tensor[], ...rest: A): R => {
    if (!isAutocastEnabled()) return op(tensors, ...rest);
    const { args, done } = autocastOperands('promote', tensors);
    try {
      return op(args as Tensor[], ...rest);
    } finally {
      done();
    }
  };
}
