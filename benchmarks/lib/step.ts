// One training step as the benchmarks time it: forward, JointsMSE loss, backward, Adam, encoded in a
// tidy; returns the loss (kept: the caller reads and disposes it).
import type { TMPose } from '@tmpose/model';
import { type Tensor, keep, optim, tidy } from '@tmpose/tensor';
import { jointsMseLoss } from '@tmpose/train';

export function trainingStep(model: TMPose, opt: optim.Adam, images: Tensor, targets: Tensor, weights: Tensor): Tensor {
  return tidy(() => {
    const l = jointsMseLoss(model.forward(images), targets, weights);
    l.backward();
    opt.step();
    opt.zeroGrad();
    return keep(l.detach());
  });
}
