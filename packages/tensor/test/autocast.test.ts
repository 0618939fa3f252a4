// autocast: which ops run in float16 and which stay float32 inside a scope, nothing changed outside,
// gradients reaching float32 master weights as float32 and close to a float32 run, the parameter cast
// cache, nested and disabled scopes, and an adapter without shader-f16.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type Tensor, add, autocast, conv2d, init, isAutocastEnabled, layerNorm, linear, matmul, memory, mseLoss,
  multiHeadAttention, nn, noGrad, optim, randn, scaledDotProductAttention, softmax, sum, tidy,
} from '@tmpose/tensor';
import { autocastOperands } from '../src/amp/autocast.js';
import { expectClose, withoutShaderF16 } from './helpers.js';

beforeAll(async () => {
  await init();
});

const leaf = (shape: number[], seed: number) => {
  const t = randn(shape, { seed });
  t.requiresGrad = true;
  return t;
};

describe('autocast', () => {
  it('runs matmul, linear, conv2d and attention in float16 inside the scope and float32 outside', () => {
    tidy(() => {
      const a = randn([4, 8], { seed: 1 });
      const w = randn([6, 8], { seed: 2 });
      const x = randn([1, 3, 6, 6], { seed: 3 });
      const k = randn([4, 3, 3, 3], { seed: 4 });
      const q = randn([1, 2, 5, 8], { seed: 5 });
      const qkv = randn([1, 5, 24], { seed: 6 });
      const calls = () => [
        matmul(a, w.transpose()), linear(a, w), conv2d(x, k, undefined, { padding: 1 }), scaledDotProductAttention(q, q, q),
        multiHeadAttention(qkv, 2), a.matmul(w.transpose()),
      ];
      const inside = autocast('float16', calls);
      expect(inside.map((t) => t.dtype)).toEqual(Array(6).fill('float16'));
      expect(calls().map((t) => t.dtype)).toEqual(Array(6).fill('float32'));
      expect(isAutocastEnabled()).toBe(false);
    });
  });

  it('keeps layerNorm, softmax, losses and reductions in float32, and promotes mixed elementwise operands', () => {
    tidy(() => {
      const h = randn([4, 8], { seed: 6 }).to('float16');
      const f = randn([4, 8], { seed: 7 });
      const out = autocast('float16', () => [layerNorm(h, [8]), softmax(h), h.softmax(), mseLoss(h, f), sum(h), h.mean(), add(h, f), h.mul(f)]);
      expect(out.map((t) => t.dtype)).toEqual(Array(8).fill('float32'));
      // Outside a scope mixed dtypes stay one error, as before.
      expect(() => add(h, f)).toThrow(/^add: dtypes differ/);
    });
  });

  it('sends float32 gradients to float32 master weights, close to a float32 run', async () => {
    const fc1 = new nn.Linear(16, 32, { seed: 10 });
    const norm = new nn.LayerNorm(32);
    const fc2 = new nn.Linear(32, 8, { seed: 12 });
    const conv = new nn.Conv2d(2, 4, 3, { padding: 1, seed: 14 });
    const params = [...fc1.parameters(), ...norm.parameters(), ...fc2.parameters(), ...conv.parameters()];
    const x = randn([4, 16], { seed: 20 });
    const img = randn([2, 2, 4, 4], { seed: 21 });
    const target = randn([4, 8], { seed: 22 });
    const run = async (mixed: boolean) => {
      const loss = tidy(() => {
        const forward = () => {
          const y = fc2.forward(norm.forward(fc1.forward(x)).gelu());
          return add(mseLoss(y, target), conv.forward(img).mul(0.1).sum());
        };
        return mixed ? autocast('float16', forward) : forward();
      });
      expect(loss.dtype).toBe('float32');
      loss.backward();
      loss.dispose();
      const grads = await Promise.all(params.map((p) => p.grad!.data()));
      expect(params.map((p) => p.grad!.dtype)).toEqual(params.map(() => 'float32'));
      for (const p of params) {
        p.grad!.dispose();
        p.grad = null;
      }
      return grads;
    };
    const before = memory().liveTensors;
    const ref = await run(false);
    const half = await run(true);
    // float16 operands (2^-11 relative rounding) through two products of length 16 and 32 and a 3×3×2 conv.
    ref.forEach((g, i) => {
      const scale = Math.max(...g.map(Math.abs));
      expectClose(half[i]!, g, 2e-2 * scale, 0, `parameter ${i}`);
    });
    expect(params.every((p) => p.dtype === 'float32')).toBe(true);
    expect(memory().liveTensors).toBe(before);
    for (const m of [fc1, norm, fc2, conv]) m.dispose();
    for (const t of [x, img, target]) t.dispose();
  });

  it('Adam, AdamW and SGD step float32 master weights unchanged from autocast gradients', async () => {
    for (const make of [(p: Tensor[]) => new optim.Adam(p, { lr: 0.01 }), (p: Tensor[]) => new optim.AdamW(p, { lr: 0.01 }), (p: Tensor[]) => new optim.SGD(p, { lr: 0.1, momentum: 0.9 })]) {
      const fc = new nn.Linear(8, 4, { seed: 50 });
      const x = randn([3, 8], { seed: 51 });
      const opt = make(fc.parameters());
      const before = await fc.weight.data();
      tidy(() => autocast('float16', () => fc.forward(x).pow(2).mean()).backward());
      expect(fc.weight.grad!.dtype).toBe('float32');
      opt.step();
      const after = await fc.weight.data();
      expect(fc.weight.dtype).toBe('float32');
      expect(after.every(Number.isFinite) && after.some((v, i) => v !== before[i])).toBe(true);
      opt.dispose();
      fc.dispose();
      x.dispose();
    }
  });

  it('casts a parameter once per scope and frees the copy when the scope ends', () => {
    const w = leaf([3, 3], 30);
    const act = randn([3, 3], { seed: 31 });
    const before = memory().liveTensors;
    autocast('float16', () => {
      const first = autocastOperands('float16', [w, act]);
      const second = autocastOperands('float16', [w, act]);
      expect(second.args[0]).toBe(first.args[0]);
      // Activations are cast per use and freed by done().
      expect(second.args[1]).not.toBe(first.args[1]);
      first.done();
      second.done();
      expect(memory().liveTensors).toBe(before + 1);
      const cached = first.args[0] as Tensor;
      autocast('float16', () => expect(autocastOperands('float16', [w]).args[0]).toBe(cached));
      expect(cached.isDisposed).toBe(false);
      // Under noGrad a weight is cast per use (a copy without a graph must not serve a later use).
      const plain = noGrad(() => autocastOperands('float16', [w]));
      expect(plain.args[0]).not.toBe(cached);
      plain.done();
    });
    expect(memory().liveTensors).toBe(before);
    w.dispose();
    act.dispose();
  });

  it('a disabled scope inside an enabled one runs float32; the setting is restored after an error', () => {
    tidy(() => {
      const a = randn([2, 4], { seed: 40 });
      const b = randn([4, 2], { seed: 41 });
      autocast('float16', () => {
        expect(autocast('float16', () => matmul(a, b), { enabled: false }).dtype).toBe('float32');
        expect(matmul(a, b).dtype).toBe('float16');
      });
      expect(() => autocast('float16', () => { throw new Error('boom'); })).toThrow('boom');
      expect(isAutocastEnabled()).toBe(false);
    });
  });

  it('float16 on an adapter without shader-f16 is one error; a disabled scope still runs', () => {
    withoutShaderF16(() => {
      expect(() => autocast('float16', () => 1)).toThrow(
        /^autocast: this adapter has no shader-f16; float16 tensors need it \(run without autocast, or ask for precision 'auto' to fall back to float32\)$/,
      );
      expect(autocast('float16', () => 2, { enabled: false })).toBe(2);
    });
  });
});
