// The built @tmpose/train is one module per source file: its DataLoader's worker threads start from
// dist/data/loader.js (which re-exports runLoaderWorker), in plain Node outside the workspace, and make the
// same batches as building them on the calling thread. `pnpm test` builds dist/ first.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));

it('the built DataLoader runs its worker threads from dist/ and matches the in-thread batches', () => {
  for (const f of ['tensor/dist/index.js', 'model/dist/index.js', 'train/dist/data/loader.js'].map((f) => join(root, 'packages', f))) {
    if (!existsSync(f)) throw new Error(`${f} is missing: run \`pnpm build\` (\`pnpm test\` does) before these tests`);
  }
  const project = mkdtempSync(join(tmpdir(), 'tmpose-dist-loader-'));
  mkdirSync(join(project, 'node_modules/@tmpose'), { recursive: true });
  for (const p of ['tensor', 'model', 'train']) symlinkSync(join(root, 'packages', p), join(project, 'node_modules/@tmpose', p));
  writeFileSync(join(project, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  writeFileSync(join(project, 'main.js'), `
import { DataLoader, loadCoco } from '@tmpose/train';
const root = ${JSON.stringify(join(root, 'data/coco-mini'))};
const dataset = await loadCoco({ annotationFile: root + '/test_coco.json', imageRoot: root });
async function batches(workers) {
  const loader = new DataLoader(dataset, { batchSize: 4, workers, samplesPerEpoch: 8, seed: 3 });
  const sums = [];
  for await (const b of loader.epoch(0)) sums.push(b.images.reduce((s, v) => s + v, 0), b.targets.reduce((s, v) => s + v, 0));
  await loader[Symbol.asyncDispose]();
  return sums;
}
console.log(JSON.stringify({ resolved: import.meta.resolve('@tmpose/train'), workers: await batches(2), inThread: await batches(0) }));
process.exit(0);
`);
  const r = spawnSync(process.execPath, ['main.js'], { cwd: project, encoding: 'utf8', timeout: 100_000 });
  expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
  const got = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { resolved: string; workers: number[]; inThread: number[] };
  expect(got.resolved).toMatch(/packages\/train\/dist\/index\.js$/);
  expect(got.workers).toHaveLength(4);
  expect(got.workers).toEqual(got.inThread);
});
