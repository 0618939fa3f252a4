// Writing pictures: an SVG rendered to PNG, and an SVG overlay composited onto a photo. Both go
// through sharp (imported on first use, so the package loads in browsers) and are written atomically.
import { io } from '@tmpose/tensor';
import { loadSharp } from '../data/image.js';

export async function savePng(svg: string, path: string): Promise<void> {
  const sharp = await loadSharp();
  const png = await sharp(Buffer.from(svg)).png().toBuffer();
  await io.writeFileAtomic(path, png);
}

/** The photo at `imagePath` with `svg` (the same size) drawn over it, saved as PNG. */
export async function saveOverlay(imagePath: string, svg: string, outPath: string): Promise<void> {
  const sharp = await loadSharp();
  let png: Buffer;
  try {
    // failOn 'none': a JPEG cut short is drawn with its missing part grey, as it was decoded for the model.
    png = await sharp(imagePath, { failOn: 'none' }).composite([{ input: Buffer.from(svg), top: 0, left: 0 }]).png().toBuffer();
  } catch (err) {
    throw new Error(`${imagePath}: cannot read the image (${(err as Error).message})`);
  }
  await io.writeFileAtomic(outPath, png);
}

export async function imageSize(imagePath: string): Promise<{ width: number; height: number }> {
  const sharp = await loadSharp();
  try {
    const m = await sharp(imagePath).metadata();
    if (!m.width || !m.height) throw new Error('no dimensions');
    return { width: m.width, height: m.height };
  } catch (err) {
    throw new Error(`${imagePath}: cannot read the image (${(err as Error).message})`);
  }
}
