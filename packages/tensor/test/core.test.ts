import { beforeAll, describe, expect, it } from 'vitest';
import { add, clamp, dropout, emptyCache, eq, ge, gt, init, le, lt, manualSeed, memory, mul, ne, permute, randn, resetPeakMemory, setMemoryBudget, stack, sum, tensor, tidy, transpose, zeros } from '@tmpose/tensor';
import { expectClose } from './helpers.js';

beforeAll(async () => {
  await init();
});

describe('core', () => {
  it('adds with broadcasting over a permuted view and backpropagates', async () => {
    const a = tensor([[1, 2, 3], [4, 5, 6]], undefined, { requiresGrad: true });
    const b = tensor([10, 20]);
    const c = add(permute(a, [1, 0]), b);
    expect(c.shape).toEqual([3, 2]);
    expectClose(await c.data(), [11, 24, 12, 25, 13, 26], 0);
    sum(mul(c, c)).backward();
    expectClose(await a.grad!.data(), [22, 24, 26, 48, 50, 52], 1e-5);
  });

  it('tidy frees intermediates', async () => {
    const before = memory().liveTensors;
    const x = tensor([1, 2, 3]);
    const y = tidy(() => mul(add(x, 1), 2));
    expect(memory().liveTensors).toBe(before + 2);
    expectClose(await y.data(), [4, 6, 8], 0);
    x.dispose();
    y.dispose();
    expect(memory().liveTensors).toBe(before);
  });

  it('emptyCache frees pooled buffers and later ops still run', async () => {
    tidy(() => {
      mul(tensor([1, 2, 3]), 2);
    });
    expect(memory().pooledBytes).toBeGreaterThan(0);
    emptyCache();
    expect(memory().pooledBytes).toBe(0);
    const y = mul(tensor([1, 2, 3]), 2);
    expectClose(await y.data(), [2, 4, 6], 0);
    y.dispose();
  });

  it('throws on use after dispose, naming the op', () => {
    const x = tensor([1, 2]);
    x.dispose();
    expect(() => add(x, 1)).toThrow(/add: a tensor of shape \[2\] was used after dispose/);
  });
});

describe('PyTorch-style methods, clamp and stack', () => {
  it('methods chain like the functional ops, with gradients', async () => {
    const w = tensor([[1, -2], [3, 4]], undefined, { requiresGrad: true });
    const x = tensor([[1, 2]]);
    const y = x.matmul(w).add(-6.5).relu().sum(); // x @ w = [7, 6]: only the first column stays positive
    expectClose(await y.data(), [0.5], 1e-6);
    y.backward();
    expectClose(await w.grad!.data(), [1, 0, 2, 0], 1e-6);
  });

  it('clamp passes the gradient inside the bounds (inclusive), stack adds an axis', async () => {
    const x = tensor([-2, -1, 0, 1, 2], undefined, { requiresGrad: true });
    const c = clamp(x, -1, 1);
    expectClose(await c.data(), [-1, -1, 0, 1, 1], 0);
    c.sum().backward();
    expectClose(await x.grad!.data(), [0, 1, 1, 1, 0], 0);
    const s = stack([tensor([1, 2]), tensor([3, 4])], 1);
    expect(s.shape).toEqual([2, 2]);
    expectClose(await s.data(), [1, 3, 2, 4], 0);
    expect(() => clamp(x, 2, 1)).toThrow(/clamp: min 2 is greater than max 1/);
  });
});

describe('comparisons', () => {
  it('give 1 / 0 in the inputs\' dtype and never require a gradient', async () => {
    const a = tensor([1, 2, 3], undefined, { requiresGrad: true });
    const b = tensor([2, 2, 2], undefined, { requiresGrad: true });
    const outs = [eq(a, b), ne(a, b), lt(a, b), le(a, b), gt(a, b), ge(a, 2)];
    expect(outs.map((o) => o.requiresGrad)).toEqual([false, false, false, false, false, false]);
    expect(outs.map((o) => o.dtype)).toEqual(new Array(6).fill('float32'));
    expect(await Promise.all(outs.map(async (o) => Array.from(await o.data())))).toEqual([
      [0, 1, 0], [1, 0, 1], [1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 1, 1],
    ]);
    const i = tensor(new Int32Array([-1, 0, 1]));
    const c = lt(i, 0);
    expect(c.dtype).toBe('int32');
    expect(Array.from(await c.data())).toEqual([1, 0, 0]);
    for (const t of [a, b, i, c, ...outs]) t.dispose();
  });
});

// Dropout draws its mask from a hash of (seed, element index): it can't be compared with PyTorch's
// generator, so these check its contract instead. The backward pass must apply the very mask (and the
// 1/(1-p) scale) of the forward pass: the mask is read off the forward output (x is nonzero everywhere,
// so y == 0 exactly where an element was dropped).
describe('dropout', () => {
  const scaled = (v: number, p: number) => Math.fround(v * Math.fround(1 / (1 - p)));

  for (const [label, p, view] of [
    ['p 0.3, 7x129', 0.3, false],
    ['p 0.5, a transposed (non-contiguous) 129x7 view', 0.5, true],
    ['p 0.9, 7x129', 0.9, false],
  ] as const) {
    it(`backward applies the forward's mask and scale: ${label}`, async () => {
      const n = 7 * 129;
      // Nonzero inputs and upstream gradients (|v| >= 0.5), different per element.
      const xv = Float32Array.from({ length: n }, (_, i) => (i % 2 ? -1 : 1) * (0.5 + ((i * 37) % 101) / 50));
      const gv = Float32Array.from({ length: n }, (_, i) => (i % 3 ? 1 : -1) * (0.5 + ((i * 53) % 97) / 40));
      const leaf = tensor(xv, view ? [129, 7] : [7, 129], { requiresGrad: true });
      const x = view ? transpose(leaf) : leaf;
      const y = dropout(x, p, { seed: 1234 });
      expect(y.shape).toEqual([7, 129]);
      const g = tensor(gv, [7, 129]);
      y.backward(g);
      const yv = await y.data();
      const xs = await x.data(); // row-major [7, 129] values of the (viewed) input
      const dx = await (view ? transpose(leaf.grad!) : leaf.grad!).data(); // the gradient seen as [7, 129]
      let kept = 0;
      for (let i = 0; i < n; i++) {
        const keep = yv[i] !== 0;
        kept += keep ? 1 : 0;
        expect(yv[i], `y[${i}]`).toBe(keep ? scaled(xs[i]!, p) : 0);
        expect(dx[i], `dx[${i}]`).toBe(keep ? scaled(gv[i]!, p) : 0);
      }
      // Some of each, near the expected share (p = 0.9 keeps ~90 of 903).
      expect(kept).toBeGreaterThan(0);
      expect(kept).toBeLessThan(n);
      for (const t of [leaf, x, y, g]) t.dispose();
    });
  }

  it('drops a share p of the elements, independently of position, and keeps the mean', async () => {
    const rows = 16;
    const cols = 8192;
    const n = rows * cols;
    const ones = tensor(new Float32Array(n).fill(1), [rows, cols]);
    for (const p of [0.1, 0.5, 0.8]) {
      const out = dropout(ones, p, { seed: 7 + Math.round(p * 10) });
      const y = await out.data();
      out.dispose();
      const kept = (i: number) => (y[i] !== 0 ? 1 : 0);
      let drops = 0;
      let pairs = 0;
      let total = 0;
      const perRow = new Array<number>(rows).fill(0);
      for (let i = 0; i < n; i++) {
        drops += 1 - kept(i);
        perRow[Math.floor(i / cols)]! += 1 - kept(i);
        if (i + 1 < n) pairs += (1 - kept(i)) * (1 - kept(i + 1));
        total += y[i]!;
      }
      // Binomial(n, p): 5 standard deviations.
      const sd = (m: number, q: number) => Math.sqrt(m * q * (1 - q));
      expect(Math.abs(drops - n * p), `p ${p}: dropped ${drops} of ${n}`).toBeLessThan(5 * sd(n, p));
      for (const [r, d] of perRow.entries()) expect(Math.abs(d - cols * p), `p ${p}: row ${r} dropped ${d}`).toBeLessThan(5 * sd(cols, p));
      // Neighbours dropped together at the rate p^2 (no correlation between adjacent elements).
      expect(Math.abs(pairs - (n - 1) * p * p), `p ${p}: adjacent pairs dropped ${pairs}`).toBeLessThan(5 * sd(n - 1, p * p));
      // Rows are independent draws (a mask that repeats along the tensor would make them agree).
      let agree = 0;
      for (let i = 0; i + cols < n; i++) agree += kept(i) === kept(i + cols) ? 1 : 0;
      const same = p * p + (1 - p) * (1 - p);
      expect(Math.abs(agree - (n - cols) * same), `p ${p}: rows agree on ${agree}`).toBeLessThan(5 * sd(n - cols, same));
      // E[y] = 1: kept elements are scaled by 1 / (1 - p).
      expect(Math.abs(total / n - 1), `p ${p}: mean ${total / n}`).toBeLessThan((5 * sd(n, p)) / (n * (1 - p)));
    }
    ones.dispose();
  });

  it('same seed, same mask; other seeds (and the global generator) give other masks', async () => {
    const x = tensor(new Float32Array(4096).fill(1));
    const mask = async (o: { seed?: number }) => {
      const y = dropout(x, 0.5, o);
      const m = Array.from(await y.data(), (v) => (v === 0 ? 0 : 1));
      y.dispose();
      return m;
    };
    const a = await mask({ seed: 99 });
    expect(await mask({ seed: 99 })).toEqual(a);
    const b = await mask({ seed: 100 });
    const agree = a.filter((v, i) => v === b[i]).length;
    expect(Math.abs(agree - 2048)).toBeLessThan(5 * 32); // independent masks agree on half, sd 32
    manualSeed(5);
    const c = await mask({});
    const d = await mask({});
    manualSeed(5);
    expect(await mask({})).toEqual(c);
    expect(d).not.toEqual(c);
    x.dispose();
  });

  it('p = 0 and eval mode are the identity, p = 1 zeroes everything, both ways', async () => {
    const x = randn([5, 7], { seed: 3, requiresGrad: true });
    const xs = Array.from(await x.data());
    const g = randn([5, 7], { seed: 4 });
    const gs = Array.from(await g.data());
    for (const [p, training] of [[0, true], [0.5, false], [1, true]] as const) {
      x.grad?.dispose();
      x.grad = null;
      const y = dropout(x, p, { training, seed: 1 });
      y.backward(g);
      const zero = p === 1;
      expect(Array.from(await y.data()), `p ${p} training ${training}`).toEqual(zero ? new Array(35).fill(0) : xs);
      expect(Array.from(await x.grad!.data()), `p ${p} training ${training}: grad`).toEqual(zero ? new Array(35).fill(0) : gs);
      y.dispose();
    }
    expect(() => dropout(x, 1.5)).toThrow(/dropout: p must be in \[0, 1\], got 1.5/);
    x.dispose();
    g.dispose();
  });
});

describe('memory: peak, budget, out-of-memory', () => {
  it('memory().peakBytes keeps the most live bytes until resetPeakMemory()', () => {
    emptyCache();
    resetPeakMemory();
    const base = memory().liveBytes;
    const big = zeros([256, 1024]); // 1 MiB
    big.dispose();
    expect(memory().peakBytes).toBeGreaterThanOrEqual(base + 1024 * 1024);
    resetPeakMemory();
    expect(memory().peakBytes).toBe(memory().liveBytes);
  });

  it('over the budget, pooled buffers are freed first; live tensors alone over it throw, naming the tensor and the bytes', () => {
    emptyCache();
    const live = memory().liveBytes;
    try {
      setMemoryBudget(live + 3 * 1024 * 1024);
      for (const n of [300, 400, 500]) zeros([n, 1024]).dispose(); // pooled: about 4.7 MB of classes
      const kept = zeros([700, 1024]); // a new size class: the pool must shrink for it
      const m = memory();
      expect(m.liveBytes + m.pooledBytes).toBeLessThanOrEqual(live + 3 * 1024 * 1024);
      expect(() => zeros([2, 1024, 1024])).toThrow(/allocate: a float32 \[2, 1024, 1024\] tensor \(8388608 bytes\) would bring live GPU memory to \d+ bytes, over the budget of \d+ \(setMemoryBudget\)/);
      kept.dispose();
      expect(() => setMemoryBudget(-1)).toThrow(/setMemoryBudget: -1 is not a positive number of bytes/);
    } finally {
      setMemoryBudget(null);
    }
    zeros([2, 1024, 1024]).dispose();
  });
});

describe('to(): int32 <-> float32', () => {
  it('converts as torch does: exact to float32, toward zero (saturating) to int32, no gradient through int32', async () => {
    const i = tensor(new Int32Array([-3, 0, 7, 2147483647]), [4]);
    const f = i.to('float32');
    expect(f.dtype).toBe('float32');
    expect(Array.from(await f.data())).toEqual([-3, 0, 7, 2147483648]);
    const x = tensor([1.7, -1.7, 2.5, -0.4, 3e9, -3e9], [6], { requiresGrad: true });
    const j = x.to('int32');
    expect(j.dtype).toBe('int32');
    expect(j.requiresGrad).toBe(false);
    // Out of range saturates at the largest float32 inside int32 (WGSL's rule; torch leaves it undefined).
    expect(Array.from(await j.data())).toEqual([1, -1, 2, 0, 2147483520, -2147483648]);
    expect(() => i.to('float16')).toThrow(/to: int32 -> float16 is not supported \(the conversions are float32 -> float16, float16 -> float32, int32 -> float32, float32 -> int32\)/);
    for (const t of [i, f, x, j]) t.dispose();
  });
});
