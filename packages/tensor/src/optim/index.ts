// Optimizers (fused GPU updates) and learning-rate schedules.
export { Optimizer, type Hyper, type ParamGroup, type ParamGroupInput, type ParamState, type OptimizerStateDict } from './optimizer.js';
export { Adam, AdamW, type AdamOptions, type AdamHyper } from './adam.js';
export { SGD, type SGDOptions, type SGDHyper } from './sgd.js';
export { LRScheduler, MultiStepLR, StepLR, type SchedulerStateDict } from './scheduler.js';
