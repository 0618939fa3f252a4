// JPEG (and PNG, WebP, ...) decoding to RGB uint8 with sharp (libvips, shipped prebuilt inside its npm
// packages), matching `cv2.imread(path, IMREAD_COLOR | IMREAD_IGNORE_ORIENTATION)` + BGR→RGB:
//   - no EXIF auto-rotation (sharp only rotates when asked);
//   - no colour management: `keepIccProfile()` keeps the decoded pixel values as they are in the file
//     (cv2 ignores embedded ICC profiles; by default sharp would convert e.g. Adobe RGB to sRGB, which
//     changed 95 % of the pixels of one coco-mini image by up to 54 levels);
//   - greyscale → three equal channels, alpha dropped; CMYK goes through libvips' sRGB conversion.
// libjpeg-turbo (cv2) and mozjpeg (sharp) share the decoder: the four coco-mini images decode to the
// same bytes as cv2 4.6.
//
// sharp is imported lazily, so the rest of the package loads in a browser.
import { importHidden, open, readFile } from '../node.js';

export interface DecodedImage {
  /** RGB, HWC: `rows`·width·3 bytes (width·height·3 for a full decode). */
  data: Uint8Array;
  width: number;
  height: number;
  /** Rows present in `data` when only the top of the image was decoded (see `DecodeOptions.rows`). */
  rows?: number;
}

export interface DecodeOptions {
  /**
   * Decode only the top `rows` rows (JPEG decoding is sequential, so the rows below are skipped and
   * their cost saved; the rows decoded are the same bytes as in a full decode). Default: all.
   */
  rows?: number;
}

type SharpModule = (typeof import('sharp'))['default'];
let sharpPromise: Promise<SharpModule> | undefined;

/** sharp, imported on first use (the same instance for every caller). */
export async function loadSharp(): Promise<SharpModule> {
  sharpPromise ??= importHidden<typeof import('sharp')>('sharp').then((m) => {
    const sharp = ((m as unknown as { default?: SharpModule }).default ?? m) as SharpModule;
    // The operation cache only helps repeated identical pipelines; a loader never repeats one.
    sharp.cache(false);
    return sharp;
  });
  return sharpPromise;
}

// sequentialRead: top-to-bottom decoding without libvips' random-access cache (measurably faster for a
// one-shot full decode). failOn 'none': decode what can be decoded, as cv2.imread does for a truncated or
// slightly corrupt JPEG (it warns and returns the image); data that is not an image still fails.
const DECODE = { sequentialRead: true, failOn: 'none' } as const;

/**
 * Width and height from a JPEG's SOF marker (no decoding), or null when the data is not a JPEG or the
 * header is unusual. EXIF orientation is ignored, as the decode ignores it.
 */
export function jpegSize(buf: Uint8Array): { width: number; height: number } | null {
  if (buf.length < 4 || buf[0] !== 0xff || buf[1] !== 0xd8) return null;
  let p = 2;
  while (p + 9 < buf.length) {
    if (buf[p] !== 0xff) return null;
    const marker = buf[p + 1]!;
    if (marker === 0xff) {
      p++; // fill byte
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      p += 2;
      continue;
    }
    const len = (buf[p + 2]! << 8) | buf[p + 3]!;
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      const height = (buf[p + 5]! << 8) | buf[p + 6]!;
      const width = (buf[p + 7]! << 8) | buf[p + 8]!;
      return width > 0 && height > 0 ? { width, height } : null;
    }
    if (marker === 0xda || len < 2) return null; // start of scan before any SOF
    p += 2 + len;
  }
  return null;
}

/** The image size from the file header (JPEG parsed here, other formats through sharp). */
export async function imageBufferSize(buf: Uint8Array, name = 'image'): Promise<{ width: number; height: number }> {
  const j = jpegSize(buf);
  if (j) return j;
  const sharp = await loadSharp();
  try {
    const m = await sharp(buf, DECODE).metadata();
    if (m.width && m.height) return { width: m.width, height: m.height };
  } catch (e) {
    throw new Error(`cannot decode image ${name}: ${(e as Error).message}`);
  }
  throw new Error(`cannot decode image ${name}: unknown size`);
}

/** Decodes an encoded image (file contents) to RGB. `name` is used in error messages. */
export async function decodeImageBuffer(buf: Uint8Array, name = 'image', options: DecodeOptions = {}): Promise<DecodedImage> {
  const sharp = await loadSharp();
  let rows = options.rows;
  let size: { width: number; height: number } | undefined;
  if (rows !== undefined) {
    size = await imageBufferSize(buf, name);
    rows = Math.max(1, Math.min(size.height, Math.floor(rows)));
    if (rows >= size.height) rows = undefined;
  }
  const pipeline = (p: ReturnType<SharpModule>) =>
    rows !== undefined ? p.extract({ left: 0, top: 0, width: size!.width, height: rows }) : p;
  let data: Buffer;
  let info: { width: number; height: number; channels: number };
  try {
    ({ data, info } = await pipeline(sharp(buf, DECODE).keepIccProfile()).raw().toBuffer({ resolveWithObject: true }));
  } catch (e) {
    throw new Error(`cannot decode image ${name}: ${(e as Error).message}`);
  }
  const width = info.width;
  const n = width * info.height;
  const height = size ? size.height : info.height;
  const partial = rows !== undefined ? { rows } : {};
  const cn = info.channels;
  if (cn === 3) return { data: new Uint8Array(data.buffer, data.byteOffset, n * 3), width, height, ...partial };
  if (cn === 4) {
    const meta = await sharp(buf, DECODE).metadata();
    if (meta.space === 'cmyk') {
      try {
        const r = await pipeline(sharp(buf, DECODE).toColourspace('srgb')).removeAlpha().raw().toBuffer({ resolveWithObject: true });
        if (r.info.channels === 3) return { data: new Uint8Array(r.data.buffer, r.data.byteOffset, n * 3), width, height, ...partial };
      } catch (e) {
        throw new Error(`cannot decode image ${name}: ${(e as Error).message}`);
      }
    }
  }
  const out = new Uint8Array(n * 3);
  if (cn === 1 || cn === 2) {
    for (let i = 0; i < n; i++) {
      const v = data[i * cn]!;
      out[3 * i] = v;
      out[3 * i + 1] = v;
      out[3 * i + 2] = v;
    }
  } else if (cn >= 3) {
    for (let i = 0; i < n; i++) {
      out[3 * i] = data[i * cn]!;
      out[3 * i + 1] = data[i * cn + 1]!;
      out[3 * i + 2] = data[i * cn + 2]!;
    }
  } else {
    throw new Error(`cannot decode image ${name}: ${cn} channels`);
  }
  return { data: out, width, height, ...partial };
}

/** Reads an image file (errors name the file). */
export async function readImageFile(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new Error(`cannot read image ${path}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  }
}

export interface ImageFileInfo {
  width: number;
  height: number;
  /** A JPEG without its end-of-image marker near the end: cut short, its missing part decodes grey. */
  truncated: boolean;
}

/**
 * The size of an image file from its header, and whether a JPEG was cut short, without decoding it
 * (a JPEG's first 8 KiB, more only where its frame header lies further in, and its last 4 KiB are read).
 * Throws, naming the file, for a file that is empty, unreadable or not an image.
 */
export async function inspectImageFile(path: string): Promise<ImageFileInfo> {
  let file: Awaited<ReturnType<typeof open>>;
  try {
    file = await open(path, 'r');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new Error(`cannot read image ${path}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  }
  try {
    const { size } = await file.stat();
    if (size === 0) throw new Error(`cannot read image ${path}: the file is empty`);
    const read = async (position: number, length: number) => {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await file.read(buf, 0, length, position);
      return buf.subarray(0, bytesRead);
    };
    // A JPEG's frame header usually lies in its first few KiB (after any EXIF); read more only if not.
    let head = await read(0, Math.min(size, 8192));
    const isJpeg = head[0] === 0xff && head[1] === 0xd8;
    let fromHeader = isJpeg ? jpegSize(head) : null;
    for (const more of [65536, size]) {
      if (fromHeader || !isJpeg || head.length >= size) break;
      head = await read(0, Math.min(size, more));
      fromHeader = jpegSize(head);
    }
    const dims = fromHeader ?? (await imageBufferSize(size > head.length ? await read(0, size) : head, path));
    // The end-of-image marker may be followed by a few bytes of padding or appended data.
    const tail = isJpeg ? await read(Math.max(0, size - 4096), Math.min(size, 4096)) : null;
    let truncated = false;
    if (tail) {
      truncated = true;
      for (let i = tail.length - 2; i >= 0 && truncated; i--) if (tail[i] === 0xff && tail[i + 1] === 0xd9) truncated = false;
    }
    return { ...dims, truncated };
  } finally {
    await file.close();
  }
}

/** Reads and decodes an image file; errors name the file. */
export async function readImage(path: string, options: DecodeOptions = {}): Promise<DecodedImage> {
  return decodeImageBuffer(await readImageFile(path), path, options);
}

/**
 * A cache of decoded images for datasets that fit in memory (e.g. tests and the tiny sets in
 * data/): keeps images until `maxBytes` is reached, then stops adding (no eviction, so a large
 * dataset simply runs uncached after the first `maxBytes`).
 */
export class ImageCache {
  private readonly map = new Map<number, Promise<DecodedImage>>();
  private bytes = 0;

  constructor(readonly maxBytes: number) {}

  get size(): number {
    return this.map.size;
  }

  get usedBytes(): number {
    return this.bytes;
  }

  get(key: number, path: string): Promise<DecodedImage> {
    const hit = this.map.get(key);
    if (hit) return hit;
    const p = readImage(path);
    if (this.bytes < this.maxBytes) {
      this.map.set(key, p);
      p.then(
        (im) => {
          this.bytes += im.data.byteLength;
        },
        () => {
          this.map.delete(key);
        },
      );
    }
    return p;
  }
}
