// gatherTokens: picks K of N tokens per sample ([B, N, D] -> [B, K, D]), as TMPose's masking and its
// gathered position embeddings need. The backward pass scatter-adds into zeros; it uses a float
// compare-and-swap add because indices may repeat (a shared [1, N, D] embedding gathered for a batch).
import { record } from '../autograd.js';
import { linearEntry } from '../runtime/pipelines.js';
import { dispatch, grid } from '../runtime/queue.js';
import { fmt } from '../shape.js';
import { type Tensor, empty } from '../tensor.js';
import { tensor, zeros } from './create.js';
import { asContiguous } from './rows.js';

const WG = 256;
// Params: total, K, D, N, batch of x (1 = broadcast), index per sample (0/1), offset and strides of x (b, n, d), offset of index.
const GATHER = {
  name: 'gatherTokens',
  key: '',
  bindings: [
    { name: 'X', type: 'f32', access: 'read' as const },
    { name: 'I', type: 'i32', access: 'read' as const },
    { name: 'O', type: 'f32', access: 'read_write' as const },
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
};

const SCATTER_ADD = {
  name: 'scatterAddTokens',
  key: '',
  bindings: [
    { name: 'G', type: 'f32', access: 'read' as const },
    { name: 'I', type: 'i32', access: 'read' as const },
    { name: 'DX', type: 'atomic<u32>', access: 'read_write' as const },
  ],
  body: () => `
${linearEntry(WG)}
  if (i >= pu(0u)) { return; }
  let K = pu(1u); let D = pu(2u); let N = pu(3u);
  let d = i % D;
  let k = (i / D) % K;
  let b = i / (D * K);
  let n = u32(I[pu(9u) + select(k, b * K + k, pu(5u) == 1u)]);
  let xb = select(b, 0u, pu(4u) == 1u);
  let v = G[pu(6u) + i];
  let p = (xb * N + n) * D + d;
  var old = atomicLoad(&DX[p]);
  loop {
    let r = atomicCompareExchangeWeak(&DX[p], old, bitcast<u32>(bitcast<f32>(old) + v));
    if (r.exchanged) { break; }
    old = r.old_value;
  }
}`,
};

/**
 * x [B, N, D] (or [1, N, D], shared by the batch), index [K] (the same tokens for every sample) or
 * [B, K] (per sample) -> [B, K, D]. The index is an int32 tensor, or host arrays (a flat list, or
 * one list per sample), which are range-checked here; for a GPU index tensor the caller guarantees
 * 0 <= index < N.
 */
export function gatherTokens(x: Tensor, index: Tensor | ArrayLike<number> | ArrayLike<number>[]): Tensor {
  x.assertAlive('gatherTokens');
  if (x.rank !== 3 || x.dtype !== 'float32') throw new Error(`gatherTokens: x must be float32 [B, N, D], got ${x.dtype} ${fmt(x.shape)}`);
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
  const out = empty([B, K, D]);
  const params = [B * K * D, K, D, N, Bx === 1 ? 1 : 0, perSample ? 1 : 0, x.offset, x.strides[0]!, x.strides[1]!, idx.offset, x.strides[2]!];
  dispatch(GATHER, [x.storage, idx.storage, out.storage], params, grid(Math.ceil(out.size / WG)));
  const result = record(out, 'gatherTokens', [x], [idx], (g, [si]) => {
    const dx = zeros([Bx, N, D]);
    const cg = asContiguous(g);
    const p = [B * K * D, K, D, N, Bx === 1 ? 1 : 0, perSample ? 1 : 0, cg.t.offset, 0, 0, si!.offset];
    dispatch(SCATTER_ADD, [cg.t.storage, si!.storage, dx.storage], p, grid(Math.ceil(out.size / WG)));
    cg.done();
    return [dx];
  });
  if (ownsIndex) idx.dispose();
  return result;
}
