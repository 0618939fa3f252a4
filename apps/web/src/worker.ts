// The model's worker: owns the WebGPU device and the model, so that the page stays responsive while the
// model runs or trains. Requests run one at a time in arrival order; `stop` is read at once (it asks a
// running training to end after its current step). See protocol.ts for the messages.
import { CapturedForwards, type TMPose, countParams, createModel, estimatePoses, loadModel, weightsMetadata } from '@tmpose/model';
import { init, io } from '@tmpose/tensor';
import type { FromWorker, ModelInfo, Replies, Request, ToWorker, TrainProgress } from './protocol.js';
import { type TrainingData, loadSampleData, trainOnSample } from './training.js';

interface WorkerScope {
  postMessage(message: FromWorker): void;
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
}
const scope = globalThis as unknown as WorkerScope;

let model: TMPose | null = null;
// The model's eval forwards, captured per crop batch shape and replayed: a camera's frames run one
// replayed forward each. Made anew when the model or the buffers of its weights change (training
// flattens them).
let forwards: CapturedForwards | null = null;
/** Where the model's weights came from (a file, or the seed of an untrained one), and the file's name. */
let source = { origin: '', seeded: false, fileName: '' };
/** Steps trained here since the model was made or loaded. */
let trainedSteps = 0;
let sample: TrainingData | null = null;
let stopRequested = false;

function describe(m: TMPose): ModelInfo {
  const origin = trainedSteps
    ? `${source.origin}, then ${trainedSteps} step${trainedSteps === 1 ? '' : 's'} trained here on data/coco-mini`
    : `${source.origin}${source.seeded ? ' (untrained)' : ''}`;
  return { config: m.config, origin, trained: trainedSteps > 0 || !source.seeded, parameters: countParams(m) };
}

function replace(next: TMPose, origin: string, seeded: boolean, fileName = origin): ModelInfo {
  forwards?.dispose();
  forwards = null;
  model?.dispose();
  model = next;
  model.eval();
  source = { origin, seeded, fileName };
  trainedSteps = 0;
  return describe(next);
}

function seeded(seed: number): ModelInfo {
  return replace(createModel('tiny', { seed }), `tiny, seeded with ${seed}`, true);
}

/** init() with a message that speaks of browsers. */
async function startDevice(): Promise<string> {
  const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (!gpu) {
    throw new Error(
      'This browser has no WebGPU (navigator.gpu is missing in the worker). Use a recent Chrome or Edge; ' +
        'Chromium on Linux needs --enable-unsafe-webgpu, Firefox and Safari a WebGPU-enabled version.',
    );
  }
  if (!(await gpu.requestAdapter().catch(() => null))) {
    throw new Error(
      'This browser has WebGPU but gave no adapter (its GPU or driver may be blocklisted, or WebGPU turned off); ' +
        'see chrome://gpu, or try Chromium with --enable-unsafe-webgpu.',
    );
  }
  try {
    const info = await init();
    const name = [info.description || info.vendor || 'an adapter', info.architecture && `(${info.architecture})`].filter(Boolean).join(' ');
    return info.isCpu ? `${name}, a software adapter: expect slow runs` : name;
  } catch (err) {
    throw new Error(`WebGPU could not start: ${(err as Error).message}`);
  }
}

function ready(): TMPose {
  if (!model) throw new Error('the model is not ready yet');
  return model;
}

async function handle(request: Request, progress: (p: TrainProgress) => void): Promise<Replies[Request['type']]> {
  switch (request.type) {
    case 'init': {
      const adapter = await startDevice();
      return { adapter, model: model ? describe(model) : seeded(request.seed) };
    }
    case 'reset':
      return { model: seeded(request.seed) };
    case 'load':
      return { model: replace(await loadModel(request.source), request.label ?? request.name, false, request.name) };
    case 'estimate': {
      const { image, options } = request;
      try {
        const current = ready();
        forwards ??= new CapturedForwards(current);
        const result = await estimatePoses(current, image, {
          forwards,
          boxes: options.boxes ?? undefined,
          keep: options.keep,
          sampler: options.sampler,
          seed: options.seed,
          flip: options.flip,
        });
        return { result, model: describe(current) };
      } finally {
        if ('close' in image) image.close();
      }
    }
    case 'train': {
      const current = ready();
      forwards?.dispose();
      forwards = null;
      stopRequested = false;
      const [H, W] = current.config.imageSize;
      if (!sample || sample.aspectRatio !== W / H) sample = await loadSampleData([H, W]);
      const onStep = (p: TrainProgress) => {
        trainedSteps++;
        progress(p);
      };
      const run = await trainOnSample(current, sample, request.options, onStep, () => stopRequested);
      return { losses: run.losses, msPerStep: run.msPerStep, stopped: run.stopped, model: describe(current) };
    }
    case 'stop':
      return { stopping: true };
    case 'save': {
      const current = ready();
      const weights = current.stateDict();
      try {
        const bytes = await io.serialize(weights, weightsMetadata(current.config));
        const name = trainedSteps ? `${current.config.name}-${trainedSteps}-steps` : source.fileName.replace(/[^\w.-]+/g, '-');
        return { bytes, fileName: `${name.replace(/\.safetensors$/, '')}.safetensors` };
      } finally {
        for (const t of Object.values(weights)) t.dispose();
      }
    }
  }
}

let queue: Promise<void> = Promise.resolve();

scope.onmessage = (e: MessageEvent<ToWorker>) => {
  const { id, ...request } = e.data;
  const run = async () => {
    try {
      const reply = await handle(request as Request, (progress) => scope.postMessage({ id, progress }));
      scope.postMessage({ id, ok: true, type: request.type, reply } as FromWorker);
    } catch (err) {
      scope.postMessage({ id, ok: false, message: err instanceof Error ? err.message : String(err) });
    }
  };
  if (request.type === 'stop') {
    stopRequested = true;
    void run();
  } else {
    queue = queue.then(run);
  }
};
