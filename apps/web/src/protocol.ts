// The messages between the page (page.ts) and the model's worker (worker.ts). Every request carries an
// id; the worker answers each with one reply of the same id (`ok: true` and the request type's reply, or
// `ok: false` and a message), and sends training progress under the id of the `train` request. The
// worker runs requests one at a time, in order, except `stop`, which it reads at once.
import type { ModelConfig, PoseResult, Sampler } from '@tmpose/model';

/** A person box [x, y, w, h] in image pixels. */
export type Box = [number, number, number, number];

/** An image the worker can read: a bitmap or video frame (transferred), or RGBA pixels. */
export type ImageInput = ImageBitmap | VideoFrame | ImageData;

export interface EstimateOptions {
  /** Person boxes; null: the whole image is one person. */
  boxes: Box[] | null;
  /** Keep ratio of the visual tokens (1: all of them). */
  keep: number;
  sampler: Sampler;
  /** Seeds the random sampler, so that the same image and settings give the same tokens. */
  seed: number;
  /** Average with the horizontally flipped image. */
  flip: boolean;
}

export interface TrainOptions {
  steps: number;
  batchSize: number;
  lr: number;
  seed: number;
}

export interface ModelInfo {
  config: ModelConfig;
  /** Where the weights come from, in words ("tiny, seeded with 0 (untrained)", a file name, ...). */
  origin: string;
  /** False only for the seeded model nobody has trained. */
  trained: boolean;
  parameters: number;
}

/** What the page asks. */
export type Request =
  | { type: 'init'; seed: number }
  /**
   * A checkpoint or exported weights: a file the user gave, or a URL the server has. `name` is its file
   * name (messages, the saved file's name); `label`, when given, says where the weights come from instead.
   */
  | { type: 'load'; name: string; source: File | string; label?: string }
  | { type: 'reset'; seed: number }
  | { type: 'estimate'; image: ImageInput; options: EstimateOptions }
  | { type: 'train'; options: TrainOptions }
  | { type: 'stop' }
  /** The current weights as exported weights (safetensors with the configuration in the metadata). */
  | { type: 'save' };

/** The reply to each request type. */
export interface Replies {
  init: { adapter: string; model: ModelInfo };
  load: { model: ModelInfo };
  reset: { model: ModelInfo };
  estimate: { result: PoseResult; model: ModelInfo };
  train: { losses: number[]; msPerStep: number; stopped: boolean; model: ModelInfo };
  stop: { stopping: boolean };
  save: { bytes: Uint8Array; fileName: string };
}

export type RequestType = Request['type'];

export interface TrainProgress {
  step: number;
  steps: number;
  loss: number;
  lr: number;
  msPerStep: number;
}

export type ToWorker = Request & { id: number };

export type FromWorker =
  | { [K in RequestType]: { id: number; ok: true; type: K; reply: Replies[K] } }[RequestType]
  | { id: number; ok: false; message: string }
  | { id: number; progress: TrainProgress };
