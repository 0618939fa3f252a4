// The page's side of the worker protocol: `call` sends one request and resolves with its typed reply
// (or rejects with the worker's message); training progress goes to the callback given with the call.
import type { FromWorker, Replies, Request, ToWorker, TrainProgress } from './protocol.js';

type Pending = {
  resolve: (reply: never) => void;
  reject: (err: Error) => void;
  onProgress?: (p: TrainProgress) => void;
};

export class WorkerClient {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;

  /** `onFatal` hears of a worker that failed to load or crashed (every pending call is rejected too). */
  constructor(url: string, onFatal: (message: string) => void) {
    this.#worker = new Worker(url, { type: 'module', name: 'tmpose-model' });
    this.#worker.onmessage = (e: MessageEvent<FromWorker>) => this.#receive(e.data);
    this.#worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      const message = `the model worker failed: ${e.message || 'it could not be loaded'}`;
      for (const p of this.#pending.values()) p.reject(new Error(message));
      this.#pending.clear();
      onFatal(message);
    };
  }

  /** Sends `request` (transferring `transfer`) and resolves with the worker's reply. */
  call<R extends Request>(request: R, transfer: Transferable[] = [], onProgress?: (p: TrainProgress) => void): Promise<Replies[R['type']]> {
    const id = this.#nextId++;
    return new Promise<Replies[R['type']]>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (reply: never) => void, reject, onProgress });
      this.#worker.postMessage({ ...request, id } satisfies ToWorker, transfer);
    });
  }

  #receive(message: FromWorker): void {
    const pending = this.#pending.get(message.id);
    if (!pending) return;
    if ('progress' in message) {
      pending.onProgress?.(message.progress);
      return;
    }
    this.#pending.delete(message.id);
    if (message.ok) pending.resolve(message.reply as never);
    else pending.reject(new Error(message.message));
  }
}
