// Building one batch: decode the images (sharp, off the JS thread, a few at a time) and run each sample
// through the pipeline as its image arrives. Used by the loader workers and by the in-process mode.

import type { PoseDataset } from './dataset.js';
import { ImageCache, readImage, type DecodedImage } from './image.js';
import { allocBatch, processSample, SampleWorkspace, type BatchArrays, type PipelineConfig, type SampleMeta } from './sample.js';

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

/** Per-thread state: the dataset, the config, reusable buffers and the optional image cache. */
export class BatchBuilder {
  private readonly ws: SampleWorkspace;
  private readonly cache: ImageCache | undefined;

  constructor(
    readonly ds: PoseDataset,
    readonly cfg: PipelineConfig,
    cacheBytes: number,
    readonly decodeConcurrency = 3,
  ) {
    this.ws = new SampleWorkspace(cfg);
    this.cache = cacheBytes > 0 ? new ImageCache(cacheBytes) : undefined;
  }

  private image(index: number): Promise<DecodedImage> {
    const ii = this.ds.imageIndex[index]!;
    const path = this.ds.images[ii]!.path;
    return this.cache ? this.cache.get(ii, path) : readImage(path);
  }

  async build(task: BatchTask): Promise<BatchResult> {
    const n = task.indices.length;
    const out = allocBatch(n, this.ds.numJoints, this.cfg);
    const meta = new Array<SampleMeta>(n);
    const pending = new Array<Promise<DecodedImage> | undefined>(n);
    let next = 0;
    const launch = (): void => {
      if (next < n) {
        const p = this.image(task.indices[next]!);
        p.catch(() => {}); // handled when awaited below; avoids an unhandled rejection meanwhile
        pending[next++] = p;
      }
    };
    for (let k = 0; k < Math.max(1, this.decodeConcurrency); k++) launch();
    for (let s = 0; s < n; s++) {
      const image = await pending[s]!;
      pending[s] = undefined;
      launch();
      const index = task.indices[s]!;
      try {
        meta[s] = processSample(this.ds, index, image, this.cfg, task.seed, task.epoch, task.positions[s]!, out, s, this.ws);
      } catch (e) {
        throw new Error(`sample ${index} (${this.ds.images[this.ds.imageIndex[index]!]!.path}): ${(e as Error).message}`);
      }
    }
    return { id: task.id, ...out, meta };
  }
}
