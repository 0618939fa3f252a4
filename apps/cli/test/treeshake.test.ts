// The built packages tree-shake in an app's bundler: each is one ES module per source file with
// `sideEffects` saying which modules must stay when merely imported, so a browser bundle keeps only what
// it uses, and Node's modules and sharp are out of a browser bundler's sight. esbuild bundles, for
// browsers and with no options beyond that, imports from a project outside the workspace, so `dist/` is
// what resolves (`pnpm test` builds it first).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Metafile, build } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const PACKAGES = ['tensor', 'model', 'train'];
const project = mkdtempSync(join(tmpdir(), 'tmpose-treeshake-'));

interface Bundle {
  text: string;
  bytes: number;
  /** The files with code in the bundle, relative to the repository. */
  inputs: string[];
  /** The imports left in the output (what the browser would have to load). */
  imports: string[];
}

async function bundle(source: string): Promise<Bundle> {
  const entry = join(project, `entry-${Math.random().toString(36).slice(2)}.js`);
  writeFileSync(entry, source);
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    metafile: true,
    logLevel: 'silent',
    absWorkingDir: root, // the metafile's paths relative to the repository
  });
  const text = result.outputFiles[0]!.text;
  const metafile = result.metafile as Metafile;
  const output = Object.values(metafile.outputs)[0]!;
  return {
    text,
    bytes: Buffer.byteLength(text),
    inputs: Object.entries(output.inputs).filter(([, i]) => i.bytesInOutput > 0).map(([f]) => f),
    imports: output.imports.map((i) => i.path),
  };
}

// A static or dynamic import of a Node module or sharp (esbuild's list of the output's imports says the
// same; this also catches one an unusual build might leave inside the code).
const NODE_IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*)["'](?:node:[\w/]+|sharp)["']/;

describe('tree-shaking the built packages', () => {
  beforeAll(() => {
    for (const p of PACKAGES) {
      const f = join(root, `packages/${p}/dist/index.js`);
      if (!existsSync(f)) throw new Error(`${f} is missing: run \`pnpm build\` (\`pnpm test\` does) before these tests`);
    }
    mkdirSync(join(project, 'node_modules/@tmpose'), { recursive: true });
    for (const p of PACKAGES) symlinkSync(join(root, 'packages', p), join(project, 'node_modules/@tmpose', p));
    writeFileSync(join(project, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  });

  it("each package's sideEffects names modules that exist in dist/ (methods.js, queue.js) and keeps them", async () => {
    for (const p of PACKAGES) {
      const pkg = JSON.parse(readFileSync(join(root, `packages/${p}/package.json`), 'utf8')) as { sideEffects: boolean | string[] };
      if (pkg.sideEffects === false) continue;
      expect(Array.isArray(pkg.sideEffects), `${p}: sideEffects is false or a list`).toBe(true);
      for (const f of pkg.sideEffects as string[]) expect(existsSync(join(root, 'packages', p, f)), `${p}: ${f}`).toBe(true);
    }
    // A method call needs methods.js, which only installs the methods: it must survive the shaking.
    const b = await bundle(`import { tensor } from '@tmpose/tensor'; export const f = () => tensor([1]).add(1);`);
    expect(b.inputs).toContain('packages/tensor/dist/methods.js');
    expect(b.inputs).toContain('packages/tensor/dist/runtime/queue.js');
  });

  it('decodeHeatmaps from @tmpose/model bundles small, without the engine', async () => {
    const b = await bundle(`import { decodeHeatmaps } from '@tmpose/model'; export { decodeHeatmaps };`);
    console.log(`treeshake: decodeHeatmaps from @tmpose/model: ${b.bytes} bytes minified (${b.inputs.length} modules)`);
    expect(b.inputs.every((f) => !f.startsWith('packages/') || f.includes('/dist/')), b.inputs.join(', ')).toBe(true);
    expect(b.inputs.filter((f) => f.startsWith('packages/tensor/')), 'no @tmpose/tensor module').toEqual([]);
    expect(b.text).not.toContain('createComputePipeline');
    expect(b.bytes).toBeLessThan(8_000);
    expect(b.imports).toEqual([]);
  });

  it('the training pieces of @tmpose/train bundle for browsers with no Node module and no sharp', async () => {
    const b = await bundle(`import { generateTarget, jointsMseLoss, processSample } from '@tmpose/train';
export { generateTarget, jointsMseLoss, processSample };`);
    console.log(`treeshake: generateTarget, jointsMseLoss, processSample from @tmpose/train: ${b.bytes} bytes minified (${b.inputs.length} modules)`);
    expect(b.imports).toEqual([]);
    expect(b.text).not.toMatch(NODE_IMPORT);
    expect(b.inputs.filter((f) => /node_modules|\/sharp\//.test(f)), 'no dependency bundled').toEqual([]);
    // Only the modules these need: no loader, readers of files, training loop or reports.
    for (const m of ['data/loader.js', 'data/image.js', 'loop.js', 'report/image.js', 'node.js']) {
      expect(b.inputs).not.toContain(`packages/train/dist/${m}`);
    }
  });

  it('all of @tmpose/train bundles for browsers as it is: Node modules and sharp are loaded only at run time in Node', async () => {
    const b = await bundle(`import * as train from '@tmpose/train'; export { train };`);
    expect(b.imports).toEqual([]);
    expect(b.text).not.toMatch(NODE_IMPORT);
    expect(b.inputs.filter((f) => /node_modules/.test(f)), 'no dependency bundled').toEqual([]);
  });
});
