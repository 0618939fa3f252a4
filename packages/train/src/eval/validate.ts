// Input validation for the COCO keypoint evaluator: one clear error naming the field and the entry.

/** A malformed ground-truth or results file. `path` names the field, e.g. `results[3].keypoints`. */
export class CocoFormatError extends Error {
  readonly path: string;
  constructor(source: 'ground truth' | 'results', path: string, problem: string) {
    super(`COCO ${source}: ${path}: ${problem}`);
    this.name = 'CocoFormatError';
    this.path = path;
  }
}

export function describe(v: unknown): string {
  if (v === undefined) return 'nothing (field missing)';
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : String(v);
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

export function isNumberList(v: unknown): v is ArrayLike<number> {
  return Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView));
}

export type Fail = (path: string, problem: string) => never;

export function makeFail(source: 'ground truth' | 'results'): Fail {
  return (path, problem) => {
    throw new CocoFormatError(source, path, problem);
  };
}

export function num(v: unknown, path: string, fail: Fail): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(path, `expected a finite number, got ${describe(v)}`);
  return v as number;
}

export function id(v: unknown, path: string, fail: Fail): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(path, `expected a numeric id, got ${describe(v)}`);
  return v as number;
}

/** A list of exactly `n` finite numbers (when n is given). Returns a Float64Array copy. */
export function numbers(v: unknown, path: string, fail: Fail, n?: number): Float64Array {
  if (!isNumberList(v)) fail(path, `expected ${n === undefined ? 'a list of numbers' : `${n} numbers`}, got ${describe(v)}`);
  const list = v as ArrayLike<unknown>;
  if (n !== undefined && list.length !== n) fail(path, `expected ${n} numbers, got ${list.length}`);
  const out = new Float64Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const x = list[i];
    if (typeof x !== 'number' || !Number.isFinite(x)) fail(`${path}[${i}]`, `expected a finite number, got ${describe(x)}`);
    out[i] = x as number;
  }
  return out;
}
