// `pnpm web`: bundles the page and the model's worker with esbuild (the workspace packages from their
// TypeScript sources) and serves them on 127.0.0.1, with the bundled sample (data/coco-mini), the bundled
// trained `tiny` (data/weights/tiny-coco-mini.safetensors, see data/weights/README.md) and the checkpoint
// `pnpm demo` writes (out/demo/last.safetensors) when there is one.
//   pnpm web [--port 8080]      (--port 0 picks a free port)
import { existsSync } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const APP = fileURLToPath(new URL('.', import.meta.url));
const REPO = resolve(APP, '../..');

export interface WebServerOptions {
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** The repository root: data/coco-mini and out/demo are found under it. */
  repo?: string;
  /** Where `pnpm demo` writes (default <repo>/out/demo). */
  demoDir?: string;
}

/** The bundled trained `tiny` (exported weights), under the repository root. */
export const BUNDLED_WEIGHTS = 'data/weights/tiny-coco-mini.safetensors';

/** An entry of /checkpoints.json: weights the page can load from the server, in the order it prefers them. */
export interface ServedCheckpoint {
  /** The path in the repository ("out/demo/last.safetensors"). */
  name: string;
  url: string;
  bytes: number;
  /** 'demo': what `pnpm demo` wrote in out/demo; 'bundled': the trained `tiny` the repository holds. */
  kind: 'demo' | 'bundled';
}

export interface WebServer {
  url: string;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.safetensors': 'application/octet-stream',
};

/** page.js and worker.js (with source maps), bundled for browsers. */
export async function bundleApp(): Promise<Map<string, Uint8Array>> {
  const result = await build({
    entryPoints: { page: join(APP, 'src/page.ts'), worker: join(APP, 'src/worker.ts') },
    bundle: true,
    write: false,
    outdir: '/',
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    conditions: ['source'],
    sourcemap: 'linked',
    logLevel: 'silent',
  });
  return new Map(result.outputFiles.map((f) => [f.path, f.contents]));
}

/** The .safetensors files in `dir`, newest first. */
async function checkpoints(dir: string): Promise<{ name: string; path: string; bytes: number; mtime: number }[]> {
  if (!existsSync(dir)) return [];
  const found = [];
  for (const name of await readdir(dir)) {
    if (!name.endsWith('.safetensors')) continue;
    const s = await stat(join(dir, name)).catch(() => null);
    if (s?.isFile()) found.push({ name, path: join(dir, name), bytes: s.size, mtime: s.mtimeMs });
  }
  // last.safetensors first: it is what `pnpm demo` trained last.
  return found.sort((a, b) => Number(b.name === 'last.safetensors') - Number(a.name === 'last.safetensors') || b.mtime - a.mtime);
}

export async function startServer(options: WebServerOptions = {}): Promise<WebServer> {
  const repo = options.repo ?? REPO;
  const sampleDir = join(repo, 'data/coco-mini');
  const demoDir = options.demoDir ?? join(repo, 'out/demo');
  const bundledWeights = join(repo, BUNDLED_WEIGHTS);
  const bundle = await bundleApp();
  const statics: Record<string, string> = { '/': join(APP, 'src/index.html'), '/style.css': join(APP, 'src/style.css') };
  // Plain file names only: nothing outside the two folders and the bundled weights can be asked for.
  const plainName = /^[\w][\w.-]*$/;

  const server: Server = createServer((req, res) => {
    const send = (status: number, body: Uint8Array | string, type = 'text/plain; charset=utf-8') =>
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' }).end(body);
    const file = async (path: string) => send(200, await readFile(path), TYPES[extname(path)] ?? 'application/octet-stream');
    const serve = async () => {
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'GET only');
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
      if (statics[path]) return file(statics[path]!);
      const built = bundle.get(path);
      if (built) return send(200, built, TYPES[extname(path)]);
      if (path === '/favicon.ico') return send(204, '');
      if (path === '/checkpoints.json') {
        // out/demo's first (the page starts from the first), then the bundled weights.
        const list: ServedCheckpoint[] = (await checkpoints(demoDir)).map((c) => ({ name: `out/demo/${c.name}`, url: `/out/demo/${c.name}`, bytes: c.bytes, kind: 'demo' }));
        const bundled = await stat(bundledWeights).catch(() => null);
        if (bundled?.isFile()) list.push({ name: BUNDLED_WEIGHTS, url: `/${BUNDLED_WEIGHTS}`, bytes: bundled.size, kind: 'bundled' });
        return send(200, JSON.stringify(list), TYPES['.json']);
      }
      if (path === `/${BUNDLED_WEIGHTS}`) {
        if (existsSync(bundledWeights) && (await stat(bundledWeights)).isFile()) return file(bundledWeights);
        return send(404, 'not found');
      }
      const [, folder, name] = /^\/(data\/coco-mini|out\/demo)\/([^/]+)$/.exec(path) ?? [];
      if (folder && name && plainName.test(name)) {
        const dir = folder === 'out/demo' ? demoDir : sampleDir;
        if (folder === 'out/demo' && !name.endsWith('.safetensors')) return send(404, 'not found');
        const target = join(dir, name);
        if (existsSync(target) && (await stat(target)).isFile()) return file(target);
      }
      return send(404, 'not found');
    };
    serve().catch((err: Error) => send(500, err.message));
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 8080, '127.0.0.1', ok);
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return {
    url,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

function parsePort(args: string[]): number {
  const i = args.findIndex((a) => a === '--port' || a.startsWith('--port='));
  if (i < 0) return 8080;
  const value = args[i]!.includes('=') ? args[i]!.split('=')[1] : args[i + 1];
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port: expected a port number, got ${value}`);
  return port;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    console.log('pnpm web [--port 8080]: serves the TMPose web app on 127.0.0.1 (--port 0 picks a free port)');
  } else {
    try {
      const { url } = await startServer({ port: parsePort(args) });
      const demo = (await checkpoints(join(REPO, 'out/demo'))).length ? ' (with out/demo checkpoints)' : '';
      console.log(`TMPose web app${demo}: ${url}`);
      console.log('Needs a browser with WebGPU (Chrome, Edge; Chromium on Linux with --enable-unsafe-webgpu). Ctrl-C stops.');
    } catch (err) {
      const busy = (err as NodeJS.ErrnoException).code === 'EADDRINUSE' ? ' (another server has that port: pass --port N, or --port 0 for a free one)' : '';
      console.error(`pnpm web: ${(err as Error).message}${busy}`);
      process.exit(1);
    }
  }
}
