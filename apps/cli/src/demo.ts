// `pnpm demo`: trains the `tiny` configuration on the bundled COCO sample (data/coco-mini) for a few
// minutes, shows the loss falling, evaluates with COCO AP, and draws the predicted skeletons onto one
// of the photos. On a GPU the same command is faster, not different.
import { init } from '@tmpose/tensor';
import { drawPosesToFile, estimatePosesInFile, evaluateModelOnCoco, loadCoco, modelFromCheckpoint, resolveCocoLayout, train } from '@tmpose/train';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface DemoOptions {
  out?: string;
  epochs?: number;
  data?: string;
  lr?: number;
}

/** data/coco-mini from the working directory, or beside this file's repository. */
function sampleData(): string {
  const candidates = [resolve('data/coco-mini'), resolve(dirname(fileURLToPath(import.meta.url)), '../../../data/coco-mini')];
  const found = candidates.find((c) => existsSync(join(c, 'test_coco.json')));
  if (!found) throw new Error(`the bundled sample is missing (looked in ${candidates.join(', ')})`);
  return found;
}

export async function runDemo(options: DemoOptions): Promise<void> {
  const data = options.data ?? sampleData();
  const out = options.out ?? 'out/demo';
  const info = await init();
  console.log(`tmpose demo: training 'tiny' on ${data} with ${info.description}${info.isCpu ? ' (a software adapter: expect a few minutes)' : ''}`);
  const epochs = options.epochs ?? 40;
  const started = performance.now();
  const result = await train({
    config: 'tiny',
    data,
    out,
    // The demo is meant to be run again: each run replaces the previous one's files.
    overwrite: true,
    epochs,
    batchSize: 8,
    lr: options.lr ?? 5e-3,
    // A gentler augmentation than the paper's, so that a few minutes on 14 people show learning.
    augment: { rotationProb: 0.3, rotationFactor: 20, halfBodyProb: 0, scaleFactor: 0.2 },
    milestones: [Math.round(epochs * 0.75)],
    samplesPerEpoch: 64,
    logEvery: 2,
    evalEvery: 0,
    cacheImages: true,
    seed: 0,
  });
  const log = (await readFile(join(out, 'log.jsonl'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; loss?: number; step: number });
  const losses = log.filter((r) => r.type === 'step');
  const first = losses[0]?.loss ?? Number.NaN;
  console.log(`loss ${first.toExponential(3)} at step ${losses[0]?.step} -> ${result.lastLoss.toExponential(3)} at step ${losses.at(-1)?.step} (${(first / result.lastLoss).toFixed(1)}x lower) in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  console.log(`loss curve: ${join(out, 'loss.png')}`);

  const { model } = await modelFromCheckpoint(result.checkpoint);
  const layout = resolveCocoLayout(data);
  const [H, W] = model.config.imageSize;
  const dataset = await loadCoco({ annotationFile: layout.valAnnotations, imageRoot: layout.valImages, aspectRatio: W / H });
  const evaluation = await evaluateModelOnCoco(model, dataset, layout.valAnnotations, { batchSize: 8 });
  console.log(`COCO keypoint AP on the sample (ground-truth boxes; the training images themselves):\n${evaluation.summary}`);

  const gt = JSON.parse(await readFile(layout.valAnnotations, 'utf8')) as {
    images: { id: number; file_name: string }[];
    annotations: { image_id: number; bbox: [number, number, number, number]; num_keypoints: number }[];
  };
  const photo = gt.images[0]!;
  const boxes = gt.annotations.filter((a) => a.image_id === photo.id && a.num_keypoints > 0).map((a) => a.bbox);
  const { people } = await estimatePosesInFile(model, join(layout.valImages, photo.file_name), { boxes });
  const picture = join(out, 'prediction.png');
  await drawPosesToFile(join(layout.valImages, photo.file_name), people, picture);
  console.log(`predicted skeletons of ${people.length} ${people.length === 1 ? 'person' : 'people'} on ${photo.file_name}: ${picture}`);
  model.dispose();
}
