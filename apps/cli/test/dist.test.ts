// What users run, not the sources: the CLI bundle (apps/cli/dist/tmpose.js) with the data loader in a
// worker thread, and the built packages imported by a project outside the workspace in plain Node (no
// `source` condition, so `dist/` is what resolves). `pnpm test` builds them first.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bundle = join(root, 'apps/cli/dist/tmpose.js');
const tmp = mkdtempSync(join(tmpdir(), 'tmpose-dist-'));

function node(args: string[], cwd = root) {
  const r = spawnSync(process.execPath, args, { cwd, encoding: 'utf8', timeout: 100_000 });
  return { code: r.status, stdout: r.stdout, out: `${r.stdout}${r.stderr}` };
}

describe('built packages', () => {
  beforeAll(() => {
    for (const f of [bundle, ...['tensor', 'model', 'train'].map((p) => join(root, `packages/${p}/dist/index.js`))]) {
      if (!existsSync(f)) throw new Error(`${f} is missing: run \`pnpm build\` (\`pnpm test\` does) before these tests`);
    }
  });

  it('the CLI bundle trains with a worker-thread loader, evaluates and writes its checkpoint', () => {
    const out = join(tmp, 'run');
    const r = node([bundle, 'train', '--config', 'tiny', '--data', join(root, 'data/coco-mini'), '--out', out,
      '--batch-size', '4', '--samples-per-epoch', '8', '--epochs', '1', '--workers', '1', '--log-every', '1']);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/Average Precision {2}\(AP\) @\[ IoU=0\.50:0\.95/);
    const log = readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; loss?: number });
    const steps = log.filter((e) => e.type === 'step');
    expect(steps).toHaveLength(2);
    for (const s of steps) expect(Number.isFinite(s.loss)).toBe(true);
    expect(existsSync(join(out, 'last.safetensors'))).toBe(true);

    const info = node([bundle, 'info', '--config', 'tmpose-b']);
    expect(info.code, info.out).toBe(0);
    expect(info.out).toContain('13,514,368');
  });

  it('a project outside the workspace imports @tmpose/tensor, model and train from dist/ and runs them', () => {
    const project = join(tmp, 'consumer');
    mkdirSync(join(project, 'node_modules/@tmpose'), { recursive: true });
    for (const p of ['tensor', 'model', 'train']) symlinkSync(join(root, 'packages', p), join(project, 'node_modules/@tmpose', p));
    writeFileSync(join(project, 'package.json'), JSON.stringify({ type: 'module', private: true }));
    writeFileSync(join(project, 'main.js'), `
import { init, randn, matmul, sum } from '@tmpose/tensor';
import { createModel, countParams } from '@tmpose/model';
import { jointsMseLoss } from '@tmpose/train';
const resolved = import.meta.resolve('@tmpose/tensor');
await init();
const w = randn([8, 4], { requiresGrad: true, seed: 1 });
const loss = sum(matmul(randn([2, 8], { seed: 2 }), w));
loss.backward();
const model = createModel('tiny', { seed: 1 });
console.log(JSON.stringify({ resolved, loss: await loss.item(), grad: (await w.grad.data()).length, params: countParams(model), mse: typeof jointsMseLoss }));
process.exit(0);
`);
    const r = node(['main.js'], project);
    expect(r.code, r.out).toBe(0);
    const got = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { resolved: string; loss: number; grad: number; params: number; mse: string };
    expect(got.resolved).toMatch(/packages\/tensor\/dist\/index\.js$/);
    expect(Number.isFinite(got.loss)).toBe(true);
    expect(got.grad).toBe(32);
    expect(got.params).toBe(152_752);
    expect(got.mse).toBe('function');
  });
});
