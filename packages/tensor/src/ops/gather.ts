// gatherTokens: picks K of N tokens per sample ([B, N, D] -> [B, K, D]), as TMPose's masking and its
// gathered position embeddings need. The backward pass is deterministic (no float atomics, so the same
// inputs give the same bits): an inverse index counts, for each sample's row of indices and each token,
// how often the token was picked and where; each gradient element then copies its one source (the
// common case: a masker picks tokens without repeats) or sums its repeats in index order. A shared
// [1, N, D] input gathered for a batch gets per-sample gradients, summed over the batch at the end.
// float16 tokens are copied as they are; repeated picks sum their gradients in f32.
import { record } from '../autograd.js';
import { commonDType, dtypes } from '../dtype.js';
import { linearEntry } from '../runtime/pipelines.js';
import { dispatch, grid } from '../runtime/queue.js';
import { uniforms } from '../runtime/uniforms.js';
import { fmt } from '../shape.js';
import { type Tensor, empty } from '../tensor.js';
import { tensor, zeros } from './create.js';
import { sum } from './reduce.js';
import { asContiguous } from './rows.js';

const WG = 256;
// O[b, k, d] = X[b, I[k] (or I[b, k] when perSample), d]; sharedX (0/1): x is [1, N, D], read by every b.
const GATHER = uniforms({ total: 'u32', K: 'u32', D: 'u32', sharedX: 'u32', perSample: 'u32', xOffset: 'u32', sB: 'u32', sN: 'u32', sD: 'u32', indexOffset: 'u32' });
const gatherKernel = (T: string) => ({
  name: 'gatherTokens',
  key: T,
  uniforms: GATHER,
  bindings: [
    { name: 'X', type: T, access: 'read' as const },
    { name: 'I', type: 'i32', access: 'read' as const },
    { name: 'O', type: T, access: 'read_write' as const },
  ],
  body: () => `
${linearEntry(WG, 'i', 'u.total')}
  let K = u.K; let D = u.D;
  let d = i % D;
  let k = (i / D) % K;
  let b = i / (D * K);
  let n = u32(I[u.indexOffset + select(k, b * K + k, u.perSample == 1u)]);
  let xb = select(b, 0u, u.sharedX == 1u);
  O[i] = X[u.xOffset + xb * u.sB + n * u.sN + d * u.sD];
}`,
});

// Inv[2 * (r * N + n)] counts the picks of token n in index row r < rows (an integer atomic: exact),
// Inv[... + 1] holds where one of them is.
const INVERSE_U = uniforms({ K: 'u32', N: 'u32', rows: 'u32', indexOffset: 'u32' });
const INVERSE = {
  name: 'gatherTokensInverse',
  key: '',
  uniforms: INVERSE_U,
  bindings: [
    { name: 'I', type: 'i32', access: 'read' as const },
    { name: 'Inv', type: 'atomic<i32>', access: 'read_write' as const },
  ],
  body: () => `
${linearEntry(WG)}
  let K = u.K; let N = u.N;
  if (i >= u.rows * K) { return; }
  let r = i / K;
  let slot = 2u * (r * N + u32(I[u.indexOffset + i]));
  atomicAdd(&Inv[slot], 1);
  atomicStore(&Inv[slot + 1u], i32(i % K));
}`,
};

// dx[b, n, d] for every sample b of the gradient (total = B * N * D).
const SCATTER = uniforms({ total: 'u32', K: 'u32', D: 'u32', N: 'u32', perSample: 'u32', gOffset: 'u32', indexOffset: 'u32' });
const scatterKernel = (T: string) => ({
  name: 'gatherTokensBackward',
  key: T,
  uniforms: SCATTER,
  bindings: [
    { name: 'G', type: T, access: 'read' as const },
    { name: 'I', type: 'i32', access: 'read' as const },
    { name: 'Inv', type: 'i32', access: 'read' as const },
    { name: 'DX', type: T, access: 'read_write' as const },
  ],
  body: () => `
${linearEntry(WG, 'i', 'u.total')}
  let K = u.K; let D = u.D; let N = u.N;
  let d = i % D;
  let n = (i / D) % N;
  let b = i / (D * N);
  let r = select(0u, b, u.perSample == 1u);
  let slot = 2u * (r * N + n);
  let picks = Inv[slot];
  let g = u.gOffset + b * K * D + d;
  var sum = 0.0;
  if (picks == 1) {
    sum = f32(G[g + u32(Inv[slot + 1u]) * D]);
  } else if (picks > 1) {
    for (var k = 0u; k < K; k++) {
      if (u32(I[u.indexOffset + r * K + k]) == n) { sum += f32(G[g + k * D]); }
    }
  }
  DX[i] = ${T}(sum);
}`,
});

/**
 * x [B, N, D] (or [1, N, D], shared by the batch), index [K] (the same tokens for every sample) or
 * [B, K] (per sample) -> [B, K, D]. The index is an int32 tensor, or host arrays (a flat list, or
 * one list per sample), which are range-checked here; for a GPU index tensor the caller guarantees
 * 0 <= index < N.
 */
export function gatherTokens(x: Tensor, index: Tensor | ArrayLike<number> | ArrayLike<number>[]): Tensor {
  x.assertAlive('gatherTokens');
  const dtype = commonDType('gatherTokens', [x]);
  if (x.rank !== 3) throw new Error(`gatherTokens: x must be [B, N, D], got ${x.dtype} ${fmt(x.shape)}`);
  const [Bx, N, D] = x.shape as [number, number, number];
  let idx: Tensor;
  let ownsIndex = false;
  if ('assertAlive' in index) {
    idx = index.assertAlive('gatherTokens');
  } else {
    const rows = Array.from(index as ArrayLike<number | ArrayLike<number>>);
    const nested = rows.length > 0 && typeof rows[0] !== 'number';
    const lists = (nested ? rows : [rows]) as ArrayLike<number>[];
    const K = lists[0]?.length ?? 0;
    const flat = new Int32Array(lists.length * K);
    lists.forEach((list, b) => {
      if (list.length !== K) throw new Error(`gatherTokens: sample ${b} has ${list.length} indices, sample 0 has ${K}`);
      for (let k = 0; k < K; k++) {
        const v = list[k]!;
        if (!Number.isInteger(v) || v < 0 || v >= N) throw new Error(`gatherTokens: index ${v} (sample ${b}, position ${k}) is out of range for x ${fmt(x.shape)} (${N} tokens)`);
        flat[b * K + k] = v;
      }
    });
    idx = tensor(flat, nested ? [lists.length, K] : [K], { dtype: 'int32' });
    ownsIndex = true;
  }
  if (idx.dtype !== 'int32' || (idx.rank !== 1 && idx.rank !== 2) || !idx.isContiguous) {
    throw new Error(`gatherTokens: index must be a contiguous int32 [K] or [B, K], got ${idx.dtype} ${fmt(idx.shape)}`);
  }
  const perSample = idx.rank === 2;
  const K = idx.shape[idx.rank - 1]!;
  const B = perSample ? idx.shape[0]! : Bx;
  if (perSample && Bx !== 1 && Bx !== B) {
    throw new Error(`gatherTokens: x ${fmt(x.shape)} and index ${fmt(idx.shape)} disagree on the batch size`);
  }
  const T = dtypes[dtype].wgsl;
  const out = empty([B, K, D], dtype);
  const params = GATHER.pack({
    total: B * K * D, K, D, sharedX: Bx === 1 ? 1 : 0, perSample: perSample ? 1 : 0,
    xOffset: x.offset, sB: x.strides[0]!, sN: x.strides[1]!, sD: x.strides[2]!, indexOffset: idx.offset,
  });
  dispatch(gatherKernel(T), [x.storage, idx.storage, out.storage], params, grid(Math.ceil(out.size / WG)));
  const result = record(out, 'gatherTokens', [x], [idx], (g, [si]) => {
    const rows = perSample ? B : 1;
    const inverse = zeros([rows * N * 2], { dtype: 'int32' });
    dispatch(INVERSE, [si!.storage, inverse.storage], INVERSE_U.pack({ K, N, rows, indexOffset: si!.offset }), grid(Math.ceil((rows * K) / WG)));
    const cg = asContiguous(g);
    const perSampleDx = empty([B, N, D], cg.t.dtype);
    dispatch(scatterKernel(dtypes[cg.t.dtype].wgsl), [cg.t.storage, si!.storage, inverse.storage, perSampleDx.storage], SCATTER.pack({ total: B * N * D, K, D, N, perSample: perSample ? 1 : 0, gOffset: cg.t.offset, indexOffset: si!.offset }), grid(Math.ceil((B * N * D) / WG)));
    cg.done();
    inverse.dispose();
    if (Bx === B) return [perSampleDx];
    // x was shared by the batch: its gradient sums the samples'.
    const dx = sum(perSampleDx, 0, { keepdim: true });
    perSampleDx.dispose();
    return [dx];
  });
  if (ownsIndex) idx.dispose();
  return result;
}
