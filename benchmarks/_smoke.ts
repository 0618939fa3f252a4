import { adapterDescription } from './lib/gpu.js';
import * as T from './peers/tfjs.js';
import * as J from './peers/jax.js';
import { time } from './lib/timing.js';
console.log(await adapterDescription());
console.log('tfjs', await T.init());
console.log('jax', await J.init());
const small = { B: 2, H: 2, L: 17, D: 8 };
const cs = { N: 2, Cin: 4, Cout: 5, H: 6, W: 7 };
const bs = { N: 2, C: 3, H: 4, W: 5 };
for (const [name, mk] of [
  ['t mm', () => T.matmul(64, 32, 48)], ['j mm', () => J.matmul(64, 32, 48)],
  ['t att', () => T.attention(small)], ['t attb', () => T.attention(small, true)],
  ['j att', () => J.attention(small)], ['j attb', () => J.attention(small, true)],
  ['t conv', () => T.conv2d(cs)], ['t convb', () => T.conv2d(cs, true)], ['t convNCHW', () => T.conv2d(cs, false, 'NCHW')], ['t convbNCHW', () => T.conv2d(cs, true, 'NCHW')],
  ['j conv', () => J.conv2d(cs)], ['j convb', () => J.conv2d(cs, true)],
  ['t bn', () => T.batchNorm(bs)], ['t bnb', () => T.batchNorm(bs, true)],
  ['j bn', () => J.batchNorm(bs)], ['j bnb', () => J.batchNorm(bs, true)],
  ['t add', () => T.addChain(100)], ['j add', () => J.addChain(100)],
] as const) {
  try {
    const before = T.liveTensors();
    const c = await (mk as () => any)();
    const t = await time(() => c.run(), { warmup: 1, iters: 3 });
    c.dispose();
    console.log(name, t.median.toFixed(2), 'ms; tf live', before, '->', T.liveTensors());
  } catch (e) { console.log(name, 'FAILED', (e as Error).stack?.split('\n').slice(0,4).join(' | ')); }
}
