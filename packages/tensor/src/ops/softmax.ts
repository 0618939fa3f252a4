// softmax and logSoftmax over one axis: one thread per row (max, sum of exponentials, write), and a
// fused backward per row. Other axes are moved last through a view and a copy.
import { record } from '../autograd.js';
import { linearEntry } from '../runtime/pipelines.js';
import { dispatch, grid } from '../runtime/queue.js';
import { fmt, normalizeAxis } from '../shape.js';
import { type Tensor, empty } from '../tensor.js';
import { asContiguous } from './rows.js';
import { reshape, transpose } from './view.js';

const WG = 64;
type Kind = 'softmax' | 'logSoftmax';

function rowKernel(name: string, inputs: string[], body: string) {
  return {
    name,
    key: '',
    bindings: [
      ...inputs.map((n) => ({ name: n, type: 'f32', access: 'read' as const })),
      { name: 'O', type: 'f32', access: 'read_write' as const },
    ],
    body: () => `
${linearEntry(WG, 'row')}
  if (row >= pu(0u)) { return; }
  let R = pu(1u);
  let base = row * R;
  ${inputs.map((n, i) => `let ${n}b = base + pu(${2 + i}u);`).join('\n  ')}
  ${body}
}`,
  };
}

const FORWARD = {
  softmax: rowKernel('softmax', ['X'], `
  var mx = -3.4028234663852886e38;
  for (var r = 0u; r < R; r++) { mx = max(mx, X[Xb + r]); }
  var s = 0.0;
  for (var r = 0u; r < R; r++) { s += exp(X[Xb + r] - mx); }
  let inv = 1.0 / s;
  for (var r = 0u; r < R; r++) { O[base + r] = exp(X[Xb + r] - mx) * inv; }`),
  logSoftmax: rowKernel('logSoftmax', ['X'], `
  var mx = -3.4028234663852886e38;
  for (var r = 0u; r < R; r++) { mx = max(mx, X[Xb + r]); }
  var s = 0.0;
  for (var r = 0u; r < R; r++) { s += exp(X[Xb + r] - mx); }
  let l = mx + log(s);
  for (var r = 0u; r < R; r++) { O[base + r] = X[Xb + r] - l; }`),
};

const BACKWARD = {
  // dx = y * (g - sum(g * y))
  softmax: rowKernel('softmaxBackward', ['Y', 'G'], `
  var d = 0.0;
  for (var r = 0u; r < R; r++) { d += G[Gb + r] * Y[Yb + r]; }
  for (var r = 0u; r < R; r++) { O[base + r] = Y[Yb + r] * (G[Gb + r] - d); }`),
  // dx = g - exp(y) * sum(g)
  logSoftmax: rowKernel('logSoftmaxBackward', ['Y', 'G'], `
  var s = 0.0;
  for (var r = 0u; r < R; r++) { s += G[Gb + r]; }
  for (var r = 0u; r < R; r++) { O[base + r] = G[Gb + r] - exp(Y[Yb + r]) * s; }`),
};

function launch(kernel: ReturnType<typeof rowKernel>, inputs: Tensor[], shape: readonly number[]): Tensor {
  const out = empty(shape);
  const R = shape[shape.length - 1] ?? 1;
  const rows = R === 0 ? 0 : out.size / R;
  const held = inputs.map(asContiguous);
  dispatch(kernel, [...held.map((h) => h.t.storage), out.storage], [rows, R, ...held.map((h) => h.t.offset)], grid(Math.ceil(rows / WG)));
  held.forEach((h) => h.done());
  return out;
}

function rowwise(kind: Kind, x: Tensor, axis: number): Tensor {
  x.assertAlive(kind);
  if (x.dtype !== 'float32') throw new Error(`${kind}: needs float32, got ${x.dtype} ${fmt(x.shape)}`);
  if (x.rank === 0) {
    const v = reshape(x, [1]);
    const y = rowwise(kind, v, 0);
    const out = reshape(y, []);
    v.dispose();
    y.dispose();
    return out;
  }
  const ax = normalizeAxis(kind, axis, x.rank);
  if (ax !== x.rank - 1) {
    const moved = transpose(x, ax, -1);
    const y = rowwise(kind, moved, -1);
    const back = transpose(y, ax, -1);
    moved.dispose();
    y.dispose();
    return back;
  }
  const out = launch(FORWARD[kind], [x], x.shape);
  return record(out, kind, [x], [out], (g, [y]) => [launch(BACKWARD[kind], [y!, g], x.shape)]);
}

export const softmax = (x: Tensor, axis = -1) => rowwise('softmax', x, axis);
export const logSoftmax = (x: Tensor, axis = -1) => rowwise('logSoftmax', x, axis);
