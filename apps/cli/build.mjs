// Bundles the command into dist/tmpose.js (one file, Node ESM, with a shebang); packages with native
// parts (webgpu, sharp) stay external.
import { build } from 'esbuild';

await build({
  entryPoints: ['src/main.ts'],
  outfile: 'dist/tmpose.js',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  conditions: ['source'],
  external: ['webgpu', 'sharp'],
  banner: { js: '#!/usr/bin/env node' },
  sourcemap: true,
  logLevel: 'warning',
});
