// Learning-rate schedules. Each sets every group's lr to (its lr when the scheduler was made) times a
// factor of the epoch: the closed form PyTorch documents, so that loading a state dict or skipping
// epochs gives the same lr as stepping there (an lr set by hand is overwritten on the next step()).
import type { Hyper, Optimizer } from './optimizer.js';

export interface SchedulerStateDict {
  lastEpoch: number;
  baseLrs: number[];
}

export abstract class LRScheduler {
  /** Number of step() calls so far (PyTorch's `last_epoch`). */
  lastEpoch = 0;
  readonly baseLrs: number[];

  constructor(readonly optimizer: Optimizer<Hyper>) {
    this.baseLrs = optimizer.paramGroups.map((g) => g.lr);
  }

  /** The lr multiplier at `epoch`. */
  protected abstract factor(epoch: number): number;

  /** Advances one epoch and sets the optimizer's learning rates. */
  step(): void {
    this.lastEpoch++;
    this.apply();
  }

  /** The learning rates last set, one per group. */
  getLastLr(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }

  stateDict(): SchedulerStateDict {
    return { lastEpoch: this.lastEpoch, baseLrs: [...this.baseLrs] };
  }

  loadStateDict(dict: SchedulerStateDict): void {
    if (!Number.isInteger(dict.lastEpoch) || dict.lastEpoch < 0 || dict.baseLrs.length !== this.baseLrs.length) {
      throw new Error(`LRScheduler.loadStateDict: expected lastEpoch >= 0 and ${this.baseLrs.length} base lrs, got ${JSON.stringify(dict)}`);
    }
    this.lastEpoch = dict.lastEpoch;
    this.baseLrs.splice(0, this.baseLrs.length, ...dict.baseLrs);
    this.apply();
  }

  protected apply(): void {
    const f = this.factor(this.lastEpoch);
    this.optimizer.paramGroups.forEach((g, i) => (g.lr = this.baseLrs[i]! * f));
  }
}

/** Multiplies the lr by gamma at each milestone epoch (`torch.optim.lr_scheduler.MultiStepLR`). */
export class MultiStepLR extends LRScheduler {
  readonly milestones: number[];
  readonly gamma: number;

  constructor(optimizer: Optimizer<Hyper>, options: { milestones: readonly number[]; gamma?: number }) {
    super(optimizer);
    // A milestone listed twice applies gamma twice, as PyTorch's Counter does.
    this.milestones = [...options.milestones].sort((a, b) => a - b);
    this.gamma = options.gamma ?? 0.1;
  }

  protected factor(epoch: number): number {
    return this.gamma ** this.milestones.filter((m) => m <= epoch).length;
  }
}

/** Multiplies the lr by gamma every `stepSize` epochs (`torch.optim.lr_scheduler.StepLR`). */
export class StepLR extends LRScheduler {
  readonly stepSize: number;
  readonly gamma: number;

  constructor(optimizer: Optimizer<Hyper>, options: { stepSize: number; gamma?: number }) {
    super(optimizer);
    if (!Number.isInteger(options.stepSize) || options.stepSize < 1) throw new Error(`StepLR: stepSize ${options.stepSize} must be a positive integer`);
    this.stepSize = options.stepSize;
    this.gamma = options.gamma ?? 0.1;
  }

  protected factor(epoch: number): number {
    return this.gamma ** Math.floor(epoch / this.stepSize);
  }
}
