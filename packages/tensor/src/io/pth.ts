// Reading PyTorch checkpoints written by `torch.save(state_dict)`: the zip format (PyTorch >= 1.6) and
// the legacy format before it (in which, for example, the ImageNet HRNet checkpoints were published).
// No Node imports: this file takes bytes and runs in browsers too.
//
// The format: a zip archive whose entries all sit under one top folder (its name varies: "archive",
// or the file's stem), holding
//   <top>/data.pkl      the object, pickled (protocol 2); each tensor's storage is a persistent id
//                       ('storage', <torch.XxxStorage class>, key, device, numel)
//   <top>/data/<key>    the raw little-endian bytes of storage <key>
//   <top>/version, <top>/byteorder (newer writers), ...
// Entries are usually stored uncompressed (aligned to 64 bytes); deflated entries are inflated here
// by a small synchronous inflate (RFC 1951), so loading stays synchronous in browsers and Node alike.
//
// The legacy format is a sequence of pickles: the magic number 0x1950a86a20f9469cfc6c, the protocol
// version 1001, a sys_info dict (byte order, type sizes), the object (its storages as persistent ids
// ('storage', <class>, key, location, numel, view_metadata)), the sorted list of storage keys; then, per
// key in that order, the element count as a little-endian int64 and the raw bytes.
//
// The pickle is run on a minimal virtual machine that knows the opcodes torch.save emits and builds
// only plain values: dicts (Map), lists and tuples (arrays), strings, numbers, booleans, None, and
// tensors as references into storages (collections.OrderedDict and torch._utils._rebuild_tensor_v2 /
// _rebuild_parameter are the only callables it interprets). Any other class or function becomes an
// opaque placeholder: harmless where it is not needed (an optimizer state, a numpy score next to the
// weights), and reported by name if it stands where a tensor is expected. Nothing from the file is
// ever executed.
//
// Tensors become float32 (float32/float16/bfloat16/float64; float16 stays float16 with halfDtype:
// 'float16') or int32 (int64/int32/int16/int8/uint8/bool; an int64 value outside int32 is an error),
// with any strides and storage offset honoured.
import { tensor } from '../ops/create.js';
import { type DType, checkDType } from '../dtype.js';
import type { HostArray } from './safetensors.js';
import type { Tensor } from '../tensor.js';
import { type HalfDtype, checkHalfDtype, halfToNumber } from './half.js';

/** The element types of PyTorch storages that this reader converts. */
export type TorchDType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

export interface PthHostTensor<H extends HalfDtype = 'float32'> {
  /** The dtype the values were converted to. */
  dtype: DType;
  /** The dtype PyTorch stored. */
  torchDtype: TorchDType;
  shape: number[];
  /** Row-major values; float16 ones (kept with halfDtype: 'float16') as the bits of each half. */
  data: HostArray<H>;
}

export interface PthOptions<H extends HalfDtype = HalfDtype> {
  /** Names the source (a file path, a URL) in error messages. */
  name?: string;
  /**
   * Unwrap a checkpoint dict: when the top-level dict is not all tensors, use its 'state_dict' or
   * 'model' entry (recursively). Default true.
   */
  unwrap?: boolean;
  /** Strip the `module.` prefix that DataParallel puts on every key (only when every key has it). Default true. */
  stripModule?: boolean;
  /** Leave out entries that are not tensors instead of failing on them. Default false. */
  skipNonTensors?: boolean;
  /**
   * What float16 storages become: 'float32' (widened, exactly; the default, which float32 modules load)
   * or 'float16' (kept as they are; the adapter needs shader-f16).
   */
  halfDtype?: H;
}

// ---------------------------------------------------------------------------------------------------
// Errors

class PthError extends Error {}

function failer(source: string | undefined) {
  const where = source ? `pth (${source})` : 'pth';
  return (message: string): never => {
    throw new PthError(`${where}: ${message}`);
  };
}
type Fail = (message: string) => never;

// ---------------------------------------------------------------------------------------------------
// Zip

interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

const u16 = (v: DataView, at: number) => v.getUint16(at, true);
const u32 = (v: DataView, at: number) => v.getUint32(at, true);
function u64(v: DataView, at: number, what: string, fail: Fail): number {
  const x = v.getBigUint64(at, true);
  if (x > BigInt(Number.MAX_SAFE_INTEGER)) fail(`zip: ${what} ${x} is too large`);
  return Number(x);
}

function readZipDirectory(bytes: Uint8Array, fail: Fail): Map<string, ZipEntry> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.byteLength;
  if (n < 22) fail(`${n} bytes are too few for a zip archive (truncated or empty file?)`);
  // End of central directory: the last 0x06054b50 within the final 22 + 65535 bytes.
  let eocd = -1;
  for (let p = n - 22; p >= Math.max(0, n - 22 - 0xffff); p--) {
    if (u32(view, p) === 0x06054b50) {
      eocd = p;
      break;
    }
  }
  if (eocd < 0) fail('no zip end-of-central-directory record: not a torch.save zip archive, or the file is truncated');
  let count = u16(view, eocd + 10);
  let cdSize = u32(view, eocd + 12);
  let cdOffset = u32(view, eocd + 16);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    // Zip64: a locator just before the record points at the zip64 end-of-central-directory record.
    const loc = eocd - 20;
    if (loc < 0 || u32(view, loc) !== 0x07064b50) fail('zip64 archive without a zip64 locator (corrupt file?)');
    const z = u64(view, loc + 8, 'zip64 record offset', fail);
    if (z + 56 > n || u32(view, z) !== 0x06064b50) fail('zip64 end-of-central-directory record missing (truncated or corrupt file?)');
    count = u64(view, z + 32, 'entry count', fail);
    cdSize = u64(view, z + 40, 'central directory size', fail);
    cdOffset = u64(view, z + 48, 'central directory offset', fail);
  }
  if (cdOffset + cdSize > n) fail(`the zip central directory [${cdOffset}, ${cdOffset + cdSize}) runs past the ${n} bytes of the file (truncated?)`);
  const entries = new Map<string, ZipEntry>();
  const decoder = new TextDecoder();
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > n || u32(view, p) !== 0x02014b50) fail(`zip central directory entry ${i} is damaged (corrupt file?)`);
    const nameLen = u16(view, p + 28);
    const extraLen = u16(view, p + 30);
    const commentLen = u16(view, p + 32);
    if (p + 46 + nameLen + extraLen > n) fail(`zip central directory entry ${i} runs past the end of the file`);
    const name = decoder.decode(bytes.subarray(p + 46, p + 46 + nameLen));
    const e: ZipEntry = {
      name,
      flags: u16(view, p + 8),
      method: u16(view, p + 10),
      crc: u32(view, p + 16),
      compressedSize: u32(view, p + 20),
      size: u32(view, p + 24),
      localOffset: u32(view, p + 42),
    };
    // Zip64 extra field (id 1): the 64-bit values of those fields that hold 0xffffffff, in this order.
    let x = p + 46 + nameLen;
    const xEnd = x + extraLen;
    while (x + 4 <= xEnd) {
      const id = u16(view, x);
      const len = u16(view, x + 2);
      if (id === 1) {
        let q = x + 4;
        const next = (what: string) => {
          if (q + 8 > x + 4 + len) fail(`zip entry '${name}': short zip64 extra field`);
          const v = u64(view, q, what, fail);
          q += 8;
          return v;
        };
        if (e.size === 0xffffffff) e.size = next('size');
        if (e.compressedSize === 0xffffffff) e.compressedSize = next('compressed size');
        if (e.localOffset === 0xffffffff) e.localOffset = next('offset');
      }
      x += 4 + len;
    }
    entries.set(name, e);
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

function readZipEntry(bytes: Uint8Array, e: ZipEntry, fail: Fail): Uint8Array {
  const where = `zip entry '${e.name}'`;
  if (e.flags & 1) fail(`${where} is encrypted, which is not supported`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (e.localOffset + 30 > bytes.byteLength || u32(view, e.localOffset) !== 0x04034b50) fail(`${where}: local header missing (truncated or corrupt file?)`);
  const start = e.localOffset + 30 + u16(view, e.localOffset + 26) + u16(view, e.localOffset + 28);
  const end = start + e.compressedSize;
  if (end > bytes.byteLength) fail(`${where}: its ${e.compressedSize} bytes run past the end of the ${bytes.byteLength}-byte file (truncated?)`);
  const raw = bytes.subarray(start, end);
  let data: Uint8Array;
  if (e.method === 0) {
    if (e.compressedSize !== e.size) fail(`${where}: stored entry with compressed size ${e.compressedSize} != size ${e.size}`);
    data = raw;
  } else if (e.method === 8) {
    data = inflateRaw(raw, e.size, (m) => fail(`${where}: deflate data: ${m}`));
  } else {
    fail(`${where}: compression method ${e.method} is not supported (only stored and deflate)`);
  }
  if (crc32(data!) !== e.crc) fail(`${where}: CRC-32 mismatch (corrupt file?)`);
  return data!;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** The CRC-32 (IEEE) of a zip entry. */
export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// ---------------------------------------------------------------------------------------------------
// Inflate (RFC 1951), synchronous. Huffman codes are decoded through one lookup table per code,
// indexed by the next 15 input bits (bit-reversed canonical codes).

const LEN_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LEN_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
const DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
const CL_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/** table[next maxBits bits] = symbol << 4 | code length (0: no such code). */
interface Huffman {
  table: Uint32Array;
  maxBits: number;
}

function buildHuffman(lengths: ArrayLike<number>, fail: Fail): Huffman {
  let maxBits = 0;
  const count = new Array<number>(16).fill(0);
  for (let i = 0; i < lengths.length; i++) {
    count[lengths[i]!]!++;
    maxBits = Math.max(maxBits, lengths[i]!);
  }
  count[0] = 0;
  // Over-subscribed sets are invalid; incomplete ones are allowed (a single distance code, say).
  let left = 1;
  for (let b = 1; b <= 15; b++) {
    left = left * 2 - count[b]!;
    if (left < 0) fail('over-subscribed Huffman code');
  }
  const next = new Array<number>(16).fill(0);
  for (let b = 1, code = 0; b <= 15; b++) {
    code = (code + count[b - 1]!) << 1;
    next[b] = code;
  }
  const bits = Math.max(maxBits, 1);
  const table = new Uint32Array(1 << bits);
  for (let sym = 0; sym < lengths.length; sym++) {
    const len = lengths[sym]!;
    if (!len) continue;
    const code = next[len]!++;
    let rev = 0;
    for (let k = 0; k < len; k++) rev |= ((code >> k) & 1) << (len - 1 - k);
    for (let r = rev; r < table.length; r += 1 << len) table[r] = (sym << 4) | len;
  }
  return { table, maxBits: bits };
}

let FIXED: [Huffman, Huffman] | null = null;
function fixedCodes(fail: Fail): [Huffman, Huffman] {
  if (!FIXED) {
    const lit = new Array<number>(288);
    for (let i = 0; i < 288; i++) lit[i] = i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8;
    FIXED = [buildHuffman(lit, fail), buildHuffman(new Array<number>(30).fill(5), fail)];
  }
  return FIXED;
}

/** Inflates a raw deflate stream into exactly `size` bytes. */
export function inflateRaw(input: Uint8Array, size: number, fail: Fail = failer(undefined)): Uint8Array {
  const out = new Uint8Array(size);
  let pos = 0; // output position
  let inPos = 0; // next input byte
  let bitBuf = 0;
  let bitCount = 0;
  let overrun = 0; // zero bytes supplied past the end of the input
  const need = (n: number) => {
    while (bitCount < n) {
      if (inPos < input.length) bitBuf |= input[inPos++]! << bitCount;
      else overrun++;
      bitCount += 8;
    }
  };
  const bits = (n: number): number => {
    if (n === 0) return 0;
    need(n);
    const v = bitBuf & ((1 << n) - 1);
    bitBuf >>>= n;
    bitCount -= n;
    return v;
  };
  const checkInput = () => {
    // Bytes past the end may be peeked at (a Huffman table look-up reads ahead), never consumed.
    if (overrun * 8 > bitCount) fail('unexpected end of data (truncated?)');
  };
  const decode = (h: Huffman): number => {
    need(h.maxBits);
    const e = h.table[bitBuf & ((1 << h.maxBits) - 1)]!;
    const len = e & 15;
    if (!len) fail('invalid Huffman code');
    bitBuf >>>= len;
    bitCount -= len;
    checkInput();
    return e >> 4;
  };
  let final = 0;
  while (!final) {
    final = bits(1);
    const type = bits(2);
    checkInput();
    if (type === 0) {
      // Stored block: byte-align, LEN, NLEN, bytes.
      bitBuf >>>= bitCount & 7;
      bitCount -= bitCount & 7;
      const len = bits(16);
      const nlen = bits(16);
      checkInput();
      if ((len ^ 0xffff) !== nlen) fail('stored block length check failed');
      // Any whole bytes still in the bit buffer come first.
      let k = 0;
      while (bitCount >= 8 && k < len) {
        if (pos >= size) fail(`more than the expected ${size} bytes`);
        out[pos++] = bits(8);
        k++;
      }
      if (inPos + (len - k) > input.length) fail('unexpected end of data in a stored block (truncated?)');
      if (pos + (len - k) > size) fail(`more than the expected ${size} bytes`);
      out.set(input.subarray(inPos, inPos + len - k), pos);
      pos += len - k;
      inPos += len - k;
      continue;
    }
    let lit: Huffman;
    let dist: Huffman;
    if (type === 1) {
      [lit, dist] = fixedCodes(fail);
    } else if (type === 2) {
      const hlit = bits(5) + 257;
      const hdist = bits(5) + 1;
      const hclen = bits(4) + 4;
      const clLens = new Array<number>(19).fill(0);
      for (let i = 0; i < hclen; i++) clLens[CL_ORDER[i]!] = bits(3);
      checkInput();
      const cl = buildHuffman(clLens, fail);
      const lens = new Array<number>(hlit + hdist).fill(0);
      for (let i = 0; i < hlit + hdist; ) {
        const sym = decode(cl);
        if (sym < 16) lens[i++] = sym;
        else {
          let rep: number;
          let val = 0;
          if (sym === 16) {
            if (i === 0) fail('a repeat code with no previous length');
            val = lens[i - 1]!;
            rep = 3 + bits(2);
          } else if (sym === 17) rep = 3 + bits(3);
          else rep = 11 + bits(7);
          if (i + rep > hlit + hdist) fail('code lengths overflow');
          while (rep--) lens[i++] = val;
        }
      }
      if (!lens[256]) fail('no end-of-block code');
      lit = buildHuffman(lens.slice(0, hlit), fail);
      dist = buildHuffman(lens.slice(hlit), fail);
    } else {
      fail('invalid block type 3');
    }
    for (;;) {
      const sym = decode(lit!);
      if (sym < 256) {
        if (pos >= size) fail(`more than the expected ${size} bytes`);
        out[pos++] = sym;
      } else if (sym === 256) break;
      else {
        const li = sym - 257;
        if (li >= 29) fail(`invalid length symbol ${sym}`);
        const len = LEN_BASE[li]! + bits(LEN_EXTRA[li]!);
        const ds = decode(dist!);
        if (ds >= 30) fail(`invalid distance symbol ${ds}`);
        const d = DIST_BASE[ds]! + bits(DIST_EXTRA[ds]!);
        checkInput();
        if (d > pos) fail(`distance ${d} reaches before the start of the output`);
        if (pos + len > size) fail(`more than the expected ${size} bytes`);
        for (let k = 0; k < len; k++, pos++) out[pos] = out[pos - d]!;
      }
    }
  }
  if (pos !== size) fail(`inflated to ${pos} bytes, expected ${size}`);
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Pickle

class Global {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** An object of a class this reader does not interpret (kept only to name it in errors). */
class Opaque {
  constructor(readonly what: string) {}
}

class StorageRef {
  constructor(
    readonly key: string,
    readonly storageType: string,
    readonly numel: number,
  ) {}
}

class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly strides: number[],
  ) {}
}

type PKey = string | number | boolean | null | bigint;
type PValue = PKey | PValue[] | Map<PKey, PValue> | Global | Opaque | StorageRef | TensorRef | Uint8Array;

const MARK = Symbol('mark');

const STORAGE_DTYPES: Record<string, TorchDType> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
};

function describe(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof Map) return 'a dict';
  if (Array.isArray(v)) return 'a list/tuple';
  if (v instanceof Opaque) return `an object of ${v.what}`;
  if (v instanceof Global) return `the class/function ${v.qualified}`;
  if (v instanceof StorageRef) return 'a bare storage';
  if (v instanceof TensorRef) return 'a tensor';
  if (v instanceof Uint8Array) return 'bytes';
  return `${typeof v} ${String(v)}`;
}

/** Runs one pickle from the start of `data`; `end` is the offset just past its STOP (the legacy format has several in a row). */
function unpickle(data: Uint8Array, entry: string, fail: Fail): { value: PValue; end: number; storages: Map<string, StorageRef> } {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const text = new TextDecoder('utf-8', { fatal: false });
  const latin1 = new TextDecoder('latin1');
  const stack: (PValue | typeof MARK)[] = [];
  const memo = new Map<number, PValue>();
  const storages = new Map<string, StorageRef>();
  let p = 0;
  let at = 0; // position of the current opcode, for errors
  const err = (m: string): never => fail(`${entry} at byte ${at}: ${m}`);
  const take = (n: number): number => {
    if (p + n > data.length) err('unexpected end of the pickle (truncated?)');
    const q = p;
    p += n;
    return q;
  };
  const pop = (): PValue => {
    const v = stack.pop();
    if (v === undefined) err('pop from an empty stack (corrupt pickle?)');
    if (v === MARK) err('unexpected MARK on the stack (corrupt pickle?)');
    return v as PValue;
  };
  const top = (): PValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) err('empty stack (corrupt pickle?)');
    return v as PValue;
  };
  const popMark = (): PValue[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) err('no MARK on the stack (corrupt pickle?)');
    const items = stack.splice(i) as PValue[];
    items.shift();
    return items;
  };
  const str = (n: number) => text.decode(data.subarray(take(n), p));
  const long = (n: number): number | bigint => {
    if (n === 0) return 0;
    const b = data.subarray(take(n), p);
    let x = 0n;
    for (let i = n - 1; i >= 0; i--) x = (x << 8n) | BigInt(b[i]!);
    if (b[n - 1]! & 0x80) x -= 1n << BigInt(8 * n);
    return x >= BigInt(Number.MIN_SAFE_INTEGER) && x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : x;
  };
  const asKey = (k: PValue): PKey => {
    if (k === null || ['string', 'number', 'boolean', 'bigint'].includes(typeof k)) return k as PKey;
    if (Array.isArray(k)) return JSON.stringify(k.map((v) => String(v))); // tuple keys: only for lookups by nobody
    return err(`unsupported dict key: ${describe(k)}`);
  };
  const setItems = (target: PValue, items: PValue[]) => {
    if (!(target instanceof Map)) {
      if (target instanceof Opaque) return; // a dict subclass we do not interpret
      err(`SETITEM(S) on ${describe(target)}`);
    }
    for (let i = 0; i + 1 < items.length; i += 2) (target as Map<PKey, PValue>).set(asKey(items[i]!), items[i + 1]!);
  };
  const appendItems = (target: PValue, items: PValue[]) => {
    if (Array.isArray(target)) target.push(...items);
    else if (!(target instanceof Opaque)) err(`APPEND(S) on ${describe(target)}`);
  };
  const int = (v: PValue, what: string): number => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) err(`${what} must be a non-negative integer, got ${describe(v)}`);
    return v as number;
  };
  const ints = (v: PValue, what: string): number[] => {
    if (!Array.isArray(v)) err(`${what} must be a tuple, got ${describe(v)}`);
    return (v as PValue[]).map((x) => int(x, what));
  };
  const call = (fn: PValue, args: PValue): PValue => {
    if (!(fn instanceof Global)) return err(`calling ${describe(fn)}, which is not a class or function`);
    if (!Array.isArray(args)) return err(`arguments of ${fn.qualified} are ${describe(args)}, not a tuple`);
    switch (fn.qualified) {
      case 'collections.OrderedDict':
      case 'builtins.dict': {
        const m = new Map<PKey, PValue>();
        const init = args[0];
        if (Array.isArray(init)) for (const kv of init) if (Array.isArray(kv) && kv.length === 2) m.set(asKey(kv[0]!), kv[1]!);
        return m;
      }
      case 'builtins.list':
        return Array.isArray(args[0]) ? [...args[0]] : [];
      case 'torch._utils._rebuild_tensor_v2':
      case 'torch._utils._rebuild_tensor': {
        const [storage, offset, size, stride] = args;
        if (!(storage instanceof StorageRef)) return err(`${fn.qualified}: the first argument is ${describe(storage)}, not a storage`);
        const shape = ints(size!, 'tensor size');
        const strides = ints(stride!, 'tensor stride');
        if (shape.length !== strides.length) err(`${fn.qualified}: size ${shape.length}-D but stride ${strides.length}-D`);
        return new TensorRef(storage, int(offset!, 'storage offset'), shape, strides);
      }
      case 'copyreg._reconstructor': // how pickle rebuilds most class instances (an nn.Module, say)
        return new Opaque(args[0] instanceof Global ? args[0].qualified : fn.qualified);
      case 'torch._utils._rebuild_parameter':
      case 'torch._utils._rebuild_parameter_with_state':
        return args[0]!;
      default:
        return new Opaque(fn.qualified);
    }
  };

  for (;;) {
    at = p;
    const op = data[take(1)]!;
    switch (op) {
      case 0x80: // PROTO
        take(1);
        break;
      case 0x95: // FRAME
        take(8);
        break;
      case 0x2e: // STOP
        if (stack.length !== 1) err(`STOP with ${stack.length} values on the stack (corrupt pickle?)`);
        return { value: pop(), end: p, storages };
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x30: // POP
        stack.pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x64: {
        // DICT
        const m = new Map<PKey, PValue>();
        setItems(m, popMark());
        stack.push(m);
        break;
      }
      case 0x5d: // EMPTY_LIST
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x8f: // EMPTY_SET
        stack.push(new Opaque('builtins.set'));
        break;
      case 0x90: // ADDITEMS
        popMark();
        break;
      case 0x6c: // LIST
      case 0x74: // TUPLE
        stack.push(popMark());
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push([pop(), b]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      }
      case 0x58: // BINUNICODE
        stack.push(str(u32(view, take(4))));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(str(data[take(1)]!));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(str(Number(view.getBigUint64(take(8), true))));
        break;
      case 0x54: // BINSTRING
        stack.push(latin1.decode(data.subarray(take(view.getInt32(take(4), true)), p)));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(latin1.decode(data.subarray(take(data[take(1)]!), p)));
        break;
      case 0x42: // BINBYTES
        stack.push(data.slice(take(u32(view, take(4))), p));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(data.slice(take(data[take(1)]!), p));
        break;
      case 0x4a: // BININT
        stack.push(view.getInt32(take(4), true));
        break;
      case 0x4b: // BININT1
        stack.push(data[take(1)]!);
        break;
      case 0x4d: // BININT2
        stack.push(u16(view, take(2)));
        break;
      case 0x8a: // LONG1
        stack.push(long(data[take(1)]!));
        break;
      case 0x8b: // LONG4
        stack.push(long(view.getInt32(take(4), true)));
        break;
      case 0x47: // BINFLOAT (big-endian)
        stack.push(view.getFloat64(take(8), false));
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x71: // BINPUT
        memo.set(data[take(1)]!, top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(view, take(4)), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const i = op === 0x68 ? data[take(1)]! : u32(view, take(4));
        if (!memo.has(i)) err(`memo entry ${i} is not defined (corrupt pickle?)`);
        stack.push(memo.get(i)!);
        break;
      }
      case 0x63: {
        // GLOBAL: "module\nname\n"
        const readLine = () => {
          const end = data.indexOf(0x0a, p);
          if (end < 0) err('unterminated GLOBAL (truncated?)');
          const s = latin1.decode(data.subarray(p, end));
          p = end + 1;
          return s;
        };
        const module = readLine();
        stack.push(new Global(module, readLine()));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') err('STACK_GLOBAL needs two strings');
        stack.push(new Global(module as string, name as string));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        stack.push(call(pop(), args));
        break;
      }
      case 0x81: {
        // NEWOBJ
        const args = pop();
        stack.push(call(pop(), args));
        break;
      }
      case 0x62: // BUILD: state for the object below; plain values keep none (a state dict's _metadata is dropped).
        pop();
        top();
        break;
      case 0x51: {
        // BINPERSID: ('storage', <storage class>, key, location, numel)
        const pid = pop();
        if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) {
          err(`unsupported persistent id ${describe(pid)} (expected ('storage', type, key, location, numel))`);
        }
        const [, type, key, , numel, view] = pid as PValue[];
        if (view !== undefined && view !== null) err('a storage view (legacy view_metadata) is not supported');
        if (!(type instanceof Global)) err(`storage type is ${describe(type)}`);
        if (typeof key !== 'string') err(`storage key is ${describe(key)}`);
        const k = key as string;
        let s = storages.get(k);
        if (!s) {
          s = new StorageRef(k, (type as Global).qualified, int(numel!, 'storage numel'));
          storages.set(k, s);
        }
        stack.push(s);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      default:
        err(`unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')} ('${String.fromCharCode(op)}')`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Tensors

const BYTES: Record<TorchDType, number> = { float32: 4, float64: 8, float16: 2, bfloat16: 2, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1 };

/** Element i of the storage as a number, for each dtype; int64 values outside int32 call `overflow`. */
function reader(dtype: TorchDType, bytes: Uint8Array, overflow: (i: number, v: bigint | number) => never): (i: number) => number {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'float32':
      return (i) => v.getFloat32(4 * i, true);
    case 'float64':
      return (i) => {
        const x = v.getFloat64(8 * i, true);
        if (Number.isFinite(x) && !Number.isFinite(Math.fround(x))) overflow(i, x);
        return x;
      };
    case 'float16':
      return (i) => halfToNumber(v.getUint16(2 * i, true));
    case 'bfloat16': {
      const f = new Float32Array(1);
      const u = new Uint32Array(f.buffer);
      return (i) => {
        u[0] = v.getUint16(2 * i, true) << 16;
        return f[0]!;
      };
    }
    case 'int64':
      return (i) => {
        const lo = v.getInt32(8 * i, true);
        const hi = v.getInt32(8 * i + 4, true);
        if (hi !== lo >> 31) overflow(i, v.getBigInt64(8 * i, true));
        return lo;
      };
    case 'int32':
      return (i) => v.getInt32(4 * i, true);
    case 'int16':
      return (i) => v.getInt16(2 * i, true);
    case 'int8':
      return (i) => v.getInt8(i);
    case 'uint8':
      return (i) => v.getUint8(i);
    case 'bool':
      return (i) => (v.getUint8(i) ? 1 : 0);
  }
}

/** Where the bytes of each storage are: a zip entry, or a run of the legacy file. */
interface StorageSource {
  /** Names storage `key` in messages. */
  name(key: string): string;
  bytes(key: string, missing: string): Uint8Array;
}

function materialise(name: string, t: TensorRef, source: StorageSource, keepHalves: boolean, fail: Fail): PthHostTensor<HalfDtype> {
  const where = `tensor '${name}' (${source.name(t.storage.key)})`;
  const storageName = t.storage.storageType.replace(/^torch\./, '');
  const torchDtype = STORAGE_DTYPES[storageName];
  if (!torchDtype || !t.storage.storageType.startsWith('torch.')) fail(`${where}: storage type ${t.storage.storageType} is not supported`);
  const dt = torchDtype!;
  const bytes = source.bytes(t.storage.key, `${where}: the storage's data is missing`);
  const numel = t.storage.numel;
  if (bytes.length < numel * BYTES[dt]) fail(`${where}: ${bytes.length} bytes hold fewer than the ${numel} ${dt} elements of the storage (truncated?)`);
  const size = t.shape.reduce((a, b) => a * b, 1);
  if (size > 0) {
    const last = t.offset + t.shape.reduce((s, d, k) => s + (d - 1) * t.strides[k]!, 0);
    if (last >= numel) fail(`${where}: the view (offset ${t.offset}, size [${t.shape}], stride [${t.strides}]) reaches element ${last} of a ${numel}-element storage`);
  }
  const half = keepHalves && dt === 'float16';
  const dtype: DType = half ? 'float16' : dt.startsWith('float') || dt === 'bfloat16' ? 'float32' : 'int32';
  // Fast path: a contiguous float32 / int32 view is a byte copy (slice() also aligns it).
  let expected = 1;
  const contiguous = t.shape.every((_, k) => {
    const j = t.shape.length - 1 - k;
    const ok = t.shape[j] === 1 || t.strides[j] === expected;
    expected *= t.shape[j]!;
    return ok;
  });
  if (contiguous && (dt === 'float32' || dt === 'int32')) {
    const raw = bytes.slice(4 * t.offset, 4 * (t.offset + size)).buffer;
    return { dtype, torchDtype: dt, shape: [...t.shape], data: dt === 'float32' ? new Float32Array(raw) : new Int32Array(raw) };
  }
  const out = half ? new Uint16Array(size) : dtype === 'float32' ? new Float32Array(size) : new Int32Array(size);
  const bits = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const read = half
    ? (i: number) => bits.getUint16(2 * i, true)
    : reader(dt, bytes, (i, v) => fail(`${where}: element ${i} of the storage (${v}) overflows ${dtype}`));
  // Odometer over the index space, row-major.
  const rank = t.shape.length;
  const idx = new Array<number>(rank).fill(0);
  let src = t.offset;
  for (let i = 0; i < size; i++) {
    out[i] = read(src);
    for (let k = rank - 1; k >= 0; k--) {
      if (++idx[k]! < t.shape[k]!) {
        src += t.strides[k]!;
        break;
      }
      src -= (t.shape[k]! - 1) * t.strides[k]!;
      idx[k] = 0;
    }
  }
  return { dtype, torchDtype: dt, shape: [...t.shape], data: out };
}

class Archive {
  readonly #entries: Map<string, ZipEntry>;
  readonly #cache = new Map<string, Uint8Array>();
  constructor(
    readonly bytes: Uint8Array,
    readonly fail: Fail,
  ) {
    this.#entries = readZipDirectory(bytes, fail);
  }
  names(): string[] {
    return [...this.#entries.keys()];
  }
  has(name: string): boolean {
    return this.#entries.has(name);
  }
  entry(name: string, missing: string): Uint8Array {
    let d = this.#cache.get(name);
    if (!d) {
      const e = this.#entries.get(name);
      if (!e) return this.fail(`${missing} (no zip entry '${name}')`);
      d = readZipEntry(this.bytes, e, this.fail);
      this.#cache.set(name, d);
    }
    return d;
  }
}

/** Picks the dict of tensors out of what data.pkl held. */
function selectStateDict(root: PValue, options: PthOptions, fail: Fail): Map<PKey, PValue> {
  const unwrap = options.unwrap ?? true;
  let d = root;
  let path = 'the pickled object';
  for (let depth = 0; ; depth++) {
    if (!(d instanceof Map)) {
      if (d instanceof Opaque) fail(`${path} is ${describe(d)}, not a dict of tensors (a whole pickled model? save model.state_dict() instead)`);
      fail(`${path} is ${describe(d)}, not a dict of tensors`);
    }
    const m = d as Map<PKey, PValue>;
    const allTensors = [...m.values()].every((v) => v instanceof TensorRef);
    if (allTensors || !unwrap || depth > 4) return m;
    const key = ['state_dict', 'model'].find((k) => m.get(k) instanceof Map);
    if (!key) return m;
    d = m.get(key)!;
    path = `${path}['${key}']`;
  }
}

/** Removes `prefix` from the start of every key that has it. Two keys that become one are an error. */
export function stripPrefix<T>(dict: Record<string, T>, prefix = 'module.'): Record<string, T> {
  const out: [string, T][] = [];
  const seen = new Set<string>();
  for (const [k, v] of Object.entries(dict)) {
    const nk = k.startsWith(prefix) ? k.slice(prefix.length) : k;
    if (seen.has(nk)) throw new Error(`stripPrefix: removing '${prefix}' makes two keys '${nk}'`);
    seen.add(nk);
    out.push([nk, v]);
  }
  return Object.fromEntries(out);
}

/** The entries whose keys start with `prefix`, with the prefix removed (e.g. 'pre_feature.' for the backbone). */
export function selectPrefix<T>(dict: Record<string, T>, prefix: string): Record<string, T> {
  return Object.fromEntries(Object.entries(dict).filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v] as const));
}

/** The pickled object of a zip archive, and where its storages are. */
function readZipCheckpoint(bytes: Uint8Array, fail: Fail): { root: PValue; source: StorageSource; pkl: string } {
  const archive = new Archive(bytes, fail);
  const pkl = archive.names().find((n) => n === 'data.pkl' || /^[^/]+\/data\.pkl$/.test(n));
  if (!pkl) {
    if (archive.names().some((n) => n.endsWith('/constants.pkl') || n.includes('/code/'))) {
      fail('this is a TorchScript archive (torch.jit.save), not a torch.save state dict; save model.state_dict() with torch.save');
    }
    fail(`no '<archive>/data.pkl' entry among ${archive.names().length} zip entries: not a torch.save file`);
  }
  const prefix = pkl!.slice(0, pkl!.length - 'data.pkl'.length);
  const byteorder = archive.has(`${prefix}byteorder`) ? new TextDecoder().decode(archive.entry(`${prefix}byteorder`, '')).trim() : 'little';
  if (byteorder !== 'little') fail(`${prefix}byteorder says '${byteorder}'; only little-endian checkpoints are supported`);
  const name = (key: string) => `${prefix}data/${key}`;
  const source = { name, bytes: (key: string, missing: string) => archive.entry(name(key), missing) };
  return { root: unpickle(archive.entry(pkl!, 'data.pkl'), pkl!, fail).value, source, pkl: pkl! };
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

/** The pickled object of a legacy (pre-1.6) file, and its storages (see the header). */
function readLegacyCheckpoint(bytes: Uint8Array, fail: Fail): { root: PValue; source: StorageSource; pkl: string } {
  let p = 0;
  const next = (what: string) => {
    const r = unpickle(bytes.subarray(p), `legacy ${what} (byte ${p})`, fail);
    p += r.end;
    return r;
  };
  if (next('magic number').value !== LEGACY_MAGIC) fail('not a torch.save file (a pickle without the legacy magic number)');
  const version = next('protocol version').value;
  if (version !== 1001) fail(`legacy protocol version ${describe(version)}, expected 1001`);
  const sysInfo = next('sys_info').value;
  if (sysInfo instanceof Map && sysInfo.get('little_endian') === false) fail('a big-endian legacy checkpoint; only little-endian checkpoints are supported');
  const { value: root, storages } = next('object');
  const keys = next('storage keys').value;
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) fail(`legacy storage keys are ${describe(keys)}, expected a list of strings`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const data = new Map<string, Uint8Array>();
  for (const key of keys as string[]) {
    const storage = storages.get(key);
    const dtype = STORAGE_DTYPES[storage?.storageType.replace(/^torch\./, '') ?? ''];
    if (!storage || !dtype) fail(`legacy storage '${key}' is ${storage ? `of type ${storage.storageType}, which is not supported` : 'not used by the object'}`);
    if (p + 8 > bytes.length) fail(`legacy storage '${key}': the file ends before its size (truncated?)`);
    const numel = Number(view.getBigInt64(p, true));
    const size = numel * BYTES[dtype!];
    if (p + 8 + size > bytes.length) fail(`legacy storage '${key}': its ${size} bytes run past the end of the file (truncated?)`);
    data.set(key, bytes.subarray(p + 8, p + 8 + size));
    p += 8 + size;
  }
  const name = (key: string) => `legacy storage ${key}`;
  const source = {
    name,
    bytes: (key: string, missing: string) => data.get(key) ?? fail(`${missing} (no ${name(key)})`),
  };
  return { root, source, pkl: 'the legacy pickle' };
}

/** Reads a torch.save file of a state dict (zip or legacy format) into host arrays (no GPU needed). */
export function loadPthHost<H extends HalfDtype = 'float32'>(bytes: Uint8Array, options: PthOptions<H> = {}): Record<string, PthHostTensor<H>> {
  const fail = failer(options.name);
  const keepHalves = checkHalfDtype(options.halfDtype, 'float32', fail) === 'float16';
  // A zip archive starts 'PK'; a legacy file with the pickle of its magic number (protocol 2: 0x80 0x02).
  const legacy = bytes[0] === 0x80 && bytes[1] === 0x02;
  const { root, source, pkl } = legacy ? readLegacyCheckpoint(bytes, fail) : readZipCheckpoint(bytes, fail);
  const dict = selectStateDict(root, options, fail);
  const out: [string, PthHostTensor<H>][] = [];
  for (const [k, v] of dict) {
    if (typeof k !== 'string') fail(`${pkl}: state-dict key ${describe(k)} is not a string`);
    if (!(v instanceof TensorRef)) {
      if (options.skipNonTensors) continue;
      fail(`${pkl}: entry '${k}' is ${describe(v)}, not a tensor (pass skipNonTensors: true to leave such entries out)`);
    }
    // Halves come back only where options.halfDtype (H) is 'float16'.
    out.push([k as string, materialise(k as string, v as TensorRef, source, keepHalves, fail) as PthHostTensor<H>]);
  }
  let result: Record<string, PthHostTensor<H>> = Object.fromEntries(out);
  const keys = Object.keys(result);
  if ((options.stripModule ?? true) && keys.length > 0 && keys.every((k) => k.startsWith('module.'))) result = stripPrefix(result, 'module.');
  return result;
}

/** Reads a torch.save file of a state dict (zip or legacy format) into GPU tensors (float32, int32; float16 on request). */
export function loadPth(bytes: Uint8Array, options: PthOptions = {}): Record<string, Tensor> {
  const host = loadPthHost(bytes, options);
  // Checked before any tensor is made, naming the first float16 one.
  const half = Object.entries(host).find(([, t]) => t.dtype === 'float16');
  if (half) checkDType(`${options.name ? `pth (${options.name})` : 'pth'}: tensor '${half[0]}' is float16`, 'float16', "pass halfDtype: 'float32' to widen float16 tensors");
  return Object.fromEntries(Object.entries(host).map(([k, t]) => [k, tensor(t.data, t.shape, { dtype: t.dtype })] as const));
}
