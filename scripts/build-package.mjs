#!/usr/bin/env node
// Builds the package in the current directory (each package's `build` script runs this, via turbo):
//   1. esbuild bundles src/index.ts into dist/index.js: ESM, platform neutral (the same file runs in Node
//      and in browsers), every bare import (dependencies such as `webgpu`, other workspace packages)
//      left external, with a source map. WGSL kernels are TS strings, so no loaders are needed.
//   2. tsc emits the .d.ts files only, into dist/ (type errors fail the build).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { build } from 'esbuild';

const cwd = process.cwd();
const pkg = JSON.parse(readFileSync(join(cwd, 'package.json'), 'utf8'));
const entry = join(cwd, 'src', 'index.ts');
if (!existsSync(entry)) {
  console.error(`build-package: ${pkg.name}: no src/index.ts in ${cwd}`);
  process.exit(1);
}
const dist = join(cwd, 'dist');
rmSync(dist, { recursive: true, force: true });

const started = performance.now();
const result = await build({
  entryPoints: [entry],
  outfile: join(dist, 'index.js'),
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  // Bare specifiers stay imports; `neutral` has no main fields by default, so name the usual ones.
  packages: 'external',
  external: ['node:*'],
  mainFields: ['module', 'main'],
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
});
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);

// Declarations: the package's own tsconfig, declarations only. Resolve tsc from the workspace.
const require = createRequire(join(cwd, 'package.json'));
const tscBin = join(require.resolve('typescript/package.json'), '..', 'bin', 'tsc');
// tsconfig.build.json (src only) where a package has one; tsconfig.json (which may also cover tests) otherwise.
const project = existsSync(join(cwd, 'tsconfig.build.json')) ? 'tsconfig.build.json' : 'tsconfig.json';
const tsc = spawnSync(
  process.execPath,
  [tscBin, '-p', project, '--declaration', '--emitDeclarationOnly', '--noEmit', 'false', '--rootDir', 'src', '--outDir', 'dist'],
  { cwd, stdio: 'inherit' },
);
if (tsc.status !== 0) {
  console.error(`build-package: ${pkg.name}: tsc declaration emit failed (exit ${tsc.status ?? tsc.signal})`);
  process.exit(tsc.status || 1);
}
if (!existsSync(join(dist, 'index.d.ts'))) {
  console.error(`build-package: ${pkg.name}: tsc did not write dist/index.d.ts`);
  process.exit(1);
}
console.log(
  `build-package: ${pkg.name}: dist/index.js (${(bytes / 1024).toFixed(1)} KiB with map) + .d.ts in ` +
    `${((performance.now() - started) / 1000).toFixed(1)} s`,
);
