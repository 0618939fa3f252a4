// Loading a TMPose from a tmpose safetensors file: a training checkpoint (its `model.*` tensors; the
// optimizer state is never uploaded), exported weights, or bare weights with a configuration; the
// configuration comes from the file's metadata (formats.ts) unless one is given. `loadModel` takes the
// file as bytes, a Blob/File, a URL, or (in Node) a path; train's `modelFromCheckpoint` shares
// `readWeights` and `modelWithWeights` for the CLI. Errors are one message naming the file, and a
// failed load leaves no GPU memory behind. F16 tensors (`tmpose export --dtype float16`) are widened to
// float32 on the host by the safetensors reader, so half-size weights load into the float32 model, on
// adapters without shader-f16 too.
import { type Tensor, init, io, tensor } from '@tmpose/tensor';
import type { ConfigName, ModelConfig } from '../configs.js';
import { type TMPose, createModel } from '../tmpose.js';
import { CHECKPOINT_KEY, type TrainingState, assertFinite, exportedConfig, parseCheckpointMeta } from './formats.js';

/** A tensor's values on the host, as the safetensors and `.pth` readers give them. */
export type HostWeights = Record<string, Pick<io.HostTensor, 'dtype' | 'shape' | 'data'>>;

export interface FileWeights {
  /** The state dict on the host (a checkpoint's `model.*` without the prefix; a DataParallel `module.` prefix dropped). */
  weights: HostWeights;
  /** The configuration the file names (a checkpoint's training state, exported weights' metadata); null for bare weights. */
  config: ConfigName | ModelConfig | null;
  /** A checkpoint's training state; null for weights. */
  state: TrainingState | null;
}

/** The model weights, configuration and training state of a parsed tmpose safetensors file; errors name `file`. */
export function readWeights(parsed: io.ParsedSafetensors, file: string): FileWeights {
  // Every tensor, named as in the file (a diverged run's optimizer state is as bad as its weights).
  assertFinite(parsed.tensors, file);
  if (parsed.metadata[CHECKPOINT_KEY] !== undefined) {
    const { state } = parseCheckpointMeta(parsed.metadata, file);
    return { weights: io.selectPrefix(parsed.tensors, 'model.'), config: state.config as ConfigName | ModelConfig | null, state };
  }
  return { weights: io.stripPrefix(parsed.tensors, 'module.'), config: exportedConfig(parsed.metadata, file), state: null };
}

/** A `config` model holding `weights`; mismatched keys or shapes are one error naming `file`, leaving nothing allocated. */
export function modelWithWeights(weights: HostWeights, config: ConfigName | ModelConfig, file: string): TMPose {
  let model: TMPose;
  try {
    model = createModel(config);
  } catch (err) {
    throw new Error(`${file}: the model configuration is invalid (${(err as Error).message})`);
  }
  const onGpu: Record<string, Tensor> = {};
  try {
    for (const [k, h] of Object.entries(weights)) onGpu[k] = tensor(h.data, h.shape, { dtype: h.dtype });
    model.loadStateDict(onGpu);
  } catch (err) {
    model.dispose();
    throw new Error(`${file}: the weights are incompatible with ${model.config.name}: ${(err as Error).message}`);
  } finally {
    for (const t of Object.values(onGpu)) t.dispose();
  }
  return model;
}

export type ModelSource = Uint8Array | ArrayBuffer | Blob | URL | string;

export interface LoadModelOptions {
  /** The configuration, for bare weights; overrides the file's (its weights must fit it). */
  config?: ConfigName | ModelConfig;
}

const inNode = () => typeof process !== 'undefined' && Boolean(process.versions?.node);
/** A string with a scheme (http:, https:, file:, blob:, data:), not a Windows drive letter. */
const hasScheme = (s: string) => /^[a-z][a-z0-9+.-]+:/i.test(s);

/** How errors name the source. */
function nameOf(source: ModelSource): string {
  if (typeof source === 'string') return source;
  if (source instanceof URL) return source.href;
  if (typeof File !== 'undefined' && source instanceof File) return source.name;
  if (typeof Blob !== 'undefined' && source instanceof Blob) return 'the model Blob';
  return 'the model bytes';
}

/** The file's tensors (on the host) and metadata. */
async function readSource(source: ModelSource, name: string): Promise<io.ParsedSafetensors> {
  if (source instanceof Uint8Array) return io.parseHost(source, { name });
  if (source instanceof ArrayBuffer) return io.parseHost(new Uint8Array(source), { name });
  if (typeof source !== 'string' && !(source instanceof URL)) return io.parseHost(new Uint8Array(await source.arrayBuffer()), { name });
  const url = typeof source === 'string' && hasScheme(source) ? new URL(source) : source;
  // In Node a path (or file: URL) is read from disk; everything else is fetched.
  if (inNode() && (typeof url === 'string' || url.protocol === 'file:')) {
    const path = typeof url === 'string' ? url : decodeURIComponent(url.pathname);
    try {
      return await io.readSafetensors(path);
    } catch (err) {
      if ((err as { code?: unknown }).code === 'ENOENT') throw new Error(`${name}: no such model file`);
      const message = (err as Error).message;
      throw new Error(message.includes(path) ? message : `${name}: ${message}`);
    }
  }
  let response: Response;
  try {
    response = await fetch(url);
  } catch (err) {
    throw new Error(`${name}: cannot fetch the model (${(err as Error).message})`);
  }
  if (!response.ok) throw new Error(`${name}: cannot fetch the model (HTTP ${response.status} ${response.statusText})`);
  return io.parseHost(new Uint8Array(await response.arrayBuffer()), { name });
}

/** Loads a TMPose from a checkpoint, exported weights, or bare weights with `options.config`. */
export async function loadModel(source: ModelSource, options: LoadModelOptions = {}): Promise<TMPose> {
  await init();
  const name = nameOf(source);
  const file = readWeights(await readSource(source, name), name);
  const config = options.config ?? file.config;
  if (!config) throw new Error(`${name}: the file names no model configuration (bare weights); pass options.config (e.g. 'tmpose-b')`);
  return modelWithWeights(file.weights, config, name);
}
