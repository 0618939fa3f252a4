// The page: a photo (a bundled sample, a file, a drop) or the webcam goes to the model's worker, and
// what comes back is drawn — the skeletons, the visual tokens the Transformer kept, the milliseconds —
// beside the FLOPs of the Transformer at the chosen keep ratio. Checkpoints load by file or drop, and
// `tiny` trains in the worker with a live loss plot. Everything the page shows of a failure goes to one
// message element (#message).
import { type ModelConfig, type PoseResult, type Sampler, countFlops, drawKeptTokens, drawPoses, keptTokenRects } from '@tmpose/model';
import { WorkerClient } from './client.js';
import { drawLossPlot } from './plot.js';
import type { Box, EstimateOptions, ImageInput, ModelInfo, TrainOptions } from './protocol.js';

/** The seed of the untrained model ("Seeded tiny") and of the random token sampler. */
const SEED = 0;
const SAMPLE_ROOT = '/data/coco-mini/';
/** What the page says of the bundled weights (data/weights/tiny-coco-mini.safetensors, see data/weights/README.md). */
const BUNDLED_LABEL = (name: string) => `trained by pnpm demo on the bundled sample of 4 photos (${name})`;

const $ = <T extends HTMLElement>(id: string): T => {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
};
const el = {
  status: $<HTMLParagraphElement>('status'),
  message: $<HTMLDivElement>('message'),
  stage: $<HTMLDivElement>('stage'),
  canvas: $<HTMLCanvasElement>('canvas'),
  timings: $<HTMLParagraphElement>('timings'),
  sample: $<HTMLSelectElement>('sample'),
  photoFile: $<HTMLInputElement>('photo-file'),
  webcam: $<HTMLButtonElement>('webcam'),
  fps: $<HTMLParagraphElement>('fps'),
  keep: $<HTMLInputElement>('keep'),
  keepValue: $<HTMLOutputElement>('keep-value'),
  sampler: $<HTMLSelectElement>('sampler'),
  showTokens: $<HTMLInputElement>('show-tokens'),
  flip: $<HTMLInputElement>('flip'),
  flops: $<HTMLDListElement>('flops'),
  modelInfo: $<HTMLParagraphElement>('model-info'),
  checkpointFile: $<HTMLInputElement>('checkpoint-file'),
  demoCheckpoint: $<HTMLButtonElement>('demo-checkpoint'),
  bundledWeights: $<HTMLButtonElement>('bundled-weights'),
  reset: $<HTMLButtonElement>('reset'),
  save: $<HTMLButtonElement>('save'),
  steps: $<HTMLInputElement>('steps'),
  batch: $<HTMLInputElement>('batch'),
  lr: $<HTMLInputElement>('lr'),
  train: $<HTMLButtonElement>('train'),
  stop: $<HTMLButtonElement>('stop'),
  progress: $<HTMLProgressElement>('progress'),
  trainStatus: $<HTMLParagraphElement>('train-status'),
  loss: $<HTMLCanvasElement>('loss'),
};

/** What the page last drew, for tests and the curious (`window.tmposeLast`). */
export interface LastRun {
  count: number;
  source: string;
  imageSize: [number, number];
  options: EstimateOptions;
  result: PoseResult;
  /** Kept-token rectangles drawn over the people (0 when not drawn). */
  keptDrawn: number;
  /** The Transformer's cost at this run's keep ratio and sampler (as the FLOPs panel shows it). */
  flops: { keptTokens: number; transformerMacs: number; paperGflopsT: number };
  model: string;
  /** Milliseconds from navigation start to the moment this was drawn. */
  sinceLoadMs: number;
}
/** The last training run, live while it runs (`window.tmposeTraining`). */
export interface TrainingState {
  done: boolean;
  losses: number[];
  msPerStep: number;
  stopped: boolean;
}
declare global {
  interface Window {
    tmposeLast?: LastRun;
    tmposeTraining?: TrainingState;
    /** The model from outside the page's controls (tests): one estimate, with the page's settings by default. */
    tmposeApp?: { estimate(image: ImageInput, options?: Partial<EstimateOptions>): Promise<PoseResult> };
  }
}

// ---- messages -------------------------------------------------------------------------------------

function showMessage(text: string): void {
  el.message.textContent = text;
  el.message.hidden = false;
}
function clearMessage(): void {
  el.message.hidden = true;
  el.message.textContent = '';
}
const count = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));
window.addEventListener('error', (e) => showMessage(`Error: ${e.message}`));
window.addEventListener('unhandledrejection', (e) => showMessage(`Error: ${errorText(e.reason)}`));

// ---- state ----------------------------------------------------------------------------------------

let client: WorkerClient | null = null;
let model: ModelInfo | null = null;
/** The photo on show (null while the webcam runs). */
let picture: { bitmap: ImageBitmap; boxes: Box[] | null; name: string } | null = null;
let camera: { stream: MediaStream; video: HTMLVideoElement; running: boolean } | null = null;
let training = false;
let drawn = 0;
const sampleBoxes = new Map<string, Box[]>();

function options(boxes: Box[] | null): EstimateOptions {
  return {
    boxes,
    keep: Number(el.keep.value),
    sampler: el.sampler.value as Sampler,
    seed: SEED,
    flip: el.flip.checked,
  };
}

function worker(): WorkerClient {
  if (!client) throw new Error('the model is not running (see the message above)');
  return client;
}

// ---- drawing --------------------------------------------------------------------------------------

const fmt = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} G` : n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : `${(n / 1e3).toFixed(1)} k`);

/** What the Transformer costs at a keep ratio with a sampler (`countFlops`, both conventions). */
function flopsOf(config: ModelConfig, keep: number, sampler: Sampler) {
  const c = { ...config, sampler };
  const paper = countFlops(c, { keep, convention: 'paper' });
  const macs = countFlops(c, { keep, convention: 'macs' });
  const all = countFlops(c, { keep: 1, convention: 'macs' });
  return {
    keptTokens: macs.keptTokens,
    allTokens: all.keptTokens,
    transformerMacs: macs.raw.transformer,
    share: macs.raw.transformer / all.raw.transformer,
    paperGflopsT: paper.transformer,
    totalMacs: macs.raw.total,
    backboneMacs: macs.raw.backbone,
  };
}

/** The FLOPs panel, for the slider's keep ratio and the chosen sampler. */
function showFlops(): void {
  el.keepValue.textContent = Number(el.keep.value).toFixed(2);
  if (!model) return;
  const f = flopsOf(model.config, Number(el.keep.value), el.sampler.value as Sampler);
  const rows: [string, string][] = [
    ['Visual tokens', `${f.keptTokens} of ${f.allTokens} kept`],
    ['Transformer', `${fmt(f.transformerMacs)}MACs (${(100 * f.share).toFixed(0)}% of keep 1)`],
    ['Paper counter', `${f.paperGflopsT.toPrecision(3)} GFLOPs^T`],
    ['Whole model', `${fmt(f.totalMacs)}MACs (backbone ${fmt(f.backboneMacs)}MACs)`],
  ];
  el.flops.replaceChildren(
    ...rows.flatMap(([k, v]) => {
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = v;
      return [dt, dd];
    }),
  );
}

function showModel(info: ModelInfo): void {
  model = info;
  el.modelInfo.textContent = `${info.config.name}: ${info.origin} · ${(info.parameters / 1e3).toFixed(0)}k parameters`;
  el.modelInfo.classList.toggle('untrained', !info.trained);
  showFlops();
}

/** Draws `image` and the result over it, and publishes the run on window.tmposeLast. */
function render(image: CanvasImageSource, width: number, height: number, result: PoseResult, opts: EstimateOptions, source: string): void {
  const canvas = el.canvas;
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const ctx = canvas.getContext('2d');
  if (!ctx || !model) return;
  ctx.drawImage(image, 0, 0, width, height);
  let keptDrawn = 0;
  if (el.showTokens.checked) {
    // keptTokens is null when the model saw every token: then the whole grid is drawn.
    const all = Array.from({ length: result.tokenGrid.rows * result.tokenGrid.cols }, (_, i) => i);
    result.people.forEach((person, i) => {
      const rects = keptTokenRects(person, result.tokenGrid, result.keptTokens?.[i] ?? all, result.inputSize);
      drawKeptTokens(ctx, rects);
      keptDrawn += rects.length;
    });
  }
  drawPoses(ctx, result.people);
  const t = result.timings;
  el.timings.textContent =
    `${count(result.people.length, 'person', 'people')} · total ${t.totalMs.toFixed(0)} ms ` +
    `(pixels ${t.pixelsMs.toFixed(0)}, crop ${t.cropMs.toFixed(0)}, model ${t.modelMs.toFixed(0)}, decode ${t.decodeMs.toFixed(0)})`;
  showFlops();
  const { keptTokens, transformerMacs, paperGflopsT } = flopsOf(model.config, opts.keep, opts.sampler);
  window.tmposeLast = {
    count: ++drawn,
    source,
    imageSize: [width, height],
    options: opts,
    result,
    keptDrawn,
    flops: { keptTokens, transformerMacs, paperGflopsT },
    model: model.origin,
    sinceLoadMs: performance.now(),
  };
  if (drawn === 1) el.status.dataset.firstSkeletonMs = performance.now().toFixed(0);
}

// ---- photos -----------------------------------------------------------------------------------------

let busy = false;
let again = false;

/** Runs the model on the photo on show; calls while one runs coalesce into one more run. */
async function refresh(): Promise<void> {
  if (!picture || camera || training || !client) return;
  if (busy) {
    again = true;
    return;
  }
  busy = true;
  try {
    do {
      again = false;
      const shown: NonNullable<typeof picture> = picture;
      const opts = options(shown.boxes);
      const copy = await createImageBitmap(shown.bitmap);
      const { result, model: info } = await worker().call({ type: 'estimate', image: copy, options: opts }, [copy]);
      showModel(info);
      if (picture === shown && !camera) render(shown.bitmap, shown.bitmap.width, shown.bitmap.height, result, opts, shown.name);
    } while (again && picture && !camera);
  } catch (err) {
    showMessage(`The model failed on this image: ${errorText(err)}`);
  } finally {
    busy = false;
  }
}

async function showPicture(blob: Blob, name: string, boxes: Box[] | null): Promise<void> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(blob);
  } catch {
    showMessage(`${name}: the browser could not decode this image`);
    return;
  }
  stopCamera();
  picture?.bitmap.close();
  picture = { bitmap, boxes, name };
  clearMessage();
  await refresh();
}

async function showSample(fileName: string): Promise<void> {
  const response = await fetch(SAMPLE_ROOT + fileName);
  if (!response.ok) throw new Error(`${SAMPLE_ROOT}${fileName}: HTTP ${response.status}`);
  await showPicture(await response.blob(), fileName, sampleBoxes.get(fileName) ?? null);
}

interface CocoJson {
  images: { id: number; file_name: string }[];
  annotations: { image_id: number; bbox: Box; num_keypoints: number; iscrowd?: number }[];
}

/** The bundled sample's photos and their ground-truth person boxes (the page has no person detector). */
async function listSamples(): Promise<string[]> {
  const response = await fetch(`${SAMPLE_ROOT}test_coco.json`);
  if (!response.ok) throw new Error(`the bundled sample is not served (${SAMPLE_ROOT}test_coco.json: HTTP ${response.status})`);
  const coco = (await response.json()) as CocoJson;
  for (const im of coco.images) {
    const boxes = coco.annotations.filter((a) => a.image_id === im.id && a.num_keypoints > 0 && !a.iscrowd).map((a) => a.bbox);
    sampleBoxes.set(im.file_name, boxes);
  }
  el.sample.replaceChildren(...coco.images.map((im) => new Option(`${im.file_name} (${count(sampleBoxes.get(im.file_name)!.length, 'person', 'people')})`, im.file_name)));
  return coco.images.map((im) => im.file_name);
}

// ---- webcam -----------------------------------------------------------------------------------------

async function startCamera(): Promise<void> {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new Error('this page has no camera access (navigator.mediaDevices is missing: open it from localhost or https)');
  }
  let stream: MediaStream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
  } catch (err) {
    throw new Error(`the webcam could not start: ${err instanceof DOMException ? `${err.name}: ${err.message}` : errorText(err)}`);
  }
  const video = document.createElement('video');
  video.muted = true;
  video.playsInline = true;
  video.srcObject = stream;
  try {
    await video.play();
  } catch (err) {
    for (const track of stream.getTracks()) track.stop();
    throw new Error(`the webcam video could not play: ${errorText(err)}`);
  }
  camera = { stream, video, running: true };
  el.webcam.textContent = 'Stop the webcam';
  clearMessage();
  void cameraLoop(camera);
}

function stopCamera(): void {
  if (!camera) return;
  camera.running = false;
  for (const track of camera.stream.getTracks()) track.stop();
  camera = null;
  el.webcam.textContent = 'Start the webcam';
  el.fps.textContent = '';
}

/** One frame at a time: the frame goes to the worker, and is drawn with its skeletons when they come back. */
async function cameraLoop(cam: NonNullable<typeof camera>): Promise<void> {
  let last = performance.now();
  let fps = 0;
  while (cam.running) {
    if (cam.video.readyState < 2 || training) {
      await new Promise((r) => setTimeout(r, 50));
      continue;
    }
    const frame = new VideoFrame(cam.video, { timestamp: Math.round(performance.now() * 1000) });
    const shown = frame.clone();
    try {
      const opts = options(null);
      const { result } = await worker().call({ type: 'estimate', image: frame, options: opts }, [frame]);
      if (!cam.running) break;
      render(shown, shown.displayWidth, shown.displayHeight, result, opts, 'webcam');
      const now = performance.now();
      fps = fps ? 0.8 * fps + 0.2 * (1000 / (now - last)) : 1000 / (now - last);
      last = now;
      el.fps.textContent = `${fps.toFixed(1)} frames per second`;
    } catch (err) {
      showMessage(`The model failed on a webcam frame: ${errorText(err)}`);
      stopCamera();
    } finally {
      shown.close();
    }
  }
}

// ---- checkpoints ------------------------------------------------------------------------------------

/**
 * Loads a checkpoint (or exported weights): a file the user gave, or the URL of one the server has;
 * `label` says where its weights come from (default: its name).
 */
async function loadCheckpoint(name: string, source: File | string, label?: string): Promise<void> {
  clearMessage();
  el.status.textContent = `Loading ${name}…`;
  try {
    const { model: info } = await worker().call({ type: 'load', name, source, label });
    showModel(info);
    clearMessage();
    el.status.textContent = `Loaded ${name}`;
  } catch (err) {
    showMessage(`Could not load the checkpoint ${name}: ${errorText(err)}`);
    el.status.textContent = `${name} was not loaded; the model is unchanged`;
    return;
  }
  await refresh();
}

interface ServerCheckpoint {
  name: string;
  url: string;
  label?: string;
}

/**
 * The weights the server has (serve.ts's /checkpoints.json), each offered on a button: the checkpoint
 * `pnpm demo` wrote (out/demo/last.safetensors) when there is one, and the bundled trained `tiny`
 * (data/weights/tiny-coco-mini.safetensors). Returns the one to start from: out/demo's, else the bundled
 * one, else null (the seeded, untrained `tiny`).
 */
async function offerCheckpoints(): Promise<ServerCheckpoint | null> {
  const response = await fetch('/checkpoints.json');
  if (!response.ok) return null;
  const list = (await response.json()) as { name: string; url: string; bytes: number; kind: 'demo' | 'bundled' }[];
  const offer = (button: HTMLButtonElement, entry: (typeof list)[number] | undefined, label?: string): ServerCheckpoint | null => {
    if (!entry) return null;
    const found = { name: entry.name, url: new URL(entry.url, location.href).href, label };
    button.hidden = false;
    button.onclick = () => void loadCheckpoint(found.name, found.url, found.label);
    return found;
  };
  const demoEntry = list.find((c) => c.kind === 'demo');
  const demo = offer(el.demoCheckpoint, demoEntry);
  if (demo) el.demoCheckpoint.textContent = `Load ${demo.name}`;
  const bundledEntry = list.find((c) => c.kind === 'bundled');
  const bundled = offer(el.bundledWeights, bundledEntry, bundledEntry && BUNDLED_LABEL(bundledEntry.name));
  return demo ?? bundled;
}

/** Downloads the model's weights (exported weights: `loadModel` and the CLI read them back). */
async function saveWeights(): Promise<void> {
  const { bytes, fileName } = await worker().call({ type: 'save' });
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// ---- training -----------------------------------------------------------------------------------------

function trainOptions(): TrainOptions {
  const steps = Math.round(Number(el.steps.value));
  const batchSize = Math.round(Number(el.batch.value));
  const lr = Number(el.lr.value);
  if (!(steps >= 1)) throw new Error('steps must be a positive number');
  if (!(batchSize >= 1 && batchSize <= 32)) throw new Error('the batch must hold 1 to 32 samples');
  if (!(lr > 0)) throw new Error('the learning rate must be positive');
  return { steps, batchSize, lr, seed: SEED };
}

async function train(): Promise<void> {
  const opts = trainOptions();
  clearMessage();
  training = true;
  el.train.disabled = true;
  el.stop.disabled = false;
  el.progress.value = 0;
  el.trainStatus.textContent = 'Decoding the sample images and compiling the training kernels…';
  const state: TrainingState = { done: false, losses: [], msPerStep: 0, stopped: false };
  window.tmposeTraining = state;
  drawLossPlot(el.loss, state.losses, opts.steps);
  try {
    const reply = await worker().call({ type: 'train', options: opts }, [], (p) => {
      state.losses.push(p.loss);
      state.msPerStep = p.msPerStep;
      el.progress.value = p.step / p.steps;
      el.trainStatus.textContent = `step ${p.step} of ${p.steps} · loss ${p.loss.toExponential(3)} · lr ${p.lr.toExponential(1)} · ${(p.msPerStep / 1000).toFixed(1)} s per step`;
      drawLossPlot(el.loss, state.losses, p.steps);
    });
    Object.assign(state, { losses: reply.losses, msPerStep: reply.msPerStep, stopped: reply.stopped });
    const first = reply.losses[0];
    const lastLoss = reply.losses.at(-1);
    el.trainStatus.textContent =
      first === undefined || lastLoss === undefined
        ? 'Stopped before the first step.'
        : `${reply.stopped ? 'Stopped after' : 'Trained'} ${count(reply.losses.length, 'step', 'steps')}: loss ${first.toExponential(3)} → ${lastLoss.toExponential(3)}, ${(reply.msPerStep / 1000).toFixed(1)} s per step.`;
    showModel(reply.model);
  } catch (err) {
    showMessage(`Training failed: ${errorText(err)}`);
  } finally {
    state.done = true;
    training = false;
    el.train.disabled = false;
    el.stop.disabled = true;
  }
  await refresh();
}

// ---- wiring -----------------------------------------------------------------------------------------

function wire(): void {
  const onSetting = () => {
    showFlops();
    void refresh();
  };
  // While the slider moves: the FLOPs at once, the model as fast as it runs (moves during a run coalesce).
  el.keep.addEventListener('input', onSetting);
  for (const input of [el.sampler, el.showTokens, el.flip]) input.addEventListener('change', onSetting);
  el.sample.addEventListener('change', () => void showSample(el.sample.value).catch((err) => showMessage(errorText(err))));
  el.photoFile.addEventListener('change', () => {
    const file = el.photoFile.files?.[0];
    if (file) void showPicture(file, file.name, null);
    el.photoFile.value = '';
  });
  el.checkpointFile.addEventListener('change', () => {
    const file = el.checkpointFile.files?.[0];
    el.checkpointFile.value = '';
    if (file) void loadCheckpoint(file.name, file);
  });
  el.webcam.addEventListener('click', () => {
    if (camera) {
      stopCamera();
      if (el.sample.value) void showSample(el.sample.value).catch((err) => showMessage(errorText(err)));
    } else {
      void startCamera().catch((err) => showMessage(`The webcam: ${errorText(err)}`));
    }
  });
  el.reset.addEventListener('click', async () => {
    try {
      clearMessage();
      showModel((await worker().call({ type: 'reset', seed: SEED })).model);
      await refresh();
    } catch (err) {
      showMessage(errorText(err));
    }
  });
  el.save.addEventListener('click', () => void saveWeights().catch((err) => showMessage(`Could not save the weights: ${errorText(err)}`)));
  el.train.addEventListener('click', () => void train().catch((err) => showMessage(errorText(err))));
  el.stop.addEventListener('click', () => void worker().call({ type: 'stop' }));

  // Drop a photo or a checkpoint anywhere.
  window.addEventListener('dragover', (e) => {
    e.preventDefault();
    el.stage.classList.add('dragging');
  });
  window.addEventListener('dragleave', () => el.stage.classList.remove('dragging'));
  window.addEventListener('drop', (e) => {
    e.preventDefault();
    el.stage.classList.remove('dragging');
    const file = e.dataTransfer?.files[0];
    if (!file) return;
    if (file.name.endsWith('.safetensors')) void loadCheckpoint(file.name, file);
    else if (file.type.startsWith('image/')) void showPicture(file, file.name, null);
    else showMessage(`${file.name}: drop a photo (JPEG, PNG, ...) or a .safetensors checkpoint`);
  });
}

async function main(): Promise<void> {
  wire();
  drawLossPlot(el.loss, [], 0);
  const samples = listSamples().catch((err) => {
    showMessage(errorText(err));
    return [] as string[];
  });
  const served = offerCheckpoints().catch(() => null);
  if (!('gpu' in navigator) || !navigator.gpu) {
    showMessage(
      'This browser has no WebGPU (navigator.gpu is missing), so the model cannot run here. Use a recent Chrome or Edge; ' +
        'Chromium on Linux needs --enable-unsafe-webgpu; the page must come from localhost or https.',
    );
    el.status.textContent = 'No WebGPU';
    return;
  }
  client = new WorkerClient('/worker.js', (message) => {
    showMessage(message);
    el.status.textContent = 'The model stopped';
  });
  let adapter: string;
  try {
    const reply = await client.call({ type: 'init', seed: SEED });
    adapter = reply.adapter;
    showModel(reply.model);
  } catch (err) {
    showMessage(errorText(err));
    el.status.textContent = 'The model could not start';
    client = null;
    return;
  }
  el.status.textContent = `WebGPU: ${adapter}`;
  window.tmposeApp = {
    async estimate(image, overrides = {}) {
      const opts = { ...options(picture?.boxes ?? null), ...overrides };
      const transfer = image instanceof ImageData ? [] : [image];
      return (await worker().call({ type: 'estimate', image, options: opts }, transfer)).result;
    },
  };
  // The model `pnpm demo` trained when out/demo has it; else the bundled trained `tiny`; else (a server
  // without either) the seeded, untrained `tiny` the worker started with.
  const found = await served;
  if (found) await loadCheckpoint(found.name, found.url, found.label);
  const first = (await samples)[0];
  if (first) await showSample(first);
  const firstMs = el.status.dataset.firstSkeletonMs;
  if (firstMs) el.status.textContent = `WebGPU: ${adapter} · first skeleton ${(Number(firstMs) / 1000).toFixed(1)} s after the page opened`;
}

void main().catch((err) => showMessage(errorText(err)));
