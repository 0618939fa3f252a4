// Training in the browser (in the model's worker), as `pnpm demo` trains in Node (apps/cli/src/demo.ts,
// packages/train/src/loop.ts): the bundled COCO sample, the same augmented top-down samples
// (@tmpose/train's processSample: augmentation, cv2-exact warp, DARK targets), the epoch order and
// per-sample random streams of its DataLoader, masks drawn from a generator seeded per epoch,
// JointsMSELoss, Adam and MultiStepLR (×0.1 at three quarters of the run), BN in training mode.
import type { TMPose } from '@tmpose/model';
import { type Graph, type Tensor, captureGraph, keep, optim, tensor, tidy } from '@tmpose/tensor';
import {
  COCO_AUGMENT,
  type PipelineConfig,
  type PoseDataset,
  Rng,
  SampleWorkspace,
  allocBatch,
  cocoFromJson,
  hashKeys,
  permutation,
  processSample,
  trainingStep,
} from '@tmpose/train';
import { type RgbImage, fetchRgb } from './decode.js';
import type { TrainOptions, TrainProgress } from './protocol.js';

/** Where the server serves data/coco-mini. */
export const SAMPLE_ROOT = '/data/coco-mini/';
export const SAMPLE_ANNOTATIONS = `${SAMPLE_ROOT}test_coco.json`;

/** The demo's augmentation: gentler than the paper's, so that a few minutes on 14 people show learning. */
const DEMO_AUGMENT = { rotationProb: 0.3, rotationFactor: 20, halfBodyProb: 0, scaleFactor: 0.2 };
/** The demo's epoch: 64 samples (the 14 people repeated, a fresh permutation each time). */
const SAMPLES_PER_EPOCH = 64;

export interface TrainingData {
  dataset: PoseDataset;
  /** Decoded images, by the dataset's image index. */
  images: RgbImage[];
  aspectRatio: number;
}

/** The bundled sample for a model input of `imageSize` [H, W]: its people and decoded images. */
export async function loadSampleData(imageSize: [number, number]): Promise<TrainingData> {
  const [H, W] = imageSize;
  const response = await fetch(SAMPLE_ANNOTATIONS);
  if (!response.ok) throw new Error(`${SAMPLE_ANNOTATIONS}: HTTP ${response.status}`);
  const dataset = cocoFromJson(await response.json(), { imageRoot: SAMPLE_ROOT, aspectRatio: W / H }, SAMPLE_ANNOTATIONS);
  if (dataset.length === 0) throw new Error(`${SAMPLE_ANNOTATIONS}: no annotated person to train on`);
  const images = await Promise.all(dataset.images.map((im) => fetchRgb(im.path)));
  return { dataset, images, aspectRatio: W / H };
}

/** The DataLoader's order of epoch `epoch`: permutations of the dataset, seeded by (seed, 'shuffle', epoch, repeat). */
function epochOrder(n: number, samples: number, seed: number, epoch: number): Int32Array {
  const out = new Int32Array(samples);
  for (let r = 0, k = 0; k < samples; r++) {
    const p = permutation(n, new Rng(seed, 'shuffle', epoch, r));
    const m = Math.min(n, samples - k);
    out.set(p.subarray(0, m), k);
    k += m;
  }
  return out;
}

export interface TrainingRun {
  losses: number[];
  msPerStep: number;
  stopped: boolean;
}

/**
 * Trains `model` in place for `options.steps` steps on `data`; `onProgress` hears of every step (its
 * loss is read back each step), `shouldStop` is asked between steps. The model is left in eval mode.
 */
export async function trainOnSample(
  model: TMPose,
  data: TrainingData,
  options: TrainOptions,
  onProgress: (p: TrainProgress) => void,
  shouldStop: () => boolean,
): Promise<TrainingRun> {
  const config = model.config;
  const [H, W] = config.imageSize;
  const [hmH, hmW] = config.heatmapSize;
  const { steps, batchSize: B, lr, seed } = options;
  const cfg: PipelineConfig = {
    train: true,
    inputSize: [W, H],
    heatmapSize: [hmW, hmH],
    sigma: 2,
    augment: { ...COCO_AUGMENT, ...DEMO_AUGMENT, aspectRatio: W / H },
  };
  const ds = data.dataset;
  const batch = allocBatch(B, ds.numJoints, cfg);
  const ws = new SampleWorkspace(cfg);
  const stepsPerEpoch = Math.max(1, Math.floor(SAMPLES_PER_EPOCH / B));
  const epochs = Math.ceil(steps / stepsPerEpoch);
  // As the CLI's training loop: one weight buffer, so Adam binds it once for many parameters.
  model.flattenParameters();
  const optimizer = new optim.Adam(model.parameters().filter((p) => p.requiresGrad), { lr });
  const scheduler = new optim.MultiStepLR(optimizer as unknown as optim.Optimizer<optim.Hyper>, { milestones: [Math.round(epochs * 0.75)] });
  const losses: number[] = [];
  let order: ArrayLike<number> = [];
  let stopped = false;
  let inputs: [Tensor, Tensor, Tensor] | null = null;
  let graph: Graph<Tensor> | null = null;
  const started = performance.now();
  model.train();
  try {
    for (let step = 0; step < steps; step++) {
      if (shouldStop()) {
        stopped = true;
        break;
      }
      const epoch = Math.floor(step / stepsPerEpoch);
      const b = step % stepsPerEpoch;
      if (b === 0) {
        if (epoch > 0) scheduler.step();
        order = epochOrder(ds.length, stepsPerEpoch * B, seed, epoch);
        model.maskRng.seed(hashKeys(seed, 'masks', epoch));
      }
      for (let s = 0; s < B; s++) {
        const position = b * B + s;
        const index = order[position]!;
        processSample(ds, index, data.images[ds.imageIndex[index]!]!, cfg, seed, epoch, position, batch, s, ws);
      }
      // The batch goes into the same three tensors each step; the second step is captured and the
      // rest replay it (captureGraph: the same numbers, a fraction of the CPU time).
      if (inputs) {
        inputs[0].copy_(batch.images);
        inputs[1].copy_(batch.targets);
        inputs[2].copy_(batch.targetWeights);
      }
      inputs ??= [tensor(batch.images, [B, 3, H, W]), tensor(batch.targets, [B, ds.numJoints, hmH, hmW]), tensor(batch.targetWeights, [B, ds.numJoints])];
      const [x, target, weight] = inputs;
      const oneStep = () => trainingStep(model, optimizer, x, target, weight);
      if (graph) graph.replay();
      else if (step > 0) graph = captureGraph(oneStep);
      let value: number;
      if (graph) value = await graph.outputs.item();
      else {
        const loss = tidy(() => keep(oneStep()));
        try {
          value = await loss.item();
        } finally {
          loss.dispose();
        }
      }
      if (!Number.isFinite(value)) throw new Error(`the loss became ${value} at step ${step + 1}; try a lower learning rate`);
      losses.push(value);
      onProgress({ step: step + 1, steps, loss: value, lr: optimizer.paramGroups[0]!.lr, msPerStep: (performance.now() - started) / (step + 1) });
    }
  } finally {
    graph?.dispose();
    for (const t of inputs ?? []) t.dispose();
    optimizer.dispose();
    model.eval();
  }
  return { losses, msPerStep: losses.length ? (performance.now() - started) / losses.length : 0, stopped };
}
