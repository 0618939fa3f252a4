// jointsMseLoss against TokenPose's JointsMSELoss written out in float64 (per joint: 0.5 · mean over
// batch and pixels of (w·pred − w·gt)², averaged over joints), with zero and fractional weights, and its
// gradient; and its errors.
import { beforeAll, describe, expect, it } from 'vitest';
import { init, tensor } from '@tmpose/tensor';
import { jointsMseLoss } from '@tmpose/train';

beforeAll(async () => {
  await init();
});

const values = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 12.9898 + i * 0.7311) * 0.8);

describe('jointsMseLoss', () => {
  it('equals the official per-joint form and its gradient in float64 ([3, 5, 7, 6], weights 0, 0.5, 1)', async () => {
    const [B, J, HW] = [3, 5, 42];
    const pred = values(B * J * HW, 1);
    const gt = values(B * J * HW, 2);
    const w = Float32Array.from({ length: B * J }, (_, i) => [0, 0.5, 1][i % 3]!);
    let expected = 0;
    const grad = new Float64Array(pred.length);
    for (let j = 0; j < J; j++) {
      let perJoint = 0;
      for (let b = 0; b < B; b++) {
        const wj = w[b * J + j]!;
        for (let k = 0; k < HW; k++) {
          const i = (b * J + j) * HW + k;
          const d = wj * pred[i]! - wj * gt[i]!;
          perJoint += d * d;
          grad[i] = (0.5 * 2 * wj * d) / (B * HW) / J;
        }
      }
      expected += (0.5 * perJoint) / (B * HW) / J;
    }
    const p = tensor(pred, [B, J, 7, 6], { requiresGrad: true });
    const loss = jointsMseLoss(p, tensor(gt, [B, J, 7, 6]), tensor(w, [B, J]));
    loss.backward();
    expect(Math.abs((await loss.data())[0]! - expected)).toBeLessThanOrEqual(1e-6 * expected);
    const g = await p.grad!.data();
    for (let i = 0; i < g.length; i++) expect(Math.abs(g[i]! - grad[i]!)).toBeLessThanOrEqual(1e-9 + 1e-5 * Math.abs(grad[i]!));
  });

  it('names the shapes it wants', () => {
    const h = tensor(new Float32Array(24), [1, 2, 3, 4]);
    expect(() => jointsMseLoss(h, h, tensor(new Float32Array(2), [1, 2, 1]))).toThrow(/jointsMseLoss: heatmaps \[1,2,3,4\], targets \[1,2,3,4\] and weights \[1,2,1\] must be/);
  });
});
