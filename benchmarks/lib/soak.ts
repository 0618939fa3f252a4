// `pnpm bench train --soak [--steps 5000] [--run]`: a long `tiny` training run that prints the process's
// memory over time — RSS, V8 heap, external and ArrayBuffer memory — and the engine's own `memory()`
// (GPU bytes pooled and in live tensors), then the RSS trend after warm-up. Without `--run`, the
// engine's training step alone (loader, forward, backward, Adam, one loss readback per step); with it,
// `train()` itself (the CLI's path: log, progress, a checkpoint per epoch), sampled on a timer.
import { createModel, getConfig } from '@tmpose/model';
import { init, memory, optim, tensor, tidy } from '@tmpose/tensor';
import { DataLoader, loadCoco, train } from '@tmpose/train';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { trainingStep } from './step.js';

const data = fileURLToPath(new URL('../../data/coco-mini/', import.meta.url));
const MB = 1024 * 1024;

interface Sample {
  step: number;
  seconds: number;
  rss: number;
  heap: number;
  external: number;
  arrayBuffers: number;
  gpuLive: number;
  gpuPooled: number;
  tensors: number;
}

function sample(step: number, started: number): Sample {
  const m = process.memoryUsage();
  const g = memory();
  return {
    step,
    seconds: (performance.now() - started) / 1000,
    rss: m.rss / MB,
    heap: m.heapUsed / MB,
    external: m.external / MB,
    arrayBuffers: m.arrayBuffers / MB,
    gpuLive: g.liveBytes / MB,
    gpuPooled: g.pooledBytes / MB,
    tensors: g.liveTensors,
  };
}

function print(s: Sample): void {
  const f = (v: number) => v.toFixed(1).padStart(8);
  console.log(
    `${String(s.step).padStart(6)} ${s.seconds.toFixed(0).padStart(6)}s ${f(s.rss)} ${f(s.heap)} ${f(s.external)} ${f(s.arrayBuffers)} ${f(s.gpuLive)} ${f(s.gpuPooled)} ${String(s.tensors).padStart(7)}`,
  );
}

export async function soak(args: string[]): Promise<void> {
  const at = args.indexOf('--steps');
  const steps = at >= 0 ? Number(args[at + 1]) : 5000;
  const whole = args.includes('--run');
  const info = await init();
  console.log(`adapter: ${info.description}; ${steps} steps of tiny at batch 8, ${whole ? 'train() itself' : 'the engine step alone'}`);
  console.log('  step   time   RSS MB  heap MB   ext MB    AB MB  GPU live GPU pool tensors');
  const samples: Sample[] = [];
  const every = Math.max(1, Math.round(steps / 25));
  const started = performance.now();
  const record = (step: number) => {
    const s = sample(step, started);
    samples.push(s);
    print(s);
  };
  if (whole) await soakTrain(steps, every, record);
  else await soakEngine(steps, every, record);

  // After warm-up (the first fifth: pipelines compiled, pools and caches filled), the least-squares slope
  // of RSS over steps: single samples swing by ±10 MB with the garbage collector.
  const steady = samples.filter((s) => s.step >= steps / 5);
  const n = steady.length;
  const mx = steady.reduce((a, s) => a + s.step, 0) / n;
  const my = steady.reduce((a, s) => a + s.rss, 0) / n;
  const slope = steady.reduce((a, s) => a + (s.step - mx) * (s.rss - my), 0) / Math.max(1e-9, steady.reduce((a, s) => a + (s.step - mx) ** 2, 0));
  const rss = steady.map((s) => s.rss);
  console.log(
    `\nRSS after warm-up (steps ${steady[0]?.step}-${steady.at(-1)?.step}): ${Math.min(...rss).toFixed(0)}-${Math.max(...rss).toFixed(0)} MB, ` +
      `trend ${slope >= 0 ? '+' : ''}${(slope * 1000).toFixed(2)} MB per 1000 steps`,
  );
}

async function soakEngine(steps: number, every: number, record: (step: number) => void): Promise<void> {
  const config = getConfig('tiny');
  const [H, W] = config.imageSize;
  const dataset = await loadCoco({ annotationFile: `${data}test_coco.json`, imageRoot: data, aspectRatio: W / H });
  const loader = new DataLoader(dataset, { batchSize: 8, seed: 1, dropLast: true, samplesPerEpoch: 64, cacheImages: true, inputSize: [W, H], heatmapSize: [W / 4, H / 4] });
  const model = createModel(config, { seed: 1 });
  model.train().flattenParameters();
  const opt = new optim.Adam(model.parameters().filter((p) => p.requiresGrad), { lr: 1e-3 });
  let step = 0;
  record(0);
  for (let epoch = 0; step < steps; epoch++) {
    for await (const b of loader.epoch(epoch)) {
      const loss = tidy(() => trainingStep(model, opt, tensor(b.images, b.imageShape), tensor(b.targets, b.targetShape), tensor(b.targetWeights, b.weightShape)));
      await loss.item();
      loss.dispose();
      if (++step % every === 0) record(step);
      if (step >= steps) break;
    }
  }
  await loader.close();
  model.dispose();
}

async function soakTrain(steps: number, every: number, record: (step: number) => void): Promise<void> {
  const out = mkdtempSync(join(tmpdir(), 'tmpose-soak-'));
  const stepsLogged = () => {
    try {
      const text = readFileSync(join(out, 'log.jsonl'), 'utf8');
      return text.split('\n').length - 1;
    } catch {
      return 0;
    }
  };
  let next = 0;
  const timer = setInterval(() => {
    const done = stepsLogged();
    if (done >= next) {
      record(done);
      next = done + every;
    }
  }, 250);
  try {
    await train({ config: 'tiny', data, out, epochs: Math.ceil(steps / 8), batchSize: 8, samplesPerEpoch: 64, logEvery: 1, evalEvery: 0, cacheImages: true, quiet: true });
  } finally {
    clearInterval(timer);
    rmSync(out, { recursive: true, force: true });
  }
}
