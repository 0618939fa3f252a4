// Building one batch: per sample, read the file, read the image size from its header, plan the crop
// (augmentation + affine), decode only the rows the warp reads (sharp, on libuv's thread pool, a few
// samples ahead), then warp and write the targets as each image arrives. With the image cache the
// whole image is decoded once and kept. Used by the loader workers and by the in-process mode.

import type { PoseDataset } from './dataset.js';
import { decodeImageBuffer, ImageCache, imageBufferSize, readImageFile, type DecodedImage } from './image.js';
import {
  allocBatch,
  planRowsNeeded,
  planSample,
  renderSample,
  SampleWorkspace,
  type BatchArrays,
  type PipelineConfig,
  type SampleMeta,
  type SamplePlan,
} from './sample.js';

export interface BatchTask {
  id: number;
  epoch: number;
  seed: number;
  /** Dataset indices of the batch's samples. */
  indices: Int32Array;
  /** Their positions in the epoch (random streams). */
  positions: Int32Array;
}

export interface BatchResult extends BatchArrays {
  id: number;
  meta: SampleMeta[];
}

interface Prepared {
  plan: SamplePlan;
  image: DecodedImage;
}

/** Per-thread state: the dataset, the config, reusable buffers and the optional image cache. */
export class BatchBuilder {
  private readonly ws: SampleWorkspace;
  private readonly cache: ImageCache | undefined;

  constructor(
    readonly ds: PoseDataset,
    readonly cfg: PipelineConfig,
    cacheBytes: number,
    readonly decodeConcurrency = 6,
  ) {
    this.ws = new SampleWorkspace(cfg);
    this.cache = cacheBytes > 0 ? new ImageCache(cacheBytes) : undefined;
  }

  private async prepare(task: BatchTask, s: number): Promise<Prepared> {
    const index = task.indices[s]!;
    const ii = this.ds.imageIndex[index]!;
    const path = this.ds.images[ii]!.path;
    const plan = (width: number) => planSample(this.ds, index, width, this.cfg, task.seed, task.epoch, task.positions[s]!);
    if (this.cache) {
      const image = await this.cache.get(ii, path);
      return { plan: plan(image.width), image };
    }
    const buf = await readImageFile(path);
    const size = await imageBufferSize(buf, path);
    const p = plan(size.width);
    const image = await decodeImageBuffer(buf, path, { rows: planRowsNeeded(p, this.cfg, size.height) });
    if (image.width !== size.width || image.height !== size.height) {
      throw new Error(`image ${path}: header says ${size.width}×${size.height}, decoded ${image.width}×${image.height}`);
    }
    return { plan: p, image };
  }

  async build(task: BatchTask): Promise<BatchResult> {
    const n = task.indices.length;
    const out = allocBatch(n, this.ds.numJoints, this.cfg);
    const meta = new Array<SampleMeta>(n);
    const pending = new Array<Promise<Prepared> | undefined>(n);
    let next = 0;
    const launch = (): void => {
      if (next < n) {
        const p = this.prepare(task, next);
        p.catch(() => {}); // handled when awaited below; avoids an unhandled rejection meanwhile
        pending[next++] = p;
      }
    };
    for (let k = 0; k < Math.max(1, this.decodeConcurrency); k++) launch();
    for (let s = 0; s < n; s++) {
      const { plan, image } = await pending[s]!;
      pending[s] = undefined;
      launch();
      const index = task.indices[s]!;
      try {
        meta[s] = renderSample(this.ds, index, plan, image, this.cfg, task.positions[s]!, out, s, this.ws);
      } catch (e) {
        throw new Error(`sample ${index} (${this.ds.images[this.ds.imageIndex[index]!]!.path}): ${(e as Error).message}`);
      }
    }
    return { id: task.id, ...out, meta };
  }
}
