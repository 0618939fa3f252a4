import './lib/gpu.js';
import * as T from './peers/tfjs.js';
import * as J from './peers/jax.js';
import { permute, NHWC_TO_NCHW, HWIO_TO_OIHW } from './lib/data.js';
import type { Case } from './lib/timing.js';
await T.init(); await J.init();
const small = { B: 2, H: 3, L: 17, D: 8 };
const cs = { N: 2, Cin: 4, Cout: 5, H: 6, W: 7 };
const bs = { N: 3, C: 4, H: 5, W: 6 };
const id = (x: Float32Array) => x;
async function vals(c: Case | Promise<Case>) { const cc = await c; const v = await cc.values!(); cc.dispose(); return v; }
function cmp(name: string, a: Float32Array[], b: Float32Array[], fix: ((x: Float32Array) => Float32Array)[] = []) {
  const errs = a.map((x, i) => {
    const y = b[i]!; const xf = (fix[i] ?? id)(x);
    let m = 0, s = 0; for (let j = 0; j < y.length; j++) { m = Math.max(m, Math.abs(xf[j]! - y[j]!)); s = Math.max(s, Math.abs(y[j]!)); }
    return `${xf.length === y.length ? '' : 'LEN MISMATCH '}maxerr ${m.toExponential(2)} (max|y| ${s.toFixed(2)})`;
  });
  console.log(name, a.length, 'vs', b.length, errs.join('; '));
}
cmp('matmul', await vals(T.matmul(33, 20, 17)), await vals(J.matmul(33, 20, 17)));
cmp('attn', await vals(T.attention(small)), await vals(J.attention(small)));
cmp('attn bwd', await vals(T.attention(small, true)), await vals(J.attention(small, true)));
const nhwc = (c: number) => (x: Float32Array) => permute(x, [cs.N, cs.H, cs.W, c], NHWC_TO_NCHW);
const hwio = (x: Float32Array) => permute(x, [3, 3, cs.Cin, cs.Cout], HWIO_TO_OIHW);
cmp('conv NHWC', await vals(T.conv2d(cs)), await vals(J.conv2d(cs)), [nhwc(cs.Cout)]);
cmp('conv NCHW', await vals(T.conv2d(cs, false, 'NCHW')), await vals(J.conv2d(cs)));
cmp('conv bwd NHWC', await vals(T.conv2d(cs, true)), await vals(J.conv2d(cs, true)), [nhwc(cs.Cin), hwio]);
cmp('conv bwd NCHW', await vals(T.conv2d(cs, true, 'NCHW')), await vals(J.conv2d(cs, true)), [id, hwio]);
const bnx = (x: Float32Array) => permute(x, [bs.N, bs.H, bs.W, bs.C], NHWC_TO_NCHW);
cmp('bn', await vals(T.batchNorm(bs)), await vals(J.batchNorm(bs)), [bnx]);
cmp('bn bwd', await vals(T.batchNorm(bs, true)), await vals(J.batchNorm(bs, true)), [bnx]);
cmp('add chain', await vals(T.addChain(10)), await vals(J.addChain(10)));
console.log('tf live', T.liveTensors());
