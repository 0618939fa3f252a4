// linear's epilogues fused into the product kernels: the bias gradient summed by the weight gradient's
// own pass over g (the first column tile's workgroups sum the rows of gᵀ they load anyway), and a
// residual added in the forward store (torch.addmm's input; its gradient is g itself, no dispatch).
// Every matmul variant (register kernels, GEMM tiles, split-K with its sum pass) forced in turn in
// float32, a register and a split tile in float16 (the same WGSL with other element types: each variant
// is a cold compile in CI), forward and every gradient against float64 references computed from the
// values the kernels read; the mixed case (float16 x, float32 weights and residual) on the default
// variant (every variant of the mixed bias gradient is in half.mixed.test.ts); one row and one output;
// a gradcheck; and the dispatches: forward and backward are three products, no sum, no add.
import { beforeAll, describe, expect, it } from 'vitest';
import { type Tensor, init, launchesOf, linear, memory, nn, randn, tidy } from '@tmpose/tensor';
import { matmulVariantLabels } from '../src/ops/matmul.js';
import { forceVariant } from '../src/runtime/tune.js';
import { gradcheck, normal as data } from './gradcheck.js';
import { throwsEarly } from './helpers.js';

type DType = 'float32' | 'float16';

beforeAll(async () => {
  await init();
});

/** |got - want| <= atol + rtol |want| everywhere. */
function expectNear(got: Float32Array, want: Float64Array, atol: number, rtol: number, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i]! - want[i]!) <= atol + rtol * Math.abs(want[i]!))) {
      expect.fail(`${what}: element ${i} is ${got[i]}, want ${want[i]} (atol ${atol}, rtol ${rtol})`);
    }
  }
}
// f32 sums of up to 37 unit-variance products drift a few ulps; a float16 result is rounded once more
// (2^-11 of itself, 2^-10 with slack).
const FLOAT = { atol: 1e-5, rtol: 1e-5 };
const HALF = { atol: 2 ** -14, rtol: 2 ** -10 };

function leaf(shape: number[], seed: number, dtype: DType, requiresGrad = true): Tensor {
  const t = randn(shape, { seed });
  const out = dtype === 'float32' ? t : t.to(dtype);
  if (out !== t) t.dispose();
  out.requiresGrad = requiresGrad;
  return out;
}

const values = async (t: Tensor) => (await t.data()) as Float32Array;

/** y = x wᵀ + b + r, dx = g w, dw = gᵀ x, db = column sums of g, in float64 (x [M, K], w [N, K]). */
function reference(M: number, K: number, N: number, x: Float32Array, w: Float32Array, b: Float32Array, r: Float32Array, g: Float32Array) {
  const [y, dx, dw, db] = [new Float64Array(M * N), new Float64Array(M * K), new Float64Array(N * K), new Float64Array(N)];
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      const go = g[i * N + j]!;
      let s = 0;
      for (let k = 0; k < K; k++) {
        s += x[i * K + k]! * w[j * K + k]!;
        dx[i * K + k] += go * w[j * K + k]!;
        dw[j * K + k] += go * x[i * K + k]!;
      }
      y[i * N + j] = s + b[j]! + r[i * N + j]!;
      db[j] += go;
    }
  }
  return { y, dx, dw, db };
}

interface Case {
  /** x's leading dims (folded into M rows), in and out features. */
  lead: number[];
  K: number;
  N: number;
  x: DType;
  /** The weights' and the residual's dtype (float32 with a float16 x: the mixed case). */
  w: DType;
}

/** Runs linear(x, w, b, { residual: r }) forward and backward and checks all four gradients and y. */
async function check(c: Case, label: string | null): Promise<void> {
  const before = memory().liveTensors;
  const M = c.lead.reduce((p, d) => p * d, 1);
  const x = leaf([...c.lead, c.K], 1, c.x);
  const w = leaf([c.N, c.K], 2, c.w);
  const b = leaf([c.N], 3, c.w);
  const r = leaf([...c.lead, c.N], 4, c.w);
  const yDType = c.w === 'float32' ? 'float32' : c.x;
  const g = leaf([...c.lead, c.N], 5, yDType, false);
  forceVariant('matmul', label);
  let y: Tensor;
  try {
    y = linear(x, w, b, { residual: r });
    y.backward(g);
  } finally {
    forceVariant('matmul', null);
  }
  expect([y.dtype, x.grad!.dtype, w.grad!.dtype, b.grad!.dtype, r.grad!.dtype]).toEqual([yDType, c.x, c.w, c.w, c.w]);
  const ref = reference(M, c.K, c.N, await values(x), await values(w), await values(b), await values(r), await values(g));
  const tol = (d: DType) => (d === 'float32' ? FLOAT : HALF);
  expectNear(await values(y), ref.y, tol(yDType).atol, tol(yDType).rtol, 'y');
  expectNear(await values(x.grad!), ref.dx, tol(c.x).atol, tol(c.x).rtol, 'dx');
  expectNear(await values(w.grad!), ref.dw, tol(c.w).atol, tol(c.w).rtol, 'dW');
  expectNear(await values(b.grad!), ref.db, tol(c.w).atol, tol(c.w).rtol, 'db');
  // The residual's gradient is g, exactly.
  expect(Array.from(await values(r.grad!))).toEqual(Array.from(await values(g)));
  for (const t of [x.grad!, w.grad!, b.grad!, r.grad!, x, w, b, r, g, y]) t.dispose();
  expect(memory().liveTensors).toBe(before);
}

describe('linear with a bias and a residual, every matmul variant', () => {
  // 37 rows (x [1, 37, 13]): partial row tiles forward, and dW's product (K = 37) two split-K chunks,
  // the second partial, and a partial vec4 of k in the register kernels. 13 inputs: scalar x loads, dW's
  // output neither a multiple of 4 nor of a tile. 16 outputs: the tiles' vec4 store with the residual.
  // Products 13 or more wide have register variants of 4 and 8 rows per thread.
  const shape = { lead: [1, 37], K: 13, N: 16 };
  const labels = matmulVariantLabels(Math.min(shape.K, shape.N));
  for (const label of labels) {
    it(`float32, variant ${label}: y, dx, dW, db, and the residual's gradient`, () => check({ ...shape, x: 'float32', w: 'float32' }, label));
  }
  for (const label of [labels[0]!, 'g64x64s']) {
    it(`float16, variant ${label}`, () => check({ ...shape, x: 'float16', w: 'float16' }, label));
  }

  it('float16 x with float32 weights and a float32 residual: y float32 (the f32 sums plus r, rounded once), dW and db float32', () =>
    check({ ...shape, x: 'float16', w: 'float32' }, null));

  it('one row and one output', () => check({ lead: [1], K: 5, N: 1, x: 'float32', w: 'float32' }, null));

  it('gradcheck', () =>
    gradcheck(([x, w, b, r]) => linear(x!, w!, b, { residual: r }), [data([2, 3, 7], 80), data([5, 7], 81, 0.4), data([5], 82), data([2, 3, 5], 83)]));

  it('a residual of another shape or dtype is an error', () => {
    const [x, w, b] = [leaf([3, 4], 6, 'float32'), leaf([2, 4], 7, 'float32'), leaf([2], 8, 'float32')];
    const [wide, half] = [leaf([3, 3], 9, 'float32'), leaf([3, 2], 10, 'float16')];
    throwsEarly(() => linear(x, w, b, { residual: wide }), /^linear: residual \[3, 3\] must be the output's shape \[3, 2\]/);
    throwsEarly(() => linear(x, w, b, { residual: half }), /^linear: residual float16 \[3, 2\] must be of the input's dtype float32/);
    for (const t of [x, w, b, wide, half]) t.dispose();
  });
});

describe('dispatches', () => {
  it('forward and backward of linear with a bias and a residual are three products: no sum, no add', () => {
    const fc = new nn.Linear(13, 16, { seed: 11 });
    const x = leaf([2, 5, 13], 12, 'float32');
    const r = leaf([2, 5, 16], 13, 'float32');
    const g = leaf([2, 5, 16], 14, 'float32', false);
    for (const [label, kernel] of [[matmulVariantLabels(13)[0]!, 'matmul'], ['g64x64', 'matmulTiled']]) {
      forceVariant('matmul', label);
      try {
        const launches = launchesOf(() => tidy(() => fc.forward(x, { residual: r }).backward(g)));
        // The forward, dx = g W, and dW = gᵀ x with db.
        expect(launches.map((l) => l.kernel.name), label).toEqual([kernel, kernel, kernel]);
      } finally {
        forceVariant('matmul', null);
      }
      for (const t of [x, r, ...fc.parameters()]) {
        t.grad!.dispose();
        t.grad = null;
      }
    }
    for (const t of [x, r, g, ...fc.parameters()]) t.dispose();
  });
});
