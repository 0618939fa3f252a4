// JointsMSELoss with target weights (TokenPose's loss): 0.5 * mean over (B, J, H, W) of
// (w_bj * (pred - target))^2, which equals the official per-joint average. It is mseLoss weighted by
// 0.5 * w_bj^2: one kernel forward and one backward over the heatmaps. And the training step on it.
import type { TMPose } from '@tmpose/model';
import { type Tensor, mseLoss, mul, type optim, reshape } from '@tmpose/tensor';

export function jointsMseLoss(pred: Tensor, target: Tensor, targetWeight: Tensor): Tensor {
  const [B, J] = pred.shape as [number, number];
  if (pred.rank !== 4 || target.shape.join() !== pred.shape.join() || targetWeight.shape.join() !== `${B},${J}`) {
    throw new Error(
      `jointsMseLoss: heatmaps [${pred.shape}], targets [${target.shape}] and weights [${targetWeight.shape}] must be [B, J, H, W], [B, J, H, W], [B, J]`,
    );
  }
  const w = reshape(targetWeight, [B, J, 1, 1]);
  const square = mul(w, w);
  const halfSquare = mul(square, 0.5);
  const loss = mseLoss(pred, target, 'mean', { weight: halfSquare });
  for (const t of [w, square, halfSquare]) t.dispose();
  return loss;
}

/**
 * One float32 training step: forward, JointsMSE, backward, the optimizer's step and `zeroGrad`; returns
 * the loss, detached. What `train()` captures and replays (captureGraph); call it inside a `tidy`.
 */
export function trainingStep<H extends optim.Hyper>(model: TMPose, optimizer: optim.Optimizer<H>, images: Tensor, targets: Tensor, targetWeights: Tensor): Tensor {
  const loss = jointsMseLoss(model.forward(images), targets, targetWeights);
  loss.backward();
  optimizer.step();
  optimizer.zeroGrad();
  return loss.detach();
}
