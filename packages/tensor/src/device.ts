// Finding WebGPU: `navigator.gpu` in browsers, the `webgpu` package (Dawn) in Node. One device per process.
import { loadTuning } from './runtime/tune.js';

export interface DeviceInfo {
  /** Adapter description, e.g. "llvmpipe (LLVM 19.1.7, 256 bits)" or "NVIDIA H100". */
  description: string;
  /**
   * What runs WebGPU: "browser" (its native API is not exposed), or Dawn's native API in Node, from the
   * platform: "dawn/vulkan" on Linux, "dawn/metal" on macOS, "dawn/d3d12" on Windows.
   */
  backend: string;
  vendor: string;
  architecture: string;
  /** True on software adapters (lavapipe, SwiftShader): kernels are chosen differently there. */
  isCpu: boolean;
  /**
   * The optional features the device got. Read when an op needs one (float16 tensors need shaderF16),
   * so turning one off here makes the engine behave as on an adapter without it (the tests do).
   */
  features: { subgroups: boolean; shaderF16: boolean; timestampQuery: boolean };
  limits: GPUSupportedLimits;
  /** What tells this adapter from another where the names above are reduced or alike (browsers). */
  adapter: AdapterIdentity;
}

export interface AdapterIdentity {
  /** The adapter's device id string (`GPUAdapterInfo.device`; may be empty). */
  device: string;
  isFallbackAdapter: boolean;
  /** 0 where the adapter does not say. */
  subgroupMinSize: number;
  subgroupMaxSize: number;
  /** Every feature the adapter has, sorted (not only those the device asked for). */
  features: string[];
  /** Every limit of the adapter, by name. */
  limits: Record<string, number>;
}

export interface InitOptions {
  /** Ask for a high-performance or low-power adapter where a machine has several. */
  powerPreference?: GPUPowerPreference;
}

export interface Device {
  gpu: GPUDevice;
  info: DeviceInfo;
  /** A number that differs between devices: tensors remember it to catch mixing. */
  id: number;
}

const INSTALL_HINT =
  'No WebGPU adapter was found. In Node, WebGPU runs on Vulkan: install your GPU vendor\'s Vulkan driver, ' +
  'or the software one (Mesa lavapipe >= 24) with `sudo bash scripts/install-vulkan.sh` on Debian/Ubuntu. ' +
  'In a browser, enable WebGPU (Chromium: --enable-unsafe-webgpu on machines without a supported GPU).';

let current: Device | null = null;
let lostMessage: string | null = null;
let nextId = 1;
// The Dawn instance must stay referenced while its device is in use.
let nodeGpu: GPU | null = null;
const uncaptured: string[] = [];

const DAWN_BACKENDS: Record<string, string> = { linux: 'vulkan', darwin: 'metal', win32: 'd3d12' };

async function findGpu(): Promise<{ gpu: GPU; backend: string }> {
  // In Node, navigator.gpu (where a program installs one, as the benchmarks do) is Dawn too.
  const backend = typeof process !== 'undefined' && process.versions?.node ? `dawn/${DAWN_BACKENDS[process.platform] ?? process.platform}` : 'browser';
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return { gpu: nav.gpu, backend };
  // The specifier is a variable so that browser bundles don't try to resolve the Node package.
  const specifier = 'webgpu';
  let mod: { create(options: string[]): GPU; globals: Record<string, unknown> };
  try {
    mod = await import(/* @vite-ignore */ specifier);
  } catch (err) {
    throw new Error(`${INSTALL_HINT} (could not load the 'webgpu' package: ${(err as Error).message})`);
  }
  Object.assign(globalThis, mod.globals);
  nodeGpu ??= mod.create([]);
  return { gpu: nodeGpu, backend };
}

function identify(adapter: GPUAdapter): AdapterIdentity {
  const limits: Record<string, number> = {};
  // Limits are getters on GPUSupportedLimits' prototype: for-in finds them, Object.keys would not.
  for (const name in adapter.limits) {
    const value = (adapter.limits as unknown as Record<string, unknown>)[name];
    if (typeof value === 'number') limits[name] = value;
  }
  return {
    device: adapter.info.device,
    isFallbackAdapter: adapter.info.isFallbackAdapter ?? false,
    subgroupMinSize: adapter.info.subgroupMinSize ?? 0,
    subgroupMaxSize: adapter.info.subgroupMaxSize ?? 0,
    features: [...adapter.features].sort(),
    limits,
  };
}

const WANTED_FEATURES: GPUFeatureName[] = ['subgroups', 'shader-f16', 'timestamp-query'];

/** Finds WebGPU, requests the adapter's full limits and the useful features. Idempotent. */
export async function init(options: InitOptions = {}): Promise<DeviceInfo> {
  if (current && !lostMessage) return current.info;
  const { gpu, backend } = await findGpu();
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  if (!adapter) throw new Error(INSTALL_HINT);
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  const requiredLimits: Record<string, number> = {};
  for (const name of [
    'maxBufferSize',
    'maxStorageBufferBindingSize',
    'maxComputeWorkgroupStorageSize',
    'maxComputeInvocationsPerWorkgroup',
    'maxComputeWorkgroupSizeX',
    'maxComputeWorkgroupSizeY',
    'maxComputeWorkgroupsPerDimension',
    'maxStorageBuffersPerShaderStage',
  ] as const) {
    requiredLimits[name] = adapter.limits[name];
  }
  const gpuDevice = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  const info: DeviceInfo = {
    description: adapter.info.description || adapter.info.device || adapter.info.vendor || 'unknown adapter',
    backend,
    vendor: adapter.info.vendor,
    architecture: adapter.info.architecture,
    isCpu: /llvmpipe|lavapipe|swiftshader|cpu/i.test(
      `${adapter.info.description} ${adapter.info.vendor} ${adapter.info.architecture} ${adapter.info.device}`,
    ),
    features: {
      subgroups: gpuDevice.features.has('subgroups'),
      shaderF16: gpuDevice.features.has('shader-f16'),
      timestampQuery: gpuDevice.features.has('timestamp-query'),
    },
    limits: gpuDevice.limits,
    adapter: identify(adapter),
  };
  const device: Device = { gpu: gpuDevice, info, id: nextId++ };
  lostMessage = null;
  void gpuDevice.lost.then((lost) => {
    if (current === device) lostMessage = `the WebGPU device was lost (${lost.reason}): ${lost.message}`;
  });
  gpuDevice.addEventListener('uncapturederror', (event) => {
    uncaptured.push((event as GPUUncapturedErrorEvent).error.message);
  });
  current = device;
  await loadTuning();
  return info;
}

/** The device that ops run on; throws a clear error before `init()` or after a device loss. */
export function getDevice(): Device {
  if (lostMessage) throw new Error(lostMessage);
  if (!current) throw new Error('No WebGPU device yet: call `await init()` before creating tensors.');
  return current;
}

/** Errors that WebGPU reported outside an error scope since the last call; cleared on read. */
export function takeUncapturedErrors(): string[] {
  return uncaptured.splice(0);
}
