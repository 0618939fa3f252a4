// A reader for MATLAB v5 `.mat` files (MATLAB's "Level 5 MAT-File Format"; what `save -v7`, `-v6` and
// scipy.io.savemat write), enough for MPII's `gt_valid.mat`: numeric and logical arrays of any class and
// rank, char arrays, cell arrays, zlib-compressed variables (miCOMPRESSED), either byte order. Structs,
// objects, sparse and function handles are read over and kept as `unsupported`, so a file holding them
// still opens. v7.3 files are HDF5 and are refused with a clear message.
//
// Layout: a 128-byte header (text, subsystem offset, version 0x0100, endian indicator 'IM'), then data
// elements: an 8-byte tag (type, byte count) or a "small" 4-byte tag with up to 4 bytes of data, padded
// to 8 bytes (compressed elements are not padded). A variable is an miMATRIX element of subelements:
// array flags (class, complex, logical), dimensions, name, then the data (real part and imaginary part,
// or one miMATRIX per cell). Arrays are column-major, as MATLAB stores them.
import { inflateSync, readFile } from '../node.js';

export type MatNumericClass = 'double' | 'single' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64';

export type MatArray =
  /** Numbers (logical arrays too, class 'logical'), converted to float64, column-major. */
  | { kind: 'numeric'; class: MatNumericClass | 'logical'; dims: number[]; data: Float64Array; imag?: Float64Array }
  /** A char array: `rows` are its rows (a [1, n] array is one string). */
  | { kind: 'char'; dims: number[]; rows: string[] }
  /** A cell array: its cells, column-major. */
  | { kind: 'cell'; dims: number[]; cells: MatArray[] }
  /** A struct, object, sparse array or function handle: skipped. */
  | { kind: 'unsupported'; class: string; dims: number[] };

const NUMERIC_CLASSES: Record<number, MatNumericClass> = {
  6: 'double', 7: 'single', 8: 'int8', 9: 'uint8', 10: 'int16', 11: 'uint16', 12: 'int32', 13: 'uint32', 14: 'int64', 15: 'uint64',
};
const OTHER_CLASSES: Record<number, string> = { 2: 'struct', 3: 'object', 5: 'sparse', 16: 'function' };
const mxCELL = 1;
const mxCHAR = 4;

// Data types of elements.
const miINT8 = 1, miUINT8 = 2, miINT16 = 3, miUINT16 = 4, miINT32 = 5, miUINT32 = 6, miSINGLE = 7, miDOUBLE = 9;
const miINT64 = 12, miUINT64 = 13, miMATRIX = 14, miCOMPRESSED = 15, miUTF8 = 16, miUTF16 = 17, miUTF32 = 18;
const ELEMENT_BYTES: Record<number, number> = {
  [miINT8]: 1, [miUINT8]: 1, [miINT16]: 2, [miUINT16]: 2, [miINT32]: 4, [miUINT32]: 4, [miSINGLE]: 4, [miDOUBLE]: 8,
  [miINT64]: 8, [miUINT64]: 8, [miUTF8]: 1, [miUTF16]: 2, [miUTF32]: 4,
};

interface Element {
  type: number;
  /** The element's data bytes. */
  data: DataView;
  /** Offset just past the element (padding included). */
  end: number;
}

class Reader {
  constructor(
    readonly name: string,
    readonly littleEndian: boolean,
  ) {}

  fail(message: string): never {
    throw new Error(`${this.name}: ${message}`);
  }

  /** The data element at `offset` of `view`. */
  element(view: DataView, offset: number): Element {
    if (offset + 8 > view.byteLength) this.fail(`truncated: a data element tag at byte ${offset} runs past the end`);
    const first = view.getUint32(offset, this.littleEndian);
    if (first >>> 16 !== 0) {
      // Small data element: the byte count in the upper 16 bits, the data in the tag's second word.
      const size = first >>> 16;
      if (size > 4) this.fail(`a small data element at byte ${offset} claims ${size} bytes (at most 4)`);
      return { type: first & 0xffff, data: new DataView(view.buffer, view.byteOffset + offset + 4, size), end: offset + 8 };
    }
    const size = view.getUint32(offset + 4, this.littleEndian);
    if (offset + 8 + size > view.byteLength) this.fail(`truncated: a data element at byte ${offset} claims ${size} bytes, past the end`);
    const padded = first === miCOMPRESSED ? size : Math.ceil(size / 8) * 8;
    return { type: first, data: new DataView(view.buffer, view.byteOffset + offset + 8, size), end: Math.min(offset + 8 + padded, view.byteLength) };
  }

  /** A numeric element's values as float64. */
  numbers(e: Element, what: string): Float64Array {
    const width = ELEMENT_BYTES[e.type];
    if (!width || e.type === miUTF8 || e.type === miUTF16 || e.type === miUTF32) this.fail(`${what}: data type ${e.type} is not numeric`);
    const n = e.data.byteLength / width!;
    if (!Number.isInteger(n)) this.fail(`${what}: ${e.data.byteLength} bytes is not a whole number of ${width}-byte values`);
    const out = new Float64Array(n);
    const v = e.data;
    const le = this.littleEndian;
    for (let i = 0; i < n; i++) {
      const at = i * width!;
      switch (e.type) {
        case miINT8: out[i] = v.getInt8(at); break;
        case miUINT8: out[i] = v.getUint8(at); break;
        case miINT16: out[i] = v.getInt16(at, le); break;
        case miUINT16: out[i] = v.getUint16(at, le); break;
        case miINT32: out[i] = v.getInt32(at, le); break;
        case miUINT32: out[i] = v.getUint32(at, le); break;
        case miSINGLE: out[i] = v.getFloat32(at, le); break;
        case miDOUBLE: out[i] = v.getFloat64(at, le); break;
        case miINT64: out[i] = Number(v.getBigInt64(at, le)); break;
        case miUINT64: out[i] = Number(v.getBigUint64(at, le)); break;
      }
    }
    return out;
  }

  /** A char element's characters (one string, in column-major order). */
  chars(e: Element, what: string): string[] {
    const bytes = new Uint8Array(e.data.buffer, e.data.byteOffset, e.data.byteLength);
    if (e.type === miUTF8) return [...new TextDecoder('utf-8').decode(bytes)];
    if (e.type === miUTF16 || e.type === miUINT16) return Array.from(this.numbers({ ...e, type: miUINT16 }, what), (c) => String.fromCharCode(c));
    if (e.type === miUTF32 || e.type === miUINT32) return Array.from(this.numbers({ ...e, type: miUINT32 }, what), (c) => String.fromCodePoint(c));
    return Array.from(this.numbers(e, what), (c) => String.fromCharCode(c));
  }

  /** A variable (miMATRIX or miCOMPRESSED element): its name and value. */
  variable(e: Element, where: string): { name: string; value: MatArray } {
    if (e.type === miCOMPRESSED) {
      let inflated: Uint8Array;
      try {
        inflated = inflateSync(new Uint8Array(e.data.buffer, e.data.byteOffset, e.data.byteLength));
      } catch (err) {
        this.fail(`${where}: the compressed variable does not inflate (${(err as Error).message})`);
      }
      const view = new DataView(inflated.buffer, inflated.byteOffset, inflated.byteLength);
      return this.variable(this.element(view, 0), where);
    }
    if (e.type !== miMATRIX) this.fail(`${where}: expected a matrix element (type 14), got type ${e.type}`);
    if (e.data.byteLength === 0) return { name: '', value: { kind: 'numeric', class: 'double', dims: [0, 0], data: new Float64Array(0) } };
    const flags = this.element(e.data, 0);
    const dimsElement = this.element(e.data, flags.end);
    const nameElement = this.element(e.data, dimsElement.end);
    const word = flags.data.getUint32(0, this.littleEndian);
    const cls = word & 0xff;
    const dims = Array.from(this.numbers(dimsElement, `${where} dimensions`));
    const name = this.chars(nameElement, `${where} name`).join('');
    const at = name ? `${where} '${name}'` : where;
    const count = dims.reduce((a, b) => a * b, 1);
    let offset = nameElement.end;
    const next = () => {
      const sub = this.element(e.data, offset);
      offset = sub.end;
      return sub;
    };
    const numericClass = NUMERIC_CLASSES[cls];
    if (numericClass) {
      const data = this.numbers(next(), at);
      if (data.length !== count) this.fail(`${at}: ${data.length} values for dimensions [${dims.join(', ')}]`);
      const logical = (word & 0x200) !== 0;
      const value: MatArray = { kind: 'numeric', class: logical ? 'logical' : numericClass, dims, data };
      if (word & 0x800) value.imag = this.numbers(next(), `${at} (imaginary part)`);
      return { name, value };
    }
    if (cls === mxCHAR) {
      const flat = count === 0 ? [] : this.chars(next(), at);
      if (flat.length !== count) this.fail(`${at}: ${flat.length} characters for dimensions [${dims.join(', ')}]`);
      const rowCount = dims[0] ?? 0;
      const rows = Array.from({ length: rowCount }, (_, r) => Array.from({ length: count / rowCount }, (_, c) => flat[r + c * rowCount]).join(''));
      return { name, value: { kind: 'char', dims, rows } };
    }
    if (cls === mxCELL) {
      const cells = Array.from({ length: count }, (_, i) => this.variable(next(), `${at}{${i + 1}}`).value);
      return { name, value: { kind: 'cell', dims, cells } };
    }
    return { name, value: { kind: 'unsupported', class: OTHER_CLASSES[cls] ?? `class ${cls}`, dims } };
  }
}

/** Every variable of a MATLAB v5 `.mat` file, by name. `name` (the file's path) prefixes every error. */
export function parseMat(bytes: Uint8Array, name = 'mat'): Record<string, MatArray> {
  const fail = (message: string): never => {
    throw new Error(`${name}: ${message}`);
  };
  if (bytes.length < 128) fail(`not a MATLAB v5 .mat file (${bytes.length} bytes, shorter than the 128-byte header)`);
  const text = new TextDecoder('latin1').decode(bytes.subarray(0, 116));
  if (text.startsWith('MATLAB 7.3')) fail('a MATLAB v7.3 (HDF5) file, which is not supported; save it with -v7 (or scipy.io.savemat)');
  const endian = String.fromCharCode(bytes[126]!, bytes[127]!);
  if (endian !== 'IM' && endian !== 'MI') fail('not a MATLAB v5 .mat file (no endian indicator in the header; a v4 file?)');
  const reader = new Reader(name, endian === 'IM');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Record<string, MatArray> = {};
  for (let offset = 128, index = 1; offset < bytes.length; index++) {
    const e = reader.element(view, offset);
    offset = e.end;
    const { name: varName, value } = reader.variable(e, `variable ${index}`);
    out[varName] = value;
  }
  return out;
}

/** Reads a MATLAB v5 `.mat` file. */
export async function loadMat(path: string): Promise<Record<string, MatArray>> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (err) {
    throw new Error(`${path}: cannot read (${(err as Error).message})`);
  }
  return parseMat(bytes, path);
}
