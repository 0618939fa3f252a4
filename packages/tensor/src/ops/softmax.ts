// softmax and logSoftmax over one axis: per row, its max, the sum of exponentials, then the writes, and a
// fused backward per row; a thread, a workgroup or subgroups per row (rowlanes.ts: the tuner picks).
// Other axes are moved last through a view and a copy. float16 rows are read as f32: the max, the sum of
// exponentials and sum(g * y) are f32; only the outputs are rounded.
import { record } from '../autograd.js';
import { type DType, commonDType, dtypes } from '../dtype.js';
import { type Kernel } from '../runtime/pipelines.js';
import { type UniformDecl, type Uniforms, uniforms } from '../runtime/uniforms.js';
import { normalizeAxis } from '../shape.js';
import { type Tensor, empty } from '../tensor.js';
import { type RowLanes, type RowVariant, dispatchRows, rowLanes } from './rowlanes.js';
import { asContiguous } from './rows.js';
import { reshape, transpose } from './view.js';
import { LIMITS } from './wgsl.js';

type Kind = 'softmax' | 'logSoftmax';

interface RowKernel {
  name: string;
  inputs: string[];
  U: Uniforms<UniformDecl>;
  /** The kernel for its inputs' dtypes and a row variant; the output (type T) takes the first input's. */
  of: (dtypesIn: DType[], variant: RowVariant) => Kernel;
}

/** A kernel per row of R; its uniforms: rows, R, and each input's element offset. */
function rowKernel(name: string, inputs: string[], body: (l: RowLanes) => string): RowKernel {
  const U = uniforms({ rows: 'u32', R: 'u32', ...Object.fromEntries(inputs.map((n) => [`${n}offset`, 'u32' as const])) });
  const of = (dtypesIn: DType[], variant: RowVariant): Kernel => {
    const types = dtypesIn.map((d) => dtypes[d].wgsl);
    const lanes = rowLanes(variant);
    return {
      name,
      key: `${types.join('')}${variant}`,
      uniforms: U,
      bindings: [
        ...inputs.map((n, i) => ({ name: n, type: types[i]!, access: 'read' as const })),
        { name: 'O', type: types[0]!, access: 'read_write' as const },
      ],
      body: () => `alias T = ${types[0]};
${lanes.entry}
  let R = u.R;
  let base = row * R;
  ${inputs.map((n) => `let ${n}b = base + u.${n}offset;`).join('\n  ')}
  ${body(lanes)}
}`,
    };
  };
  return { name, inputs, U, of };
}

const FORWARD = {
  softmax: rowKernel('softmax', ['X'], (l) => `
  var mx = ${LIMITS.f32.lowest};
  ${l.loop('r', 'R')} { mx = max(mx, f32(X[Xb + r])); }
  mx = ${l.max('mx')};
  var s = 0.0;
  ${l.loop('r', 'R')} { s += exp(f32(X[Xb + r]) - mx); }
  let inv = 1.0 / ${l.add('s')};
  ${l.loop('r', 'R')} { O[base + r] = T(exp(f32(X[Xb + r]) - mx) * inv); }`),
  logSoftmax: rowKernel('logSoftmax', ['X'], (l) => `
  var mx = ${LIMITS.f32.lowest};
  ${l.loop('r', 'R')} { mx = max(mx, f32(X[Xb + r])); }
  mx = ${l.max('mx')};
  var s = 0.0;
  ${l.loop('r', 'R')} { s += exp(f32(X[Xb + r]) - mx); }
  let l = mx + log(${l.add('s')});
  ${l.loop('r', 'R')} { O[base + r] = T(f32(X[Xb + r]) - l); }`),
};

const BACKWARD = {
  // dx = y * (g - sum(g * y))
  softmax: rowKernel('softmaxBackward', ['Y', 'G'], (l) => `
  var d = 0.0;
  ${l.loop('r', 'R')} { d += f32(G[Gb + r]) * f32(Y[Yb + r]); }
  d = ${l.add('d')};
  ${l.loop('r', 'R')} { O[base + r] = T(f32(Y[Yb + r]) * (f32(G[Gb + r]) - d)); }`),
  // dx = g - exp(y) * sum(g)
  logSoftmax: rowKernel('logSoftmaxBackward', ['Y', 'G'], (l) => `
  var s = 0.0;
  ${l.loop('r', 'R')} { s += f32(G[Gb + r]); }
  s = ${l.add('s')};
  ${l.loop('r', 'R')} { O[base + r] = T(f32(G[Gb + r]) - exp(f32(Y[Yb + r])) * s); }`),
};

function launch(kernel: RowKernel, inputs: Tensor[], shape: readonly number[]): Tensor {
  const out = empty(shape, inputs[0]!.dtype);
  const R = shape[shape.length - 1] ?? 1;
  const rows = R === 0 ? 0 : out.size / R;
  const held = inputs.map(asContiguous);
  const offsets = Object.fromEntries(held.map((h, i) => [`${kernel.inputs[i]}offset`, h.t.offset]));
  const dtypesIn = inputs.map((t) => t.dtype);
  const buffers = [...held.map((h) => h.t.storage), out.storage];
  dispatchRows(`${kernel.name}|${dtypesIn.join(',')}`, rows, R, buffers, (v) => kernel.of(dtypesIn, v), kernel.U.pack({ rows, R, ...offsets }));
  held.forEach((h) => h.done());
  return out;
}

function rowwise(kind: Kind, x: Tensor, axis: number): Tensor {
  x.assertAlive(kind);
  commonDType(kind, [x]);
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
