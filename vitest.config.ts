import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    alias: {
      '@tmpose/tensor': src('tensor'),
      '@tmpose/model': src('model'),
      '@tmpose/train': src('train'),
    },
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts'],
    // One WebGPU device per worker, and lavapipe already uses every core: run files one at a time.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    env: {
      XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp',
      // Tests never read or write the user's kernel-tune table (~/.cache/tmpose-webgpu/tune.json): each
      // run starts from an empty one of its own, as on a new machine.
      TMPOSE_TUNE_FILE: process.env.TMPOSE_TUNE_FILE ?? join(mkdtempSync(join(tmpdir(), 'tmpose-test-')), 'tune.json'),
    },
  },
});
