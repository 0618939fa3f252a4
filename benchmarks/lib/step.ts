// One training step as the benchmarks time it: forward, JointsMSE loss, backward, Adam, encoded in a
// tidy; returns the loss (kept: the caller reads and disposes it). In mixed precision the forward and
// loss run under autocast and backward from the scaled loss; the caller then awaits `scaler.step(opt)`
// (the overflow flag's readback) and calls `scaler.update()` and `opt.zeroGrad()`.
import type { TMPose } from '@tmpose/model';
import { type GradScaler, type Tensor, autocast, keep, optim, tidy } from '@tmpose/tensor';
import { jointsMseLoss, trainingStep as step } from '@tmpose/train';

export function trainingStep(model: TMPose, opt: optim.Adam, images: Tensor, targets: Tensor, weights: Tensor): Tensor {
  return tidy(() => keep(step(model, opt, images, targets, weights)));
}

/** The mixed-precision step's forward and scaled backward (its optimizer step is the scaler's, awaited after). */
export function mixedBackward(model: TMPose, scaler: GradScaler, images: Tensor, targets: Tensor, weights: Tensor): Tensor {
  return tidy(() => {
    const l = autocast('float16', () => jointsMseLoss(model.forward(images), targets, weights));
    scaler.scale(l).backward();
    return keep(l.detach());
  });
}
