// The training loop: Adam + MultiStepLR over epochs of augmented top-down crops, JointsMSELoss with
// target weights, BN in training mode. Logs every N steps (JSONL) with a progress bar, checkpoints and
// then validates every epoch (atomically; the best AP kept apart), resumes exactly from the last
// checkpoint (mid-epoch too, after an interrupt), and draws the loss curve at the end.
//
// A run never loses work or lies about it: every input is checked before the first step; a folder
// holding an earlier run is refused unless resumed or overwritten; a non-finite or exploding loss stops
// the run, and weights holding NaN are never saved, so "the last good checkpoint" is good; an abort
// (Ctrl-C) finishes the step, saves and says so.
//
// Mixed precision (precision float16): the forward and the loss run under autocast (convs, matmuls and
// attention in float16; norms' statistics, the loss and reductions in float32) on float32 master weights,
// with dynamic loss scaling (GradScaler): a step whose gradients overflow is skipped and the scale halved;
// the scale and the skipped steps are logged and checkpointed.
import { type ConfigName, type FileWeights, type ModelConfig, type TMPose, createModel, getConfig, modelWithWeights, readWeights } from '@tmpose/model';
import { GradScaler, type GradScalerOptions, type Precision, type Tensor, autocast, init, io, keep, optim, resolvePrecision, tensor, tidy } from '@tmpose/tensor';
import {
  type Checkpoint,
  NonFiniteError,
  type TrainingState,
  loadCheckpoint,
  readCheckpointState,
  saveCheckpoint,
} from './checkpoint.js';
import { checkCocoGroundTruth, checkDatasetImages, imageCheckWarnings } from './data/check.js';
import { DataLoader } from './data/loader.js';
import { hashKeys } from './data/rng.js';
import type { AugmentConfig } from './data/transforms.js';
import { resolveDataLayout } from './layout.js';
import { CapturedSteps } from './captured.js';
import { jointsMseLoss } from './loss.js';
import { loadPretrainedBackbone } from './pretrained.js';
import { existsSync, join, readFile } from './node.js';
import { lineChartSvg } from './report/plot.js';
import { savePng } from './report/image.js';
import { Progress } from './report/progress.js';
import { type Validation, loadTrainingData } from './validation.js';
import { appendLogLine, prepareRunFolder, readLog, truncateLogAfter } from './runfolder.js';

export interface TrainOptions {
  /** A configuration name (`tmpose-b`, `tiny`, ...) or a full config. */
  config: ConfigName | ModelConfig;
  /** COCO or MPII folder: the official layouts, or one annotation file beside its images (see resolveDataLayout). */
  data: string;
  /** Run folder: checkpoints, log.jsonl, loss curve. */
  out: string;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  milestones?: number[];
  gamma?: number;
  seed?: number;
  /** Loader worker threads (default: cores). */
  workers?: number;
  /** Samples per epoch (default: the dataset's size; repeats a small dataset). */
  samplesPerEpoch?: number;
  /** Read the loss and log every N steps (a readback each time). */
  logEvery?: number;
  /** Validate every N epochs (0 = never). */
  evalEvery?: number;
  flipTest?: boolean;
  /** Continue from out/last.safetensors. */
  resume?: boolean;
  /** Start afresh in a folder holding an earlier run (its checkpoints, log and curve are removed). */
  overwrite?: boolean;
  /** Stop when a logged loss exceeds this factor times the lowest logged so far (default 1000; 0 = never). */
  divergence?: number;
  /** Aborting it (Ctrl-C) stops the run after the current step, with a checkpoint: TrainingInterrupted. */
  signal?: AbortSignal;
  /** An ImageNet HRNet classification checkpoint for the backbone (hrnet_w32-36af842e.pth, ...); ignored on resume. */
  pretrained?: string;
  /** Keep decoded images in memory (small datasets). */
  cacheImages?: boolean;
  /** Quiet: no progress bar. */
  quiet?: boolean;
  /** Augmentation overrides (defaults: the official COCO values). */
  augment?: Partial<AugmentConfig>;
  /** float32 (default), float16 (mixed precision: autocast + loss scaling), or auto (float16 where the adapter has shader-f16). */
  precision?: Precision;
  /** The loss scaler's settings in mixed precision (default: PyTorch's, initScale 2^16, growthInterval 2000). */
  gradScaler?: Omit<GradScalerOptions, 'enabled'>;
  /**
   * Capture the training step, after a first eager one, and replay it (captureGraph; see CapturedSteps):
   * the same numbers, bit for bit, for a fraction of the CPU time per step. Default true; false runs
   * every step eagerly.
   */
  graph?: boolean;
}

export interface TrainResult {
  /** The best validation score (-1 when never validated), in `metric`. */
  best: number;
  metric: Validation['metric'];
  lastLoss: number;
  checkpoint: string;
  bestCheckpoint: string;
  epochs: number;
  /** Steps trained by this call (0 when a resumed run had already finished). */
  steps: number;
  /** The precision the run trained in ('auto' resolved). */
  precision: 'float16' | 'float32';
  /** Optimizer steps skipped because the scaled gradients overflowed (mixed precision; since the run began). */
  skippedSteps: number;
}

/** A run stopped by its abort signal, after saving every step so far to `checkpoint`. */
export class TrainingInterrupted extends Error {
  override name = 'TrainingInterrupted';
  constructor(
    message: string,
    readonly checkpoint: string | null,
    /** The signal's abort reason (the CLI passes the signal's name). */
    readonly reason: unknown,
  ) {
    super(message);
  }
}

/** `work`, or a rejection with `onAbort()` as soon as `signal` aborts (the work itself runs on, unwatched). */
function unlessAborted<T>(work: Promise<T>, signal: AbortSignal | undefined, onAbort: () => Error): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(onAbort());
    if (signal.aborted) abort();
    signal.addEventListener('abort', abort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}

/**
 * A test seam: the process kills itself (SIGKILL: no cleanup, as a power cut) at the point named by
 * $TMPOSE_CRASH_AT, so that tests can check that a crash there loses nothing.
 */
function crashPoint(name: string): void {
  if (process.env.TMPOSE_CRASH_AT === name) process.kill(process.pid, 'SIGKILL');
}

const describeConfig = (c: unknown) => (typeof c === 'string' ? `'${c}'` : `a custom config '${(c as { name?: string } | null)?.name ?? '?'}'`);

interface LogRecord {
  type: 'step' | 'eval';
  epoch: number;
  step: number;
  [k: string]: unknown;
}

export async function train(options: TrainOptions): Promise<TrainResult> {
  await init();
  // Before any work: float16 on an adapter without shader-f16 is one error ('auto' trains in float32 there).
  const precision = resolvePrecision(options.precision ?? 'float32');
  if (options.precision === 'auto' && precision === 'float32') console.error('precision auto: this adapter has no shader-f16; training in float32');
  const epochs = options.epochs ?? 300;
  const batchSize = options.batchSize ?? 32;
  const logEvery = options.logEvery ?? 10;
  const evalEvery = options.evalEvery ?? 1;
  const seed = options.seed ?? 0;
  // The seed fixes the initial weights too, so that two runs with the same flags are the same run.
  const config = getConfig(options.config, { seed });
  const layout = resolveDataLayout(options.data);
  const last = join(options.out, 'last.safetensors');
  const bestPath = join(options.out, 'best.safetensors');
  const logPath = join(options.out, 'log.jsonl');
  const warn = (message: string) => console.error(message);
  await prepareRunFolder(options.out, { resume: options.resume, overwrite: options.overwrite, warn });
  const trainedAs = typeof options.config === 'string' ? options.config : config;
  if (options.resume) {
    const saved = (await readCheckpointState(last)).config;
    if (JSON.stringify(saved) !== JSON.stringify(trainedAs)) {
      throw new Error(`--resume: ${last} was trained as ${describeConfig(saved)}, not ${describeConfig(trainedAs)}; pass the same --config`);
    }
  }

  const [H, W] = config.imageSize;
  const [hmH, hmW] = config.heatmapSize;
  const data = await loadTrainingData(layout, config, evalEvery > 0);
  const { trainSet, valSet } = data;
  // Every input is checked before the first step, so that a bad file fails the run now and not at the
  // first epoch (or validation) that reads it.
  if (trainSet.length === 0) throw new Error(`${data.trainFile}: no annotated person to train on`);
  for (const line of imageCheckWarnings(await checkDatasetImages(trainSet), 'training')) warn(line);
  if (valSet) {
    if (valSet.length === 0) throw new Error(`${data.valFile}: no annotated person to validate on`);
    for (const line of imageCheckWarnings(await checkDatasetImages(valSet), 'validation')) warn(line);
    if (data.kind === 'coco') await checkCocoGroundTruth(data.valFile, config.numJoints);
  }
  const loader = new DataLoader(trainSet, {
    batchSize,
    train: true,
    seed,
    dropLast: true,
    samplesPerEpoch: options.samplesPerEpoch,
    workers: options.workers,
    cacheImages: options.cacheImages,
    augment: options.augment,
    inputSize: [W, H],
    heatmapSize: [hmW, hmH],
  });

  const model = createModel(config);
  model.train();
  if (options.pretrained && !options.resume) {
    const { loaded, skipped } = await loadPretrainedBackbone(model, options.pretrained);
    console.error(`pretrained: ${loaded.length} tensors loaded into the backbone from ${options.pretrained}, ${skipped.length} skipped`);
  }
  // One buffer for all the weights: Adam then binds it once for many parameters (33 dispatches instead
  // of 87 for a tmpose-b step). Loading a checkpoint on resume copies into it.
  model.flattenParameters();
  const optimizer = new optim.Adam(model.parameters().filter((p) => p.requiresGrad), { lr: options.lr ?? 1e-3 });
  const scheduler = new optim.MultiStepLR(optimizer, { milestones: options.milestones ?? [200, 260], gamma: options.gamma ?? 0.1 });
  const state: TrainingState = { epoch: 0, batch: 0, step: 0, best: -1, rng: seed, config: trainedAs };
  // Disabled in float32: scale() and step() pass through, one code path for both precisions.
  const mixed = precision === 'float16';
  const scaler = new GradScaler({ ...options.gradScaler, enabled: mixed });
  // The step from the second on, captured and replayed (unless `graph: false`); the first runs eagerly
  // and makes the optimizer's state.
  const captured = options.graph === false ? null : new CapturedSteps(model, optimizer, mixed ? scaler : null);

  if (options.resume) {
    const ckpt: Checkpoint = await loadCheckpoint(last);
    try {
      model.loadStateDict(ckpt.model);
      ckpt.restoreOptimizer(optimizer as unknown as optim.Optimizer<optim.Hyper>);
      ckpt.restoreScheduler(scheduler);
      if (mixed) ckpt.restoreScaler(scaler);
      Object.assign(state, ckpt.state);
      // best.safetensors is written after last.safetensors, so its own record, not last's, says which AP
      // the kept best model has (none when it is missing: the next validation writes it).
      state.best = existsSync(bestPath) ? (await readCheckpointState(bestPath)).best : -1;
      // Steps logged after this checkpoint was saved (by a run that then crashed or failed) are trained again.
      const dropped = await truncateLogAfter(logPath, state.step);
      if (dropped) warn(`${logPath}: dropped ${dropped} records past the checkpoint's step ${state.step}; they are trained again`);
      if (options.lr !== undefined) {
        // An explicit --lr on resume replaces the base rate; the schedule's factor still applies.
        optimizer.paramGroups.forEach((g, i) => {
          g.lr = options.lr! * (g.lr / scheduler.baseLrs[i]!);
          scheduler.baseLrs[i] = options.lr!;
        });
      }
    } finally {
      ckpt.dispose();
    }
    const within = state.batch ? ` (${state.batch} of its ${loader.length} batches done)` : '';
    console.error(`resumed from ${last} at epoch ${state.epoch}${within}, step ${state.step}`);
  }

  const log = (r: LogRecord) => appendLogLine(logPath, `${JSON.stringify({ ...r, time: new Date().toISOString() })}\n`);
  const divergence = options.divergence ?? 1000;
  const signal = options.signal;
  const lastGood = () => `The last good checkpoint is ${existsSync(last) ? last : '(none yet)'}`;
  const parts = () => ({ model, optimizer: optimizer as unknown as optim.Optimizer<optim.Hyper>, scheduler, scaler, state });
  const save = async (path: string, what: Parameters<typeof saveCheckpoint>[1], when: string) => {
    try {
      await saveCheckpoint(path, what);
    } catch (err) {
      if (!(err instanceof NonFiniteError)) throw err;
      throw new Error(`the weights became NaN or Infinity ${when} (step ${state.step}); stopping. ${lastGood()}; try a lower --lr`);
    }
  };
  const interrupted = (where: string) =>
    new TrainingInterrupted(`interrupted ${where}; ${existsSync(last) ? `${last} holds every step so far` : 'nothing was trained yet'}`, existsSync(last) ? last : null, signal?.reason);
  let lastLoss = Number.NaN;
  let lowest = Number.POSITIVE_INFINITY;
  let steps = 0;
  try {
    if (signal?.aborted) throw interrupted('before the first step');
    for (let epoch = state.epoch; epoch < epochs; epoch++) {
      // Masks are drawn from a generator seeded per epoch (as the loader's augmentation is), so a run
      // resumed at an epoch boundary draws exactly what the uninterrupted run would have; within an
      // interrupted epoch, the masks of the batches already trained are drawn again and dropped.
      const from = epoch === state.epoch ? (state.batch ?? 0) : 0;
      model.maskRng.seed(hashKeys(seed, 'masks', epoch));
      for (let b = 0; b < from; b++) model.resolveIndices(batchSize);
      const progress = options.quiet ? null : new Progress(`epoch ${epoch + 1}/${epochs}`, loader.length);
      const started = performance.now();
      let images = 0;
      let index = from;
      try {
        for await (const batch of loader.epoch(epoch, from)) {
          let loss: Tensor;
          const replayed = captured !== null && steps > 0;
          if (replayed) loss = await captured.step(batch);
          else {
            loss = tidy(() => {
              const x = tensor(batch.images, batch.imageShape);
              const target = tensor(batch.targets, batch.targetShape);
              const weight = tensor(batch.targetWeights, batch.weightShape);
              const lossOf = () => jointsMseLoss(model.forward(x), target, weight);
              const l = mixed ? autocast('float16', lossOf) : lossOf();
              scaler.scale(l).backward();
              return keep(l.detach());
            });
            // Mixed precision reads the overflow flag back here and skips the update on Infinity/NaN.
            await scaler.step(optimizer);
            scaler.update();
            optimizer.zeroGrad();
          }
          // A captured step's loss is its graph's, kept for the next replay.
          const done = () => !replayed && loss.dispose();
          state.step++;
          index++;
          steps++;
          images += batch.size;
          const read = index % logEvery === 0 || index === loader.length || signal?.aborted;
          if (read) {
            try {
              lastLoss = await loss.item();
            } finally {
              done();
            }
            if (!Number.isFinite(lastLoss)) {
              throw new Error(`the loss became ${lastLoss} at epoch ${epoch + 1}, step ${state.step}; stopping. ${lastGood()}; try a lower --lr`);
            }
            if (divergence > 0 && lastLoss > divergence * lowest) {
              throw new Error(
                `the loss grew from ${lowest.toExponential(2)} to ${lastLoss.toExponential(2)} (over ${divergence}x) by epoch ${epoch + 1}, ` +
                  `step ${state.step}: training diverged; stopping. ${lastGood()}; try a lower --lr (--divergence 0 never stops)`,
              );
            }
            lowest = Math.min(lowest, lastLoss);
            const rate = images / ((performance.now() - started) / 1000);
            const amp = mixed ? { scale: scaler.getScale(), skipped: scaler.skippedSteps } : {};
            await log({ type: 'step', epoch: epoch + 1, step: state.step, loss: lastLoss, lr: optimizer.paramGroups[0]!.lr, imagesPerSec: rate, ...amp });
            const shown: Record<string, string> = mixed ? { scale: String(scaler.getScale()), skipped: String(scaler.skippedSteps) } : {};
            progress?.update(index, { loss: lastLoss.toExponential(3), lr: optimizer.paramGroups[0]!.lr.toExponential(1), ...shown }, images);
          } else {
            done();
          }
          if (signal?.aborted) {
            // The step is done: save it, and every step before it, then stop.
            state.epoch = epoch;
            state.batch = index;
            await save(last, parts(), `at epoch ${epoch + 1}`);
            throw interrupted(`at epoch ${epoch + 1}, batch ${index} of ${loader.length} (step ${state.step})`);
          }
        }
      } finally {
        progress?.end();
      }
      scheduler.step();
      state.epoch = epoch + 1;
      state.batch = 0;
      // Saved before validation, so that a failed or interrupted validation never costs the epoch.
      await save(last, parts(), `by the end of epoch ${epoch + 1}`);
      crashPoint('validation');
      if (valSet && evalEvery > 0 && (epoch + 1) % evalEvery === 0) {
        const evaluation = await unlessAborted(
          data.validate(model, { batchSize, flip: options.flipTest, workers: options.workers }),
          signal,
          () => interrupted(`while validating epoch ${epoch + 1} (step ${state.step})`),
        );
        const { metric, score } = evaluation;
        await log({ type: 'eval', epoch: epoch + 1, step: state.step, metric, score, ...evaluation.stats });
        if (!options.quiet) console.error(`epoch ${epoch + 1}: ${metric} ${score.toFixed(4)}\n${evaluation.summary}`);
        if (score > state.best) {
          state.best = score;
          await save(bestPath, { model, state }, `by the end of epoch ${epoch + 1}`);
        }
      }
      if (signal?.aborted && epoch + 1 < epochs) throw interrupted(`after epoch ${epoch + 1} (step ${state.step})`);
    }
  } finally {
    await loader.close();
    await drawLossCurve(logPath, options.out).catch((err: Error) => warn(`warning: the loss curve was not drawn: ${err.message}`));
    // Freed on every exit, a failure or an interrupt too (a validation abandoned by an interrupt fails at
    // its next use of the model, unwatched).
    captured?.dispose();
    optimizer.dispose();
    model.dispose();
  }
  return {
    best: state.best, metric: data.metric, lastLoss, checkpoint: last, bestCheckpoint: bestPath, epochs: state.epoch, steps,
    precision, skippedSteps: scaler.skippedSteps,
  };
}

/** loss.svg and loss.png from the JSONL log. */
export async function drawLossCurve(logPath: string, outDir: string): Promise<void> {
  if (!existsSync(logPath)) return;
  const records = await readLog<LogRecord>(logPath);
  const points = records.filter((r) => r.type === 'step').map((r) => [r.step, r.loss as number] as [number, number]);
  if (!points.length) return;
  // The validation score on its own axis (logs before it was recorded as `score` have COCO's `AP`).
  const evals = records.filter((r) => r.type === 'eval').map((r) => [r.step, (r.score ?? r.AP) as number] as [number, number]);
  const metric = `validation ${String(records.find((r) => r.type === 'eval')?.metric ?? 'AP')}`;
  const right = evals.length ? { label: metric, series: [{ name: metric, points: evals, color: '#d62728' }] } : undefined;
  const svg = lineChartSvg('Training loss (JointsMSELoss)', 'step', 'loss', [{ name: 'loss', points, color: '#1f77b4' }], right);
  await io.writeFileAtomic(join(outDir, 'loss.svg'), new TextEncoder().encode(svg));
  await savePng(svg, join(outDir, 'loss.png'));
}

/**
 * A model with weights from `path`: a checkpoint written by `train` or weights written by `exportWeights`
 * (both name their configuration), or bare weights — an official PyTorch `.pth` state dict (a
 * DataParallel `module.` prefix is dropped) or a `.safetensors` file — loaded into `config`. Mismatched keys or shapes fail with one error that lists
 * them, and nothing is half-loaded.
 */
export async function modelFromCheckpoint(path: string, config?: ConfigName | ModelConfig): Promise<{ model: TMPose; state: TrainingState | null }> {
  await init();
  if (!existsSync(path)) throw new Error(`${path}: no such checkpoint file`);
  // The same reading as the browser's loadModel; an official PyTorch state dict holds bare weights.
  const file: FileWeights =
    path.endsWith('.pth') || path.endsWith('.pt')
      ? { weights: io.stripPrefix(io.loadPthHost(new Uint8Array(await readFile(path)), { name: path }), 'module.'), config: null, state: null }
      : readWeights(await io.readSafetensors(path), path);
  const chosen = config ?? file.config;
  if (!chosen) throw new Error(`${path}: bare weights carry no configuration; pass --config (e.g. tmpose-b)`);
  return { model: modelWithWeights(file.weights, chosen, path), state: file.state };
}
