// The public ops that autocast casts (see autocast.ts), each the op of ops/ wrapped with its policy.
// Backward rules call ops/ directly, so a backward() run inside an autocast scope casts nothing. The
// wrappers are marked pure so that an app's bundler drops the ones (and the kernels) it never calls.
import * as A from '../ops/attention.js';
import * as BN from '../ops/batchnorm.js';
import * as CB from '../ops/combine.js';
import * as CV from '../ops/conv2d.js';
import * as CP from '../ops/copy.js';
import * as E from '../ops/elementwise.js';
import * as LN from '../ops/layernorm.js';
import * as L from '../ops/loss.js';
import * as M from '../ops/matmul.js';
import * as R from '../ops/reduce.js';
import * as S from '../ops/softmax.js';
import { Tensor } from '../tensor.js';
import { autocastList, autocastOp, autocastOperands } from './autocast.js';

/**
 * What a product (matmul, linear, conv2d, feedForward: the input, then weights and biases) casts to
 * float16: the input alone when the weight side (b, or the weights and biases) is all float32, since the
 * kernels read float32 weights as they are (no cast in the forward, float32 gradients with no cast in
 * the backward); else all of them. This holds for any float32 weight side, not only parameters: a
 * float32 activation as matmul's b is read exactly, at no more traffic than a cast copy, and its
 * gradient comes out in its dtype as autograd needs. (Options, as a residual, are not cast.)
 */
const productCasts = (args: unknown[]): number[] => {
  const weights = args.slice(1).filter((a) => a instanceof Tensor);
  return weights.every((w) => w.dtype === 'float32') ? [0] : args.map((_, i) => i).filter((i) => args[i] instanceof Tensor);
};

// float16: the products, where float16 pays (the input cast; weights as productCasts says).
export const matmul = /* @__PURE__ */ autocastOp('float16', M.matmul, productCasts);
export const linear = /* @__PURE__ */ autocastOp('float16', M.linear, productCasts);
export const feedForward = /* @__PURE__ */ autocastOp('float16', M.feedForward, productCasts);
export const conv2d = /* @__PURE__ */ autocastOp('float16', CV.conv2d, productCasts);
export const scaledDotProductAttention = /* @__PURE__ */ autocastOp('float16', A.scaledDotProductAttention);
export const multiHeadAttention = /* @__PURE__ */ autocastOp('float16', A.multiHeadAttention, [0]);

// float32: statistics, losses and reductions, and the functions that overflow or lose most in float16.
export const softmax = /* @__PURE__ */ autocastOp('float32', S.softmax, [0]);
export const logSoftmax = /* @__PURE__ */ autocastOp('float32', S.logSoftmax, [0]);
export const layerNorm = /* @__PURE__ */ autocastOp('float32', LN.layerNorm, [0, 2, 3]);
export const mseLoss = /* @__PURE__ */ autocastOp('float32', L.mseLoss, [0, 1]);
export const sum = /* @__PURE__ */ autocastOp('float32', R.sum, [0]);
export const mean = /* @__PURE__ */ autocastOp('float32', R.mean, [0]);
export const exp = /* @__PURE__ */ autocastOp('float32', E.exp, [0]);
export const log = /* @__PURE__ */ autocastOp('float32', E.log, [0]);
export const pow = /* @__PURE__ */ autocastOp('float32', E.pow, [0, 1]);

// Promote: the widest dtype of the operands (PyTorch's type promotion, which autocast relies on).
export const add = /* @__PURE__ */ autocastOp('promote', E.add, [0, 1]);
export const sub = /* @__PURE__ */ autocastOp('promote', E.sub, [0, 1]);
export const mul = /* @__PURE__ */ autocastOp('promote', E.mul, [0, 1]);
export const div = /* @__PURE__ */ autocastOp('promote', E.div, [0, 1]);
export const maximum = /* @__PURE__ */ autocastOp('promote', E.maximum, [0, 1]);
export const minimum = /* @__PURE__ */ autocastOp('promote', E.minimum, [0, 1]);
export const eq = /* @__PURE__ */ autocastOp('promote', E.eq, [0, 1]);
export const ne = /* @__PURE__ */ autocastOp('promote', E.ne, [0, 1]);
export const lt = /* @__PURE__ */ autocastOp('promote', E.lt, [0, 1]);
export const le = /* @__PURE__ */ autocastOp('promote', E.le, [0, 1]);
export const gt = /* @__PURE__ */ autocastOp('promote', E.gt, [0, 1]);
export const ge = /* @__PURE__ */ autocastOp('promote', E.ge, [0, 1]);
export const concat = /* @__PURE__ */ autocastList(CP.concat);
export const stack = /* @__PURE__ */ autocastList(CB.stack);

/**
 * Batch norm takes a float16 input with its float32 (master) weight, bias and statistics as they are
 * (statistics in f32 in the kernel); only a residual of another dtype than the input is promoted with it.
 */
export function batchNorm2d(...args: Parameters<typeof BN.batchNorm2d>): Tensor {
  const [x, weight, bias, runningMean, runningVar, options = {}] = args;
  const { args: cast, done } = autocastOperands('promote', [x, options.residual]);
  try {
    const [cx, residual] = cast as [Tensor, Tensor | undefined];
    return BN.batchNorm2d(cx, weight, bias, runningMean, runningVar, { ...options, residual });
  } finally {
    done();
  }
}
