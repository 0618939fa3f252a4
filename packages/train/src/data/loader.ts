// DataLoader: batches of top-down samples as host arrays, built by `worker_threads` workers.
//
//   const loader = new DataLoader(dataset, { batchSize: 32, seed: 1 });
//   for await (const b of loader.epoch(0)) {
//     const x = tensor(b.images, b.imageShape);   // [B, 3, 256, 192]
//     const t = tensor(b.targets, b.targetShape); // [B, J, 64, 48]
//     ...
//   }
//   await loader.close();
//
// - Order: epoch e uses permutation(seed, "shuffle", e) of the samples (or 0..N−1 without shuffling);
//   `samplesPerEpoch` repeats the dataset (a fresh permutation per repeat) or cuts it.
// - Determinism: sample k of epoch e is augmented by its own stream Rng(seed, "sample", e, k), so a
//   seed fixes every batch, whatever the number of workers and whatever the timing.
// - Work split: whole batches go to workers (the least busy first), `prefetch` batches in flight; each
//   worker writes straight into the batch's arrays and transfers them (no copy on the main thread).
//   Inside a worker, sharp decodes several images ahead on libuv's thread pool while the JS thread warps.
// - `workers: 0` builds batches on the calling thread (same results).
// - Workers are unref'd while idle, so a forgotten `close()` does not keep the process alive.

import type { PoseDataset } from './dataset.js';
import { BatchBuilder, type BatchResult, type BatchTask } from './batch.js';
import { permutation, Rng } from './rng.js';
import type { PipelineConfig, SampleMeta } from './sample.js';
import { COCO_AUGMENT, MPII_AUGMENT, type AugmentConfig } from './transforms.js';
import type { BatchMessage, InitMessage } from './worker.js';
import { importHidden } from '../node.js';

// The worker's bootstrap imports this module for it (see workerBootstrap).
export { runLoaderWorker } from './worker.js';

export interface DataLoaderOptions {
  batchSize: number;
  /** Apply the training augmentation. Default true. */
  train?: boolean;
  /** Shuffle each epoch. Default: same as `train`. */
  shuffle?: boolean;
  /** Seed of the shuffling and of every augmentation. Default 0. */
  seed?: number;
  /** Drop the last incomplete batch. Default false. */
  dropLast?: boolean;
  /** Samples per epoch (repeats or cuts the dataset). Default: the dataset's length. */
  samplesPerEpoch?: number;
  /** Worker threads; 0 = build batches on the calling thread. Default: the number of cores. */
  workers?: number;
  /** Batches in flight. Default 2 per worker (2 with no workers). */
  prefetch?: number;
  /** Keep decoded images in memory (per worker): true = up to 1 GiB, or a byte limit. Default false. */
  cacheImages?: boolean | number;
  /** Images decoded ahead per batch being built. Default 6. */
  decodeConcurrency?: number;
  /** Input [width, height]. Default [192, 256] (COCO) or [256, 256] (MPII). */
  inputSize?: [number, number];
  /** Heatmap [width, height]. Default input / 4. */
  heatmapSize?: [number, number];
  /** Target σ. Default 2. */
  sigma?: number;
  /** Augmentation overrides (defaults: COCO_AUGMENT or MPII_AUGMENT by dataset kind). */
  augment?: Partial<AugmentConfig>;
  mean?: [number, number, number];
  std?: [number, number, number];
}

export interface Batch {
  epoch: number;
  /** Index of the batch in its epoch. */
  index: number;
  /** Samples in this batch (B). */
  size: number;
  /** [B, 3, H, W] normalised RGB. */
  images: Float32Array;
  /** [B, J, h, w] Gaussian heatmaps. */
  targets: Float32Array;
  /** [B, J]. */
  targetWeights: Float32Array;
  imageShape: [number, number, number, number];
  targetShape: [number, number, number, number];
  weightShape: [number, number];
  meta: SampleMeta[];
}

interface Pending {
  resolve: (r: BatchResult) => void;
  reject: (e: Error) => void;
}

interface WorkerSlot {
  worker: import('node:worker_threads').Worker;
  pending: Map<number, Pending>;
  dead: Error | undefined;
}

const DEFAULT_CACHE_BYTES = 1024 ** 3;

export class DataLoader {
  readonly dataset: PoseDataset;
  readonly batchSize: number;
  readonly train: boolean;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  readonly samplesPerEpoch: number;
  readonly workers: number;
  readonly prefetch: number;
  readonly config: PipelineConfig;
  private readonly cacheBytes: number;
  private readonly decodeConcurrency: number;
  private pool: Promise<WorkerSlot[]> | undefined;
  private local: BatchBuilder | undefined;
  private nextId = 1;
  private closed = false;

  constructor(dataset: PoseDataset, options: DataLoaderOptions) {
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1) {
      throw new Error(`DataLoader: batchSize must be a positive integer, got ${options.batchSize}`);
    }
    if (dataset.length === 0) throw new Error('DataLoader: the dataset is empty');
    this.dataset = dataset;
    this.batchSize = options.batchSize;
    this.train = options.train ?? true;
    this.shuffle = options.shuffle ?? this.train;
    this.seed = options.seed ?? 0;
    this.dropLast = options.dropLast ?? false;
    this.samplesPerEpoch = options.samplesPerEpoch ?? dataset.length;
    if (!Number.isInteger(this.samplesPerEpoch) || this.samplesPerEpoch < 1) {
      throw new Error(`DataLoader: samplesPerEpoch must be a positive integer, got ${options.samplesPerEpoch}`);
    }
    this.workers = options.workers ?? defaultWorkers();
    if (!Number.isInteger(this.workers) || this.workers < 0) throw new Error(`DataLoader: bad workers ${options.workers}`);
    this.prefetch = Math.max(1, options.prefetch ?? 2 * Math.max(1, this.workers));
    const c = options.cacheImages ?? false;
    this.cacheBytes = c === true ? DEFAULT_CACHE_BYTES : c === false ? 0 : Math.max(0, c);
    this.decodeConcurrency = options.decodeConcurrency ?? 6;
    const mpii = dataset.kind === 'mpii';
    const inputSize = options.inputSize ?? (mpii ? [256, 256] : [192, 256]);
    const heatmapSize = options.heatmapSize ?? [inputSize[0] / 4, inputSize[1] / 4];
    const aug: AugmentConfig = { ...(mpii ? MPII_AUGMENT : COCO_AUGMENT), ...options.augment };
    if (!options.augment?.aspectRatio && !mpii) aug.aspectRatio = inputSize[0] / inputSize[1];
    this.config = {
      train: this.train,
      inputSize: [inputSize[0], inputSize[1]],
      heatmapSize: [heatmapSize[0], heatmapSize[1]],
      sigma: options.sigma ?? 2,
      augment: aug,
      mean: options.mean,
      std: options.std,
    };
  }

  /** Batches per epoch. */
  get length(): number {
    return this.dropLast ? Math.floor(this.samplesPerEpoch / this.batchSize) : Math.ceil(this.samplesPerEpoch / this.batchSize);
  }

  /** The dataset indices of epoch `epoch`, in order. */
  order(epoch: number): Int32Array {
    const N = this.dataset.length;
    const E = this.samplesPerEpoch;
    const out = new Int32Array(E);
    if (!this.shuffle) {
      for (let k = 0; k < E; k++) out[k] = k % N;
      return out;
    }
    for (let r = 0, k = 0; k < E; r++) {
      const p = permutation(N, new Rng(this.seed, 'shuffle', epoch, r));
      const m = Math.min(N, E - k);
      out.set(m === N ? p : p.subarray(0, m), k);
      k += m;
    }
    return out;
  }

  /**
   * The batches of epoch `epoch`, in order, from batch `from` on (an interrupted epoch resumed: its
   * batches are the same as in an uninterrupted one). Breaking out of the loop early is fine.
   */
  async *epoch(epoch: number, from = 0): AsyncGenerator<Batch, void, undefined> {
    if (this.closed) throw new Error('DataLoader: closed');
    const order = this.order(epoch);
    const nb = this.length;
    const B = this.batchSize;
    const tasks: BatchTask[] = [];
    for (let b = from; b < nb; b++) {
      const start = b * B;
      const end = Math.min(start + B, order.length);
      const positions = new Int32Array(end - start);
      for (let k = 0; k < positions.length; k++) positions[k] = start + k;
      tasks.push({ id: 0, epoch, seed: this.seed, indices: order.slice(start, end), positions });
    }
    const inFlight: Promise<BatchResult>[] = [];
    let submitted = 0;
    const count = tasks.length;
    const submit = (): void => {
      const t = tasks[submitted++]!;
      t.id = this.nextId++;
      const p = this.run(t);
      p.catch(() => {}); // surfaced when the batch is reached
      inFlight.push(p);
    };
    try {
      for (let k = 0; k < count; k++) {
        while (submitted < count && inFlight.length < this.prefetch) submit();
        const next = inFlight.shift()!;
        // Keep `prefetch` batches in flight while this one is awaited and consumed.
        while (submitted < count && inFlight.length < this.prefetch) submit();
        const r = await next;
        yield this.toBatch(epoch, from + k, r);
      }
    } finally {
      // Abandoned batches finish in the workers and are dropped.
      inFlight.length = 0;
    }
  }

  private toBatch(epoch: number, index: number, r: BatchResult): Batch {
    const [iw, ih] = this.config.inputSize;
    const [hw, hh] = this.config.heatmapSize;
    const n = r.meta.length;
    const J = this.dataset.numJoints;
    return {
      epoch,
      index,
      size: n,
      images: r.images,
      targets: r.targets,
      targetWeights: r.targetWeights,
      imageShape: [n, 3, ih, iw],
      targetShape: [n, J, hh, hw],
      weightShape: [n, J],
      meta: r.meta,
    };
  }

  private async run(task: BatchTask): Promise<BatchResult> {
    if (this.closed) throw new Error('DataLoader: closed');
    if (this.workers === 0) {
      this.local ??= new BatchBuilder(this.dataset, this.config, this.cacheBytes, this.decodeConcurrency);
      return this.local.build(task);
    }
    const pool = await (this.pool ??= this.startPool());
    const live = pool.filter((s) => !s.dead);
    if (live.length === 0) throw pool[0]!.dead!;
    let slot = live[0]!;
    for (const s of live) if (s.pending.size < slot.pending.size) slot = s;
    return new Promise<BatchResult>((resolve, reject) => {
      if (slot.pending.size === 0) slot.worker.ref();
      slot.pending.set(task.id, { resolve, reject });
      const msg: BatchMessage = { type: 'batch', task };
      slot.worker.postMessage(msg);
    });
  }

  private async startPool(): Promise<WorkerSlot[]> {
    const { Worker } = await importHidden<typeof import('node:worker_threads')>('node:worker_threads');
    const { bootstrap, execArgv } = await workerBootstrap();
    const init: InitMessage = {
      type: 'init',
      dataset: this.dataset,
      config: this.config,
      cacheBytes: this.cacheBytes,
      decodeConcurrency: this.decodeConcurrency,
    };
    const slots: WorkerSlot[] = [];
    const ready: Promise<void>[] = [];
    for (let i = 0; i < this.workers; i++) {
      const worker = new Worker(bootstrap, { eval: true, execArgv, name: `tmpose-loader-${i}` });
      const slot: WorkerSlot = { worker, pending: new Map(), dead: undefined };
      slots.push(slot);
      let onReady!: () => void;
      let onFail!: (e: Error) => void;
      ready.push(
        new Promise<void>((res, rej) => {
          onReady = res;
          onFail = rej;
        }),
      );
      const failAll = (err: Error): void => {
        if (slot.dead) return;
        slot.dead = err;
        onFail(err);
        for (const p of slot.pending.values()) p.reject(err);
        slot.pending.clear();
      };
      worker.on('message', (msg: { type: string; result?: BatchResult; id?: number; message?: string }) => {
        if (msg.type === 'ready') {
          onReady();
          return;
        }
        const id = msg.type === 'batch' ? msg.result!.id : msg.id!;
        const p = slot.pending.get(id);
        if (!p) return;
        slot.pending.delete(id);
        if (slot.pending.size === 0) worker.unref();
        if (msg.type === 'batch') p.resolve(msg.result!);
        else p.reject(new Error(msg.message));
      });
      worker.on('error', (e) => failAll(new Error(`loader worker ${i} failed: ${e.message}`)));
      worker.on('exit', (code) => failAll(new Error(`loader worker ${i} exited (code ${code})`)));
      worker.postMessage(init);
    }
    await Promise.all(ready);
    for (const s of slots) if (s.pending.size === 0) s.worker.unref();
    return slots;
  }

  /** Stops the workers. The loader cannot be used afterwards. */
  async close(): Promise<void> {
    this.closed = true;
    const pool = this.pool;
    this.pool = undefined;
    if (!pool) return;
    let slots: WorkerSlot[];
    try {
      slots = await pool;
    } catch {
      return;
    }
    const err = new Error('DataLoader: closed');
    await Promise.all(
      slots.map(async (s) => {
        s.dead ??= err;
        for (const p of s.pending.values()) p.reject(err);
        s.pending.clear();
        await s.worker.terminate();
      }),
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function defaultWorkers(): number {
  type Os = { availableParallelism?: () => number; cpus: () => unknown[] };
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const os = proc?.getBuiltinModule?.('node:os') as Os | undefined;
  if (os) return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  const n = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  return Math.max(1, n ?? 1);
}

/**
 * The code a worker runs first: import the module that exports `runLoaderWorker` and call it. From
 * source (`.ts`, under vitest or tsx) that is ./worker.ts, loaded through tsx's ESM hooks, with the
 * `source` export condition so that the workspace packages it imports (@tmpose/model's affine) resolve
 * to their sources too, as vitest's aliases do on the main thread; built, it is this module itself
 * (dist/data/loader.js, or the app bundle it is part of, such as the CLI's), which re-exports it.
 */
async function workerBootstrap(): Promise<{ bootstrap: string; execArgv?: string[] }> {
  const self = import.meta.url;
  const fromSource = /\.[cm]?tsx?$/.test(new URL(self).pathname);
  const entry = fromSource ? new URL('./worker.ts', self).href : self;
  let register = '';
  if (fromSource) {
    const { createRequire } = await importHidden<typeof import('node:module')>('node:module');
    const { pathToFileURL } = await importHidden<typeof import('node:url')>('node:url');
    let api: string;
    try {
      const pkg = createRequire(self).resolve('tsx/package.json');
      api = pathToFileURL(pkg.replace(/package\.json$/, 'dist/esm/api/index.mjs')).href;
    } catch {
      throw new Error('DataLoader: running from TypeScript sources needs the `tsx` package for the workers (or use workers: 0)');
    }
    register = `const api = await import(${JSON.stringify(api)}); api.register();`;
  }
  const bootstrap =
    `(async () => { ${register} const m = await import(${JSON.stringify(entry)}); await m.runLoaderWorker(); })()` +
    `.catch((e) => { require('node:worker_threads').parentPort.postMessage({ type: 'error', id: -1, message: String(e && e.stack || e) }); throw e; });`;
  return { bootstrap, execArgv: fromSource ? [...process.execArgv, '--conditions=source'] : undefined };
}
