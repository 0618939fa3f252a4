// The DarkPose crop affine and the cv2-exact warp, against OpenCV 4.6 / numpy references
// (scripts/gen_data_fixtures.py → test/fixtures/data-pipeline.json) and hand-worked numbers.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { affinePoint, getAffineTransform } from '@tmpose/model';
import { invertAffine, normalizeTable, warpAffine, warpAffineU8 } from '@tmpose/train';

interface Fixture {
  affine: {
    center: number[];
    scale: number[];
    dtype: string;
    rot: number;
    size: [number, number];
    inv: number;
    matrix: number[];
    matrixLapack: number[];
  }[];
  warpSource: { width: number; height: number; data: string };
  warps: { center?: number[]; scale?: number[]; rot?: number; size: [number, number]; flip: boolean; matrix: number[]; out: string }[];
}
const fx = JSON.parse(readFileSync(new URL('./fixtures/data-pipeline.json', import.meta.url), 'utf8')) as Fixture;
const u8 = (b64: string) => new Uint8Array(Buffer.from(b64, 'base64'));

describe('getAffineTransform (DarkPose variant)', () => {
  it('maps the centre to ((W−1)/2, (H−1)/2) with scale (W−1)/(src_w−1), worked by hand', () => {
    // centre (100, 50), scale 1 → src_w 200; output 192×256: s = 191/199.
    const m = getAffineTransform([100, 50], [1, 1.3333], 0, [192, 256]);
    const k = 191 / 199;
    expect(m[0]).toBeCloseTo(k, 12);
    expect(m[1]).toBeCloseTo(0, 12);
    expect(m[3]).toBeCloseTo(0, 12);
    expect(m[4]).toBeCloseTo(k, 12);
    const [x, y] = affinePoint(m, 100, 50);
    expect(x).toBeCloseTo(95.5, 10);
    expect(y).toBeCloseTo(127.5, 10);
    // The box's left edge, (src_w−1)/2 to the left, lands on pixel 0.
    expect(affinePoint(m, 100 - 99.5, 50)[0]).toBeCloseTo(0, 10);
    // rot = 90: the source point 99.5 px right of the centre maps to 95.5 px above the output centre.
    const r = getAffineTransform([100, 50], 1, 90, [192, 256]);
    expect(r[0]).toBeCloseTo(0, 7);
    expect(r[1]).toBeCloseTo(k, 7);
    expect(r[3]).toBeCloseTo(-k, 7);
    expect(r[4]).toBeCloseTo(0, 7);
    // The inverse flag gives the inverse map.
    const inv = getAffineTransform([100, 50], [1, 1.3333], 0, [192, 256], { inv: true });
    const [bx, by] = affinePoint(inv, 95.5, 127.5);
    expect(bx).toBeCloseTo(100, 5);
    expect(by).toBeCloseTo(50, 5);
  });

  it('is bit-exact against get_affine_transform with OpenCV\'s own LU (the pip wheels\' solver)', () => {
    expect(fx.affine.length).toBeGreaterThan(20);
    let worstLapack = 0;
    for (const c of fx.affine) {
      const m = getAffineTransform([c.center[0]!, c.center[1]!], [c.scale[0]!, c.scale[1]!], c.rot, c.size, { inv: c.inv === 1 });
      // numpy's float32 rounding (scale·200 for float32 scales, the three point pairs) and OpenCV's
      // LUImpl are reproduced operation for operation.
      expect(Array.from(m), `${c.dtype} rot ${c.rot} size ${c.size} inv ${c.inv}`).toEqual(c.matrix);
      // Debian's OpenCV solves with LAPACK instead: the same matrix up to the last bits.
      for (let i = 0; i < 6; i++) {
        const e = c.matrixLapack[i]!;
        worstLapack = Math.max(worstLapack, Math.abs(m[i]! - e) / Math.max(1, Math.abs(e)));
      }
    }
    expect(worstLapack).toBeLessThan(1e-12);
  });
});

describe('warpAffineU8 (cv2.warpAffine INTER_LINEAR, constant 0 border)', () => {
  const src = u8(fx.warpSource.data);
  const { width: W, height: H } = fx.warpSource;

  it('is byte-exact against cv2 for the same matrix (similarity, rotations, flips, borders, general affine)', () => {
    expect(fx.warps.length).toBe(7);
    for (const [k, c] of fx.warps.entries()) {
      const [dw, dh] = c.size;
      const got = warpAffineU8(src, W, H, c.matrix, dw, dh, { flip: c.flip });
      const want = u8(c.out);
      expect(got.length).toBe(want.length);
      let diff = 0;
      for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) diff++;
      expect(diff, `case ${k}: ${diff} bytes differ`).toBe(0);
    }
  });

  it('is byte-exact with our own getAffineTransform matrix too', () => {
    for (const c of fx.warps) {
      if (!c.center) continue;
      const [dw, dh] = c.size;
      const m = getAffineTransform([c.center[0]!, c.center[1]!], [c.scale![0]!, c.scale![1]!], c.rot!, c.size);
      const got = warpAffineU8(src, W, H, m, dw, dh, { flip: c.flip });
      const want = u8(c.out);
      let maxDiff = 0;
      let n = 0;
      for (let i = 0; i < want.length; i++) {
        const d = Math.abs(got[i]! - want[i]!);
        if (d) n++;
        maxDiff = Math.max(maxDiff, d);
      }
      expect(maxDiff, `${n} bytes differ`).toBe(0);
    }
  });

  it('samples at integer destination coordinates (no half-pixel shift), worked by hand', () => {
    // 2×2 image, one channel repeated; identity scaled by 2: dst (1, 0) reads src (0.5, 0).
    const img = new Uint8Array([0, 0, 0, 100, 100, 100, 50, 50, 50, 250, 250, 250]);
    const out = warpAffineU8(img, 2, 2, [2, 0, 0, 0, 2, 0], 4, 4);
    const at = (x: number, y: number) => out[(y * 4 + x) * 3]!;
    expect(at(0, 0)).toBe(0);
    expect(at(1, 0)).toBe(50); // half way between 0 and 100
    expect(at(2, 0)).toBe(100);
    expect(at(0, 1)).toBe(25);
    expect(at(1, 1)).toBe(100); // (0 + 100 + 50 + 250) / 4
    // x = 3 reads src x = 1.5: half of pixel 1, half of the 0 border.
    expect(at(3, 0)).toBe(50);
    // Flip reads img[:, ::-1].
    const f = warpAffineU8(img, 2, 2, [1, 0, 0, 0, 1, 0], 2, 2, { flip: true });
    expect(Array.from(f.filter((_, i) => i % 3 === 0))).toEqual([100, 0, 250, 50]);
  });

  it('invertAffine inverts', () => {
    const m = [0.83, -0.31, 4.2, 0.17, 1.21, -3.3];
    const inv = invertAffine(m);
    const [x, y] = affinePoint(Float64Array.from(m), 3, 7);
    const [bx, by] = affinePoint(inv, x, y);
    expect(bx).toBeCloseTo(3, 12);
    expect(by).toBeCloseTo(7, 12);
  });
});

describe('normalisation', () => {
  it('is ToTensor + Normalize(ImageNet) in float32, CHW', () => {
    const t = normalizeTable();
    const f = Math.fround;
    expect(t[0]).toBe(f(f(0 - f(0.485)) / f(0.229)));
    expect(t[256 + 255]).toBe(f(f(1 - f(0.456)) / f(0.224)));
    expect(t[512 + 128]).toBe(f(f(f(128 / 255) - f(0.406)) / f(0.225)));
    // A constant image warps to the constant's normalised value in each plane.
    const img = new Uint8Array(5 * 4 * 3);
    for (let i = 0; i < img.length; i += 3) {
      img[i] = 10;
      img[i + 1] = 20;
      img[i + 2] = 30;
    }
    const out = warpAffine(img, 5, 4, [1, 0, 0, 0, 1, 0], 3, 2);
    expect(out.length).toBe(18);
    expect(out[0]).toBe(t[10]);
    expect(out[6]).toBe(t[256 + 20]);
    expect(out[17]).toBe(t[512 + 30]);
  });
});
