// layerNorm forward and its one-kernel backward (dx per row and the weight and bias partials per column
// over chunks of 16 rows, then one sum) against float64 on the host, in every row variant forced: f32,
// float16 inputs with float32 or float16 parameters, a float32 input written as float16, affine-free, an
// input without gradient, dx added to a pending gradient; one row, rows in 1 chunk and in 9 (the last
// one short; the thread variant's workgroups take 64 rows, 4 chunks), D of 7, 33 and 67.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DType, type Tensor, add, forceVariant, init, launchesOf, layerNorm, memory, mul, nn, slice, squeeze, sum, tensor, tidy } from '@tmpose/tensor';
import { ROW_VARIANTS } from '../src/ops/rowlanes.js';
import { normal } from './gradcheck.js';
import { expectClose } from './helpers.js';

let live = 0;
let variants = ROW_VARIANTS;
beforeAll(async () => {
  const info = await init();
  if (!info.features.subgroups) variants = variants.filter((v) => v !== 'subgroup');
  live = memory().liveTensors;
});
afterAll(() => expect(memory().liveTensors).toBe(live));

interface Case {
  what: string;
  dtype: 'float32' | 'float16';
  param: DType;
  affine: boolean;
  xGrad: boolean;
  /** x goes in as h = 2x, also read by a mul whose gradient is pending on h when layerNorm's rule runs. */
  accumulate: boolean;
  /** The backward kernel's key ends with the variant and these. */
  flags: string;
  /** y's dtype when not the input's (layerNorm's dtype option; the cotangent g takes it too). */
  out?: 'float16';
}
const CASES: Case[] = [
  { what: 'f32 with weight and bias', dtype: 'float32', param: 'float32', affine: true, xGrad: true, accumulate: false, flags: 'p' },
  { what: 'f32 affine-free', dtype: 'float32', param: 'float32', affine: false, xGrad: true, accumulate: false, flags: '' },
  { what: 'f32, input without gradient', dtype: 'float32', param: 'float32', affine: true, xGrad: false, accumulate: false, flags: 'pn' },
  { what: 'f32, dx added to the pending gradient', dtype: 'float32', param: 'float32', affine: true, xGrad: true, accumulate: true, flags: 'pa' },
  { what: 'f16 input, f32 weight and bias', dtype: 'float16', param: 'float32', affine: true, xGrad: true, accumulate: false, flags: 'p' },
  { what: 'f16 input, weight and bias', dtype: 'float16', param: 'float16', affine: true, xGrad: true, accumulate: false, flags: 'p' },
  { what: 'f32 input, weight and bias, f16 output (a pre-norm under autocast)', dtype: 'float32', param: 'float32', affine: true, xGrad: true, accumulate: false, flags: 'p', out: 'float16' },
];
const SHAPES: [rows: number, D: number][] = [
  [1, 7],
  [15, 33],
  [130, 67],
];
const EPS = 1e-5;

/** y, dx, dw, db of layerNorm over rows of D in float64; dh = g * w, dx = rstd (dh - mean dh - xh mean(dh xh)). */
function reference(x: number[], w: number[], b: number[], g: number[], rows: number, D: number) {
  const y = new Float64Array(rows * D);
  const dx = new Float64Array(rows * D);
  const dw = new Float64Array(D);
  const db = new Float64Array(D);
  for (let r = 0; r < rows; r++) {
    const xs = x.slice(r * D, (r + 1) * D);
    const m = xs.reduce((s, v) => s + v, 0) / D;
    const rstd = 1 / Math.sqrt(xs.reduce((s, v) => s + (v - m) ** 2, 0) / D + EPS);
    const xh = xs.map((v) => (v - m) * rstd);
    const dh = xh.map((_, d) => g[r * D + d]! * w[d]!);
    const a = dh.reduce((s, v) => s + v, 0) / D;
    const c = dh.reduce((s, v, d) => s + v * xh[d]!, 0) / D;
    for (let d = 0; d < D; d++) {
      y[r * D + d] = xh[d]! * w[d]! + b[d]!;
      dx[r * D + d] = rstd * (dh[d]! - a - xh[d]! * c);
      dw[d] += g[r * D + d]! * xh[d]!;
      db[d] += g[r * D + d]!;
    }
  }
  return { y, dx, dw, db };
}

/** The graph of a case: the leaves, y, and the scalar whose backward gives y the cotangent g. */
function graph(c: Case, rows: number, D: number) {
  return tidy(() => {
    const x = tensor(normal([rows, D], 1, 2, 0.5).values, [rows, D], { dtype: c.dtype, requiresGrad: c.xGrad });
    const w = tensor(normal([D], 2, 0.3, 1).values, [D], { dtype: c.param, requiresGrad: true });
    const b = tensor(normal([D], 3, 0.3).values, [D], { dtype: c.param, requiresGrad: true });
    const g = tensor(normal([rows, D], 4).values, [rows, D], { dtype: c.out ?? c.dtype });
    const a = tensor(normal([rows, D], 5).values, [rows, D], { dtype: c.dtype });
    const h = c.accumulate ? mul(x, 2) : x;
    const y = c.affine ? layerNorm(h, [D], w, b, 1e-5, { dtype: c.out }) : layerNorm(h, [D]);
    const loss = c.accumulate ? add(sum(mul(y, g)), sum(mul(h, a))) : sum(mul(y, g));
    return { x, w, b, g, a, y, loss };
  });
}

describe('layerNorm backward in one kernel, against float64', () => {
  for (const c of CASES) {
    it(`${c.what}: every row variant, rows of 1, 15 and 130`, async () => {
      // Element errors relative to the largest expected: f32 sums of up to 130 terms, or float16 results rounded once.
      const tolOf = (dtype: DType) => (dtype === 'float16' ? 2 ** -10 : 2e-5);
      for (const variant of variants) {
        forceVariant('rows', variant);
        try {
          for (const [rows, D] of SHAPES) {
            // The launches: the backward kernel with its flags, one sum of the partials past one chunk (held
            // back until read: here, the recording's end), nothing else of layerNorm's.
            const names = tidy(() => {
              const { x, w, b, g, a, loss } = graph(c, rows, D);
              const launched = launchesOf(() => loss.backward()).map((l) => `${l.kernel.name}|${l.kernel.key}`);
              for (const t of [x, w, b, g, a]) t.dispose();
              return launched;
            });
            const backward = names.filter((n) => n.startsWith('layerNorm'));
            expect(backward, `${variant} ${rows}x${D} layerNorm launches`).toHaveLength(1);
            expect(backward[0]!.endsWith(`${variant}${c.flags}`), `${backward[0]} ends with ${variant}${c.flags}`).toBe(true);
            const sums = names.filter((n) => n.startsWith('heldSums|')).length;
            if (!c.accumulate) expect(sums, `${variant} ${rows}x${D} sums`).toBe(c.affine && rows > 16 ? 1 : 0);

            const { x, w, b, g, a, y, loss } = graph(c, rows, D);
            loss.backward();
            const read = async (t: Tensor) => Array.from(await t.data());
            const [xv, wv, bv, gv, av] = await Promise.all([x, w, b, g, a].map(read));
            const scale = c.accumulate ? 2 : 1;
            const want = reference(
              xv!.map((v) => v * scale),
              c.affine ? wv! : new Array<number>(D).fill(1),
              c.affine ? bv! : new Array<number>(D).fill(0),
              gv!,
              rows,
              D,
            );
            const check = async (got: Tensor, expected: ArrayLike<number>, dtype: DType, what: string) => {
              const max = Math.max(...Array.from(expected, Math.abs));
              expectClose(await read(got), expected, tolOf(dtype) * max + 1e-7, 0, `${c.what}, ${variant}, ${rows}x${D}: ${what}`);
            };
            await check(y, want.y, c.out ?? c.dtype, 'y');
            expect(y.dtype).toBe(c.out ?? c.dtype);
            if (c.xGrad) {
              const dx = c.accumulate ? Array.from(want.dx, (v, i) => 2 * (v + av![i]!)) : want.dx;
              await check(x.grad!, dx, c.dtype, 'dx');
            } else {
              expect(x.grad).toBeNull();
            }
            if (c.affine) {
              await check(w.grad!, want.dw, c.param, 'dweight');
              await check(b.grad!, want.db, c.param, 'dbias');
            }
            for (const t of [x, w, b, g, a, y, loss]) t.dispose();
          }
        } finally {
          forceVariant('rows', null);
        }
      }
    });
  }

  it('strided weight and bias (views, as PyTorch takes them) give what contiguous ones give, gradients included', async () => {
    const [rows, D] = [15, 33];
    const run = async (strided: boolean) => {
      const values = normal([2 * D], 30, 0.3, 1).values;
      // Weight and bias interleaved in one [D, 2] leaf: columns 0 and 1, stride 2.
      const pair = tensor(Float32Array.from({ length: 2 * D }, (_, i) => values[(i % 2) * D + (i >> 1)]!), [D, 2], { requiresGrad: true });
      const own = [tensor(values.slice(0, D), [D], { requiresGrad: true }), tensor(values.slice(D), [D], { requiresGrad: true })];
      const x = tensor(normal([rows, D], 1, 2, 0.5).values, [rows, D], { requiresGrad: true });
      const g = tensor(normal([rows, D], 4).values, [rows, D]);
      const y = tidy(() => (strided ? layerNorm(x, [D], squeeze(slice(pair, 1, 0, 1), 1), squeeze(slice(pair, 1, 1, 2), 1)) : layerNorm(x, [D], own[0], own[1])));
      tidy(() => sum(mul(y, g)).backward());
      const grads = strided ? [await pair.grad!.data()].map((p) => [Array.from(p).filter((_, i) => i % 2 === 0), Array.from(p).filter((_, i) => i % 2 === 1)]).flat() : await Promise.all(own.map(async (t) => Array.from(await t.grad!.data())));
      const out = [Array.from(await y.data()), Array.from(await x.grad!.data()), ...grads];
      for (const t of [pair.grad, ...own.map((o) => o.grad), x.grad, pair, ...own, x, g, y]) t?.dispose();
      return out;
    };
    const own = await run(false);
    const strided = await run(true);
    own.forEach((want, i) => expect(strided[i], `output ${i}`).toEqual(want));
  });

  it('weight and bias at offsets in a shared buffer (Module.flattenParameters) give what their own buffers give', async () => {
    const [rows, D] = [15, 33];
    // Two norms: the second one's weight and bias sit at offsets 36 and 72 of the flat buffer.
    const run = async (flat: boolean) => {
      const m = new nn.Sequential(new nn.LayerNorm(D), new nn.LayerNorm(D));
      const values = tidy(() => Object.fromEntries(Object.entries(m.stateDict()).map(([k], i) => [k, tensor(normal([D], 10 + i, 0.3, 1).values, [D])])));
      m.loadStateDict(values);
      for (const t of Object.values(values)) t.dispose();
      if (flat) m.flattenParameters();
      const x = tensor(normal([rows, D], 1, 2, 0.5).values, [rows, D], { requiresGrad: true });
      const g = tensor(normal([rows, D], 4).values, [rows, D]);
      const y = tidy(() => m.forward(x));
      tidy(() => sum(mul(y, g)).backward());
      const out = [await y.data(), await x.grad!.data(), ...(await Promise.all(m.parameters().map((p) => p.grad!.data())))];
      for (const t of [x.grad!, ...m.parameters().map((p) => p.grad!), x, g, y, m]) t.dispose();
      return out;
    };
    const own = await run(false);
    const flat = await run(true);
    own.forEach((want, i) => expect(Array.from(flat[i]!), `output ${i}`).toEqual(Array.from(want)));
  });
});
