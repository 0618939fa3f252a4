// One Dawn instance for every engine in the process. Import this module before anything that looks for
// WebGPU: tfjs-backend-webgpu registers its backend only if `navigator.gpu` exists when it is loaded,
// jax-js reads `navigator.gpu` in `init()` and `navigator.userAgent` in its kernel heuristics, and
// @tmpose/tensor uses `navigator.gpu` when present. Node 20 has no `navigator`; Node ≥ 21 has one without
// `gpu`. Each engine still requests its own GPUDevice, but all of them come from the same adapter.
import { availableParallelism } from 'node:os';
import { create, globals } from 'webgpu';

process.env.XDG_RUNTIME_DIR ??= '/tmp'; // Mesa prints an error line on start without it.

Object.assign(globalThis, globals); // GPUBufferUsage, GPUMapMode, GPUShaderStage, ...

type Nav = { gpu?: GPU; userAgent?: string; hardwareConcurrency?: number };
const g = globalThis as { navigator?: Nav };

/** The shared Dawn `GPU` object; held here so it stays referenced while devices are in use. */
export const gpu: GPU = g.navigator?.gpu ?? (create([]) as GPU);

if (!g.navigator) {
  g.navigator = { gpu, userAgent: `Node.js/${process.versions.node}`, hardwareConcurrency: availableParallelism() };
} else if (!g.navigator.gpu) {
  // Node ≥ 21: navigator is a getter on globalThis with a class instance; add `gpu` to it.
  Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
}

/** The adapter's description, e.g. "llvmpipe (LLVM 19.1.7, 256 bits)". */
export async function adapterDescription(): Promise<string> {
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) return 'no adapter';
  const i = adapter.info;
  return i.description || i.device || i.vendor || 'unknown adapter';
}
