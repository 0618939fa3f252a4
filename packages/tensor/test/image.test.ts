// warpAffineCrops as an op: the channel count taken or checked, the output mirrored exactly by
// `mirror`, the normalisation's mean/std, no gradient, and one clear error per bad argument. (Its
// equality with the cv2-exact CPU warp, bit for bit, is @tmpose/model's pose.crop test.)
import { beforeAll, describe, expect, it } from 'vitest';
import { init, memory, normalizeTable, warpAffineCrops } from '@tmpose/tensor';

beforeAll(async () => {
  await init();
});

/** A 7×5 RGBA image whose pixel (x, y) is (x, y, x + y, 0). */
const width = 7;
const height = 5;
const rgba = new Uint8Array(width * height * 4).map((_, i) => {
  const p = i >> 2;
  const x = p % width;
  const y = Math.floor(p / width);
  return [x, y, x + y, 0][i & 3]!;
});
const identity = [1, 0, 0, 0, 1, 0];

describe('warpAffineCrops', () => {
  it('the identity map copies the pixels, normalised by the table; RGBA and RGB agree', async () => {
    const rgb = new Uint8Array(width * height * 3).map((_, i) => rgba[Math.floor(i / 3) * 4 + (i % 3)]!);
    const a = warpAffineCrops({ data: rgba, width, height }, [identity], [height, width]);
    const b = warpAffineCrops({ data: rgb, width, height, channels: 3 }, [identity], [height, width]);
    expect(a.requiresGrad).toBe(false);
    const table = normalizeTable();
    const want = new Float32Array(3 * width * height);
    for (let c = 0; c < 3; c++) for (let p = 0; p < width * height; p++) want[c * width * height + p] = table[c * 256 + rgba[4 * p + c]!]!;
    expect(await a.data()).toEqual(want);
    expect(await b.data()).toEqual(want);
    a.dispose();
    b.dispose();
  });

  it('mirror reverses each row of the crops; mean 0 and std 1 give v / 255', async () => {
    const image = { data: rgba, width, height };
    const shift = [1, 0, -2, 0, 1, -1];
    const plain = warpAffineCrops(image, [identity, shift], [4, 6], { mean: [0, 0, 0], std: [1, 1, 1] });
    const mirrored = warpAffineCrops(image, [identity, shift], [4, 6], { mean: [0, 0, 0], std: [1, 1, 1], mirror: true });
    const p = await plain.data();
    const m = await mirrored.data();
    for (let row = 0; row < 2 * 3 * 4; row++) expect(Array.from(m.subarray(row * 6, row * 6 + 6))).toEqual(Array.from(p.subarray(row * 6, row * 6 + 6)).reverse());
    // Crop 1, channel 0, row 0 reads source x + 2 (0 past the right edge), as float32 v / 255.
    expect(Array.from(p.subarray(3 * 4 * 6, 3 * 4 * 6 + 6))).toEqual([2, 3, 4, 5, 6, 0].map((v) => Math.fround(v / 255)));
    plain.dispose();
    mirrored.dispose();
  });

  it('bad arguments are one error naming the op and the sizes, and allocate nothing', () => {
    const before = memory().liveTensors;
    const image = { data: rgba, width, height };
    expect(() => warpAffineCrops({ data: rgba, width: 6, height }, [identity], [2, 2])).toThrow(/warpAffineCrops: a 6×5 image needs 90 \(RGB\) or 120 \(RGBA\) bytes, got 140/);
    expect(() => warpAffineCrops({ ...image, channels: 3 }, [identity], [2, 2])).toThrow(/7×5 image with channels 3 needs 105 \(RGB\) or 140 \(RGBA\) bytes, got 140/);
    expect(() => warpAffineCrops({ data: new Uint8Array(0), width: 0, height: 0 }, [identity], [2, 2])).toThrow(/at least 1×1 pixels/);
    expect(() => warpAffineCrops(image, [[1, 0, 0, 0, 1]], [2, 2])).toThrow(/matrix 0 has 5 numbers, not 6/);
    expect(() => warpAffineCrops(image, [], [2, 2])).toThrow(/no matrices/);
    expect(() => warpAffineCrops(image, [identity], [0, 2])).toThrow(/size must be positive integers \[H, W\], got \[0, 2\]/);
    expect(memory().liveTensors).toBe(before);
  });
});
