// What `estimatePoses` takes as a picture, and its pixels. Bytes given as they are (`RawImage`, or the
// `ImageData` of a canvas) are used directly; every other browser source is drawn once onto an
// OffscreenCanvas and read back as RGBA with `getImageData` (the one way to reach the pixels of an
// image, video or bitmap that every browser and worker offers).
import { type ImagePixels, imageChannels } from '@tmpose/tensor';

/**
 * An image as bytes, row-major (HWC): RGB (as @tmpose/train's `readImage` decodes) or RGBA (as
 * `ImageData`); `channels` is inferred from the length of `data` when absent.
 */
export interface RawImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels?: 3 | 4;
}

export type PoseSource =
  | ImageData
  | ImageBitmap
  | VideoFrame
  | HTMLImageElement
  | HTMLVideoElement
  | HTMLCanvasElement
  | OffscreenCanvas
  | RawImage;

/** The size a drawable source has in pixels; errors say why a source has none yet. */
function drawableSize(source: Exclude<PoseSource, RawImage | ImageData>): [number, number] {
  if (typeof VideoFrame !== 'undefined' && source instanceof VideoFrame) return [source.displayWidth, source.displayHeight];
  if (typeof HTMLVideoElement !== 'undefined' && source instanceof HTMLVideoElement) {
    // HAVE_CURRENT_DATA (2): a frame to draw.
    if (source.readyState < 2 || !source.videoWidth) {
      throw new Error(`estimatePoses: the video has no frame yet (readyState ${source.readyState}); wait for 'loadeddata' or 'playing'`);
    }
    return [source.videoWidth, source.videoHeight];
  }
  if (typeof HTMLImageElement !== 'undefined' && source instanceof HTMLImageElement) {
    if (!source.complete || !source.naturalWidth) throw new Error(`estimatePoses: the image ${source.src || '(no src)'} is not loaded`);
    return [source.naturalWidth, source.naturalHeight];
  }
  const sized = source as ImageBitmap | HTMLCanvasElement | OffscreenCanvas;
  return [sized.width, sized.height];
}

let reader: OffscreenCanvasRenderingContext2D | null = null;

/** One canvas reused for every frame (a video calls this many times a second), sized to `width`×`height`. */
function readingContext(width: number, height: number): OffscreenCanvasRenderingContext2D {
  if (!reader) {
    reader = new OffscreenCanvas(width, height).getContext('2d', { willReadFrequently: true });
    if (!reader) throw new Error('estimatePoses: no 2D context on an OffscreenCanvas');
  }
  const canvas = reader.canvas;
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  } else {
    reader.clearRect(0, 0, width, height);
  }
  return reader;
}

/** The pixels of `source`: RawImage and ImageData as they are, anything else drawn and read as RGBA. */
export function sourcePixels(source: PoseSource): ImagePixels {
  if ('data' in source) {
    const pixels = { data: source.data, width: source.width, height: source.height, channels: 'channels' in source ? source.channels : undefined };
    return { ...pixels, channels: imageChannels('estimatePoses', pixels) };
  }
  if (typeof OffscreenCanvas === 'undefined') {
    throw new Error('estimatePoses: this source needs OffscreenCanvas (a browser); pass the pixels as { data, width, height } instead');
  }
  const [width, height] = drawableSize(source);
  if (!width || !height) throw new Error(`estimatePoses: the source is ${width}×${height} pixels; nothing to read`);
  const ctx = readingContext(width, height);
  ctx.drawImage(source, 0, 0, width, height);
  const { data } = ctx.getImageData(0, 0, width, height);
  return { data, width, height, channels: 4 };
}
