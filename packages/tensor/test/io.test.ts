import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Tensor, init, io, tensor, transpose, zeros } from '@tmpose/tensor';
import { expectClose } from './helpers.js';

const fixture = (name: string) => readFile(new URL(`./fixtures/${name}`, import.meta.url)).then((b) => new Uint8Array(b));

/** A safetensors file from a header (object or raw text) and data bytes, for corrupting on purpose. */
function build(header: object | string | Uint8Array, data: ArrayLike<number> = [], pad = true): Uint8Array {
  let json =
    header instanceof Uint8Array ? header : new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  if (pad && json.length % 8) json = new Uint8Array([...json, ...new Array(8 - (json.length % 8)).fill(0x20)]);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const f32Bytes = (values: number[]) => new Uint8Array(new Float32Array(values).buffer);

let dir: string;
beforeAll(async () => {
  await init();
  dir = await mkdtemp(join(tmpdir(), 'tmpose-io-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('safetensors', () => {
  it('round-trips float32 and int32 tensors, views, scalars and empty tensors', async () => {
    const base = tensor([[1, 2, 3], [4, 5, 6]]);
    const tensors: Record<string, Tensor> = {
      'layers.0.weight': transpose(base), // a non-contiguous view is written row-major
      'layers.0.bias': tensor([0.5, -1e-20, 3e38]),
      counts: tensor(new Int32Array([7, -2147483648, 2147483647])),
      scalar: tensor([3.5], []),
      empty: zeros([0, 4]),
    };
    const bytes = await io.serialize(tensors, { format: 'pt', epoch: '3' });
    const host = io.parseHost(bytes);
    expect(host.metadata).toEqual({ format: 'pt', epoch: '3' });
    const back = io.parse(bytes);
    expect(Object.keys(back).sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      expect(back[name]!.shape, name).toEqual(t.shape);
      expect(back[name]!.dtype, name).toBe(t.dtype);
      expect(Array.from(await back[name]!.data()), name).toEqual(Array.from(await t.data()));
    }
    expect(back['layers.0.weight']!.shape).toEqual([3, 2]);
    expect(Array.from(await back['layers.0.weight']!.data())).toEqual([1, 4, 2, 5, 3, 6]);
  });

  it('writes the same bytes as the reference writer', async () => {
    const expected = await fixture('written.safetensors'); // scripts/gen_safetensors_fixtures.py
    const bytes = await io.serialize(
      {
        weight: tensor([[1.5, -2, 3.25], [0, 0.001, -7]]),
        step: tensor(new Int32Array([7, -3])),
        bias: tensor([0.5, -0.25, 8]),
        empty: zeros([0]),
        0: tensor([42], []),
      },
      { format: 'pt' },
    );
    expect(new TextDecoder().decode(bytes.subarray(8, 8 + 64))).toBe(new TextDecoder().decode(expected.subarray(8, 8 + 64)));
    expect(Array.from(bytes)).toEqual(Array.from(expected));
  });

  it('orders and escapes tensor names as the reference writer: dtype, then UTF-8 bytes of the name', async () => {
    // names.safetensors (scripts/gen_safetensors_fixtures.py): UTF-8 byte order is neither JavaScript's
    // string order (UTF-16 code units: the astral emoji before U+FF21) nor an object's key order
    // (integer-like keys first); names with '"', '\\', a tab and a control character; one metadata entry.
    const expected = await fixture('names.safetensors');
    const names = ['10', '9', '0', 'Z', 'a', 'b10', 'b9', 'é', '\u{1F600}', '\uFF21', 'tab\tquote"back\\slash', 'ctl\u0001'];
    const tensors: Record<string, Tensor> = {};
    names.forEach((n, i) => (tensors[n] = tensor([i, -0.5 * i])));
    ['b', 'a', '2', '10'].forEach((n, i) => (tensors[`i.${n}`] = tensor(new Int32Array([i]))));
    const bytes = await io.serialize(tensors, { note: 'é ✓ "quoted"' });
    expect(new TextDecoder().decode(bytes.subarray(0, 8 + 1100))).toBe(new TextDecoder().decode(expected.subarray(0, 8 + 1100)));
    expect(Array.from(bytes)).toEqual(Array.from(expected));
    for (const t of Object.values(tensors)) t.dispose();
  });

  it('with several metadata entries, writes what the reference writer does up to their order', async () => {
    // The reference keeps "__metadata__" in a Rust HashMap, whose order changes from run to run, so
    // metadata.safetensors (four entries) can't be matched byte for byte. Everything else can: the header
    // length (padding included), the tensors' order and entries, the metadata as a set, the data bytes.
    const expected = await fixture('metadata.safetensors');
    const bytes = await io.serialize(
      { n: tensor(new Int32Array([3])), w: tensor([[1, 2]]) },
      { format: 'pt', epoch: '12', config: 'tmpose-b', note: 'ünïcode' },
    );
    const split = (b: Uint8Array) => {
      const n = Number(new DataView(b.buffer, b.byteOffset).getBigUint64(0, true));
      const text = new TextDecoder().decode(b.subarray(8, 8 + n));
      const json = JSON.parse(text) as Record<string, unknown>;
      // Tensor names in the order the text lists them (JSON.parse would move integer-like keys first).
      const order = Object.keys(json).filter((k) => k !== '__metadata__').sort((a, b) => text.indexOf(`"${a}":{"dtype"`) - text.indexOf(`"${b}":{"dtype"`));
      return { n, padding: text.length - text.trimEnd().length, json, order, data: Array.from(b.subarray(8 + n)) };
    };
    const ours = split(bytes);
    const ref = split(expected);
    expect(ours.n).toBe(ref.n);
    expect(ours.padding).toBe(ref.padding);
    expect(ours.order).toEqual(ref.order);
    expect(ours.json).toEqual(ref.json);
    expect(ours.data).toEqual(ref.data);
    expect(bytes.length).toBe(expected.length);
  });

  it('reads every supported dtype from a reference-format file, converting to float32 / int32', async () => {
    const { tensors, metadata } = io.parseHost(await fixture('mixed.safetensors'));
    expect(metadata).toEqual({});
    const got = (name: string) => ({ ...tensors[name]!, data: Array.from(tensors[name]!.data) });
    expect(got('f32')).toEqual({ dtype: 'float32', fileDtype: 'F32', shape: [2], data: [0.5, -1.25] });
    expect(got('i32')).toEqual({ dtype: 'int32', fileDtype: 'I32', shape: [1], data: [-2147483648] });
    expect(got('f16')).toEqual({ dtype: 'float32', fileDtype: 'F16', shape: [2, 2], data: [1, -2.5, 65504, 2 ** -24] });
    expect(got('bf16')).toEqual({ dtype: 'float32', fileDtype: 'BF16', shape: [3], data: [1, -3.140625, 262144] });
    expect(got('f64')).toEqual({ dtype: 'float32', fileDtype: 'F64', shape: [2], data: [Math.fround(0.1), Math.fround(-1e30)] });
    expect(got('i64')).toEqual({ dtype: 'int32', fileDtype: 'I64', shape: [3], data: [1, -2, 2147483647] });
    const onGpu = io.parse(await fixture('mixed.safetensors'));
    expectClose(await onGpu.f16!.data(), [1, -2.5, 65504, 2 ** -24], 0);
    expect(onGpu.i64!.dtype).toBe('int32');
  });

  it('reads special float values from F16 and BF16', () => {
    // F16: +inf 0x7c00, -0 0x8000, NaN 0x7e00, smallest normal 0x0400; BF16: -inf 0xff80.
    const data = new Uint8Array(new Uint16Array([0x7c00, 0x8000, 0x7e00, 0x0400, 0xff80]).buffer);
    const file = build(
      {
        h: { dtype: 'F16', shape: [4], data_offsets: [0, 8] },
        b: { dtype: 'BF16', shape: [1], data_offsets: [8, 10] },
      },
      data,
    );
    const { tensors } = io.parseHost(file);
    expect(Array.from(tensors.h!.data)).toEqual([Infinity, -0, NaN, 2 ** -14]);
    expect(Array.from(tensors.b!.data)).toEqual([-Infinity]);
  });

  it('gives clear errors for corrupted and truncated files', async () => {
    const good = await fixture('written.safetensors');
    const cases: [Uint8Array, RegExp][] = [
      [new Uint8Array(0), /0 bytes are too few for the 8-byte header length/],
      [good.subarray(0, 100), /header length 320 runs past the end of the 100-byte file \(truncated\?\)/],
      [good.subarray(0, good.length - 4), /tensor 'step': data_offsets \[40, 48\] run past the 44 data bytes \(truncated file\?\)/],
      [new Uint8Array([...good, 0, 0, 0, 0]), /the tensors cover 48 data bytes, but the file has 52 \(trailing bytes\?\)/],
      [new Uint8Array([0, 0, 0, 0, 0, 0, 0, 1]), /header length 72057594037927936 exceeds 100000000 bytes/],
      [build('[1, 2, 3]'), /header does not start with '\{'/],
      [build('{"a": {"dtype": "F32", '), /header is not valid JSON/],
      [build(new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x7d])), /the header is not valid UTF-8/],
      [build({ a: { dtype: 'U8', shape: [1], data_offsets: [0, 1] } }, [0]), /tensor 'a': dtype 'U8' is not supported \(supported: F32, I32, F16, BF16, F64, I64\)/],
      [build({ a: { dtype: 'Q4', shape: [1], data_offsets: [0, 1] } }, [0]), /tensor 'a': dtype 'Q4' is unknown/],
      [build({ a: { dtype: 'F32', shape: [2, -1], data_offsets: [0, 4] } }, f32Bytes([1])), /tensor 'a': shape \[2,-1\] is not a list of non-negative integers/],
      [build({ a: { dtype: 'F32', shape: [2] } }, f32Bytes([1, 2])), /tensor 'a': data_offsets undefined is not a pair/],
      [build({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, f32Bytes([1, 2])), /tensor 'a': data_offsets \[0, 8\] hold 8 bytes, but shape \[3\] of F32 needs 12/],
      [
        build({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }, f32Bytes([1, 2, 3])),
        /tensor 'b': data_offsets \[8, 12\] leave a gap after byte 4/,
      ],
      [
        build({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, f32Bytes([1, 2])),
        /tensor 'b': data_offsets \[4, 8\] overlap the previous tensor/,
      ],
      [build({ __metadata__: { n: 3 } }), /"__metadata__" entry 'n' is 3, not a string/],
      [build({ a: { dtype: 'F64', shape: [2], data_offsets: [0, 16] } }, new Uint8Array(new Float64Array([1, 1e300]).buffer)), /tensor 'a': element 1 \(1e\+300\) overflows float32/],
      [build({ a: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(new BigInt64Array([1n << 40n]).buffer)), /tensor 'a': element 0 \(1099511627776\) overflows int32/],
    ];
    for (const [bytes, message] of cases) {
      expect(() => io.parseHost(bytes), String(message)).toThrow(message);
    }
    // Errors from files name the file.
    const path = join(dir, 'truncated.safetensors');
    await writeFile(path, good.subarray(0, 100));
    await expect(io.loadSafetensors(path)).rejects.toThrow(`safetensors (${path}): header length 320 runs past the end`);
  });

  it('refuses to write invalid input, naming the problem', async () => {
    const t = tensor([1]);
    expect(() => io.serializeChunks({ __metadata__: t })).toThrow(/'__metadata__' cannot name a tensor/);
    const gone = tensor([1, 2]);
    gone.dispose();
    await expect(io.serialize({ ok: t, gone })).rejects.toThrow(/tensor 'gone' \(shape \[2\]\) was disposed/);
    await expect(io.serialize({ t }, { epoch: 3 as unknown as string })).rejects.toThrow(/metadata 'epoch' is number, not a string/);
  });
});

describe('files', () => {
  it('saves and loads a file', async () => {
    const path = join(dir, 'model.safetensors');
    await io.saveSafetensors(path, { w: tensor([[1, 2], [3, 4]]), n: tensor(new Int32Array([5])) }, { format: 'pt' });
    const back = await io.loadSafetensors(path);
    expect(back.w!.shape).toEqual([2, 2]);
    expect(Array.from(await back.w!.data())).toEqual([1, 2, 3, 4]);
    expect(Array.from(await back.n!.data())).toEqual([5]);
    expect(io.parseHost(new Uint8Array(await readFile(path))).metadata).toEqual({ format: 'pt' });
  });

  it('leaves the previous file intact when a write fails midway, and no temporary file behind', async () => {
    const sub = await mkdtemp(join(dir, 'atomic-'));
    const path = join(sub, 'ckpt.safetensors');
    await io.saveSafetensors(path, { a: tensor([1, 2, 3]) });
    const before = await readFile(path);

    // The header and tensor 'a' reach the temporary file before 'b' fails to read back.
    const bad = zeros([1000]);
    bad.rawData = () => Promise.reject(new Error('device lost while reading'));
    await expect(io.saveSafetensors(path, { a: tensor([9, 9, 9]), b: bad })).rejects.toThrow(
      /reading tensor 'b' failed: device lost while reading/,
    );
    expect(Buffer.compare(await readFile(path), before)).toBe(0);
    expect(await readdir(sub)).toEqual(['ckpt.safetensors']);

    // Invalid input fails before any file is created.
    const gone = tensor([1]);
    gone.dispose();
    await expect(io.saveSafetensors(path, { gone })).rejects.toThrow(/was disposed/);
    expect(await readdir(sub)).toEqual(['ckpt.safetensors']);

    // A generic chunk source failing midway.
    async function* chunks() {
      yield new Uint8Array([1, 2, 3]);
      throw new Error('producer failed');
    }
    await expect(io.writeFileAtomic(path, chunks())).rejects.toThrow('producer failed');
    expect(Buffer.compare(await readFile(path), before)).toBe(0);
    expect(await readdir(sub)).toEqual(['ckpt.safetensors']);

    // A directory that doesn't exist: the error is the file system's, nothing is created.
    await expect(io.writeFileAtomic(join(sub, 'missing', 'x.bin'), new Uint8Array([1]))).rejects.toThrow(/ENOENT/);

    await io.writeFileAtomic(path, new Uint8Array([7, 8]));
    expect(Array.from(await readFile(path))).toEqual([7, 8]);
  });
});
