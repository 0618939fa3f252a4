// The safetensors format (https://github.com/huggingface/safetensors), byte for byte:
//   [u64 little-endian N][N bytes of JSON header, padded with spaces to a multiple of 8][data]
// The header maps each tensor name to {dtype, shape, data_offsets: [begin, end]} (offsets into the data
// part) and may hold "__metadata__": {string: string}. Tensors tile the data part exactly: no gaps, no
// overlap, nothing after. No Node imports here: this file also runs in browsers.
//
// Typed arrays are read and written in host byte order, which is little-endian on every platform that
// runs WebGPU (WebGPU buffers themselves are little-endian).
import { type DType, checkDType, dtypes } from '../dtype.js';
import { tensor } from '../ops/create.js';
import { fmt, sizeOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { type HalfDtype, checkHalfDtype, halfToNumber } from './half.js';

export type { HalfDtype };

/**
 * The dtypes this reader understands. F16 becomes float16 or float32 (ParseOptions.halfDtype); BF16 and
 * F64 become float32; I64 becomes int32.
 */
export type FileDType = 'F32' | 'I32' | 'F16' | 'BF16' | 'F64' | 'I64';

const FILE_DTYPES: Record<FileDType, { bytes: number; dtype: DType }> = {
  F32: { bytes: 4, dtype: 'float32' },
  I32: { bytes: 4, dtype: 'int32' },
  F16: { bytes: 2, dtype: 'float32' },
  BF16: { bytes: 2, dtype: 'float32' },
  F64: { bytes: 8, dtype: 'float32' },
  I64: { bytes: 8, dtype: 'int32' },
};

/** Dtypes of the format that we recognise but cannot hold, so that the error says so instead of "unknown". */
const OTHER_FORMAT_DTYPES = ['BOOL', 'U8', 'I8', 'I16', 'U16', 'U32', 'U64', 'C64', 'F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'F4', 'F6_E2M3', 'F6_E3M2'];

const WRITE_DTYPE: Record<DType, FileDType> = { float32: 'F32', int32: 'I32', float16: 'F16' };
/** The reference writer orders tensors by dtype, these first (its enum's larger values first), then by name. */
const WRITE_ORDER: FileDType[] = ['F32', 'I32', 'F16'];

/** The reference implementation refuses headers above 100 MB; so do we, before allocating anything. */
const MAX_HEADER_BYTES = 100_000_000;

/** Host values: float32 and int32, and the bits of float16 values where halves are kept. */
export type HostArray<H extends HalfDtype = 'float32'> = Float32Array | Int32Array | (H extends 'float16' ? Uint16Array : never);

export interface HostTensor<H extends HalfDtype = 'float32'> {
  /** The dtype the values were converted to. */
  dtype: DType;
  /** The dtype stored in the file. */
  fileDtype: FileDType;
  shape: number[];
  data: HostArray<H>;
}

export interface ParsedSafetensors<H extends HalfDtype = 'float32'> {
  tensors: Record<string, HostTensor<H>>;
  /** The header's "__metadata__" ({} when there is none). */
  metadata: Record<string, string>;
}

export interface ParseOptions<H extends HalfDtype = HalfDtype> {
  /** Names the source (a file path, a URL) in error messages. */
  name?: string;
  /**
   * What F16 tensors become: 'float16' (kept as they are; the adapter needs shader-f16) or 'float32'
   * (widened, exactly). Default 'float16' for `parse` / `loadSafetensors`, and 'float32' for the host
   * readers `parseHost` / `readSafetensors`, whose callers expect numbers.
   */
  halfDtype?: H;
}

function failer(source: string | undefined) {
  const where = source ? `safetensors (${source})` : 'safetensors';
  return (message: string): never => {
    throw new Error(`${where}: ${message}`);
  };
}

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

/** Decodes one tensor's bytes to float32 / int32, or F16 to its bits when kept; `fail` names the tensor. */
function decode(
  fileDtype: FileDType,
  bytes: Uint8Array,
  count: number,
  keepHalves: boolean,
  fail: (m: string) => never,
): Float32Array | Int32Array | Uint16Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (fileDtype) {
    case 'F32':
      // slice() copies into a fresh, aligned buffer: the source may sit at any byte offset.
      return new Float32Array(bytes.slice().buffer, 0, count);
    case 'I32':
      return new Int32Array(bytes.slice().buffer, 0, count);
    case 'F16': {
      if (keepHalves) return new Uint16Array(bytes.slice().buffer, 0, count);
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = halfToNumber(view.getUint16(2 * i, true));
      return out;
    }
    case 'BF16': {
      // bfloat16 is the top half of a float32.
      const bits = new Uint32Array(count);
      for (let i = 0; i < count; i++) bits[i] = view.getUint16(2 * i, true) << 16;
      return new Float32Array(bits.buffer);
    }
    case 'F64': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) {
        const x = view.getFloat64(8 * i, true);
        out[i] = x;
        if (Number.isFinite(x) && !Number.isFinite(out[i]!)) fail(`element ${i} (${x}) overflows float32`);
      }
      return out;
    }
    case 'I64': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const x = view.getBigInt64(8 * i, true);
        if (x < -2147483648n || x > 2147483647n) fail(`element ${i} (${x}) overflows int32`);
        out[i] = Number(x);
      }
      return out;
    }
  }
}

interface HeaderEntry {
  name: string;
  fileDtype: FileDType;
  shape: number[];
  begin: number;
  end: number;
}

/** Reads and validates the header, as the reference implementation does; returns entries sorted by offset. */
function readHeader(bytes: Uint8Array, fail: (m: string) => never): { entries: HeaderEntry[]; metadata: Record<string, string>; dataStart: number } {
  if (bytes.byteLength < 8) fail(`${bytes.byteLength} bytes are too few for the 8-byte header length (truncated or empty file?)`);
  const lengthWord = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (lengthWord > BigInt(MAX_HEADER_BYTES)) {
    fail(`header length ${lengthWord} exceeds ${MAX_HEADER_BYTES} bytes (not a safetensors file, or a corrupted one)`);
  }
  const headerBytes = Number(lengthWord);
  const dataStart = 8 + headerBytes;
  if (dataStart > bytes.byteLength) {
    fail(`header length ${headerBytes} runs past the end of the ${bytes.byteLength}-byte file (truncated?)`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart));
  } catch {
    fail('the header is not valid UTF-8');
  }
  if (!text.startsWith('{')) fail(`the header does not start with '{' (starts with ${JSON.stringify(text.slice(0, 16))})`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    fail(`the header is not valid JSON: ${(err as Error).message}`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('the header is not a JSON object');

  const metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (info === null || typeof info !== 'object' || Array.isArray(info)) fail('"__metadata__" is not an object of strings');
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`"__metadata__" entry '${k}' is ${JSON.stringify(v)}, not a string`);
        Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
      }
      continue;
    }
    const bad = (m: string) => fail(`tensor '${name}': ${m}`);
    if (info === null || typeof info !== 'object' || Array.isArray(info)) bad('its entry is not an object');
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    if (typeof dtype !== 'string') bad(`dtype ${JSON.stringify(dtype)} is not a string`);
    if (!(dtype as string in FILE_DTYPES)) {
      const known = OTHER_FORMAT_DTYPES.includes(dtype as string) ? 'is not supported' : 'is unknown';
      bad(`dtype '${dtype}' ${known} (supported: ${Object.keys(FILE_DTYPES).join(', ')})`);
    }
    if (!Array.isArray(shape) || !shape.every(isCount)) bad(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      bad(`data_offsets ${JSON.stringify(offsets)} is not a pair of non-negative integers`);
    }
    const [begin, end] = offsets as number[];
    entries.push({ name, fileDtype: dtype as FileDType, shape: shape as number[], begin: begin!, end: end! });
  }

  // The tensors must tile the data part: sorted by offset, each starts where the previous one ended.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  const dataBytes = bytes.byteLength - dataStart;
  let cursor = 0;
  for (const e of entries) {
    const bad = (m: string) => fail(`tensor '${e.name}': ${m}`);
    if (e.end < e.begin) bad(`data_offsets [${e.begin}, ${e.end}] end before they begin`);
    if (e.begin !== cursor) {
      bad(`data_offsets [${e.begin}, ${e.end}] ${e.begin < cursor ? 'overlap the previous tensor' : `leave a gap after byte ${cursor}`}`);
    }
    const needed = sizeOf(e.shape) * FILE_DTYPES[e.fileDtype].bytes;
    if (!Number.isSafeInteger(needed)) bad(`shape ${fmt(e.shape)} is too large`);
    if (e.end - e.begin !== needed) {
      bad(`data_offsets [${e.begin}, ${e.end}] hold ${e.end - e.begin} bytes, but shape ${fmt(e.shape)} of ${e.fileDtype} needs ${needed}`);
    }
    if (e.end > dataBytes) bad(`data_offsets [${e.begin}, ${e.end}] run past the ${dataBytes} data bytes (truncated file?)`);
    cursor = e.end;
  }
  if (cursor !== dataBytes) fail(`the tensors cover ${cursor} data bytes, but the file has ${dataBytes} (trailing bytes?)`);
  return { entries, metadata, dataStart };
}

/** Parses a safetensors file into host arrays (no GPU needed), validating the whole layout first. */
export function parseHost<H extends HalfDtype = 'float32'>(bytes: Uint8Array, options: ParseOptions<H> = {}): ParsedSafetensors<H> {
  const fail = failer(options.name);
  const keepHalves = checkHalfDtype(options.halfDtype, 'float32', fail) === 'float16';
  const { entries, metadata, dataStart } = readHeader(bytes, fail);
  const tensors = entries.map((e): [string, HostTensor<H>] => {
    const raw = bytes.subarray(dataStart + e.begin, dataStart + e.end);
    const data = decode(e.fileDtype, raw, sizeOf(e.shape), keepHalves, (m) => fail(`tensor '${e.name}': ${m}`));
    const dtype = data instanceof Uint16Array ? 'float16' : FILE_DTYPES[e.fileDtype].dtype;
    return [e.name, { dtype, fileDtype: e.fileDtype, shape: e.shape, data: data as HostArray<H> }];
  });
  // fromEntries defines own properties, so a tensor named "__proto__" stays a tensor.
  return { tensors: Object.fromEntries(tensors), metadata };
}

/** Parses a safetensors file into GPU tensors: float32, int32, and float16 for F16 (see ParseOptions.halfDtype). */
export function parse(bytes: Uint8Array, options: ParseOptions = {}): Record<string, Tensor> {
  const { tensors } = parseHost(bytes, { ...options, halfDtype: checkHalfDtype(options.halfDtype, 'float16', failer(options.name)) });
  // Checked before any tensor is made, naming the first F16 one.
  const half = Object.entries(tensors).find(([, t]) => t.dtype === 'float16');
  if (half) checkDType(`${options.name ? `safetensors (${options.name})` : 'safetensors'}: tensor '${half[0]}' is F16`, 'float16', "pass halfDtype: 'float32' to widen F16 tensors");
  return Object.fromEntries(
    Object.entries(tensors).map(([name, t]) => [name, tensor(t.data, t.shape, { dtype: t.dtype })] as const),
  );
}

const utf8 = new TextEncoder();

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/**
 * What the writer takes: a Tensor, or anything giving a dtype, a shape and, when its turn comes, its
 * values as rawData() would (float16 as the Uint16Array of its bits): values made on the host.
 */
export interface WritableTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly isDisposed?: boolean;
  rawData(): Promise<Float32Array | Int32Array | Uint16Array>;
}

/**
 * Validates the inputs and returns the file as chunks: the header, then each tensor's bytes, read back
 * one tensor at a time (so that at most one tensor's copy sits in host memory). Invalid input throws
 * here, before any chunk is produced; a tensor that fails to read back throws from the iteration.
 */
export function serializeChunks(tensors: Record<string, WritableTensor>, metadata?: Record<string, string>): AsyncIterable<Uint8Array> {
  const fail = failer(undefined);
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') fail(`metadata '${k}' is ${typeof v}, not a string`);
    }
  }
  const items = Object.entries(tensors).map(([name, t]) => {
    if (name === '__metadata__') fail(`'__metadata__' cannot name a tensor`);
    if (name.length === 0) fail('a tensor has an empty name');
    if (t === null || typeof t !== 'object' || typeof t.rawData !== 'function') fail(`'${name}' is not a Tensor`);
    if (t.isDisposed) fail(`tensor '${name}' (shape ${fmt(t.shape)}) was disposed`);
    return { name, tensor: t, fileDtype: WRITE_DTYPE[t.dtype], key: utf8.encode(name), bytes: sizeOf(t.shape) * dtypes[t.dtype].bytes };
  });
  // The reference writer's order: by dtype (F32, I32, F16), then by name bytewise. Offsets follow it.
  const rank = (d: FileDType) => WRITE_ORDER.indexOf(d);
  items.sort((a, b) => rank(a.fileDtype) - rank(b.fileDtype) || compareBytes(a.key, b.key));

  // Built by hand rather than with JSON.stringify(object): objects put integer-like keys ("0", "1") first.
  const fields: string[] = [];
  if (metadata !== undefined) {
    const meta = Object.entries(metadata).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
    fields.push(`"__metadata__":{${meta.join(',')}}`);
  }
  let offset = 0;
  for (const it of items) {
    const info = { dtype: it.fileDtype, shape: it.tensor.shape, data_offsets: [offset, offset + it.bytes] };
    fields.push(`${JSON.stringify(it.name)}:${JSON.stringify(info)}`);
    offset += it.bytes;
  }
  const json = utf8.encode(`{${fields.join(',')}}`);
  const padded = Math.ceil(json.length / 8) * 8;
  const head = new Uint8Array(8 + padded).fill(0x20, 8 + json.length);
  new DataView(head.buffer).setBigUint64(0, BigInt(padded), true);
  head.set(json, 8);

  return {
    async *[Symbol.asyncIterator]() {
      yield head;
      for (const it of items) {
        let data: Float32Array | Int32Array | Uint16Array;
        try {
          data = await it.tensor.rawData();
        } catch (err) {
          throw new Error(`safetensors: reading tensor '${it.name}' failed: ${(err as Error).message}`, { cause: err });
        }
        if (data.byteLength !== it.bytes) fail(`tensor '${it.name}' read back ${data.byteLength} bytes, expected ${it.bytes}`);
        yield new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      }
    },
  };
}

/** The whole file in memory. `metadata` becomes the header's "__metadata__" (omitted when undefined). */
export async function serialize(tensors: Record<string, WritableTensor>, metadata?: Record<string, string>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of serializeChunks(tensors, metadata)) chunks.push(chunk);
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
