// The loader's worker thread. The main thread starts it with a tiny eval'd bootstrap that imports this
// module (from source, through tsx) or the built loader module (dist/data/loader.js re-exports
// `runLoaderWorker`) and calls `runLoaderWorker()`.
//
// Protocol (structured clone):
//   main → worker  {type: 'init', dataset, config, cacheBytes, decodeConcurrency}
//                  {type: 'batch', task: BatchTask}
//   worker → main  {type: 'ready'}
//                  {type: 'batch', result: BatchResult}   (the three arrays' buffers are transferred)
//                  {type: 'error', id, message}
// Tasks run concurrently (the loader sends `prefetch` of them): their image decodes, on libuv's thread
// pool, overlap each other and the warps on this thread. Measured on the 2-core machine: running the
// tasks one after another and 3 decodes ahead gave 245 samples/s with 2 workers, concurrently and 6
// ahead 337.

import { BatchBuilder, type BatchTask } from './batch.js';
import type { PoseDataset } from './dataset.js';
import type { PipelineConfig } from './sample.js';
import { importHidden } from '../node.js';

export interface InitMessage {
  type: 'init';
  dataset: PoseDataset;
  config: PipelineConfig;
  cacheBytes: number;
  decodeConcurrency: number;
}

export interface BatchMessage {
  type: 'batch';
  task: BatchTask;
}

/** The worker's entry point. Does nothing outside a worker thread. */
export async function runLoaderWorker(): Promise<void> {
  const { parentPort, isMainThread } = await importHidden<typeof import('node:worker_threads')>('node:worker_threads');
  if (isMainThread || !parentPort) return;
  const port = parentPort;
  let builder: BatchBuilder | undefined;
  port.on('message', (msg: InitMessage | BatchMessage) => {
    if (msg.type === 'init') {
      builder = new BatchBuilder(msg.dataset, msg.config, msg.cacheBytes, msg.decodeConcurrency);
      port.postMessage({ type: 'ready' });
      return;
    }
    if (msg.type === 'batch') {
      const task = msg.task;
      const run = async (): Promise<void> => {
        if (!builder) {
          port.postMessage({ type: 'error', id: task.id, message: 'loader worker: batch before init' });
          return;
        }
        try {
          const result = await builder.build(task);
          port.postMessage({ type: 'batch', result }, [
            result.images.buffer as ArrayBuffer,
            result.targets.buffer as ArrayBuffer,
            result.targetWeights.buffer as ArrayBuffer,
          ]);
        } catch (e) {
          port.postMessage({ type: 'error', id: task.id, message: (e as Error).message ?? String(e) });
        }
      };
      void run();
    }
  });
}
