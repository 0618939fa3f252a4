// Image decoding with sharp, cv2.imread-like: RGB, no ICC conversion, greyscale → 3 channels,
// truncated JPEGs decode, non-images fail naming the file.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { getAffineTransform } from '@tmpose/model';
import { decodeImageBuffer, ImageCache, jpegSize, readImage, sourceRowsNeeded, warpAffineU8 } from '@tmpose/train';

const shared = (p: string) => fileURLToPath(new URL(`../../../data/${p}`, import.meta.url));

describe('decodeImageBuffer / readImage', () => {
  it('decodes the coco-mini JPEGs to RGB HWC at their annotated sizes', async () => {
    const sizes: Record<string, [number, number]> = {
      '000000000785.jpg': [640, 425],
      '000000040083.jpg': [500, 333],
      '000000196141.jpg': [640, 429],
      '000000197388.jpg': [640, 392],
    };
    for (const [f, [w, h]] of Object.entries(sizes)) {
      const im = await readImage(shared(`coco-mini/${f}`));
      expect([im.width, im.height]).toEqual([w, h]);
      expect(im.data.length).toBe(w * h * 3);
    }
    // 000000000785.jpg carries an Adobe RGB profile: the raw file values are kept, as cv2 keeps them.
    // (cv2 reads the first pixel as (203, 206, 213); converted to sRGB it would be (203, 207, 214).)
    const im = await readImage(shared('coco-mini/000000000785.jpg'));
    expect(Array.from(im.data.subarray(0, 3))).toEqual([203, 206, 213]);
  });

  it('expands greyscale to three equal channels and drops alpha', async () => {
    const grey = Buffer.alloc(8 * 6);
    for (let i = 0; i < grey.length; i++) grey[i] = i * 5;
    const jpg = await sharp(grey, { raw: { width: 8, height: 6, channels: 1 } }).jpeg({ quality: 100 }).toBuffer();
    const g = await decodeImageBuffer(jpg);
    expect([g.width, g.height]).toEqual([8, 6]);
    for (let i = 0; i < 48; i++) {
      expect(g.data[3 * i]).toBe(g.data[3 * i + 1]);
      expect(g.data[3 * i]).toBe(g.data[3 * i + 2]);
    }
    const rgba = Buffer.alloc(4 * 3 * 4);
    for (let i = 0; i < 12; i++) rgba.set([i, 100 + i, 200 + i, 128], 4 * i);
    const png = await sharp(rgba, { raw: { width: 4, height: 3, channels: 4 } }).png().toBuffer();
    const p = await decodeImageBuffer(png);
    expect(Array.from(p.data.subarray(0, 6))).toEqual([0, 100, 200, 1, 101, 201]);
  });

  it('decodes a truncated JPEG as far as it goes (cv2 does too) and names undecodable files', async () => {
    const full = readFileSync(shared('coco-mini/000000040083.jpg'));
    const cut = await decodeImageBuffer(full.subarray(0, Math.floor(full.length * 0.6)), 'cut.jpg');
    expect([cut.width, cut.height]).toEqual([500, 333]);
    await expect(decodeImageBuffer(Buffer.from('not an image'), '/data/x.jpg')).rejects.toThrow(/^cannot decode image \/data\/x\.jpg: /);
    await expect(readImage('/nonexistent/dir/y.jpg')).rejects.toThrow('cannot read image /nonexistent/dir/y.jpg: no such file');
  });

  it('reads JPEG sizes from the header and decodes only the top rows when asked (same bytes)', async () => {
    const file = readFileSync(shared('coco-mini/000000196141.jpg'));
    expect(jpegSize(file)).toEqual({ width: 640, height: 429 });
    expect(jpegSize(Buffer.from('GIF89a'))).toBeNull();
    const full = await decodeImageBuffer(file);
    const top = await decodeImageBuffer(file, 'x', { rows: 150 });
    expect([top.width, top.height, top.rows]).toEqual([640, 429, 150]);
    expect(top.data.length).toBe(640 * 150 * 3);
    expect(Buffer.compare(Buffer.from(top.data), Buffer.from(full.data.subarray(0, 640 * 150 * 3)))).toBe(0);
    // rows ≥ height: a full decode.
    const all = await decodeImageBuffer(file, 'x', { rows: 1000 });
    expect(all.rows).toBeUndefined();
    expect(all.data.length).toBe(640 * 429 * 3);
    // The warp of a crop in the upper part reads only the rows sourceRowsNeeded says, and gives the
    // same bytes from the partial decode; asking it to read more than was decoded throws.
    const m = getAffineTransform([300, 80], [0.6, 0.8], 25, [192, 256]);
    const need = sourceRowsNeeded(m, 192, 256, 429);
    expect(need).toBeGreaterThan(100);
    expect(need).toBeLessThan(429);
    const part = await decodeImageBuffer(file, 'x', { rows: need });
    const a = warpAffineU8(full.data, 640, 429, m, 192, 256);
    const b = warpAffineU8(part.data, 640, 429, m, 192, 256);
    expect(Buffer.compare(Buffer.from(a), Buffer.from(b))).toBe(0);
    const short = await decodeImageBuffer(file, 'x', { rows: need - 3 });
    expect(() => warpAffineU8(short.data, 640, 429, m, 192, 256)).toThrow(/source has \d+ of 429 rows/);
  });

  it('ImageCache keeps decoded images up to its byte limit', async () => {
    const cache = new ImageCache(700_000);
    const a = await cache.get(0, shared('coco-mini/000000040083.jpg')); // 499,500 bytes
    expect(await cache.get(0, 'ignored: cached')).toBe(a);
    await cache.get(1, shared('coco-mini/000000196141.jpg')); // still under the limit when asked: kept
    expect(cache.size).toBe(2);
    await cache.get(2, shared('coco-mini/000000197388.jpg')); // over the limit: not kept
    expect(cache.size).toBe(2);
    expect(cache.usedBytes).toBe(500 * 333 * 3 + 640 * 429 * 3);
  });
});
