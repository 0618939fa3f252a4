// exportWeights with dtype float16 converts float32 to float16 on the host (io.toHalves), so adapters
// without shader-f16 export halves too: the bits are the GPU cast's (.to('float16')) over float32's
// edge cases, and the file is byte for byte the one converting on the GPU wrote.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { type DeviceInfo, type Tensor, init, io, tensor } from '@tmpose/tensor';
import { weightsMetadata } from '@tmpose/model';
import { exportWeights, modelFromCheckpoint } from '@tmpose/train';

const trainedTiny = fileURLToPath(new URL('../../../data/weights/tiny-coco-mini.safetensors', import.meta.url));

let info: DeviceInfo;
let dir: string;
beforeAll(async () => {
  info = await init();
  dir = mkdtempSync(join(tmpdir(), 'tmpose-export-'));
});

/** Runs `body` as on an adapter without shader-f16 (DeviceInfo.features is read at each use). */
async function withoutShaderF16<T>(body: () => Promise<T>): Promise<T> {
  const had = info.features.shaderF16;
  info.features.shaderF16 = false;
  try {
    return await body();
  } finally {
    info.features.shaderF16 = had;
  }
}

describe('float32 -> float16 on the host', () => {
  it("gives the GPU cast's bits: zeros, subnormals, ties, the largest half, overflow, Infinity, NaN and random values", async () => {
    const edges = [
      0, -0, 2 ** -149, -(2 ** -126), 2 ** -26, 2 ** -25, Math.fround(2 ** -25 * (1 + 2 ** -20)), 3 * 2 ** -26, 2 ** -24, 1.5 * 2 ** -24,
      2.5 * 2 ** -24, 2 ** -14 - 2 ** -25, 2 ** -14 - 2 ** -24, 2 ** -14, 1 / 3, 1, 1 + 2 ** -11, 1 + 3 * 2 ** -11, -(1 + 2 ** -11), 2049, 2051,
      65504, 65519, -65519.99609375, 65520, 65536, 3.4e38, Infinity, -Infinity, NaN,
    ];
    // Random values of every exponent near a half's range, each sign, and NaNs with other payloads.
    let seed = 7;
    const random = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0);
    const bits = Uint32Array.from({ length: 1 << 16 }, () => ((random() & 0x807fffff) | ((100 + (random() % 46)) << 23)) >>> 0);
    bits.set([0xffc00000, 0x7f800001, 0xff812345]);
    const values = new Float32Array([...edges, ...new Float32Array(bits.buffer)]);
    const onGpu = tensor(values).to('float16');
    const gpu = Array.from((await onGpu.rawData()) as Uint16Array);
    onGpu.dispose();
    expect(Array.from(io.toHalves(values))).toEqual(gpu);
    // And numberToHalf, which rounds any number (toHalves of a plain array), agrees.
    expect(Array.from(io.toHalves(Array.from(values)))).toEqual(gpu);
  });
});

describe('exportWeights float16', () => {
  it('writes the bytes that converting on the GPU wrote, on an adapter without shader-f16 too', async () => {
    const { model } = await modelFromCheckpoint(trainedTiny);
    const [host, noF16, gpu] = ['host', 'nof16', 'gpu'].map((name) => join(dir, `${name}.safetensors`));
    try {
      const count = await exportWeights(model, host, { dtype: 'float16' });
      expect(await withoutShaderF16(() => exportWeights(model, noF16, { dtype: 'float16' }))).toBe(count);
      // What the export did before: every float32 tensor converted by .to('float16') on the GPU.
      const dict = model.stateDict();
      const halves: Record<string, Tensor> = {};
      for (const [k, t] of Object.entries(dict)) halves[k] = t.dtype === 'float32' ? t.to('float16') : t;
      await io.saveSafetensors(gpu, halves, weightsMetadata(model.config));
      for (const t of new Set([...Object.values(dict), ...Object.values(halves)])) t.dispose();
      expect(Object.values(io.parseHost(readFileSync(gpu), { halfDtype: 'float16' }).tensors).some((t) => t.fileDtype === 'F16')).toBe(true);
      expect(readFileSync(host).equals(readFileSync(gpu)), 'host and GPU conversions, byte for byte').toBe(true);
      expect(readFileSync(noF16).equals(readFileSync(gpu)), 'without shader-f16').toBe(true);
      // float16 tensors themselves still need shader-f16, said in one line; a bad dtype is one error.
      await withoutShaderF16(async () => {
        expect(() => tensor([1], [1], { dtype: 'float16' })).toThrow(/^tensor: this adapter has no shader-f16; float16 tensors need it/);
      });
      await expect(exportWeights(model, join(dir, 'bad.safetensors'), { dtype: 'int8' as never })).rejects.toThrow(
        'exportWeights: dtype must be float32 or float16, got "int8"',
      );
    } finally {
      model.dispose();
    }
  });
});
