// warmup(): after warming up a function, running it compiles nothing; its results are those of a run
// without warm-up; a kernel that fails to compile is named; an empty function is fine. Small shapes of
// ops that other tests compile anyway, so that the file adds few cold compiles to CI.
import { beforeAll, describe, expect, it } from 'vitest';
import { type Kernel, type Tensor, init, matmul, mul, relu, runtimeStats, sum, tensor, tidy, timeCompile, warmup } from '@tmpose/tensor';
import { expectClose } from './helpers.js';

beforeAll(async () => {
  await init();
});

const [M, K, N] = [3, 5, 4];
const aValues = Array.from({ length: M * K }, (_, i) => ((i * 7) % 11) / 5 - 1);
const bValues = Array.from({ length: K * N }, (_, i) => ((i * 5) % 13) / 6 - 1);

/** sum(relu(a @ b)^2) and its gradient for a, in float64 on the host. */
function reference(): { loss: number; gradA: number[] } {
  const y = Array.from({ length: M * N }, (_, i) => {
    let s = 0;
    for (let k = 0; k < K; k++) s += aValues[Math.floor(i / N) * K + k]! * bValues[k * N + (i % N)]!;
    return Math.max(s, 0);
  });
  const gradA = Array.from({ length: M * K }, (_, i) => {
    let s = 0;
    for (let n = 0; n < N; n++) s += 2 * y[Math.floor(i / K) * N + n]! * bValues[(i % K) * N + n]!;
    return s;
  });
  return { loss: y.reduce((s, v) => s + v * v, 0), gradA };
}

/** A kernel of one thread running `statement` (on its one buffer O). */
const storeKernel = (name: string, statement: string): Kernel => ({
  name,
  key: 'test',
  bindings: [{ name: 'O', type: 'f32', access: 'read_write' }],
  body: () => `@compute @workgroup_size(1)\nfn main() {\n  ${statement}\n}`,
});

describe('warmup', () => {
  it('compiles what a function dispatches, forward and backward: running it then creates no pipeline, with the same results', async () => {
    const a = tensor(aValues, [M, K], { requiresGrad: true });
    const b = tensor(bValues, [K, N]);
    let loss: Tensor | null = null;
    const step = () => {
      loss?.dispose();
      loss = tidy(() => {
        const y = relu(matmul(a, b));
        const l = sum(mul(y, y));
        l.backward();
        return l;
      });
    };
    const report = await warmup(step);
    expect(report.kernels).toBeGreaterThan(3);
    expect(report.compiled).toBeLessThanOrEqual(report.kernels);
    // The warm-up ran the function's host side (its dispatches did not): the gradient it left holds
    // nothing computed, so it goes.
    a.grad?.dispose();
    a.grad = null;
    const before = runtimeStats().pipelines;
    step();
    const expected = reference();
    expectClose([await loss!.item()], [expected.loss], 1e-4, 1e-5, 'loss');
    expectClose(await a.grad!.data(), expected.gradA, 1e-4, 1e-5, 'grad a');
    expect(runtimeStats().pipelines, 'pipelines created by the warmed-up run').toBe(before);
    // Warming up again (from no gradient, as the first time) finds every kernel compiled.
    a.grad!.dispose();
    a.grad = null;
    expect((await warmup(step)).compiled).toBe(0);
    for (const t of [loss!, a, b, a.grad!]) t.dispose();
  });

  it('an empty function, and no kernels, are fine', async () => {
    expect(await warmup(() => {})).toMatchObject({ kernels: 0, compiled: 0 });
    expect(await warmup([])).toMatchObject({ kernels: 0, compiled: 0 });
  });

  it('a kernel that fails to compile is named, and the others of the call still compile', async () => {
    const good = storeKernel('warmup_good', 'O[0] = 1.0;');
    const bad = storeKernel('warmup_bad', 'O[0] = missing;');
    const before = runtimeStats().pipelines;
    await expect(warmup([good, bad])).rejects.toThrow(/^kernel 'warmup_bad\|test' failed to compile: [^\n]+\n.*missing/s);
    expect(runtimeStats().pipelines).toBe(before + 1);
    await expect(warmup([good])).resolves.toMatchObject({ kernels: 1, compiled: 0 });
  });

  it('a dispatch while its kernel is still compiling asynchronously compiles it at once; the warm-up still resolves', async () => {
    const kernel = storeKernel('warmup_inflight', 'O[0] = 2.0;');
    const warming = warmup([kernel]);
    const before = runtimeStats().pipelines;
    await timeCompile(kernel);
    expect(runtimeStats().pipelines).toBe(before + 1);
    await expect(warming).resolves.toMatchObject({ kernels: 1 });
    expect(runtimeStats().pipelines).toBe(before + 1);
  });
});
