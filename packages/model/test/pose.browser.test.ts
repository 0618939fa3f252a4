// The pose API in headless Chromium (WebGPU on SwiftShader), bundled from src by esbuild as the web app
// bundles it: estimatePoses on an ImageData, an ImageBitmap, an OffscreenCanvas and raw RGB bytes of
// one picture gives one result (the browser sources read back through a canvas exactly); the GPU crop
// there equals Node's CPU warp bit for bit; loadModel fetches exported weights by URL (and names the URL
// when it cannot); a video with no frame is a clear error; drawPoses and drawKeptTokens paint a canvas.
// Never skips: a missing Chromium fails the test with what to install.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { init, io } from '@tmpose/tensor';
import { createModel, getAffineTransform, warpAffine, weightsMetadata, xywhToCenterScale } from '@tmpose/model';
import { launchChromium, watchPage } from '../../../scripts/chromium.js';

const src = (pkg: string) => fileURLToPath(new URL(`../../${pkg}/src/index.ts`, import.meta.url));
const TIMEOUT_MS = 240_000;
const [W0, H0] = [37, 23];
const BOX: [number, number, number, number] = [3.5, -4, 30, 20];

/** The picture, as the page and Node both make it: pixel i's channel c is (i·7 + c·50) mod 256, opaque. */
const PIXELS = `(i, c) => c === 3 ? 255 : (i * 7 + c * 50) % 256`;

const PAGE = `
import * as T from '@tmpose/tensor';
import * as M from '@tmpose/model';
const pixel = ${PIXELS};
window.runCase = async () => {
  await T.init();
  const rgba = new Uint8ClampedArray(${W0 * H0 * 4}).map((_, k) => pixel(k >> 2, k & 3));
  const rgb = new Uint8Array(${W0 * H0 * 3}).map((_, k) => pixel(Math.floor(k / 3), k % 3));
  const imageData = new ImageData(rgba, ${W0}, ${H0});
  const canvas = new OffscreenCanvas(${W0}, ${H0});
  canvas.getContext('2d').putImageData(imageData, 0, 0);
  const bitmap = await createImageBitmap(canvas);
  const model = await M.loadModel(new URL('/model.safetensors', location.href));
  const options = { boxes: [${JSON.stringify(BOX)}], flip: true, keep: 0.5, seed: 2 };
  const results = [];
  for (const source of [imageData, bitmap, canvas, { data: rgb, width: ${W0}, height: ${H0} }]) {
    const r = await M.estimatePoses(model, source, options);
    results.push({ keypoints: r.people[0].keypoints, kept: r.keptTokens });
  }
  const { center, scale } = M.xywhToCenterScale(...${JSON.stringify(BOX)}, 96 / 128);
  const m = M.getAffineTransform(center, scale, 0, [96, 128]);
  const crop = T.warpAffineCrops(M.sourcePixels(bitmap), [m], [128, 96]);
  const cropBits = Array.from(new Uint32Array((await crop.data()).buffer));
  const missing = await M.loadModel('/missing.safetensors').then(() => 'loaded', (e) => e.message);
  const video = await M.estimatePoses(model, document.createElement('video')).then(() => 'estimated', (e) => e.message);
  const result = await M.estimatePoses(model, bitmap, options);
  const paint = new OffscreenCanvas(${W0}, ${H0});
  const ctx = paint.getContext('2d');
  M.drawKeptTokens(ctx, M.resultTokenRects(result));
  M.drawPoses(ctx, result.people, { threshold: -Infinity });
  const painted = ctx.getImageData(0, 0, ${W0}, ${H0}).data.filter((_, k) => (k & 3) === 3 && _ > 0).length;
  return { results, cropBits, missing, video, painted };
};
window.pageReady = true;
`;

interface PageResult {
  results: { keypoints: number[][]; kept: number[][] }[];
  cropBits: number[];
  missing: string;
  video: string;
  painted: number;
}

let browser: Browser | undefined;
let server: Server | undefined;

afterAll(async () => {
  await browser?.close().catch(() => {});
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});

let origin = '';
let script = '';
let weights: Uint8Array;

beforeAll(async () => {
  await init();
  const model = createModel('tiny', { seed: 3 });
  const dict = model.stateDict();
  weights = await io.serialize(dict, weightsMetadata(model.config));
  for (const t of Object.values(dict)) t.dispose();
  model.dispose();
  const out = await build({
    stdin: { contents: PAGE, loader: 'js', resolveDir: fileURLToPath(new URL('.', import.meta.url)) },
    alias: { '@tmpose/tensor': src('tensor'), '@tmpose/model': src('model') },
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    logLevel: 'silent',
  });
  script = out.outputFiles[0]!.text;
  server = createServer((req, res) => {
    if (req.url === '/case.html') res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><meta charset="utf-8"><script type="module" src="/case.js"></script>');
    else if (req.url === '/case.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    else if (req.url === '/model.safetensors') res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(weights);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server!.once('error', reject);
    server!.listen(0, '127.0.0.1', resolve);
  });
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await launchChromium();
}, 120_000);

it(
  'estimatePoses, loadModel and drawing in Chromium; the GPU crop there equals the CPU warp bit for bit',
  async () => {
    const page = await browser!.newPage();
    page.setDefaultTimeout(TIMEOUT_MS);
    const watch = watchPage(page);
    let got: PageResult;
    try {
      await page.goto(`${origin}/case.html`, { waitUntil: 'load' });
      await watch.race(page.waitForFunction(() => (window as unknown as { pageReady?: boolean }).pageReady === true, undefined, { timeout: 60_000 }));
      got = await watch.race(page.evaluate(() => (window as unknown as { runCase(): Promise<PageResult> }).runCase()));
    } catch (err) {
      watch.fail('pose browser test', err);
    } finally {
      await page.close();
    }
    const [fromImageData, ...others] = got!.results;
    for (const r of others) expect(r).toEqual(fromImageData);
    expect(fromImageData!.keypoints).toHaveLength(17);
    expect(fromImageData!.kept[0]).toHaveLength(32);

    const pixel = new Function(`return ${PIXELS}`)() as (i: number, c: number) => number;
    const rgb = new Uint8Array(W0 * H0 * 3).map((_, k) => pixel(Math.floor(k / 3), k % 3));
    const { center, scale } = xywhToCenterScale(...BOX, 96 / 128);
    const cpu = warpAffine(rgb, W0, H0, getAffineTransform(center, scale, 0, [96, 128]), 96, 128);
    expect(got!.cropBits).toEqual(Array.from(new Uint32Array(cpu.buffer)));

    expect(got!.missing).toMatch(/\/missing\.safetensors: cannot fetch the model \(HTTP 404/);
    expect(got!.video).toMatch(/the video has no frame yet/);
    expect(got!.painted).toBeGreaterThan(50);
  },
  TIMEOUT_MS + 60_000,
);
