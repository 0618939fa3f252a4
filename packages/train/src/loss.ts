// JointsMSELoss with target weights (TokenPose's loss): 0.5 * mean over (B, J, H, W) of
// (w_bj * (pred - target))^2, which equals the official per-joint average.
import { type Tensor, mean, mul, reshape, sub } from '@tmpose/tensor';

export function jointsMseLoss(pred: Tensor, target: Tensor, targetWeight: Tensor): Tensor {
  const [B, J] = pred.shape as [number, number];
  if (pred.rank !== 4 || target.shape.join() !== pred.shape.join() || targetWeight.shape.join() !== `${B},${J}`) {
    throw new Error(
      `jointsMseLoss: heatmaps [${pred.shape}], targets [${target.shape}] and weights [${targetWeight.shape}] must be [B, J, H, W], [B, J, H, W], [B, J]`,
    );
  }
  const d = sub(pred, target);
  const w = reshape(targetWeight, [B, J, 1, 1]);
  const wd = mul(d, w);
  const sq = mul(wd, wd);
  const loss = mul(mean(sq), 0.5);
  for (const t of [d, w, wd, sq]) t.dispose();
  return loss;
}
