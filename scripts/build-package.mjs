#!/usr/bin/env node
// Builds the package in the current directory (each package's `build` script runs this, via turbo):
//   1. esbuild compiles every src/**/*.ts to dist/**/*.js, one module per file (no bundling), so that an
//      app's bundler keeps only the modules it uses (with `sideEffects` in package.json saying which
//      modules must stay when merely imported): ESM, platform neutral (the same files run in Node and in
//      browsers), imports left as written, with source maps. WGSL kernels are TS strings: no loaders.
//   2. tsc emits the .d.ts files only, into dist/ (type errors fail the build).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
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
const src = join(cwd, 'src');
const sources = readdirSync(src, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
  .map((f) => join(src, f));
const result = await build({
  entryPoints: sources,
  outdir: dist,
  outbase: src,
  bundle: false,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
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
  `build-package: ${pkg.name}: ${sources.length} modules in dist/ (${(bytes / 1024).toFixed(1)} KiB with maps) + .d.ts in ` +
    `${((performance.now() - started) / 1000).toFixed(1)} s`,
);
