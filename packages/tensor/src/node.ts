// Node's built-in modules, loaded on first use through variable specifiers (as device.ts does for
// 'webgpu') so that browser bundles of this package never try to resolve them. Null outside Node.
type Fs = typeof import('node:fs/promises');
type Path = typeof import('node:path');
type Os = typeof import('node:os');

export interface NodeModules {
  fs: Fs;
  path: Path;
  os: Os;
}

let cached: Promise<NodeModules | null> | null = null;

export function nodeModules(): Promise<NodeModules | null> {
  if (typeof process === 'undefined' || !process.versions?.node) return Promise.resolve(null);
  const names = ['node:fs/promises', 'node:path', 'node:os'];
  cached ??= Promise.all(names.map((n) => import(/* @vite-ignore */ n))).then(([fs, path, os]) => ({
    fs: fs as Fs,
    path: path as Path,
    os: os as Os,
  }));
  return cached;
}

/** The Node modules, or a clear error naming what needed them. */
export async function requireNode(what: string): Promise<NodeModules> {
  const mods = await nodeModules();
  if (!mods) throw new Error(`${what} needs Node (file system access); in a browser, use the byte-level API`);
  return mods;
}
