// loadModel: a TMPose from a tmpose safetensors file, given as bytes, a Blob/File, a URL, or (in Node)
// a path. It reads a training checkpoint (the `model.*` tensors; the optimizer state is skipped),
// exported weights, or bare weights with `options.config`; the configuration comes from the file's
// metadata (formats.ts) unless `options.config` names one. Errors are one message naming the file, and
// a failed load leaves no GPU memory behind.
import { type Tensor, init, io, tensor } from '@tmpose/tensor';
import { type ConfigName, type ModelConfig } from '../configs.js';
import { type TMPose, createModel } from '../tmpose.js';
import { CHECKPOINT_KEY, assertFinite, exportedConfig, parseCheckpointMeta } from './formats.js';

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
  const parsed = await readSource(source, name);
  let fileConfig: ConfigName | ModelConfig | null;
  let entries = Object.entries(parsed.tensors);
  if (parsed.metadata[CHECKPOINT_KEY] !== undefined) {
    fileConfig = parseCheckpointMeta(parsed.metadata, name).state.config as ConfigName | ModelConfig | null;
    // The model's state dict; the optimizer's state stays on the host and is dropped.
    entries = entries.filter(([k]) => k.startsWith('model.')).map(([k, h]) => [k.slice(6), h]);
  } else {
    fileConfig = exportedConfig(parsed.metadata, name);
    entries = entries.map(([k, h]) => [k.startsWith('module.') ? k.slice(7) : k, h]);
  }
  assertFinite(Object.fromEntries(entries), name);
  const chosen = options.config ?? fileConfig;
  if (!chosen) throw new Error(`${name}: the file names no model configuration (bare weights); pass options.config (e.g. 'tmpose-b')`);
  let model: TMPose;
  try {
    model = createModel(chosen);
  } catch (err) {
    throw new Error(`${name}: the model configuration is invalid (${(err as Error).message})`);
  }
  const weights: Record<string, Tensor> = {};
  try {
    for (const [k, h] of entries) weights[k] = tensor(h.data, h.shape, { dtype: h.dtype });
    model.loadStateDict(weights);
  } catch (err) {
    model.dispose();
    throw new Error(`${name}: the weights do not fit the ${model.config.name} configuration: ${(err as Error).message}`);
  } finally {
    for (const t of Object.values(weights)) t.dispose();
  }
  return model;
}
