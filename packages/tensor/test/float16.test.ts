// float16 tensors: the dtype table's errors, creation and rounding (against numpy's float16, in
// fixtures/half.json from scripts/gen_half_fixtures.py), .to() both ways and its gradient, views,
// safetensors F16 (written by the reference `safetensors` package) and .pth halves, an adapter
// without shader-f16, and ops that don't take float16 yet.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import * as api from '@tmpose/tensor';
import { type Tensor, arange, concat, full, init, io, ones, rand, randn, sum, tensor, transpose, zeros } from '@tmpose/tensor';
import { halfToNumber, numberToHalf } from '../src/io/half.js';
import { throwsEarly, withoutShaderF16 } from './helpers.js';

const fixturePath = (name: string) => new URL(`./fixtures/${name}`, import.meta.url);
const bytesOf = (name: string) => new Uint8Array(readFileSync(fixturePath(name)));
const json = <T>(name: string) => JSON.parse(readFileSync(fixturePath(name), 'utf8')) as T;

interface HalfCases {
  values: (number | string)[];
  halves: number[];
}
const cases = json<Record<'float64' | 'float32', HalfCases>>('half.json');
const numbers = (c: HalfCases) => c.values.map((v) => (typeof v === 'number' ? v : Number(v.replace('inf', 'Infinity'))));
/** numpy's bits, with every NaN as the one quiet NaN that the conversions here give. */
const numpyHalves = (c: HalfCases) => c.halves.map((h) => ((h & 0x7c00) === 0x7c00 && h & 0x3ff ? 0x7e00 : h));

beforeAll(async () => {
  await init();
});

describe('dtypes', () => {
  it('an unknown dtype is one error naming the op and the dtypes there are', () => {
    const x = tensor([1, 2, 3]);
    const dtypes = /\(the dtypes are float32, float16, int32\)$/;
    const bad = { dtype: 'float64' } as never;
    throwsEarly(() => tensor([1, 2], [2], bad), /^tensor: unknown dtype "float64" \(the dtypes are/);
    for (const [op, call] of [
      ['tensor', () => tensor([1, 2], [2], bad)],
      ['zeros', () => zeros([2], bad)],
      ['ones', () => ones([2], bad)],
      ['full', () => full([2], 7, bad)],
      ['arange', () => arange(0, 4, 1, bad)],
      ['rand', () => rand([2], bad)],
      ['randn', () => randn([2], bad)],
      ['to', () => x.to('bfloat16' as never)],
    ] as const) {
      throwsEarly(call, new RegExp(`^${op}: unknown dtype "(float64|bfloat16)" ${dtypes.source}`));
    }
    expect(() => zeros([2], { dtype: undefined })).not.toThrow();
    const file = bytesOf('half.safetensors');
    expect(() => io.parse(file, { halfDtype: 'f16' as never })).toThrow(/^safetensors: unknown halfDtype "f16" \(the dtypes are float16, float32\)$/);
    expect(() => io.loadPth(bytesOf('pth/basic.pth'), { halfDtype: 'half' as never })).toThrow(/^pth: unknown halfDtype "half"/);
    x.dispose();
  });

  it('random tensors are float32 only, said clearly', () => {
    throwsEarly(() => randn([2], { dtype: 'float16' as never }), /^randn: makes float32 only \(got dtype float16; convert with \.to\('float16'\)\)$/);
  });
});

describe('float16 tensors', () => {
  it('are 2 bytes an element, made from numbers rounded as numpy rounds (float64 values, once)', async () => {
    const c = cases.float64;
    const t = tensor(numbers(c), undefined, { dtype: 'float16' });
    expect([t.dtype, t.shape]).toEqual(['float16', [c.values.length]]);
    expect(Array.from(await t.rawData())).toEqual(numpyHalves(c));
    // data() widens exactly.
    expect(Array.from(await t.data())).toEqual(numpyHalves(c).map(halfToNumber));
    t.dispose();
  });

  it('from a Float32Array on the host, and by .to("float16") on the GPU, as numpy rounds float32', async () => {
    const c = cases.float32;
    const f32 = new Float32Array(numbers(c));
    const host = tensor(f32, undefined, { dtype: 'float16' });
    const gpu = tensor(f32).to('float16');
    expect(gpu.dtype).toBe('float16');
    expect(Array.from(await host.rawData())).toEqual(numpyHalves(c));
    expect(Array.from(await gpu.rawData())).toEqual(numpyHalves(c));
    // And back on the GPU, exactly: every half (all 65536 bit patterns) widens to its value.
    const all = tensor(Uint16Array.from({ length: 65536 }, (_, i) => i));
    const wide = all.to('float32');
    expect(wide.dtype).toBe('float32');
    const got = await wide.data();
    for (let h = 0; h < 65536; h++) {
      if (!Object.is(got[h], Math.fround(halfToNumber(h))) && !(Number.isNaN(got[h]) && Number.isNaN(halfToNumber(h)))) {
        expect.fail(`half 0x${h.toString(16)} widened to ${got[h]}, not ${halfToNumber(h)}`);
      }
    }
    // And narrowing every widened half gives it back (NaNs as the quiet NaN).
    const back = Array.from(await wide.to('float16').rawData());
    expect(back).toEqual(Array.from({ length: 65536 }, (_, h) => ((h & 0x7c00) === 0x7c00 && h & 0x3ff ? 0x7e00 : h)));
    for (const x of [host, gpu, all, wide]) x.dispose();
  });

  it('from a Uint16Array of raw halves, odd lengths and empty ones too', async () => {
    for (const n of [0, 1, 3, 257]) {
      const bits = Uint16Array.from({ length: n }, (_, i) => (i * 2654435761) >>> 16);
      const t = tensor(bits, [n]);
      expect(t.dtype).toBe('float16');
      expect(Array.from(await t.rawData())).toEqual(Array.from(bits));
      t.dispose();
    }
    expect(() => tensor(new Uint16Array(2), [2], { dtype: 'float32' })).toThrow(/^tensor: a Uint16Array holds float16 bits, but dtype is float32/);
  });

  it('zeros, ones, full and arange', async () => {
    const read = async (t: Tensor) => {
      expect(t.dtype).toBe('float16');
      const v = Array.from(await t.data());
      t.dispose();
      return v;
    };
    expect(await read(zeros([3], { dtype: 'float16' }))).toEqual([0, 0, 0]);
    expect(await read(ones([2, 2], { dtype: 'float16' }))).toEqual([1, 1, 1, 1]);
    // Rounded on the host: 0.1 to its nearest half, 1e6 to Infinity.
    expect(await read(full([3], 0.1, { dtype: 'float16' }))).toEqual([1, 1, 1].map(() => halfToNumber(numberToHalf(0.1))));
    expect(await read(full([1], 1e6, { dtype: 'float16' }))).toEqual([Infinity]);
    expect(await read(arange(0, 1, 0.25, { dtype: 'float16' }))).toEqual([0, 0.25, 0.5, 0.75]);
    expect(await read(arange(2047, 2052, 1, { dtype: 'float16' }))).toEqual([2047, 2048, 2048, 2050, 2052]);
  });

  it('views (odd offsets, transposes), contiguous and concat', async () => {
    const values = Array.from({ length: 12 }, (_, i) => i * 0.5 - 2);
    const x = tensor(values, [3, 4], { dtype: 'float16' });
    const row = x.slice(0, 1, 2).slice(1, 1, 4).reshape([3]); // offset 5: the half in the upper part of a word
    expect(Array.from(await row.data())).toEqual(values.slice(5, 8));
    expect(Array.from(await row.rawData())).toEqual(values.slice(5, 8).map(numberToHalf));
    const t = transpose(x);
    expect(t.dtype).toBe('float16');
    const tc = t.contiguous();
    expect(tc.isContiguous).toBe(true);
    expect(Array.from(await tc.data())).toEqual([0, 1, 2, 3].flatMap((j) => [0, 1, 2].map((i) => values[i * 4 + j]!)));
    const odd = tensor([1, 2, 3], [3], { dtype: 'float16' });
    const joined = concat([odd, row, odd]);
    expect(Array.from(await joined.data())).toEqual([1, 2, 3, ...values.slice(5, 8), 1, 2, 3]);
    // A strided float16 view converts too.
    const wide = t.to('float32');
    expect(Array.from(await wide.data())).toEqual(Array.from(await tc.data()));
    for (const u of [x, row, t, tc, odd, joined, wide]) u.dispose();
  });

  it('.to() of a tensor to its own dtype is the same values, and autograd goes through casts', async () => {
    const x = tensor([0.1, 1, 3], [3], { requiresGrad: true });
    const same = x.to('float32');
    expect(Array.from(await same.data())).toEqual(Array.from(await x.data()));
    // The gradient of a cast is the cast back: 0.1 and 0.3 reach x rounded to halves.
    const w = tensor([0.3, -2, 0.1]);
    const loss = sum(x.to('float16').to('float32').mul(w).add(same));
    loss.backward();
    const expected = [0.3, -2, 0.1].map((v) => Math.fround(halfToNumber(numberToHalf(v))) + 1);
    expect(Array.from(await x.grad!.data())).toEqual(expected);
    // A float16 leaf gets a float16 gradient: float32's, rounded.
    const h = tensor([1, 2, 3], [3], { dtype: 'float16', requiresGrad: true });
    const hLoss = sum(h.to('float32').mul(w));
    hLoss.backward();
    expect(h.grad!.dtype).toBe('float16');
    expect(Array.from(await h.grad!.rawData())).toEqual([0.3, -2, 0.1].map(numberToHalf));
    for (const u of [x, same, w, loss, h, hLoss]) u.dispose();
  });

  it('backward() refuses a gradient of another dtype than the tensor (its kernels would misread it)', () => {
    const h = tensor([1, 2, 3], [3], { dtype: 'float16', requiresGrad: true });
    const y = h.mul(2);
    const g = ones([3]);
    expect(() => y.backward(g)).toThrow("backward: gradient dtype float32 does not match tensor dtype float16 ([3]); convert it with .to('float16')");
    for (const u of [h, y, g]) u.dispose();
  });

  it('on an adapter without shader-f16, asking for float16 is one clear error', () => {
    const x = tensor([1, 2]);
    const file = bytesOf('half.safetensors');
    withoutShaderF16(() => {
      const message = /: this adapter has no shader-f16; float16 tensors need it \(use float32 here\)$/;
      throwsEarly(() => tensor([1, 2], [2], { dtype: 'float16' }), new RegExp(`^tensor${message.source}`));
      throwsEarly(() => tensor(new Uint16Array(2)), new RegExp(`^tensor${message.source}`));
      throwsEarly(() => zeros([2], { dtype: 'float16' }), new RegExp(`^zeros${message.source}`));
      throwsEarly(() => x.to('float16'), new RegExp(`^to${message.source}`));
      throwsEarly(
        () => io.parse(file, { name: 'half.safetensors' }),
        /^safetensors \(half\.safetensors\): tensor '\w+' is F16: this adapter has no shader-f16; float16 tensors need it \(pass halfDtype: 'float32' to widen F16 tensors\)$/,
      );
      throwsEarly(() => io.loadPth(bytesOf('pth/basic.pth'), { halfDtype: 'float16' }), /^pth: tensor 'half' is float16: this adapter has no shader-f16/);
      // float32 goes on as before, a file's halves included when widened.
      const wide = io.parse(file, { halfDtype: 'float32' });
      expect(Object.values(wide).every((t) => t.dtype === 'float32')).toBe(true);
      for (const t of Object.values(wide)) t.dispose();
    });
    x.dispose();
  });
});

describe('float16 files', () => {
  const expected = json<Record<string, number[]>>('half.safetensors.json');

  it('safetensors F16 (written by the safetensors package) loads as float16 and writes back byte for byte', async () => {
    const file = bytesOf('half.safetensors');
    const tensors = io.parse(file);
    expect(Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, [t.dtype, t.shape]]))).toEqual({
      f32: ['float32', [2]],
      grid: ['float16', [2, 3]],
      odd: ['float16', [5]],
      scalar: ['float16', []],
    });
    for (const [name, bits] of Object.entries(expected)) expect(Array.from(await tensors[name]!.rawData()), name).toEqual(bits);
    expect(await io.serialize(tensors)).toEqual(file);
    // The host reader widens by default, and keeps the bits when asked.
    const host = io.parseHost(file);
    expect([host.tensors.odd!.dtype, host.tensors.odd!.data]).toEqual(['float32', new Float32Array(expected.odd!.map(halfToNumber))]);
    const raw = io.parseHost(file, { halfDtype: 'float16' });
    expect([raw.tensors.odd!.dtype, raw.tensors.odd!.data]).toEqual(['float16', new Uint16Array(expected.odd!)]);
    const wide = io.parse(file, { halfDtype: 'float32' });
    expect([wide.grid!.dtype, Array.from(await wide.grid!.data())]).toEqual(['float32', expected.grid!.map(halfToNumber)]);
    for (const t of [...Object.values(tensors), ...Object.values(wide)]) t.dispose();
  });

  it('io.loadPth keeps halves (written by PyTorch) as float16 when asked; float32 stays the default', async () => {
    const pth = json<Record<string, Record<string, { torchDtype: string; values: number[] }>>>('pth/expected.json');
    for (const name of ['basic.pth', 'legacy.pth']) {
      const bytes = bytesOf(`pth/${name}`);
      const byDefault = io.loadPth(bytes);
      expect(byDefault.half!.dtype).toBe('float32');
      const kept = io.loadPth(bytes, { halfDtype: 'float16' });
      expect(kept.half!.dtype).toBe('float16');
      expect(Array.from(await kept.half!.rawData()), name).toEqual(pth[name]!.half!.values.map(numberToHalf));
      // Only the halves change.
      const others = Object.entries(kept).filter(([k]) => k !== 'half');
      expect(others.map(([k, t]) => [k, t.dtype])).toEqual(others.map(([k]) => [k, byDefault[k]!.dtype]));
      for (const t of [...Object.values(byDefault), ...Object.values(kept)]) t.dispose();
    }
  });
});

describe('ops without float16 kernels', () => {
  it('each public op given a float16 tensor throws one clear error naming the op and float16', () => {
    const h = tensor([1, 2, 3, 4], [1, 1, 2, 2], { dtype: 'float16' });
    const f = tensor([1, 2, 3, 4], [1, 1, 2, 2]);
    const calls: [string, () => unknown][] = [
      // Mixed float16 and float32 operands (half.ops.test.ts checks the float16 kernels themselves).
      // (a float16 input with float32 weights is allowed: half.mixed.test.ts; the reverse is not)
      ['linear', () => api.linear(f.reshape([2, 2]), h.reshape([2, 2]))],
      ['conv2d', () => api.conv2d(f, h)],
      ['batchNorm2d', () => api.batchNorm2d(h, null, null, null, null, { relu: true, residual: f })],
      ['scaledDotProductAttention', () => api.scaledDotProductAttention(h, f, h)],
    ];
    for (const [op, call] of calls) {
      let message = '';
      try {
        call();
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message, op).toMatch(new RegExp(`^(${op}|conv2d|linear|matmul)\\b.*float16`));
      expect(message.split('\n').length, op).toBe(1);
    }
    // The views and copies that don't compute do take float16.
    const s = api.stack([h, h]);
    expect(s.dtype).toBe('float16');
    for (const t of [h, f, s]) t.dispose();
  });
});
