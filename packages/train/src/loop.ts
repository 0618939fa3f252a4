// The training loop: Adam + MultiStepLR over epochs of augmented top-down crops, JointsMSELoss with
// target weights, BN in training mode. Logs every N steps (JSONL) with a progress bar, validates and
// checkpoints every epoch (atomically; the best AP kept apart), resumes exactly from the last
// checkpoint, stops on a non-finite loss without touching the last good checkpoint, and draws the
// loss curve at the end.
import { type ConfigName, type ModelConfig, type TMPose, createModel, getConfig } from '@tmpose/model';
import { type Tensor, init, io, keep, optim, tensor, tidy } from '@tmpose/tensor';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Checkpoint, type TrainingState, loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { loadCoco } from './data/coco.js';
import { DataLoader } from './data/loader.js';
import { hashKeys } from './data/rng.js';
import type { AugmentConfig } from './data/transforms.js';
import { evaluateModelOnCoco } from './evaluate.js';
import { resolveCocoLayout } from './layout.js';
import { exportedConfig } from './weights.js';
import { jointsMseLoss } from './loss.js';
import { loadPretrainedBackbone } from './pretrained.js';
import { lineChartSvg } from './report/plot.js';
import { savePng } from './report/image.js';
import { Progress } from './report/progress.js';

export interface TrainOptions {
  /** A configuration name (`tmpose-b`, `tiny`, ...) or a full config. */
  config: ConfigName | ModelConfig;
  /** COCO folder (official layout, or one annotation file beside its images). */
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
  /** An ImageNet HRNet classification checkpoint for the backbone (hrnet_w32-36af842e.pth, ...); ignored on resume. */
  pretrained?: string;
  /** Keep decoded images in memory (small datasets). */
  cacheImages?: boolean;
  /** Quiet: no progress bar. */
  quiet?: boolean;
  /** Augmentation overrides (defaults: the official COCO values). */
  augment?: Partial<AugmentConfig>;
}

export interface TrainResult {
  best: number;
  lastLoss: number;
  checkpoint: string;
  bestCheckpoint: string;
  epochs: number;
}

interface LogRecord {
  type: 'step' | 'eval';
  epoch: number;
  step: number;
  [k: string]: unknown;
}

export async function train(options: TrainOptions): Promise<TrainResult> {
  await init();
  const epochs = options.epochs ?? 300;
  const batchSize = options.batchSize ?? 32;
  const logEvery = options.logEvery ?? 10;
  const evalEvery = options.evalEvery ?? 1;
  const seed = options.seed ?? 0;
  // The seed fixes the initial weights too, so that two runs with the same flags are the same run.
  const config = getConfig(options.config, { seed });
  const layout = resolveCocoLayout(options.data);
  await mkdir(options.out, { recursive: true });
  const last = join(options.out, 'last.safetensors');
  const bestPath = join(options.out, 'best.safetensors');
  const logPath = join(options.out, 'log.jsonl');

  const [H, W] = config.imageSize;
  const [hmH, hmW] = config.heatmapSize;
  const trainSet = await loadCoco({ annotationFile: layout.trainAnnotations, imageRoot: layout.trainImages, aspectRatio: W / H });
  const valSet = evalEvery > 0 ? await loadCoco({ annotationFile: layout.valAnnotations, imageRoot: layout.valImages, aspectRatio: W / H }) : null;
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
  const optimizer = new optim.Adam(model.parameters().filter((p) => p.requiresGrad), { lr: options.lr ?? 1e-3 });
  const scheduler = new optim.MultiStepLR(optimizer, { milestones: options.milestones ?? [200, 260], gamma: options.gamma ?? 0.1 });
  const state = { epoch: 0, step: 0, best: -1, rng: seed, config: typeof options.config === 'string' ? options.config : config };

  if (options.resume) {
    if (!existsSync(last)) throw new Error(`--resume: ${last} does not exist`);
    const ckpt: Checkpoint = await loadCheckpoint(last);
    try {
      model.loadStateDict(ckpt.model);
      ckpt.restoreOptimizer(optimizer as unknown as optim.Optimizer<optim.Hyper>);
      ckpt.restoreScheduler(scheduler);
      Object.assign(state, ckpt.state);
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
    console.error(`resumed from ${last} at epoch ${state.epoch}, step ${state.step}`);
  } else if (existsSync(logPath)) {
    await writeFile(logPath, '');
  }

  const log = async (r: LogRecord) => appendFile(logPath, `${JSON.stringify({ ...r, time: new Date().toISOString() })}\n`);
  let lastLoss = Number.NaN;
  try {
    for (let epoch = state.epoch; epoch < epochs; epoch++) {
      // Masks are drawn from a generator seeded per epoch (as the loader's augmentation is), so a run
      // resumed at an epoch boundary draws exactly what the uninterrupted run would have.
      model.maskRng.seed(hashKeys(seed, 'masks', epoch));
      const progress = options.quiet ? null : new Progress(`epoch ${epoch + 1}/${epochs}`, loader.length);
      const started = performance.now();
      let images = 0;
      let index = 0;
      for await (const batch of loader.epoch(epoch)) {
        const loss = tidy(() => {
          const x = tensor(batch.images, batch.imageShape);
          const target = tensor(batch.targets, batch.targetShape);
          const weight = tensor(batch.targetWeights, batch.weightShape);
          const heatmaps = model.forward(x);
          const l = jointsMseLoss(heatmaps, target, weight);
          l.backward();
          optimizer.step();
          optimizer.zeroGrad();
          return keep(l.detach());
        });
        state.step++;
        index++;
        images += batch.size;
        const read = index % logEvery === 0 || index === loader.length;
        if (read) {
          lastLoss = await loss.item();
          if (!Number.isFinite(lastLoss)) {
            loss.dispose();
            throw new Error(
              `the loss became ${lastLoss} at epoch ${epoch + 1}, step ${state.step}; stopping. ` +
                `The last good checkpoint is ${existsSync(last) ? last : '(none yet)'}; try a lower --lr`,
            );
          }
          const rate = images / ((performance.now() - started) / 1000);
          await log({ type: 'step', epoch: epoch + 1, step: state.step, loss: lastLoss, lr: optimizer.paramGroups[0]!.lr, imagesPerSec: rate });
          progress?.update(index, { loss: lastLoss.toExponential(3), lr: optimizer.paramGroups[0]!.lr.toExponential(1) }, images);
        }
        loss.dispose();
      }
      progress?.end();
      scheduler.step();
      state.epoch = epoch + 1;
      let ap: number | null = null;
      if (valSet && evalEvery > 0 && (epoch + 1) % evalEvery === 0) {
        const evaluation = await evaluateModelOnCoco(model, valSet, layout.valAnnotations, { batchSize, flip: options.flipTest, workers: options.workers });
        ap = evaluation.stats.AP;
        await log({ type: 'eval', epoch: epoch + 1, step: state.step, ...evaluation.stats });
        if (!options.quiet) console.error(`epoch ${epoch + 1}: AP ${ap.toFixed(4)}\n${evaluation.summary}`);
      }
      const improved = ap !== null && ap > state.best;
      if (improved) state.best = ap!;
      await saveCheckpoint(last, { model, optimizer: optimizer as unknown as optim.Optimizer<optim.Hyper>, scheduler, state });
      if (improved) await saveCheckpoint(bestPath, { model, state });
    }
  } finally {
    await loader.close();
    await drawLossCurve(logPath, options.out).catch(() => {});
  }
  model.dispose();
  return { best: state.best, lastLoss, checkpoint: last, bestCheckpoint: bestPath, epochs: state.epoch };
}

/** loss.svg and loss.png from the JSONL log. */
export async function drawLossCurve(logPath: string, outDir: string): Promise<void> {
  const records = (await readFile(logPath, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as LogRecord);
  const points = records.filter((r) => r.type === 'step').map((r) => [r.step, r.loss as number] as [number, number]);
  if (!points.length) return;
  const svg = lineChartSvg('Training loss (JointsMSELoss)', 'step', 'loss', [{ name: 'loss', points, color: '#1f77b4' }]);
  await writeFile(join(outDir, 'loss.svg'), svg);
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
  let checkpoint: Checkpoint | null = null;
  let exported: ModelConfig | null = null;
  let weights: Record<string, Tensor>;
  if (path.endsWith('.pth') || path.endsWith('.pt')) {
    weights = io.loadPth(new Uint8Array(await readFile(path)), { name: path });
  } else {
    try {
      checkpoint = await loadCheckpoint(path);
      weights = checkpoint.model;
    } catch (err) {
      if (!/not a tmpose checkpoint/.test((err as Error).message)) throw err;
      // Bare weights: an exported model names its configuration in the metadata; others need --config.
      const bare = await io.readSafetensors(path);
      exported = exportedConfig(bare.metadata, path);
      if (!config && !exported) throw new Error(`${path}: bare weights carry no configuration; pass --config (e.g. tmpose-b)`);
      weights = io.stripPrefix(Object.fromEntries(Object.entries(bare.tensors).map(([k, h]) => [k, tensor(h.data, h.shape, { dtype: h.dtype })])), 'module.');
    }
  }
  const chosen = config ?? exported ?? (checkpoint?.state.config as ConfigName | ModelConfig | undefined);
  if (!chosen) {
    for (const t of Object.values(weights)) t.dispose();
    throw new Error(`${path}: bare weights carry no configuration; pass --config (e.g. tmpose-b)`);
  }
  const model = createModel(chosen);
  try {
    model.loadStateDict(weights);
  } catch (err) {
    model.dispose();
    throw new Error(`${path}: incompatible with ${typeof chosen === 'string' ? chosen : chosen.name}: ${(err as Error).message}`);
  } finally {
    if (checkpoint) checkpoint.dispose();
    else for (const t of Object.values(weights)) t.dispose();
  }
  return { model, state: checkpoint?.state ?? null };
}
