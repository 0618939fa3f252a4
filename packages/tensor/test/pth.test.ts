// io.loadPth: PyTorch torch.save checkpoints. The fixtures under ./fixtures/pth are written by
// scripts/gen_pth_fixtures.py with PyTorch; expected.json holds what each should load as.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { init, io, nn, randn } from '@tmpose/tensor';
import { crc32 } from '../src/io/pth.js';
import { expectClose, values } from './helpers.js';

interface Expected {
  dtype: string;
  torchDtype: string;
  shape: number[];
  values: number[] | null;
}
const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`./fixtures/pth/${name}`, import.meta.url)));
const expectedAll = JSON.parse(readFileSync(new URL('./fixtures/pth/expected.json', import.meta.url), 'utf8')) as Record<string, Record<string, Expected>>;

function checkHost(got: Record<string, io.PthHostTensor>, expected: Record<string, Expected>) {
  expect(Object.keys(got)).toEqual(Object.keys(expected));
  for (const [k, e] of Object.entries(expected)) {
    const t = got[k]!;
    expect([t.dtype, t.torchDtype, t.shape], k).toEqual([e.dtype, e.torchDtype, e.shape]);
    expect(t.data).toBeInstanceOf(e.dtype === 'float32' ? Float32Array : Int32Array);
    // float32 values, exactly (float16 / bfloat16 / float64 go through float32 in the reference too).
    if (e.values) expect(Array.from(t.data), k).toEqual(e.values.map((v) => (e.dtype === 'float32' ? Math.fround(v) : v)));
  }
}

// A tiny zip writer (stored entries), to feed the reader hand-made pickles.
function zip(files: Record<string, Uint8Array>): Uint8Array {
  const enc = new TextEncoder();
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const [name, data] of Object.entries(files)) {
    const n = enc.encode(name);
    const lh = new Uint8Array(30 + n.length);
    const lv = new DataView(lh.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint32(14, crc32(data), true);
    lv.setUint32(18, data.length, true);
    lv.setUint32(22, data.length, true);
    lv.setUint16(26, n.length, true);
    lh.set(n, 30);
    const ch = new Uint8Array(46 + n.length);
    const cv = new DataView(ch.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint32(16, crc32(data), true);
    cv.setUint32(20, data.length, true);
    cv.setUint32(24, data.length, true);
    cv.setUint16(28, n.length, true);
    cv.setUint32(42, offset, true);
    ch.set(n, 46);
    locals.push(lh, data);
    centrals.push(ch);
    offset += lh.length + data.length;
  }
  const cdSize = centrals.reduce((s, c) => s + c.length, 0);
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, centrals.length, true);
  ev.setUint16(10, centrals.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  const parts = [...locals, ...centrals, end];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let p = 0;
  for (const part of parts) {
    out.set(part, p);
    p += part.length;
  }
  return out;
}
const pickle = (...bytes: (number | string)[]) =>
  new Uint8Array(bytes.flatMap((b) => (typeof b === 'number' ? [b] : [...new TextEncoder().encode(b)])));

beforeAll(async () => {
  await init();
});

describe('io.loadPth', () => {
  it('reads a module state dict with views, shared storages, 0-d tensors and every supported dtype', () => {
    const got = io.loadPthHost(fixture('basic.pth'), { name: 'basic.pth' });
    checkHost(got, expectedAll['basic.pth']!);
    expect(got['1.num_batches_tracked']).toMatchObject({ dtype: 'int32', torchDtype: 'int64', shape: [] });
    expect(Array.from(got['1.num_batches_tracked']!.data)).toEqual([1]);
    expect(got['views.transposed']!.shape).toEqual([6, 4]);
    expect(Array.from(got['shared.a']!.data)).toEqual([0.5, 0.75, 1, 1.25, 1.5, 1.75]);
    expect(got['empty']!.data.length).toBe(0);
  });

  it('loads GPU tensors that a matching module accepts (num_batches_tracked included)', async () => {
    const dict = io.loadPth(fixture('basic.pth'));
    const m = new nn.Sequential(new nn.Conv2d(2, 3, 3, { bias: false }), new nn.BatchNorm2d(3), new nn.ReLU());
    const own = Object.fromEntries(Object.entries(dict).filter(([k]) => /^[01]\./.test(k)));
    m.loadStateDict(own);
    const e = expectedAll['basic.pth']!;
    expect(await values(m.stateDict()['0.weight']!)).toEqual(e['0.weight']!.values!.map(Math.fround));
    expect(await values(m.stateDict()['1.running_var']!)).toEqual(e['1.running_var']!.values!.map(Math.fround));
    expect(await (m.at(1) as nn.BatchNorm2d).num_batches_tracked!.item()).toBe(1);
    expect(dict['views.sliced']!.shape).toEqual([3, 3]);
    expect(await values(dict['views.sliced']!)).toEqual(e['views.sliced']!.values!.map(Math.fround));
    const x = randn([1, 2, 5, 5], { seed: 1 });
    expect(m.forward(x).shape).toEqual([1, 3, 3, 3]);
    for (const t of Object.values(dict)) t.dispose();
    x.dispose();
    m.dispose();
  });

  it("strips DataParallel's module. prefix (unless told not to)", () => {
    checkHost(io.loadPthHost(fixture('prefixed.pth')), expectedAll['prefixed.pth']!);
    const raw = io.loadPthHost(fixture('prefixed.pth'), { stripModule: false });
    expect(Object.keys(raw).every((k) => k.startsWith('module.'))).toBe(true);
    expect(Object.keys(io.stripPrefix(raw))).toEqual(Object.keys(expectedAll['prefixed.pth']!));
    expect(io.selectPrefix({ 'pre_feature.conv1.weight': 1, 'transformer.x': 2 }, 'pre_feature.')).toEqual({ 'conv1.weight': 1 });
    expect(() => io.stripPrefix({ 'module.a': 1, a: 2 })).toThrow(/two keys 'a'/);
  });

  it("unwraps {'state_dict': ...} checkpoints that also hold an optimizer, numpy scalars and plain values", () => {
    checkHost(io.loadPthHost(fixture('wrapped.pth')), expectedAll['wrapped.pth']!);
    expect(() => io.loadPthHost(fixture('wrapped.pth'), { unwrap: false, name: 'wrapped.pth' })).toThrow(
      /pth \(wrapped\.pth\): wrapped\/data\.pkl: entry 'epoch' is number 3, not a tensor/,
    );
    expect(Object.keys(io.loadPthHost(fixture('wrapped.pth'), { unwrap: false, skipNonTensors: true }))).toEqual([]);
  });

  it('inflates deflated entries (fixed, dynamic and stored deflate blocks)', () => {
    const got = io.loadPthHost(fixture('deflate.pth'));
    checkHost(got, expectedAll['deflate.pth']!);
    const pattern = got['pattern']!;
    expect(pattern.shape).toEqual([8192]);
    expect(Array.from(pattern.data)).toEqual([...Array(8192).keys()].map((i) => (i % 37) / 8));
  });

  it('reads the legacy (pre-1.6, non-zip) format, as the ImageNet HRNet checkpoints are saved', () => {
    checkHost(io.loadPthHost(fixture('legacy.pth')), expectedAll['legacy.pth']!);
    const bytes = fixture('legacy.pth');
    expect(() => io.loadPthHost(bytes.subarray(0, bytes.length - 10), { name: 'cut.pth' })).toThrow(/^pth \(cut\.pth\): legacy storage '\d+': its \d+ bytes run past the end of the file \(truncated\?\)$/);
  });

  it('fails clearly on int64 overflow, a pickled module and TorchScript', () => {
    expect(() => io.loadPthHost(fixture('overflow.pth'))).toThrow(/tensor 'big' \(overflow\/data\/0\): element 1 of the storage \(1099511627776\) overflows int32/);
    expect(() => io.loadPthHost(fixture('whole_module.pth'))).toThrow(/torch\.nn\.modules\.linear\.Linear, not a dict of tensors/);
    expect(() => io.loadPthHost(zip({ 'm/constants.pkl': pickle(0x80, 2, 'N.'), 'm/code/m.py': pickle('x') }))).toThrow(/TorchScript/);
    expect(() => io.loadPthHost(zip({ 'a/b.txt': pickle('x') }))).toThrow(/no '<archive>\/data\.pkl' entry/);
  });

  it('fails clearly on truncated or corrupt files', () => {
    const bytes = fixture('basic.pth');
    expect(() => io.loadPthHost(bytes.subarray(0, bytes.length >> 1), { name: 'half.pth' })).toThrow(/pth \(half\.pth\): .*(truncated|end-of-central-directory)/);
    expect(() => io.loadPthHost(new Uint8Array(10))).toThrow(/too few for a zip archive/);
    // Flip one byte inside the first storage (torch.save names the archive folder after the file): its
    // CRC no longer matches.
    const corrupt = bytes.slice();
    const at = new TextDecoder('latin1').decode(corrupt).indexOf('basic/data/0');
    corrupt[at + 'basic/data/0'.length + 80] ^= 0xff;
    expect(() => io.loadPthHost(corrupt)).toThrow(/zip entry 'basic\/data\/0': CRC-32 mismatch/);
    // A data storage that the zip lacks.
    const missing = zip({
      'x/data.pkl': pickle(
        0x80, 2, '}', '(', 'X', 1, 0, 0, 0, 'w', 'c', 'torch._utils\n_rebuild_tensor_v2\n',
        '(', '(', 'X', 7, 0, 0, 0, 'storage', 'c', 'torch\nFloatStorage\n', 'X', 1, 0, 0, 0, '0', 'X', 3, 0, 0, 0, 'cpu', 'K', 2, 't', 'Q',
        'K', 0, 'K', 2, 0x85, 'K', 1, 0x85, 0x89, '}', 't', 'R', 'u', '.',
      ),
    });
    expect(() => io.loadPthHost(missing)).toThrow(/tensor 'w' \(x\/data\/0\): the storage's data is missing/);
    // The same pickle with the storage present but too short for the view.
    const withData = (n: number) =>
      zip({
        'x/data.pkl': pickle(
          0x80, 2, '}', '(', 'X', 1, 0, 0, 0, 'w', 'c', 'torch._utils\n_rebuild_tensor_v2\n',
          '(', '(', 'X', 7, 0, 0, 0, 'storage', 'c', 'torch\nFloatStorage\n', 'X', 1, 0, 0, 0, '0', 'X', 3, 0, 0, 0, 'cpu', 'K', n, 't', 'Q',
          'K', 0, 'K', 2, 0x85, 'K', 1, 0x85, 0x89, '}', 't', 'R', 'u', '.',
        ),
        'x/data/0': new Uint8Array(new Float32Array([1.5, -2]).buffer),
      });
    expect(Array.from(io.loadPthHost(withData(2))['w']!.data)).toEqual([1.5, -2]);
    expect(() => io.loadPthHost(withData(1))).toThrow(/tensor 'w' \(x\/data\/0\): the view \(offset 0, size \[2\], stride \[1\]\) reaches element 1 of a 1-element storage/);
    expect(() => io.loadPthHost(withData(3))).toThrow(/8 bytes hold fewer than the 3 float32 elements/);
    // Unsupported opcodes and truncated pickles name the entry and the byte.
    expect(() => io.loadPthHost(zip({ 'x/data.pkl': pickle(0x80, 2, '}', 0xff, '.') }))).toThrow(/x\/data\.pkl at byte 3: unsupported pickle opcode 0xff/);
    expect(() => io.loadPthHost(zip({ 'x/data.pkl': pickle(0x80, 2, '}', 'X', 9, 0, 0, 0, 'ab') }))).toThrow(/x\/data\.pkl at byte 3: unexpected end of the pickle/);
    expect(() => io.loadPthHost(zip({ 'x/data.pkl': pickle(0x80, 2, ']', '.') }))).toThrow(/the pickled object is a list\/tuple, not a dict of tensors/);
  });

  it('reads STACK_GLOBAL, MEMOIZE, LONG1, BINFLOAT and friends (protocol 4 style pickles)', () => {
    // {'a': tensor} with the global built by STACK_GLOBAL, memoised by MEMOIZE, fetched back by BINGET;
    // plus non-tensor entries (skipped) using LONG1, BININT, BININT2, BINFLOAT, NEWTRUE, TUPLE3.
    const p = pickle(
      0x80, 4, 0x95, 0, 0, 0, 0, 0, 0, 0, 0,
      '}', 0x94, '(',
      0x8c, 1, 'a',
      0x8c, 12, 'torch._utils', 0x8c, 18, '_rebuild_tensor_v2', 0x93, 0x94,
      '(', '(', 0x8c, 7, 'storage', 0x8c, 5, 'torch', 0x8c, 11, 'HalfStorage', 0x93, 0x8c, 1, '7', 0x8c, 3, 'cpu', 'M', 3, 0, 't', 'Q',
      'K', 1, 'K', 2, 0x85, 'K', 1, 0x85, 0x89, 'N', 't', 'R',
      0x8c, 1, 'b', 0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1, // 2**64
      0x8c, 1, 'c', 'G', 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, // 1.5
      0x8c, 1, 'd', 'J', 0xff, 0xff, 0xff, 0xff, 0x88, 'N', 0x87,
      'u', '.',
    );
    const half = new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x3800]).buffer); // 1, -2, 0.5
    const got = io.loadPthHost(zip({ 'y/data.pkl': p, 'y/data/7': half }), { skipNonTensors: true });
    expect(Object.keys(got)).toEqual(['a']);
    expect(got['a']).toMatchObject({ dtype: 'float32', torchDtype: 'float16', shape: [2] });
    expect(Array.from(got['a']!.data)).toEqual([-2, 0.5]);
  });
});

describe('loadPth into a module', () => {
  it('matches the reference float values', async () => {
    const dict = io.loadPth(fixture('prefixed.pth'));
    const e = expectedAll['prefixed.pth']!;
    for (const [k, t] of Object.entries(dict)) {
      if (e[k]!.dtype === 'float32') expectClose(await values(t), e[k]!.values!, 0, 0, k);
      t.dispose();
    }
  });
});
