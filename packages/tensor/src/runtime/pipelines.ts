// Compiled pipelines, one per kernel name + specialisation key. Sizes travel as uniforms, so the
// number of variants stays small; what changes the code (dtype, rank, tile, layout) goes in the key.
import { getDevice } from '../device.js';
import { PARAM_WORDS, type UniformBlock } from './uniforms.js';

export type Access = 'read' | 'read_write';

export interface Binding {
  name: string;
  /** WGSL element type of the storage array: 'f32', 'f16', 'i32', 'u32', 'vec4<f32>'. */
  type: string;
  access: Access;
}

/** One small object per GPU program: what it is called, what specialises it, its bindings and its WGSL body. */
export interface Kernel {
  name: string;
  key: string;
  bindings: Binding[];
  /** Its named uniforms (`uniforms({...})`, read as `u.name`); without them, numbered slots `pu(i)`. */
  uniforms?: UniformBlock;
  /** The WGSL after the prelude and the binding declarations. */
  body: () => string;
}

// Kernels without named uniforms read a flat array of 32-bit words: `pu(i)`, `pf(i)`, `pi(i)` read word i.
const NUMBERED_SLOTS = `
@group(0) @binding(0) var<uniform> P: array<vec4<u32>, ${PARAM_WORDS / 4}>;
fn pu(i: u32) -> u32 { return P[i >> 2u][i & 3u]; }
fn pf(i: u32) -> f32 { return bitcast<f32>(pu(i)); }
fn pi(i: u32) -> i32 { return bitcast<i32>(pu(i)); }`;
const PRELUDE = `
// Dispatches wider than 65535 workgroups fold into y; this recovers the linear workgroup index.
fn groupIndex(wg: vec3<u32>, nwg: vec3<u32>) -> u32 { return wg.x + wg.y * nwg.x; }
`;

/**
 * The opening of `main` for a kernel with one thread per item, dispatched over `grid(...)` workgroups:
 * it declares the thread's linear index `index` (through groupIndex, so grids folded into y work), and
 * with `count` (a WGSL expression such as `u.n`) returns at once from threads past the last item.
 * The body that follows closes the function.
 */
export function linearEntry(workgroupSize: number, index = 'i', count?: string): string {
  return `@compute @workgroup_size(${workgroupSize})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let ${index} = groupIndex(wg, nwg) * ${workgroupSize}u + li;${count === undefined ? '' : `
  if (${index} >= ${count}) { return; }`}`;
}

export interface CompiledKernel {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  layoutKey: string;
  name: string;
}

const pipelines = new Map<string, CompiledKernel>();
// Asynchronous compiles in flight (compileAsync), so that two warm-ups of one kernel compile it once.
const compiling = new Map<string, Promise<void>>();
const layouts = new Map<string, GPUBindGroupLayout>();
const pendingChecks: Promise<string | null>[] = [];

function layoutFor(gpu: GPUDevice, deviceId: number, bindings: Binding[]): [GPUBindGroupLayout, string] {
  const key = `${deviceId}|${bindings.map((b) => (b.access === 'read' ? 'r' : 'w')).join('')}`;
  let layout = layouts.get(key);
  if (!layout) {
    const entries: GPUBindGroupLayoutEntry[] = [
      { binding: 0, visibility: 4 /* COMPUTE */, buffer: { type: 'uniform' } },
      ...bindings.map((b, i) => ({
        binding: i + 1,
        visibility: 4,
        buffer: { type: b.access === 'read' ? ('read-only-storage' as const) : ('storage' as const) },
      })),
    ];
    layout = gpu.createBindGroupLayout({ entries, label: `layout ${key}` });
    layouts.set(key, layout);
  }
  return [layout, key];
}

export function wgslSource(kernel: Kernel): string {
  const decls = kernel.bindings
    .map((b, i) => `@group(0) @binding(${i + 1}) var<storage, ${b.access}> ${b.name}: array<${b.type}>;`)
    .join('\n');
  // A float16 storage array (array<f16> in the declarations) needs the extension as much as f16 in the body;
  // a kernel reading its subgroup size uses subgroup operations.
  const source = `${decls}\n${kernel.body()}`;
  const enables = `${/\bf16\b/.test(source) ? 'enable f16;\n' : ''}${/\bsubgroup_size\b/.test(source) ? 'enable subgroups;\n' : ''}`;
  return `${enables}${kernel.uniforms?.wgsl ?? NUMBERED_SLOTS}\n${PRELUDE}\n${decls}\n${kernel.body()}`;
}

/** A compiled kernel's key in the cache: the device, the kernel's name and its specialisation key. */
const cacheKeyOf = (deviceId: number, kernel: Kernel) => `${deviceId}|${kernel.name}|${kernel.key}`;

/** What both ways of compiling share: the cache key, the bind group layout and the shader module. */
function prepare(kernel: Kernel) {
  const { gpu, id } = getDevice();
  const name = `${kernel.name}|${kernel.key}`;
  const [layout, layoutKey] = layoutFor(gpu, id, kernel.bindings);
  const module = gpu.createShaderModule({ code: wgslSource(kernel), label: name });
  const descriptor: GPUComputePipelineDescriptor = {
    label: name,
    layout: gpu.createPipelineLayout({ bindGroupLayouts: [layout] }),
    compute: { module, entryPoint: 'main' },
  };
  return { name, cacheKey: cacheKeyOf(id, kernel), layout, layoutKey, module, descriptor };
}

/** The error of a kernel that failed to compile: its name, WebGPU's message and the compiler's lines. */
async function compileError(name: string, message: string, module: GPUShaderModule): Promise<string> {
  const info = await module.getCompilationInfo();
  const lines = info.messages.map((m) => `  ${m.type} at line ${m.lineNum}:${m.linePos}: ${m.message}`);
  return `kernel '${name}' failed to compile: ${message}\n${lines.join('\n')}`;
}

export function compile(kernel: Kernel): CompiledKernel {
  const cached = pipelines.get(cacheKeyOf(getDevice().id, kernel));
  if (cached) return cached;
  // Encoding cannot wait for a compile in flight (compileAsync), so such a kernel compiles here once
  // more; whichever pipeline is cached first is kept. Awaiting warmup before dispatching avoids it.
  const { gpu } = getDevice();
  gpu.pushErrorScope('validation');
  const { name, cacheKey, layout, layoutKey, module, descriptor } = prepare(kernel);
  const pipeline = gpu.createComputePipeline(descriptor);
  pendingChecks.push(gpu.popErrorScope().then((error) => (error ? compileError(name, error.message, module) : null)));
  const compiled = { pipeline, layout, layoutKey, name };
  pipelines.set(cacheKey, compiled);
  return compiled;
}

/**
 * Compiles `kernel` with createComputePipelineAsync (off the calling thread where the implementation
 * can) into the cache that dispatches read; resolves when it is there, or rejects with its compile
 * error, naming the kernel. A kernel already cached or compiling is not compiled again.
 */
export function compileAsync(kernel: Kernel): Promise<void> {
  const { gpu, id } = getDevice();
  const cacheKey = cacheKeyOf(id, kernel);
  if (pipelines.has(cacheKey)) return Promise.resolve();
  let job = compiling.get(cacheKey);
  if (!job) {
    // An invalid module is reported again by the pipeline's rejection: its own error is caught here.
    gpu.pushErrorScope('validation');
    const { name, layout, layoutKey, module, descriptor } = prepare(kernel);
    void gpu.popErrorScope();
    job = gpu
      .createComputePipelineAsync(descriptor)
      .then(
        (pipeline) => {
          if (!pipelines.has(cacheKey)) pipelines.set(cacheKey, { pipeline, layout, layoutKey, name });
        },
        async (err: Error) => {
          throw new Error(await compileError(name, err.message, module));
        },
      )
      .finally(() => compiling.delete(cacheKey));
    compiling.set(cacheKey, job);
  }
  return job;
}

/** Throws the first compile error among pipelines created since the last check. */
export async function checkCompiles(): Promise<void> {
  const results = await Promise.all(pendingChecks.splice(0));
  const failed = results.filter((r): r is string => r !== null);
  if (failed.length) throw new Error(failed.join('\n'));
}

export function pipelineCount(): number {
  return pipelines.size;
}
