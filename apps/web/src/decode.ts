// Images to RGB bytes in a browser (a page or a worker): the browser decodes (createImageBitmap), an
// OffscreenCanvas hands back the pixels (RGBA), and the alpha is dropped. The training pipeline of
// @tmpose/train reads images as these bytes (HWC, RGB), as it reads sharp's output in Node.

export interface RgbImage {
  /** HWC RGB bytes, width·height·3. */
  data: Uint8Array;
  width: number;
  height: number;
}

/** Decodes an encoded image (JPEG, PNG, ...) to RGB bytes. */
export async function decodeRgb(blob: Blob, name = 'image'): Promise<RgbImage> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(blob);
  } catch (err) {
    throw new Error(`${name}: the browser could not decode this image (${(err as Error).message})`);
  }
  try {
    return bitmapToRgb(bitmap);
  } finally {
    bitmap.close();
  }
}

/** The pixels of a bitmap as RGB bytes. */
export function bitmapToRgb(bitmap: ImageBitmap): RgbImage {
  const { width, height } = bitmap;
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new Error('no 2D context on an OffscreenCanvas');
  ctx.drawImage(bitmap, 0, 0);
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; j < data.length; i += 4, j += 3) {
    data[j] = rgba[i]!;
    data[j + 1] = rgba[i + 1]!;
    data[j + 2] = rgba[i + 2]!;
  }
  return { data, width, height };
}

/** Fetches and decodes an image URL. */
export async function fetchRgb(url: string): Promise<RgbImage> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return decodeRgb(await response.blob(), url);
}
