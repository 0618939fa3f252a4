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
import { fmt } from '../shape.js';
import { type Tensor, empty } from '../tensor.js';
import { tensor, zeros } from './create.js';
import { sum } from './reduce.js';
import { asContiguous } from './rows.js';

const WG = 256;
// Params: total, K, D, N, batch of x (1 = broadcast), index per sample (0/1), offset and strides of x (b, n, d), offset of index.
const gatherKernel = (T: string) => ({
  name: 'gatherTokens',
  key: T,
  bindings: [
    { name: 'X', type: T, access: 'read' as const },
    { name: 'I', type: 'i32', access: 'read' as const },
    { name: 'O', type: T, access: 'read_write' as const },
  ],
  body: () => `
${linearEntry(WG)}
  if (i >= pu(0u)) { return; }
  let K = pu(1u); let D = pu(2u);
  let d = i % D;
  let k = (i / D) % K;
  let b = i / (D * K);
  let n = u32(I[pu(9u) + select(k, b * K + k, pu(5u) == 1u)]);
  let xb = select(b, 0u, pu(4u) == 1u);
  O[i] = X[pu(6u) + xb * pu(7u) + n * pu(8u) + d * pu(10u)];
}`,
});

// Params: K, N, rows of indices, index offset. Inv[2 * (r * N + n)] counts the picks of token n in index
// row r (an integer atomic: exact), Inv[... + 1] holds where one of them is.
const INVERSE = {
  name: 'gatherTokensInverse',
  key: '',
  bindings: [
    { name: 'I', type: 'i32', access: 'read' as const },
    { name: 'Inv', type: 'atomic<i32>', access: 'read_write' as const },
  ],
  body: () => `
${linearEntry(WG)}
  let K = pu(0u); let N = pu(1u);
  if (i >= pu(2u) * K) { return; }
  let r = i / K;
  let slot = 2u * (r * N + u32(I[pu(3u) + i]));
  atomicAdd(&Inv[slot], 1);
  atomicStore(&Inv[slot + 1u], i32(i % K));
}`,
};

// dx[b, n, d] for every sample b of the gradient. Params: total (B * N * D), K, D, N, index per sample
// (0/1), g offset, index offset.
const scatterKernel = (T: string) => ({
  name: 'gatherTokensBackward',
  key: T,
  bindings: [
    { name: 'G', type: T, access: 'read' as const },
    { name: 'I', type: 'i32', access: 'read' as const },
    { name: 'Inv', type: 'i32', access: 'read' as const },
    { name: 'DX', type: T, access: 'read_write' as const },
  ],
  body: () => `
${linearEntry(WG)}
  if (i >= pu(0u)) { return; }
  let K = pu(1u); let D = pu(2u); let N = pu(3u);
  let d = i % D;
  let n = (i / D) % N;
  let b = i / (D * N);
  let r = select(0u, b, pu(4u) == 1u);
  let slot = 2u * (r * N + n);
  let picks = Inv[slot];
  let g = pu(5u) + b * K * D + d;
  var sum = 0.0;
  if (picks == 1) {
    sum = f32(G[g + u32(Inv[slot + 1u]) * D]);
  } else if (picks > 1) {
    for (var k = 0u; k < K; k++) {
      if (u32(I[pu(6u) + r * K + k]) == n) { sum += f32(G[g + k * D]); }
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
  const params = [B * K * D, K, D, N, Bx === 1 ? 1 : 0, perSample ? 1 : 0, x.offset, x.strides[0]!, x.strides[1]!, idx.offset, x.strides[2]!];
  dispatch(gatherKernel(T), [x.storage, idx.storage, out.storage], params, grid(Math.ceil(out.size / WG)));
  const result = record(out, 'gatherTokens', [x], [idx], (g, [si]) => {
    const rows = perSample ? B : 1;
    const inverse = zeros([rows * N * 2], { dtype: 'int32' });
    dispatch(INVERSE, [si!.storage, inverse.storage], [K, N, rows, si!.offset], grid(Math.ceil((rows * K) / WG)));
    const cg = asContiguous(g);
    const perSampleDx = empty([B, N, D], cg.t.dtype);
    dispatch(scatterKernel(dtypes[cg.t.dtype].wgsl), [cg.t.storage, si!.storage, inverse.storage, perSampleDx.storage], [B * N * D, K, D, N, perSample ? 1 : 0, cg.t.offset, si!.offset], grid(Math.ceil((B * N * D) / WG)));
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
