// Test helpers: a real WebGPU device (never mocked), and comparisons with stated tolerances.
import { expect } from 'vitest';
import * as api from '@tmpose/tensor';
import { type Tensor, init, memory, randn } from '@tmpose/tensor';
import { getDevice } from '../src/device.js';
import { runtimeStats } from '../src/runtime/queue.js';

/** Initialises the real device; fails loudly (never skips) when no adapter exists. */
export async function device() {
  return init();
}

/** Asserts |actual - expected| <= atol + rtol * |expected| elementwise, reporting the worst element. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol = 0, what = ''): void {
  expect(actual.length, `${what} length`).toBe(expected.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    const excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
    if (!(excess <= 0) && (worst < 0 || !(excess <= worstExcess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    expect.fail(`${what} element ${worst}: got ${actual[worst]}, expected ${expected[worst]} (atol ${atol}, rtol ${rtol})`);
  }
}

/** An op of the public API, looked up by name so that a missing one fails its own tests, not the file. */
export function fn(name: string): (...args: unknown[]) => Tensor {
  const f = (api as unknown as Record<string, unknown>)[name];
  if (typeof f !== 'function') throw new Error(`${name} is not exported by @tmpose/tensor (yet)`);
  return f as (...args: unknown[]) => Tensor;
}

/** Runs `call`, expects it to throw matching `pattern`, and checks it dispatched and allocated nothing. */
export function throwsEarly(call: () => unknown, pattern: RegExp): void {
  const before = { ...runtimeStats(), ...memory() };
  expect(call).toThrow(pattern);
  const after = { ...runtimeStats(), ...memory() };
  expect(after.dispatches, 'dispatches encoded by the failing call').toBe(before.dispatches);
  expect(after.liveTensors, 'tensors left alive by the failing call').toBe(before.liveTensors);
  expect(after.liveBytes, 'bytes allocated by the failing call').toBe(before.liveBytes);
}

export async function values(t: Tensor): Promise<number[]> {
  return Array.from(await t.data());
}

/** Runs `body` as on an adapter without shader-f16 (DeviceInfo.features is read at each use). */
export function withoutShaderF16<T>(body: () => T): T {
  const { features } = getDevice().info;
  const had = features.shaderF16;
  features.shaderF16 = false;
  try {
    return body();
  } finally {
    features.shaderF16 = had;
  }
}

/** A seeded normal leaf: float32, or float32 values rounded once to float16. */
export function leaf(shape: number[], seed: number, dtype: 'float32' | 'float16', requiresGrad = true): Tensor {
  const t = randn(shape, { seed });
  const out = dtype === 'float32' ? t : t.to(dtype);
  if (out !== t) t.dispose();
  out.requiresGrad = requiresGrad;
  return out;
}

/** Runs `fn` as if the adapter's limits were `limits` (smaller ones: bindings are checked against the real ones). */
export async function withLimits<T>(limits: Record<string, number>, fn: () => Promise<T>): Promise<T> {
  const info = getDevice().info;
  const real = info.limits;
  info.limits = new Proxy(real, { get: (t, k) => (typeof k === 'string' && k in limits ? limits[k] : Reflect.get(t, k, t)) });
  try {
    return await fn();
  } finally {
    info.limits = real;
  }
}
