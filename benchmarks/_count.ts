import './lib/gpu.js';
import * as T from './peers/tfjs.js';
import * as J from './peers/jax.js';
import * as O from './lib/ours.js';
const g = globalThis as any;
let dispatches = 0, submits = 0, pipelines = 0;
const P = g.GPUComputePassEncoder.prototype; const od = P.dispatchWorkgroups;
P.dispatchWorkgroups = function (...a: any[]) { dispatches++; return od.apply(this, a); };
const Q = g.GPUQueue.prototype; const os = Q.submit; Q.submit = function (...a: any[]) { submits++; return os.apply(this, a); };
const D = g.GPUDevice.prototype; const oc = D.createComputePipeline; D.createComputePipeline = function (...a: any[]) { pipelines++; return oc.apply(this, a); };
const ocA = D.createComputePipelineAsync; D.createComputePipelineAsync = function (...a: any[]) { pipelines++; return ocA.apply(this, a); };
await O.init(); await T.init(); await J.init();
for (const [name, mk] of [['ours', () => O.addChain(1000)], ['tfjs', () => T.addChain(1000)], ['jax', () => J.addChain(1000)], ['jax100', () => J.addChain(100)], ['jax300', () => J.addChain(300)]] as const) {
  const c = await (mk as any)();
  await c.run(); await c.run();
  dispatches = submits = pipelines = 0;
  const t0 = performance.now(); await c.run(); const dt = performance.now() - t0;
  console.log(name, dt.toFixed(1), 'ms', { dispatches, submits, pipelines });
  c.dispose();
}
