// Node's built-in modules for the parts of this package that read and write files, imported through
// variable specifiers (as @tmpose/tensor's node.ts and device.ts do), so that a browser bundle of the
// package resolves none of them and the browser-safe parts (sample processing, targets, the loss, the
// evaluators) run there. In Node they load once, when this module is first imported; in a browser
// every function here throws, naming itself.
type Fs = typeof import('node:fs');
type FsPromises = typeof import('node:fs/promises');
type Path = typeof import('node:path');
type Zlib = typeof import('node:zlib');

const inNode = typeof process !== 'undefined' && !!process.versions?.node;

/** Imports `specifier` at run time, out of a bundler's sight: for Node-only and optional packages (sharp). */
export function importHidden<M>(specifier: string): Promise<M> {
  return import(/* @vite-ignore */ specifier) as Promise<M>;
}

/** Outside Node: a stand-in whose every function throws. */
function absent<M>(module: string): M {
  const fail = (name: string) => () => {
    throw new Error(`${module} ${name}(): @tmpose/train reads and writes files only in Node`);
  };
  return new Proxy({}, { get: (_, name) => fail(String(name)) }) as M;
}

const load = <M>(module: string): Promise<M> => (inNode ? importHidden<M>(module) : Promise.resolve(absent<M>(module)));

const [fs, fsPromises, path, zlib] = await Promise.all([
  load<Fs>('node:fs'),
  load<FsPromises>('node:fs/promises'),
  load<Path>('node:path'),
  load<Zlib>('node:zlib'),
]);

export const { existsSync, readFileSync, readdirSync, statSync } = fs;
export const { mkdir, open, readFile, readdir, rm, stat, truncate } = fsPromises;
export const { basename, dirname, extname, join } = path;
export const { inflateSync } = zlib;
