// Browser tests: the library, bundled from src by esbuild, runs in headless Chromium (WebGPU on
// SwiftShader) and gives the same matmul and gradients as in Node (Dawn), and the same seeded random
// bits; in a dedicated Web Worker it tunes a kernel and saves the choice in IndexedDB, where the next
// page load finds it under the same adapter key; every matmul and conv2d variant (the GEMM core's tiles and
// split-K, the register kernels), forced in turn, gives Node's results. Never skips: a missing Chromium or a missing WebGPU
// adapter fails the test with a message that says what to install.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as T from '@tmpose/tensor';
import { findChromium, launchChromium, watchPage } from '../../../scripts/chromium.js';
import type { TuneRecord } from '../src/runtime/tune.js';
import { expectClose } from './helpers.js';

const SRC = fileURLToPath(new URL('../src/index.ts', import.meta.url));
const TUNE_SRC = fileURLToPath(new URL('../src/runtime/tune.ts', import.meta.url));
const TUNE_STORE_SRC = fileURLToPath(new URL('../src/runtime/tunestore.ts', import.meta.url));
const MATMUL_SRC = fileURLToPath(new URL('../src/ops/matmul.ts', import.meta.url));
const CONV_SRC = fileURLToPath(new URL('../src/ops/conv2d.ts', import.meta.url));
const BATCH_NORM_SRC = fileURLToPath(new URL('../src/ops/batchnorm.ts', import.meta.url));
const REDUCE_SRC = fileURLToPath(new URL('../src/ops/reduce.ts', import.meta.url));
const ROWS_SRC = fileURLToPath(new URL('../src/ops/rowlanes.ts', import.meta.url));
const ATTENTION_SRC = fileURLToPath(new URL('../src/ops/attention.ts', import.meta.url));
const TIMEOUT_MS = 240_000;

const A = [
  [0.5, -1.25, 2, 0.75],
  [1.5, 0.25, -0.5, -2],
  [-1, 3, 0.125, 1],
];
const B = [
  [1, -0.5],
  [0.25, 2],
  [-1.5, 0.75],
  [2, 1],
];

/**
 * The case, as source text: the page and Node run exactly this code with `T` = `@tmpose/tensor`.
 * It returns plain arrays so that the page's result survives serialisation.
 */
const CASE = `
  const info = await T.init();
  const a = T.tensor(${JSON.stringify(A)}, undefined, { requiresGrad: true });
  const b = T.tensor(${JSON.stringify(B)}, undefined, { requiresGrad: true });
  const c = T.matmul(a, b);
  T.sum(c).backward();
  const bits = async (t) => {
    const v = await t.data();
    return Array.from(new Uint32Array(v.buffer, v.byteOffset, v.length));
  };
  return {
    adapter: info.description,
    shape: [...c.shape],
    product: Array.from(await c.data()),
    gradA: Array.from(await a.grad.data()),
    gradB: Array.from(await b.grad.data()),
    randn: await bits(T.randn([1001], { seed: 7 })),
    randnScaled: await bits(T.randn([64], { seed: 0xdeadbeef, mean: 0.5, std: 0.02 })),
    rand: await bits(T.rand([1001], { seed: 7, low: -1, high: 3 })),
  };
`;
interface CaseResult {
  adapter: string;
  shape: number[];
  product: number[];
  gradA: number[];
  gradB: number[];
  randn: number[];
  randnScaled: number[];
  rand: number[];
}
type AsyncFn = new (...args: string[]) => (lib: typeof T) => Promise<CaseResult>;
const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as AsyncFn;

const CASE_PAGE = `
import * as T from '@tmpose/tensor';
window.runCase = async () => {
  if (!navigator.gpu) {
    throw new Error('navigator.gpu is missing: this Chromium has no WebGPU (needs --enable-unsafe-webgpu and a secure context)');
  }
  ${CASE}
};
window.pageReady = true;
`;

/**
 * A dedicated worker: init, a matmul worth tuning (2·M·N·K = 67e6), a readback that tunes (with
 * timestamp queries where the adapter has them, else the wall clock) and saves.
 */
const TUNE_WORKER = `
import * as T from '@tmpose/tensor';
import { adapterKey, takeTuneRecords } from ${JSON.stringify(TUNE_SRC)};
try {
  const info = await T.init();
  const c = T.matmul(T.randn([256, 512], { seed: 1 }), T.randn([512, 256], { seed: 2 }));
  await c.data();
  postMessage({
    key: adapterKey(info),
    scope: self.constructor.name,
    localStorage: typeof localStorage,
    timestampQuery: info.features.timestampQuery,
    records: takeTuneRecords(),
  });
} catch (err) {
  postMessage({ error: String(err && err.stack || err) });
}
`;

/** Runs the worker; on a later load, reads the tune table in IndexedDB as it is stored. */
const TUNE_PAGE = `
import * as T from '@tmpose/tensor';
import { adapterKey } from ${JSON.stringify(TUNE_SRC)};
import { TUNE_DB, TUNE_DB_STORE } from ${JSON.stringify(TUNE_STORE_SRC)};
const done = (request) => new Promise((resolve, reject) => {
  request.onsuccess = () => resolve(request.result);
  request.onerror = () => reject(request.error);
});
window.tuneInWorker = () => new Promise((resolve, reject) => {
  const worker = new Worker('/tune-worker.js', { type: 'module' });
  worker.onmessage = (e) => {
    worker.terminate();
    if (e.data.error) reject(new Error('in the worker: ' + e.data.error));
    else resolve(e.data);
  };
  worker.onerror = (e) => reject(new Error('the worker failed: ' + e.message));
});
window.storedTuning = async () => {
  const key = adapterKey(await T.init());
  const store = (await done(indexedDB.open(TUNE_DB))).transaction(TUNE_DB_STORE).objectStore(TUNE_DB_STORE);
  const keys = await done(store.getAllKeys());
  const values = await done(store.getAll());
  return { key, table: Object.fromEntries(keys.map((k, i) => [k, values[i]])) };
};
window.pageReady = true;
`;

/**
 * Small odd shapes (SwiftShader is slow) through every read the variants have: linear with a bias and its
 * gradients (vec4 along k, a transposed operand for dW), a 3x3 stride-2 conv with a bias and a 1x1 conv,
 * forward and backward. Source text: Node runs it with its own choices, the page once per forced label.
 */
const VARIANT_CASE = `
  const leaf = (shape, seed) => { const t = T.randn(shape, { seed }); t.requiresGrad = true; return t; };
  const out = {};
  const run = async (name, forward, leaves) => {
    const y = forward();
    y.backward(T.randn(y.shape, { seed: 9 }));
    out[name] = Array.from(await y.data());
    for (const [i, t] of leaves.entries()) out[name + ' grad ' + i] = Array.from(await t.grad.data());
  };
  const [x, w, b] = [leaf([2, 19, 45], 1), leaf([70, 45], 2), leaf([70], 3)];
  await run('linear', () => T.linear(x, w, b), [x, w, b]);
  const [cx, cw, cb] = [leaf([2, 5, 9, 11], 4), leaf([7, 5, 3, 3], 5), leaf([7], 6)];
  await run('conv 3x3 s2', () => T.conv2d(cx, cw, cb, { stride: 2, padding: 1 }), [cx, cw, cb]);
  const [px, pw] = [leaf([2, 6, 5, 7], 7), leaf([4, 6, 1, 1], 8)];
  await run('conv 1x1', () => T.conv2d(px, pw), [px, pw]);
  return out;
`;
const VARIANT_PAGE = `
import * as T from '@tmpose/tensor';
import { forceVariant } from ${JSON.stringify(TUNE_SRC)};
import { matmulVariantLabels } from ${JSON.stringify(MATMUL_SRC)};
import { CONV_VARIANTS } from ${JSON.stringify(CONV_SRC)};
const runCase = async () => { ${VARIANT_CASE} };
window.runVariants = async () => {
  await T.init();
  const results = {};
  for (const [family, labels] of [['matmul', matmulVariantLabels(45)], ['conv2d', CONV_VARIANTS]]) {
    for (const label of labels) {
      forceVariant(family, label);
      try {
        results[family + ' ' + label] = await runCase();
      } finally {
        forceVariant(family, null);
      }
    }
  }
  return results;
};
window.pageReady = true;
`;

/**
 * The tuned reductions on small shapes: batch norm (training, relu), layerNorm, softmax and logSoftmax
 * over rows of 33, sums over a contiguous axis of 257 and a strided one of 40, forward and backward.
 */
const REDUCTION_CASE = `
  const leaf = (shape, seed) => { const t = T.randn(shape, { seed }); t.requiresGrad = true; return t; };
  const out = {};
  const run = async (name, forward, leaves) => {
    const y = forward();
    y.backward(T.randn(y.shape, { seed: 9 }));
    out[name] = Array.from(await y.data());
    for (const [i, t] of leaves.entries()) out[name + ' grad ' + i] = Array.from(await t.grad.data());
  };
  const [bx, bw, bb] = [leaf([2, 3, 5, 7], 1), leaf([3], 2), leaf([3], 3)];
  await run('batchNorm2d relu', () => T.batchNorm2d(bx, bw, bb, null, null, { relu: true }), [bx, bw, bb]);
  const [lx, lw] = [leaf([3, 33], 4), leaf([33], 5)];
  await run('layerNorm', () => T.layerNorm(lx, [33], lw), [lx, lw]);
  const sx = leaf([3, 33], 6);
  await run('softmax', () => T.softmax(sx), [sx]);
  await run('logSoftmax', () => T.logSoftmax(sx), [sx]);
  const [rx, cx] = [leaf([3, 257], 7), leaf([40, 3], 8)];
  await run('sum contiguous', () => T.sum(rx, 1), [rx]);
  await run('mean strided', () => T.mean(cx, 0), [cx]);
  const [aq, ak, av] = [leaf([1, 2, 33, 16], 10), leaf([1, 2, 33, 16], 11), leaf([1, 2, 33, 16], 12)];
  await run('attention L33', () => T.scaledDotProductAttention(aq, ak, av), [aq, ak, av]);
  return out;
`;
const REDUCTION_PAGE = `
import * as T from '@tmpose/tensor';
import { forceVariant } from ${JSON.stringify(TUNE_SRC)};
import { BATCH_NORM_VARIANTS } from ${JSON.stringify(BATCH_NORM_SRC)};
import { REDUCE_VARIANTS } from ${JSON.stringify(REDUCE_SRC)};
import { ROW_VARIANTS } from ${JSON.stringify(ROWS_SRC)};
import { ATTENTION_VARIANTS } from ${JSON.stringify(ATTENTION_SRC)};
const runCase = async () => { ${REDUCTION_CASE} };
window.runVariants = async () => {
  const info = await T.init();
  const results = {};
  for (const [family, labels] of [['batchNorm', BATCH_NORM_VARIANTS], ['rows', ROW_VARIANTS], ['reduce', REDUCE_VARIANTS], ['attention', ATTENTION_VARIANTS], ['attentionBackward', ATTENTION_VARIANTS]]) {
    for (const label of labels) {
      forceVariant(family, label);
      try {
        results[family + ' ' + label] = await runCase();
      } finally {
        forceVariant(family, null);
      }
    }
  }
  return { subgroups: info.features.subgroups, subgroupSizes: [info.adapter.subgroupMinSize, info.adapter.subgroupMaxSize], results };
};
window.pageReady = true;
`;

const html = (script: string) =>
  `<!doctype html><meta charset="utf-8"><title>tmpose browser test</title><script type="module" src="/${script}.js"></script>`;

let browser: Browser | undefined;
// One context for every page: one origin's storage, as for a user reloading the page.
let context: BrowserContext | undefined;
let server: Server | undefined;
let origin = '';

async function bundle(contents: string): Promise<string> {
  const out = await build({
    stdin: { contents, loader: 'js', resolveDir: fileURLToPath(new URL('.', import.meta.url)) },
    alias: { '@tmpose/tensor': SRC },
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    logLevel: 'silent',
  });
  return out.outputFiles[0]!.text;
}

beforeAll(async () => {
  const executablePath = findChromium();
  const scripts: Record<string, string> = {
    '/case.js': await bundle(CASE_PAGE),
    '/tune.js': await bundle(TUNE_PAGE),
    '/tune-worker.js': await bundle(TUNE_WORKER),
    '/variants.js': await bundle(VARIANT_PAGE),
    '/reductions.js': await bundle(REDUCTION_PAGE),
  };
  server = createServer((req, res) => {
    const script = scripts[req.url ?? ''];
    const page = /^\/(case|tune|variants|reductions)\.html$/.exec(req.url ?? '');
    if (page) res.writeHead(200, { 'content-type': 'text/html' }).end(html(page[1]!));
    else if (script) res.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    else if (req.url === '/favicon.ico') res.writeHead(204).end();
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server!.once('error', reject);
    server!.listen(0, '127.0.0.1', resolve);
  });
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await launchChromium().catch((err: Error) => {
    throw new Error(`browser test: ${err.message} (${executablePath})`);
  });
  context = await browser.newContext();
}, 120_000);

afterAll(async () => {
  await browser?.close().catch(() => {});
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});

/** The CPU reference: C = A·B; d sum(C)/dA = 1·Bᵀ (row sums of B); d sum(C)/dB = Aᵀ·1 (row sums of A). */
function reference() {
  const product = A.flatMap((row) => B[0]!.map((_, j) => row.reduce((s, v, k) => s + v * B[k]![j]!, 0)));
  const gradA = A.flatMap(() => B.map((row) => row.reduce((s, v) => s + v, 0)));
  const gradB = A[0]!.flatMap((_, k) => B[0]!.map(() => A.reduce((s, row) => s + row[k]!, 0)));
  return { product, gradA, gradB };
}

/**
 * Loads `/<name>.html` in a new page of the shared context (so one origin's IndexedDB) and runs `fn`
 * there; an uncaught page error or a crash ends the wait at once.
 */
async function runInPage<R>(name: string, fn: () => Promise<R>): Promise<R> {
  const page = await context!.newPage();
  page.setDefaultTimeout(TIMEOUT_MS);
  const watch = watchPage(page);
  try {
    try {
      await page.goto(`${origin}/${name}.html`, { waitUntil: 'load' });
      await watch.race(
        page.waitForFunction(() => (window as unknown as { pageReady?: boolean }).pageReady === true, undefined, {
          timeout: 60_000,
        }),
      );
    } catch (err) {
      watch.fail(`browser test: ${name}.html did not load`, err);
    }
    try {
      return await watch.race(page.evaluate(fn));
    } catch (err) {
      return watch.fail(`browser test: ${name}.html failed in Chromium`, err);
    }
  } finally {
    await page.close();
  }
}

it(
  'matmul and its gradients agree between Chromium (WebGPU) and Node (Dawn), seeded randn/rand bit for bit',
  async () => {
    const ref = reference();
    const inNode = await new AsyncFunction('T', CASE)(T);
    const inPage = await runInPage('case', () => (window as unknown as { runCase(): Promise<CaseResult> }).runCase());
    console.log(`browser test: Node adapter "${inNode.adapter}", Chromium adapter "${inPage.adapter}"`);

    expect(inNode.shape).toEqual([3, 2]);
    expect(inPage.shape).toEqual([3, 2]);
    for (const key of ['product', 'gradA', 'gradB'] as const) {
      expectClose(inNode[key], ref[key], 1e-5, 1e-6, `Node ${key} vs CPU reference`);
      expectClose(inPage[key], inNode[key], 1e-5, 0, `Chromium ${key} vs Node`);
    }
    for (const key of ['randn', 'randnScaled', 'rand'] as const) {
      expect(inNode[key]).toHaveLength(key === 'randnScaled' ? 64 : 1001);
      expect(inPage[key], `Chromium ${key} vs Node, as float32 bits`).toEqual(inNode[key]);
    }
  },
  TIMEOUT_MS + 60_000,
);

interface WorkerResult {
  key: string;
  scope: string;
  localStorage: string;
  timestampQuery: boolean;
  records: TuneRecord[];
}
interface Stored {
  key: string;
  table: Record<string, Record<string, string>>;
}

it(
  'a Web Worker tunes a matmul and saves it in IndexedDB; the next page load finds it under the same adapter key',
  async () => {
    const worker = await runInPage('tune', () => (window as unknown as { tuneInWorker(): Promise<WorkerResult> }).tuneInWorker());
    console.log(`browser test: adapter key in the worker: ${worker.key}`);
    expect(worker.scope).toBe('DedicatedWorkerGlobalScope');
    expect(worker.localStorage).toBe('undefined'); // why the table is not in localStorage
    expect(worker.key.split(' | ').length).toBe(10);
    expect(worker.key).toContain(' | browser | ');
    const [record] = worker.records;
    console.log(`browser test: Chromium's adapter ${worker.timestampQuery ? 'has' : 'lacks'} timestamp-query; ${record?.problem} timed by ${record?.clock}: ${record?.candidates.map((c) => `${c.label} ${c.ms.toFixed(3)} ms (${c.reps} reps)`).join(', ')}; chose ${record?.choice}`);
    expect(worker.records.length).toBe(1);
    expect(record!.clock).toBe(worker.timestampQuery ? 'timestamp' : 'wall');
    for (const c of record!.candidates) expect(c.ms, `${c.label} in Chromium`).toBeGreaterThan(0);
    expect(record!.candidates.map((c) => c.label)).toContain(record!.choice);

    const stored = await runInPage('tune', () => (window as unknown as { storedTuning(): Promise<Stored> }).storedTuning());
    expect(stored.key, 'a page and a worker on one adapter share the key').toBe(worker.key);
    expect(Object.keys(stored.table)).toEqual([worker.key]);
    const problems = Object.keys(stored.table[worker.key]!);
    expect(problems.filter((p) => p.startsWith('matmul|')).length, JSON.stringify(stored.table)).toBeGreaterThan(0);
  },
  TIMEOUT_MS + 60_000,
);

it(
  'every matmul and conv2d variant, forced in Chromium (SwiftShader), gives what Node gives, forward and backward',
  async () => {
    await T.init();
    const inNode = (await new AsyncFunction('T', VARIANT_CASE)(T)) as unknown as Record<string, number[]>;
    const inPage = await runInPage('variants', () => (window as unknown as { runVariants(): Promise<Record<string, Record<string, number[]>>> }).runVariants());
    const labels = Object.keys(inPage);
    console.log(`browser test: variants run in Chromium: ${labels.join(', ')}`);
    expect(labels.filter((l) => / g\d+x64s?$/.test(l)).length).toBe(10);
    for (const [variant, results] of Object.entries(inPage)) {
      expect(Object.keys(results)).toEqual(Object.keys(inNode));
      for (const [name, values] of Object.entries(results)) expectClose(values, inNode[name]!, 1e-4, 1e-4, `Chromium ${variant}: ${name} vs Node`);
    }
  },
  TIMEOUT_MS + 60_000,
);

it(
  'every batch norm, row (softmax, layerNorm), sum and attention variant (forward, backward), forced in Chromium (SwiftShader, subgroups of 4), gives what Node gives',
  async () => {
    await T.init();
    const inNode = (await new AsyncFunction('T', REDUCTION_CASE)(T)) as unknown as Record<string, number[]>;
    type Page = { subgroups: boolean; subgroupSizes: number[]; results: Record<string, Record<string, number[]>> };
    const page = await runInPage('reductions', () => (window as unknown as { runVariants(): Promise<Page> }).runVariants());
    console.log(`browser test: Chromium's subgroups: ${page.subgroups} (sizes ${page.subgroupSizes.join('-')}); variants: ${Object.keys(page.results).join(', ')}`);
    expect(Object.keys(page.results)).toEqual([
      'batchNorm channel', 'batchNorm split', 'batchNorm fused', 'rows thread', 'rows workgroup', 'rows subgroup',
      'reduce thread', 'reduce columns', 'reduce workgroup', 'reduce subgroup',
      'attention 1', 'attention 2', 'attention 4', 'attention tile32', 'attention tile64',
      'attentionBackward 1', 'attentionBackward 2', 'attentionBackward 4', 'attentionBackward tile32', 'attentionBackward tile64',
    ]);
    for (const [variant, results] of Object.entries(page.results)) {
      expect(Object.keys(results)).toEqual(Object.keys(inNode));
      for (const [name, values] of Object.entries(results)) expectClose(values, inNode[name]!, 1e-4, 1e-4, `Chromium ${variant}: ${name} vs Node`);
    }
  },
  TIMEOUT_MS + 60_000,
);
