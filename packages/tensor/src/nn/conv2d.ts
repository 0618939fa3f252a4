// Conv2d (torch.nn.Conv2d) on NCHW input, initialised as PyTorch does.
import { rand } from '../ops/create.js';
import { conv2d } from '../amp/ops.js';
import type { Tensor } from '../tensor.js';
import { Module } from './module.js';

export interface Conv2dModuleOptions {
  stride?: number;
  /** Zero padding: one value for both sides of both axes, or [padH, padW]. */
  padding?: number | [number, number];
  groups?: number;
  bias?: boolean;
  /** Fixes the initial values (the bias uses seed + 1); without it the global generator supplies them. */
  seed?: number;
}

export class Conv2d extends Module {
  readonly kernelSize: readonly [number, number];
  readonly stride: number;
  readonly padding: readonly [number, number];
  readonly groups: number;
  /** [outChannels, inChannels / groups, kh, kw]. */
  readonly weight: Tensor;
  /** [outChannels], or null with bias: false. */
  readonly bias: Tensor | null;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: number | readonly [number, number],
    options: Conv2dModuleOptions = {},
  ) {
    super();
    const [kh, kw] = typeof kernelSize === 'number' ? [kernelSize, kernelSize] : kernelSize;
    const stride = options.stride ?? 1;
    const padding = options.padding ?? 0;
    const [ph, pw] = typeof padding === 'number' ? [padding, padding] : padding;
    const groups = options.groups ?? 1;
    const positive: [string, number][] = [['inChannels', inChannels], ['outChannels', outChannels], ['kernel height', kh], ['kernel width', kw], ['stride', stride], ['groups', groups]];
    for (const [name, n] of positive) {
      if (!Number.isInteger(n) || n < 1) throw new Error(`Conv2d: ${name} must be a positive integer, got ${n}`);
    }
    for (const n of [ph, pw]) if (!Number.isInteger(n) || n < 0) throw new Error(`Conv2d: padding must be a non-negative integer, got ${n}`);
    if (inChannels % groups || outChannels % groups) {
      throw new Error(`Conv2d: inChannels ${inChannels} and outChannels ${outChannels} must be divisible by groups ${groups}`);
    }
    this.kernelSize = [kh, kw];
    this.stride = stride;
    this.padding = [ph, pw];
    this.groups = groups;
    // kaiming_uniform_(a=√5) is U(±1/√fan_in) with fan_in = in/groups·kh·kw; PyTorch draws the bias from the same range.
    const bound = 1 / Math.sqrt((inChannels / groups) * kh * kw);
    const seed = options.seed;
    this.weight = this.registerParameter('weight', rand([outChannels, inChannels / groups, kh, kw], { low: -bound, high: bound, seed }));
    this.bias =
      (options.bias ?? true)
        ? this.registerParameter('bias', rand([outChannels], { low: -bound, high: bound, seed: seed === undefined ? undefined : seed + 1 }))
        : null;
  }

  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias ?? undefined, { stride: this.stride, padding: [this.padding[0], this.padding[1]], groups: this.groups });
  }
}
