import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

const tests = ['packages/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts'];
// Files that time things (kernel tuning), race a child process (interrupts) or drive Chromium on a
// deadline: each runs alone, after the others.
const alone = [
  'packages/tensor/test/tune.test.ts',
  'packages/tensor/test/browser.test.ts',
  'packages/model/test/pose.browser.test.ts',
  'apps/web/test/web.test.ts',
  'apps/cli/test/interrupt.test.ts',
  'apps/cli/test/dist.test.ts',
  'apps/cli/test/dist.loader.test.ts',
];

export default defineConfig({
  resolve: {
    alias: {
      '@tmpose/tensor': src('tensor'),
      '@tmpose/model': src('model'),
      '@tmpose/train': src('train'),
    },
  },
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    env: {
      XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp',
      // Tests never read or write the user's kernel-tune table (~/.cache/tmpose-webgpu/tune.json): each
      // run starts from an empty one of its own, as on a new machine.
      TMPOSE_TUNE_FILE: process.env.TMPOSE_TUNE_FILE ?? join(mkdtempSync(join(tmpdir(), 'tmpose-test-')), 'tune.json'),
    },
    projects: [
      // The suite is bound by shader compiles (one thread per process), so two files at a time: one
      // WebGPU device per worker, and Mesa's shader cache is shared between them.
      { extends: true, test: { name: 'kernels', include: tests, exclude: alone, maxWorkers: 2, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'alone', include: alone, fileParallelism: false, sequence: { groupOrder: 1 } } },
    ],
  },
});
