// The first training step from a cold cache, with and without `warmup`. `pnpm bench warmup [--quick]`
// runs each way in a child process with an empty Mesa shader cache and tune table (as on a new machine),
// tuning off (so that only compiles differ), and prints the time to the first loss read back:
//  - none: the first step compiles each kernel synchronously at its first dispatch;
//  - create: warmup({ run: false }) first: every pipeline created with createComputePipelineAsync;
//  - run: warmup({ run: true }) first: created, then each run once on scratch buffers (what lavapipe,
//    which compiles at the first dispatch, needs).
// `--quick` uses the `tiny` configuration instead of tmpose-b (batch 1 both).
import { type ConfigName, createModel, getConfig } from '@tmpose/model';
import { init, ones, optim, setTuning, warmup, zeros } from '@tmpose/tensor';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trainingStep } from './lib/step.js';

const MODES = ['none', 'create', 'run'] as const;
// The process's CPU time (every thread: Dawn's, the driver's) beside the wall time, which grows with
// the machine's load.
const cpu = () => {
  const { user, system } = process.cpuUsage();
  return `${((user + system) / 1e6).toFixed(1)} s of CPU`;
};
type Mode = (typeof MODES)[number];

async function firstStep(name: ConfigName, mode: Mode): Promise<void> {
  const t0 = performance.now();
  await init();
  setTuning(false);
  const config = getConfig(name);
  const [H, W] = config.imageSize;
  const [hh, hw] = config.heatmapSize;
  const model = createModel(config, { seed: 1 });
  model.train();
  const opt = new optim.Adam(model.parameters().filter((p) => p.requiresGrad), { lr: 1e-3 });
  const [images, targets, weights] = [zeros([1, 3, H, W]), zeros([1, config.numJoints, hh, hw]), ones([1, config.numJoints])];
  const step = () => trainingStep(model, opt, images, targets, weights);
  let warm = '';
  if (mode !== 'none') {
    const r = await warmup(() => step().dispose(), { run: mode === 'run' });
    warm = `warm-up ${(r.ms / 1000).toFixed(1)} s (${r.kernels} kernels), `;
  }
  const t1 = performance.now();
  const loss = step();
  await loss.item();
  const t2 = performance.now();
  loss.dispose();
  const next = step();
  await next.item();
  const t3 = performance.now();
  next.dispose();
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  console.log(`${name} ${mode.padEnd(6)}: ${warm}first step ${s(t2 - t1)}, init to first loss ${s(t2 - t0)} (${cpu()}); the next step ${s(t3 - t2)}`);
}

export async function main(args: string[]): Promise<void> {
  const name: ConfigName = args.includes('--quick') ? 'tiny' : 'tmpose-b';
  const child = args.indexOf('--child');
  if (child >= 0) return firstStep(name, args[child + 1] as Mode);
  for (const mode of MODES) {
    const cache = mkdtempSync(join(tmpdir(), 'tmpose-cold-'));
    try {
      const r = spawnSync(process.execPath, [...process.execArgv, process.argv[1]!, 'warmup', ...args, '--child', mode], {
        stdio: 'inherit',
        env: { ...process.env, MESA_SHADER_CACHE_DIR: cache, TMPOSE_TUNE_FILE: join(cache, 'tune.json') },
      });
      if (r.status !== 0) throw new Error(`bench warmup --child ${mode}: the child process failed (${r.status ?? r.signal})`);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  }
}
