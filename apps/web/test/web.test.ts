// The web app (apps/web) in headless Chromium (WebGPU on SwiftShader), served by its own server
// (serve.ts) as `pnpm web` serves it. Never skips: a missing Chromium fails with what to install.
// The tests share one page and run in order: the first skeleton (the bundled trained `tiny`, checked
// against Node's estimatePoses with the same weights), the keep slider, the picture sources, a bad
// checkpoint, training (from the seeded `tiny`). SwiftShader is slow (a forward of `tiny` takes
// seconds), hence the long timeouts.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type PoseResult, type RawImage, type TMPose, createModel, estimatePoses, loadModel, weightsMetadata } from '@tmpose/model';
import { init, io } from '@tmpose/tensor';
import { train } from '@tmpose/train';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type PageWatch, launchChromium, watchPage } from '../../../scripts/chromium.js';
import type { LastRun, TrainingState } from '../src/page.js';
import { type WebServer, startServer } from '../serve.js';

const SCREENSHOT = fileURLToPath(new URL('../../../docs/web-app.png', import.meta.url));
/** The bundled trained `tiny` (data/weights/README.md): the page starts from it when out/demo is empty. */
const BUNDLED = fileURLToPath(new URL('../../../data/weights/tiny-coco-mini.safetensors', import.meta.url));
const BUNDLED_LABEL = 'trained by pnpm demo on the bundled sample of 4 photos (data/weights/tiny-coco-mini.safetensors)';
const STEP_MS = 150_000;

type Keypoints = [number, number, number][][];

let server: WebServer | undefined;
let browser: Browser | undefined;
let page: Page;
let watch: PageWatch;
let demoDir: string;
const DEMO_SEED = 7;

beforeAll(async () => {
  // out/demo is an empty folder of the test's, whatever this checkout holds: the page starts from the
  // bundled trained `tiny`. A later test writes weights there (a seeded tiny) as `pnpm demo`'s checkpoint.
  demoDir = mkdtempSync(join(tmpdir(), 'tmpose-web-'));
  server = await startServer({ port: 0, demoDir });
  // A fake camera (a test pattern) for the webcam, allowed without asking.
  browser = await launchChromium(['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream']);
  page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  page.setDefaultTimeout(STEP_MS);
  watch = watchPage(page);
  await page.goto(server.url, { waitUntil: 'load' });
}, 120_000);

afterAll(async () => {
  await browser?.close().catch(() => {});
  await server?.close();
  rmSync(demoDir, { recursive: true, force: true });
});

/** Waits for the page to have drawn run number `count` (or later) and returns it. */
async function drawnRun(count: number, what: string): Promise<LastRun> {
  try {
    await watch.race(
      page.waitForFunction((n) => (window.tmposeLast?.count ?? 0) >= n || !document.getElementById('message')!.hidden, count, {
        timeout: STEP_MS,
        polling: 200,
      }),
    );
  } catch (err) {
    watch.fail(`web test: ${what}`, err);
  }
  const message = await page.locator('#message').textContent();
  if (await page.locator('#message').isVisible()) watch.fail(`web test: ${what}`, `the page shows an error: ${message}`);
  return (await page.evaluate(() => window.tmposeLast))!;
}

const keypointsOf = (people: { keypoints: [number, number, number][] }[]): Keypoints => people.map((p) => p.keypoints);

function expectSameKeypoints(actual: Keypoints, expected: Keypoints, tol: number, what: string): number {
  expect(actual.length, `${what}: people`).toBe(expected.length);
  let worst = 0;
  actual.forEach((person, i) =>
    person.forEach(([x, y, s], j) => {
      const [ex, ey, es] = expected[i]![j]!;
      worst = Math.max(worst, Math.abs(x - ex), Math.abs(y - ey));
      expect(Math.abs(s - es), `${what}: person ${i} joint ${j} score ${s} vs ${es}`).toBeLessThan(1e-3);
    }),
  );
  expect(worst, `${what}: largest keypoint difference in pixels`).toBeLessThan(tol);
  return worst;
}

/** The photo at `url` as the page's model reads it: Chromium's decode, drawn and read back as RGBA. */
async function pagePixels(url: string): Promise<RawImage> {
  const pixels = await page.evaluate(async (u) => {
    const bitmap = await createImageBitmap(await (await fetch(u)).blob());
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const ctx = canvas.getContext('2d')!;
    ctx.drawImage(bitmap, 0, 0);
    const data = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
    let text = '';
    for (let i = 0; i < data.length; i += 0x8000) text += String.fromCharCode(...data.subarray(i, i + 0x8000));
    return { base64: btoa(text), width: bitmap.width, height: bitmap.height };
  }, url);
  return { data: new Uint8Array(Buffer.from(pixels.base64, 'base64')), width: pixels.width, height: pixels.height, channels: 4 };
}

/** Node's estimatePoses (Dawn) on the pixels and with the options of the page's run `last`. */
async function inNode(model: TMPose, last: LastRun): Promise<PoseResult> {
  const image = await pagePixels(`/data/coco-mini/${last.source}`);
  expect([image.width, image.height]).toEqual(last.imageSize);
  const { boxes, keep, sampler, seed, flip } = last.options;
  return estimatePoses(model, image, { boxes: boxes ?? undefined, keep, sampler, seed, flip });
}

it(
  'starts from the bundled trained tiny and draws skeletons on the bundled photo equal to Node estimatePoses with the same weights',
  async () => {
    const last = await drawnRun(1, 'the first skeleton');
    expect(last.model).toBe(BUNDLED_LABEL);
    const info = await page.locator('#model-info').textContent();
    expect(info).toContain(`tiny: ${BUNDLED_LABEL}`);
    expect(info).not.toMatch(/untrained/);
    expect(await page.locator('#bundled-weights').isVisible()).toBe(true);
    expect(await page.locator('#demo-checkpoint').isHidden()).toBe(true);
    expect(last.result.people.length).toBeGreaterThan(0);

    await init();
    const model = await loadModel(BUNDLED);
    try {
      const node = await inNode(model, last);
      expect(last.result.keptTokens).toEqual(node.keptTokens);
      const worst = expectSameKeypoints(keypointsOf(last.result.people), keypointsOf(node.people), 1e-3, 'Chromium vs Node');
      const t = last.result.timings;
      const n = last.result.people.length;
      console.log(
        `web test: first skeleton ${(last.sinceLoadMs / 1000).toFixed(1)} s after the page opened; ${n} ${n === 1 ? 'person' : 'people'}, ` +
          `largest keypoint difference from Node ${worst.toExponential(2)} px (limit 1e-3); SwiftShader ${t.totalMs.toFixed(0)} ms (model ${t.modelMs.toFixed(0)} ms)`,
      );
    } finally {
      model.dispose();
    }

    mkdirSync(join(SCREENSHOT, '..'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  },
  STEP_MS + 60_000,
);

it(
  'the keep slider changes the kept tokens drawn and the reported FLOPs',
  async () => {
    const before = (await page.evaluate(() => window.tmposeLast))!;
    const flopsBefore = await page.locator('#flops').textContent();
    await page.locator('#keep').fill('0.3');
    const after = await drawnRun(before.count + 1, 'the run at keep 0.3');
    expect(after.options.keep).toBeCloseTo(0.3, 6);
    const people = after.result.people.length;
    // tiny has an 8×8 grid: int(64·0.6) = 38 and int(64·0.3) = 19 tokens per person.
    expect(before.keptDrawn).toBe(38 * people);
    expect(after.keptDrawn).toBe(19 * people);
    expect(after.result.keptTokens!.every((k) => k.length === 19)).toBe(true);
    expect(after.flops.keptTokens).toBe(19);
    expect(after.flops.transformerMacs).toBeLessThan(before.flops.transformerMacs);
    expect(after.flops.paperGflopsT).toBeLessThan(before.flops.paperGflopsT);
    const flopsAfter = await page.locator('#flops').textContent();
    expect(flopsAfter).not.toBe(flopsBefore);
    expect(flopsAfter).toContain('19 of 64');
  },
  STEP_MS,
);

it(
  'estimatePoses gives the same keypoints from a VideoFrame, an ImageBitmap and the pixels (ImageData)',
  async () => {
    const last = (await page.evaluate(() => window.tmposeLast))!;
    const results = await watch.race(
      page.evaluate(async (url) => {
        const app = window.tmposeApp!;
        const bitmap = await createImageBitmap(await (await fetch(url)).blob());
        const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
        const ctx = canvas.getContext('2d')!;
        ctx.drawImage(bitmap, 0, 0);
        const pixels = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
        const fromPixels = await app.estimate(pixels);
        const fromBitmap = await app.estimate(await createImageBitmap(bitmap));
        const fromFrame = await app.estimate(new VideoFrame(bitmap, { timestamp: 0 }));
        return [fromPixels, fromBitmap, fromFrame].map((r) => r.people.map((p) => p.keypoints));
      }, `/data/coco-mini/${last.source}`),
    );
    const [fromPixels, fromBitmap, fromFrame] = results as [Keypoints, Keypoints, Keypoints];
    expect(fromPixels.length).toBe(last.result.people.length);
    expectSameKeypoints(fromPixels, keypointsOf(last.result.people), 1e-3, 'ImageData vs the page run');
    expectSameKeypoints(fromBitmap, fromPixels, 1e-3, 'ImageBitmap vs ImageData');
    expectSameKeypoints(fromFrame, fromPixels, 1e-3, 'VideoFrame vs ImageData');
  },
  STEP_MS,
);

it(
  'a bad checkpoint file gives one clear message, and the app goes on with its model',
  async () => {
    const modelBefore = await page.locator('#model-info').textContent();
    const garbage = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 256));
    await page.locator('#checkpoint-file').setInputFiles({ name: 'garbage.safetensors', mimeType: 'application/octet-stream', buffer: garbage });
    const message = page.locator('#message');
    await watch.race(message.waitFor({ state: 'visible', timeout: 60_000 }));
    expect(await message.textContent()).toMatch(/garbage\.safetensors/);
    expect(await page.locator('#model-info').textContent()).toBe(modelBefore);
    expect(await page.locator('#canvas').isVisible()).toBe(true);
    expect(await page.locator('h1').textContent()).toBe('TMPose in the browser');
  },
  STEP_MS,
);

it(
  "starts from the checkpoint the server offers as out/demo's (written by the test), as Node draws with it",
  async () => {
    await init();
    const demo = createModel('tiny', { seed: DEMO_SEED });
    try {
      const dict = demo.stateDict();
      await io.saveSafetensors(join(demoDir, 'last.safetensors'), dict, weightsMetadata(demo.config));
      for (const t of Object.values(dict)) t.dispose();
    } finally {
      demo.dispose();
    }
    const other = await browser!.newPage({ viewport: { width: 1280, height: 860 } });
    const otherWatch = watchPage(other);
    try {
      await other.goto(server!.url, { waitUntil: 'load' });
      await otherWatch.race(other.waitForFunction(() => (window.tmposeLast?.count ?? 0) >= 1, undefined, { timeout: STEP_MS, polling: 200 }));
      expect(await other.locator('#message').isHidden()).toBe(true);
      const run = (await other.evaluate(() => window.tmposeLast))!;
      expect(run.model).toBe('out/demo/last.safetensors');
      expect(await other.locator('#model-info').textContent()).not.toMatch(/untrained/);
      expect(await other.locator('#demo-checkpoint').textContent()).toBe('Load out/demo/last.safetensors');
      // The bundled weights are offered too, but out/demo's checkpoint wins.
      expect(await other.locator('#bundled-weights').isVisible()).toBe(true);
      const model = await loadModel(join(demoDir, 'last.safetensors'));
      try {
        const node = await inNode(model, run);
        expectSameKeypoints(keypointsOf(run.result.people), keypointsOf(node.people), 1e-3, 'Chromium vs Node (demo checkpoint)');
      } finally {
        model.dispose();
      }
    } finally {
      await other.close();
    }
  },
  STEP_MS,
);

it(
  'trains tiny in the browser: two steps lower the loss as in Node\'s training loop, and inference then uses the trained weights',
  async () => {
    // From the seeded, untrained tiny ("Seeded tiny"), as Node's train() starts with seed 0.
    const shown = (await page.evaluate(() => window.tmposeLast))!;
    await page.locator('#reset').click();
    const before = await drawnRun(shown.count + 1, 'the seeded tiny');
    expect(before.model).toBe('tiny, seeded with 0 (untrained)');
    expect(await page.locator('#model-info').textContent()).toMatch(/untrained/);
    await page.locator('#steps').fill('2');
    await page.locator('#batch').fill('8');
    await page.locator('#lr').fill('0.005');
    await page.locator('#train').click();
    // The worker trains; the page's thread stays free: an animation frame comes at once.
    await watch.race(page.waitForFunction(() => (window.tmposeTraining?.losses.length ?? 0) >= 1 || window.tmposeTraining?.done, undefined, { polling: 50 }));
    const frameMs = await page.evaluate(() => {
      const t = performance.now();
      return new Promise<number>((resolve) => requestAnimationFrame(() => resolve(performance.now() - t)));
    });
    expect(frameMs, 'milliseconds to the next animation frame while training').toBeLessThan(500);
    try {
      await watch.race(page.waitForFunction(() => window.tmposeTraining?.done === true, undefined, { timeout: STEP_MS, polling: 250 }));
    } catch (err) {
      watch.fail('web test: training', err);
    }
    const state = (await page.evaluate(() => window.tmposeTraining)) as TrainingState;
    if (!(await page.locator('#message').isHidden())) watch.fail('web test: training', await page.locator('#message').textContent());
    expect(state.losses).toHaveLength(2);
    console.log(
      `web test: training loss ${state.losses[0]!.toExponential(3)} -> ${state.losses[1]!.toExponential(3)}, ${(state.msPerStep / 1000).toFixed(1)} s per step (batch 8, SwiftShader)`,
    );
    expect(state.losses[1]!).toBeLessThan(state.losses[0]!);

    // The same two steps of Node's training loop (`train`, as `pnpm demo` calls it: the same seed, samples,
    // augmentation, masks, loss and Adam; sharp decodes the JPEGs there) give the same losses.
    const out = mkdtempSync(join(tmpdir(), 'tmpose-web-train-'));
    try {
      await train({
        config: 'tiny',
        data: fileURLToPath(new URL('../../../data/coco-mini', import.meta.url)),
        out,
        overwrite: true,
        epochs: 1,
        samplesPerEpoch: 16,
        batchSize: 8,
        lr: 0.005,
        augment: { rotationProb: 0.3, rotationFactor: 20, halfBodyProb: 0, scaleFactor: 0.2 },
        logEvery: 1,
        evalEvery: 0,
        cacheImages: true,
        seed: 0,
        workers: 0,
        quiet: true,
      });
      const log = readFileSync(join(out, 'log.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { loss: number });
      const nodeLosses = log.map((r) => r.loss);
      console.log(`web test: the same two steps in Node: ${nodeLosses.map((l) => l.toPrecision(7)).join(', ')}; in Chromium: ${state.losses.map((l) => l.toPrecision(7)).join(', ')}`);
      expect(nodeLosses).toHaveLength(2);
      nodeLosses.forEach((l, i) => expect(Math.abs(state.losses[i]! - l) / l, `step ${i + 1}: Chromium ${state.losses[i]} vs Node ${l}`).toBeLessThan(1e-3));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    expect(await page.locator('#progress').evaluate((e) => (e as HTMLProgressElement).value)).toBe(1);
    const after = await drawnRun(before.count + 1, 'the run after training');
    expect(after.model).toMatch(/^tiny, seeded with 0, then 2 steps trained here/);
    expect(keypointsOf(after.result.people)).not.toEqual(keypointsOf(before.result.people));
  },
  STEP_MS + 60_000,
);

it(
  'saves the weights it runs with: Node loads the download and draws the same keypoints',
  async () => {
    const last = (await page.evaluate(() => window.tmposeLast))!;
    expect(last.model).toMatch(/2 steps trained here/);
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.locator('#save').click()]);
    expect(download.suggestedFilename()).toBe('tiny-2-steps.safetensors');
    const dir = mkdtempSync(join(tmpdir(), 'tmpose-web-save-'));
    try {
      const path = join(dir, download.suggestedFilename());
      await download.saveAs(path);
      const model = await loadModel(path);
      try {
        const node = await inNode(model, last);
        expectSameKeypoints(keypointsOf(last.result.people), keypointsOf(node.people), 1e-3, 'Chromium vs Node (saved weights)');
      } finally {
        model.dispose();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
  STEP_MS,
);

it(
  '"Trained tiny (sample)" goes back to the bundled weights',
  async () => {
    const before = (await page.evaluate(() => window.tmposeLast))!;
    await page.locator('#bundled-weights').click();
    const run = await drawnRun(before.count + 1, 'the run with the bundled weights');
    expect(run.model).toBe(BUNDLED_LABEL);
    expect(await page.locator('#model-info').textContent()).not.toMatch(/untrained/);
  },
  STEP_MS,
);

it(
  'Stop ends a training run after its current step',
  async () => {
    await page.locator('#steps').fill('50');
    await page.locator('#train').click();
    await watch.race(page.waitForFunction(() => (window.tmposeTraining?.losses.length ?? 0) >= 1 && !window.tmposeTraining?.done, undefined, { polling: 50 }));
    await page.locator('#stop').click();
    await watch.race(page.waitForFunction(() => window.tmposeTraining?.done === true, undefined, { timeout: STEP_MS, polling: 100 }));
    const state = (await page.evaluate(() => window.tmposeTraining)) as TrainingState;
    expect(state.stopped).toBe(true);
    expect(state.losses.length).toBeGreaterThanOrEqual(1);
    expect(state.losses.length).toBeLessThan(50);
    expect(await page.locator('#train-status').textContent()).toMatch(new RegExp(`^Stopped after ${state.losses.length} steps?:`));
    expect(await page.locator('#stop').isDisabled()).toBe(true);
  },
  STEP_MS,
);

it(
  'runs on the webcam (a fake camera) with frames per second, and goes back to the photo',
  async () => {
    const before = (await page.evaluate(() => window.tmposeLast))!;
    await page.locator('#webcam').click();
    await drawnRun(before.count + 2, 'two webcam frames');
    const frame = (await page.evaluate(() => window.tmposeLast))!;
    expect(frame.source).toBe('webcam');
    expect(frame.result.people).toHaveLength(1);
    expect(await page.locator('#fps').textContent()).toMatch(/^\d+(\.\d)? frames per second$/);
    await page.locator('#webcam').click();
    expect(await page.locator('#webcam').textContent()).toBe('Start the webcam');
    await watch.race(
      page.waitForFunction((name) => window.tmposeLast?.source === name, before.source, { timeout: STEP_MS, polling: 200 }),
    );
  },
  STEP_MS,
);

it(
  'a photo from the file picker or dropped on the page runs as one person; another dropped file gets the message',
  async () => {
    const before = (await page.evaluate(() => window.tmposeLast))!;
    const jpeg = readFileSync(fileURLToPath(new URL('../../../data/coco-mini/000000196141.jpg', import.meta.url)));
    await page.locator('#photo-file').setInputFiles({ name: 'picked.jpg', mimeType: 'image/jpeg', buffer: jpeg });
    const picked = await drawnRun(before.count + 1, 'the picked photo');
    expect(picked.source).toBe('picked.jpg');
    expect(picked.options.boxes).toBeNull();
    expect(picked.result.people).toHaveLength(1);
    expect(picked.result.people[0]!.box).toEqual([0, 0, ...picked.imageSize]);

    const drop = (url: string, name: string, type: string) =>
      page.evaluate(
        async ([u, n, t]) => {
          const data = new DataTransfer();
          data.items.add(new File([await (await fetch(u!)).blob()], n!, { type: t }));
          window.dispatchEvent(new DragEvent('drop', { dataTransfer: data, cancelable: true }));
        },
        [url, name, type],
      );
    await drop('/data/coco-mini/000000040083.jpg', 'dropped.jpg', 'image/jpeg');
    const dropped = await drawnRun(picked.count + 1, 'the dropped photo');
    expect(dropped.source).toBe('dropped.jpg');
    expect(dropped.result.people).toHaveLength(1);

    await drop('/data/coco-mini/test_coco.json', 'notes.json', 'application/json');
    await watch.race(page.locator('#message').waitFor({ state: 'visible', timeout: 10_000 }));
    expect(await page.locator('#message').textContent()).toMatch(/^notes\.json: drop a photo/);
  },
  STEP_MS,
);

it(
  'without WebGPU, and with a camera that will not start, the page says so in its message',
  async () => {
    const other = await browser!.newPage();
    const otherWatch = watchPage(other);
    try {
      await other.addInitScript(() => {
        delete (Navigator.prototype as { gpu?: unknown }).gpu;
        navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));
      });
      await other.goto(server!.url, { waitUntil: 'load' });
      const message = other.locator('#message');
      await otherWatch.race(message.waitFor({ state: 'visible', timeout: 60_000 }));
      expect(await message.textContent()).toMatch(/no WebGPU/);
      expect(await other.locator('#status').textContent()).toBe('No WebGPU');
      await other.locator('#webcam').click();
      await otherWatch.race(other.waitForFunction(() => /webcam could not start/.test(document.getElementById('message')!.textContent ?? '')));
      expect(await message.textContent()).toMatch(/NotAllowedError: Permission denied/);
      expect(await other.locator('h1').isVisible()).toBe(true);
    } finally {
      await other.close();
    }
  },
  60_000,
);

it(
  'a browser whose WebGPU gives no adapter gets the message too',
  async () => {
    const other = await browser!.newPage();
    const otherWatch = watchPage(other);
    try {
      // The worker's WebGPU finds no adapter, as with a blocklisted GPU.
      await other.route('**/worker.js', async (route) => {
        const response = await route.fetch();
        const body = `GPU.prototype.requestAdapter = async () => null;\n${await response.text()}`;
        await route.fulfill({ response, body });
      });
      await other.goto(server!.url, { waitUntil: 'load' });
      const message = other.locator('#message');
      await otherWatch.race(message.waitFor({ state: 'visible', timeout: 60_000 }));
      expect(await message.textContent()).toMatch(/WebGPU but gave no adapter/);
      expect(await other.locator('#status').textContent()).toBe('The model could not start');
    } finally {
      await other.close();
    }
  },
  60_000,
);
