// Browser smoke test: the library, bundled from src by esbuild, runs in headless Chromium (WebGPU on
// SwiftShader) and gives the same matmul and gradients as in Node (Dawn). Never skips: a missing
// Chromium or a missing WebGPU adapter fails the test with a message that says what to install.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Browser } from 'playwright-core';
import { afterAll, expect, it } from 'vitest';
import * as T from '@tmpose/tensor';
import { findChromium, launchChromium, watchPage } from '../../../scripts/chromium.js';
import { expectClose } from './helpers.js';

const SRC = fileURLToPath(new URL('../src/index.ts', import.meta.url));
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
  return {
    adapter: info.description,
    shape: [...c.shape],
    product: Array.from(await c.data()),
    gradA: Array.from(await a.grad.data()),
    gradB: Array.from(await b.grad.data()),
  };
`;
interface CaseResult {
  adapter: string;
  shape: number[];
  product: number[];
  gradA: number[];
  gradB: number[];
}
type AsyncFn = new (...args: string[]) => (lib: typeof T) => Promise<CaseResult>;
const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as AsyncFn;

const PAGE_SCRIPT = `
import * as T from '@tmpose/tensor';
window.runCase = async () => {
  if (!navigator.gpu) {
    throw new Error('navigator.gpu is missing: this Chromium has no WebGPU (needs --enable-unsafe-webgpu and a secure context)');
  }
  ${CASE}
};
window.pageReady = true;
`;
const HTML = '<!doctype html><meta charset="utf-8"><title>tmpose browser test</title><script type="module" src="/page.js"></script>';

let browser: Browser | undefined;
let server: Server | undefined;

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

async function runInChromium(): Promise<CaseResult> {
  const executablePath = findChromium();

  const bundle = await build({
    stdin: { contents: PAGE_SCRIPT, loader: 'ts', resolveDir: fileURLToPath(new URL('.', import.meta.url)) },
    alias: { '@tmpose/tensor': SRC },
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    logLevel: 'silent',
  });
  const js = bundle.outputFiles[0]!.text;

  server = createServer((req, res) => {
    if (req.url === '/') res.writeHead(200, { 'content-type': 'text/html' }).end(HTML);
    else if (req.url === '/page.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(js);
    else if (req.url === '/favicon.ico') res.writeHead(204).end();
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server!.once('error', reject);
    server!.listen(0, '127.0.0.1', resolve);
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;

  browser = await launchChromium().catch((err: Error) => {
    throw new Error(`browser test: ${err.message} (${executablePath})`);
  });
  const page = await browser.newPage();
  page.setDefaultTimeout(TIMEOUT_MS);
  // An uncaught page error or a crash ends the wait at once instead of at the timeout.
  const watch = watchPage(page);

  try {
    await page.goto(url, { waitUntil: 'load' });
    await watch.race(
      page.waitForFunction(() => (window as unknown as { pageReady?: boolean }).pageReady === true, undefined, {
        timeout: 60_000,
      }),
    );
  } catch (err) {
    watch.fail('browser test: the page script did not load', err);
  }
  try {
    return await watch.race(page.evaluate(() => (window as unknown as { runCase(): Promise<CaseResult> }).runCase()));
  } catch (err) {
    return watch.fail('browser test: the case failed in Chromium', err);
  }
}

it(
  'matmul and its gradients agree between Chromium (WebGPU) and Node (Dawn)',
  async () => {
    const ref = reference();
    const inNode = await new AsyncFunction('T', CASE)(T);
    const inPage = await runInChromium();
    console.log(`browser test: Node adapter "${inNode.adapter}", Chromium adapter "${inPage.adapter}"`);

    expect(inNode.shape).toEqual([3, 2]);
    expect(inPage.shape).toEqual([3, 2]);
    for (const key of ['product', 'gradA', 'gradB'] as const) {
      expectClose(inNode[key], ref[key], 1e-5, 1e-6, `Node ${key} vs CPU reference`);
      expectClose(inPage[key], inNode[key], 1e-5, 0, `Chromium ${key} vs Node`);
    }
  },
  TIMEOUT_MS + 60_000,
);
