// The register conv kernels' re-laid weights (ops/convlayouts.ts), kept per weight buffer until it is
// written. Convs whose weights share one buffer (as after Module.flattenParameters) must give what the
// same convs give with weights of their own, bit for bit (the same kernels read the same re-laid
// values), after every way the buffer can be written, and around a recording (launchesOf) whose
// dispatches never ran; inference first, then training (the input gradient's copies added later).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Tensor, conv2d, forceVariant, init, launchesOf, memory, noGrad, optim, tensor } from '@tmpose/tensor';
import { copyInto } from '../src/ops/copy.js';
import { upload } from '../src/runtime/queue.js';
import { normal } from './gradcheck.js';
import { leaf, values, withLimits } from './helpers.js';

let live = 0;
beforeAll(async () => {
  await init();
  live = memory().liveTensors;
});
afterAll(() => expect(memory().liveTensors).toBe(live));

// Odd channel counts (padded to 8 in the re-laid copies), 3x3 and 1x1, stride 2: [F, C, k, stride].
const CONVS = [
  [7, 5, 3, 1],
  [3, 7, 1, 1],
  [9, 3, 3, 2],
] as const;
const [N, H, W] = [2, 9, 7];

type DT = 'float32' | 'float16';

/** The weights as views into one buffer, each at the offset flattenParameters would give it. */
function sharedWeights(dtype: DT, seed: number): { flat: Tensor; ws: Tensor[] } {
  let size = 0;
  const at = CONVS.map(([F, C, k]) => {
    const offset = size;
    size += Math.ceil((F * C * k * k) / 4) * 4;
    return offset;
  });
  const flat = tensor(normal([size], seed).values, [size], { dtype });
  const ws = CONVS.map(([F, C, k], i) => {
    const w = flat.view([F, C, k, k], [C * k * k, k * k, k, 1], at[i]!);
    w.requiresGrad = true;
    return w;
  });
  return { flat, ws };
}

const inputs = (dtype: DT) => CONVS.map(([, C], i) => leaf([N, C, H, W], 30 + i, dtype));

/** Each conv's output and input gradient (the backward of sum(y * y) / 2), with the register kernel `label`. */
function pass(label: string, xs: Tensor[], ws: Tensor[], keepWeightGrads = false): Tensor[] {
  forceVariant('conv2d', label);
  try {
    return CONVS.flatMap(([, , k, stride], i) => {
      const y = conv2d(xs[i]!, ws[i]!, undefined, { stride, padding: k >> 1 });
      y.backward(y);
      const dx = xs[i]!.grad!;
      xs[i]!.grad = null;
      if (!keepWeightGrads) {
        ws[i]!.grad?.dispose();
        ws[i]!.grad = null;
      }
      return [y, dx];
    });
  } finally {
    forceVariant('conv2d', null);
  }
}

async function run(label: string, xs: Tensor[], ws: Tensor[]): Promise<number[][]> {
  const ts = pass(label, xs, ws);
  const out = await Promise.all(ts.map(values));
  for (const t of ts) t.dispose();
  return out;
}

/** The same convs over standalone copies of the shared weights' present values. */
async function reference(label: string, xs: Tensor[], ws: Tensor[]): Promise<number[][]> {
  const own = await Promise.all(ws.map(async (w) => tensor(await values(w), w.shape, { dtype: w.dtype })));
  const out = await run(label, xs, own);
  for (const w of own) w.dispose();
  return out;
}

/** Each conv's output, without gradients. */
async function inference(label: string, xs: Tensor[], ws: Tensor[]): Promise<number[][]> {
  forceVariant('conv2d', label);
  try {
    const ys = noGrad(() => CONVS.map(([, , k, stride], i) => conv2d(xs[i]!, ws[i]!, undefined, { stride, padding: k >> 1 })));
    const out = await Promise.all(ys.map(values));
    for (const y of ys) y.dispose();
    return out;
  } finally {
    forceVariant('conv2d', null);
  }
}

/** The re-layout dispatches of one pass over the convs, recorded (nothing runs). */
const relayouts = (label: string, xs: Tensor[], ws: Tensor[]) =>
  launchesOf(() => pass(label, xs, ws).forEach((t) => t.dispose())).filter((l) => l.kernel.name === 'conv2dWeightLayouts').length;

describe('conv weights re-laid once per write of their buffer', () => {
  // On an adapter whose largest binding (4 KiB here) cannot hold the three convs' input-gradient copies
  // (4,704 bytes), they go in two banks: re-laid in a dispatch each, the same bits. The weights need no
  // gradient (the weight gradient's partials would not fit either).
  it('float32, banks of arenas under a small maxStorageBufferBindingSize', async () => {
    const { flat, ws } = sharedWeights('float32', 7);
    const xs = inputs('float32');
    for (const w of ws) w.requiresGrad = false;
    await withLimits({ maxStorageBufferBindingSize: 4096 }, async () => {
      expect(await run('4', xs, ws)).toEqual(await reference('4', xs, ws));
      const other = tensor(normal([ws[1]!.size], 12).values, ws[1]!.shape);
      copyInto(ws[1]!, other);
      other.dispose();
      expect(relayouts('4', xs, ws)).toBe(2);
      expect(await run('4', xs, ws)).toEqual(await reference('4', xs, ws));
    });
    for (const t of [...xs, ...ws, flat]) t.dispose();
  });

  for (const dtype of ['float32', 'float16'] as const) {
    for (const label of ['4', '8']) {
      it(`${dtype}, register variant ${label}: shared weights give what own weights give, after each kind of write`, async () => {
        const before = memory().liveBytes;
        const { flat, ws } = sharedWeights(dtype, 7);
        const xs = inputs(dtype);
        // Inference first: the forward's copies only (no input-gradient copy is kept for it).
        const inferred = await inference(label, xs, ws);
        const forwardOnly = memory().liveBytes;
        expect(await run(label, xs, ws)).toEqual(await reference(label, xs, ws));
        expect(inferred).toEqual((await run(label, xs, ws)).filter((_, i) => i % 2 === 0));
        const wdBytes = CONVS.reduce((n, [F, C, k]) => n + F * k * k * Math.ceil(C / 8) * 8, 0) * (dtype === 'float16' ? 2 : 4);
        expect(memory().liveBytes - forwardOnly, 'the input gradients\' copies, made when first asked for').toBeGreaterThanOrEqual(wdBytes);
        // Unchanged weights: a forward and backward of every conv re-lays nothing.
        expect(relayouts(label, xs, ws)).toBe(0);
        // Written by a dispatch (an optimizer step over all of them): one re-layout for the three convs,
        // made for real on the next run although the recording above and below encoded it.
        // (Optimizers take float32 parameters only.)
        if (dtype === 'float32') {
          const sgd = new optim.SGD(ws, { lr: 0.1 });
          for (const t of pass(label, xs, ws, true)) t.dispose();
          sgd.step();
          sgd.zeroGrad();
          sgd.dispose();
          expect(relayouts(label, xs, ws)).toBe(1);
          expect(await run(label, xs, ws)).toEqual(await reference(label, xs, ws));
        }
        // One weight overwritten by a copy: the buffer was written, so all three are re-laid, once.
        const other = tensor(normal([ws[1]!.size], 12).values, ws[1]!.shape, { dtype });
        copyInto(ws[1]!, other);
        other.dispose();
        expect(relayouts(label, xs, ws)).toBe(1);
        expect(await run(label, xs, ws)).toEqual(await reference(label, xs, ws));
        // Host values uploaded into the buffer.
        const host = tensor(normal([flat.size], 13).values, [flat.size], { dtype });
        upload(flat.storage, await host.rawData());
        host.dispose();
        expect(await run(label, xs, ws)).toEqual(await reference(label, xs, ws));
        for (const t of [...xs, ...ws, flat]) t.dispose();
        // The re-laid copies went with the buffer.
        expect(memory().liveBytes).toBe(before);
      });
    }
  }
});
