// A training run's folder: what `train` finds there at start, and the JSONL log.
//
// - A folder holding an earlier run is refused unless the run is resumed or explicitly overwritten, so
//   that a re-run never silently destroys earlier work.
// - Temporary files of atomic writes (`.last.safetensors.<random>.tmp`, up to a whole checkpoint each)
//   left by a process that died mid-write are removed.
// - The log is appended one record at a time; a failed append (ENOSPC) is cut back off at once, and on
//   resume the log is truncated to its last whole record, so that no half record is ever glued to the next.
import { existsSync, join, mkdir, open, readFile, readdir, rm, stat, truncate } from './node.js';

/** The files a run writes into its folder. */
export const RUN_FILES = ['last.safetensors', 'best.safetensors', 'log.jsonl', 'loss.svg', 'loss.png'] as const;

export interface RunFolderOptions {
  resume?: boolean;
  overwrite?: boolean;
  /** Warnings (default: console.error). */
  warn?: (message: string) => void;
}

/** Makes `out` ready for a run: created, stale temporaries removed, an earlier run refused, cleared or repaired. */
export async function prepareRunFolder(out: string, options: RunFolderOptions): Promise<void> {
  const warn = options.warn ?? ((m: string) => console.error(m));
  if (options.resume && options.overwrite) throw new Error('--resume and --overwrite exclude each other');
  await mkdir(out, { recursive: true });
  const stale = (await readdir(out)).filter((f) => RUN_FILES.some((r) => f.startsWith(`.${r}.`) && f.endsWith('.tmp')));
  for (const f of stale) await rm(join(out, f), { force: true });
  if (stale.length) warn(`removed ${stale.length} unfinished temporary file${stale.length > 1 ? 's' : ''} of an interrupted write from ${out}`);
  const found = RUN_FILES.filter((f) => existsSync(join(out, f)));
  if (options.resume) {
    if (!found.includes('last.safetensors')) throw new Error(`--resume: ${join(out, 'last.safetensors')} does not exist`);
    const dropped = await repairLog(join(out, 'log.jsonl'));
    if (dropped) warn(`${join(out, 'log.jsonl')}: dropped ${dropped} bytes of an unfinished record at its end`);
    return;
  }
  if (!found.length) return;
  if (!options.overwrite) {
    throw new Error(`${out} holds an earlier run (${found.join(', ')}); pass --resume to continue it or --overwrite to replace it`);
  }
  for (const f of found) await rm(join(out, f), { force: true });
}

/** Truncates a JSONL file after its last whole record; returns the bytes dropped (0 when none or no file). */
export async function repairLog(path: string): Promise<number> {
  if (!existsSync(path)) return 0;
  const bytes = await readFile(path);
  let end = bytes.length;
  while (end > 0) {
    // A record cut off mid-write has no newline; one with a newline must still parse.
    if (bytes[end - 1] !== 0x0a) {
      end = bytes.lastIndexOf(0x0a, end - 1) + 1;
      continue;
    }
    const start = end >= 2 ? bytes.lastIndexOf(0x0a, end - 2) + 1 : 0;
    if (parses(bytes.subarray(start, end - 1).toString('utf8'))) break;
    end = start;
  }
  if (end === bytes.length) return 0;
  await truncate(path, end);
  return bytes.length - end;
}

function parses(line: string): boolean {
  try {
    JSON.parse(line);
    return true;
  } catch {
    return false;
  }
}

/**
 * Cuts the log before its first record past `step` (records are in step order): on resume, the steps
 * trained after the checkpoint was saved are trained, and logged, again. Returns the records dropped.
 */
export async function truncateLogAfter(path: string, step: number): Promise<number> {
  if (!existsSync(path)) return 0;
  const text = await readFile(path, 'utf8');
  const lines = text.split('\n');
  let offset = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    let past = false;
    try {
      past = ((JSON.parse(line) as { step?: number }).step ?? 0) > step;
    } catch {
      // Not a whole record (repairLog has run): keep it where it is.
    }
    if (past) {
      await truncate(path, Buffer.byteLength(text.slice(0, offset)));
      return lines.slice(i).filter(Boolean).length;
    }
    offset += line.length + 1;
  }
  return 0;
}

/**
 * Appends one line to the log. A failed write (a full disk) is cut back off, so the log keeps whole
 * records only; the error names the file.
 */
export async function appendLogLine(path: string, line: string): Promise<void> {
  const size = existsSync(path) ? (await stat(path)).size : 0;
  const bytes = Buffer.from(line);
  const file = await open(path, 'a');
  try {
    // write() may write less than asked (a disk filling up): loop until the line is out or it fails.
    for (let done = 0; done < bytes.length; ) {
      const { bytesWritten } = await file.write(bytes, done);
      if (bytesWritten === 0) throw new Error('no bytes written (is the disk full?)');
      done += bytesWritten;
    }
  } catch (err) {
    await file.truncate(size).catch(() => undefined);
    throw new Error(`${path}: ${(err as Error).message}`, { cause: err });
  } finally {
    await file.close();
  }
}

/** The records of a JSONL log; lines that do not parse (a record cut off by an older version) are skipped. */
export async function readLog<T>(path: string): Promise<T[]> {
  const records: T[] = [];
  for (const line of (await readFile(path, 'utf8')).split('\n')) {
    if (!line) continue;
    try {
      records.push(JSON.parse(line) as T);
    } catch {
      // A damaged line: the records around it are still good.
    }
  }
  return records;
}
