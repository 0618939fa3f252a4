// Saving and loading safetensors files in Node (node:fs comes through node.ts, so browser bundles of
// this package never resolve it).
import { requireNode } from '../node.js';
import type { Tensor } from '../tensor.js';
import { type HalfDtype, type ParsedSafetensors, type WritableTensor, parse, parseHost, serializeChunks } from './safetensors.js';

type Fs = typeof import('node:fs/promises');

const node = () => requireNode('io file access');

/**
 * Writes a file so that readers see either the old contents or the new, never a mix: the bytes go to
 * a temporary file in the same directory (a rename is only atomic within one file system), which is
 * flushed to disk and then renamed over `path`. On any error the temporary file is removed and the old
 * file is untouched. `data` may be async chunks, so an error can come midway through producing them.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<void> {
  const { fs, path: p } = await node();
  const dir = p.dirname(path);
  const tmp = p.join(dir, `.${p.basename(path)}.${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}.tmp`);
  const chunks = data instanceof Uint8Array ? [data] : data;
  let handle: Awaited<ReturnType<Fs['open']>> | undefined;
  try {
    handle = await fs.open(tmp, 'wx');
    for await (const chunk of chunks) {
      // write() may write less than asked; loop until the chunk is out.
      for (let done = 0; done < chunk.byteLength; ) {
        done += (await handle.write(chunk, done, chunk.byteLength - done)).bytesWritten;
      }
    }
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fs.rename(tmp, path);
  } catch (err) {
    await handle?.close().catch(() => undefined);
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw namingPath(path, err);
  }
  // Make the rename itself durable. Directories cannot be opened for fsync on Windows: best effort.
  try {
    const dirHandle = await fs.open(dir, 'r');
    await dirHandle.sync().finally(() => dirHandle.close());
  } catch {
    // The file is complete and in place; only its survival across a power cut is less certain.
  }
}

/** `err` with `path` in its message (a write's ENOSPC names no file), keeping its `code`. */
function namingPath(path: string, err: unknown): unknown {
  const e = err as NodeJS.ErrnoException;
  if (!(err instanceof Error) || e.message.includes(path)) return err;
  return Object.assign(new Error(`${path}: ${e.message}`, { cause: err }), { code: e.code });
}

/** Saves tensors (float32 / int32 / float16) as a safetensors file, atomically (see writeFileAtomic). */
export async function saveSafetensors(path: string, tensors: Record<string, WritableTensor>, metadata?: Record<string, string>): Promise<void> {
  // serializeChunks validates before returning, so bad input fails before any file is created.
  await writeFileAtomic(path, serializeChunks(tensors, metadata));
}

/** Loads every tensor of a safetensors file onto the GPU (F16 as float16 unless halfDtype says float32); errors name the file. */
export async function loadSafetensors(path: string, options: { halfDtype?: HalfDtype } = {}): Promise<Record<string, Tensor>> {
  const { fs } = await node();
  const bytes = await fs.readFile(path);
  return parse(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), { ...options, name: path });
}

/** Reads a safetensors file into host arrays, with its metadata (F16 widened unless halfDtype says float16); errors name the file. */
export async function readSafetensors<H extends HalfDtype = 'float32'>(path: string, options: { halfDtype?: H } = {}): Promise<ParsedSafetensors<H>> {
  const { fs } = await node();
  const bytes = await fs.readFile(path);
  return parseHost(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), { ...options, name: path });
}
