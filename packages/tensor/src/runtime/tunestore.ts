// Where the kernel-tune table lives between runs: a JSON file in Node (~/.cache/tmpose-webgpu/tune.json,
// or $TMPOSE_TUNE_FILE), IndexedDB in browsers (windows and workers alike; localStorage is missing in
// workers), nowhere elsewhere. The table maps an adapter key to that adapter's choices (problem ->
// variant label). A save merges into what is stored, so runs that tune different problems on one
// adapter (two processes, two tabs, a worker and its page) keep each other's entries.
import { nodeModules } from '../node.js';

/** A problem ("matmul|kn|M8192|N512|K256") -> the label of its fastest variant. */
export type Choices = Record<string, string>;

interface TuneStore {
  load(adapter: string): Promise<Choices>;
  save(adapter: string, choices: Choices): Promise<void>;
}

export const TUNE_DB = 'tmpose-webgpu';
export const TUNE_DB_STORE = 'tune';

async function fileStore(): Promise<TuneStore | null> {
  const mods = await nodeModules();
  if (!mods) return null;
  const { fs, path, os } = mods;
  const file = () => process.env.TMPOSE_TUNE_FILE ?? path.join(os.homedir(), '.cache', 'tmpose-webgpu', 'tune.json');
  const read = async (): Promise<Record<string, Choices>> => {
    try {
      return JSON.parse(await fs.readFile(file(), 'utf8')) as Record<string, Choices>;
    } catch {
      return {}; // missing or unreadable: start over
    }
  };
  return {
    load: async (adapter) => (await read())[adapter] ?? {},
    async save(adapter, choices) {
      const table = await read();
      table[adapter] = { ...table[adapter], ...choices };
      const target = file();
      await fs.mkdir(path.dirname(target), { recursive: true });
      const tmp = `${target}.${process.pid}.tmp`;
      await fs.writeFile(tmp, JSON.stringify(table, null, 1));
      await fs.rename(tmp, target);
    },
  };
}

const done = <T>(request: IDBRequest<T>) =>
  new Promise<T>((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error('IndexedDB request failed'));
  });

function indexedDbStore(): TuneStore | null {
  if (typeof indexedDB === 'undefined') return null;
  let db: Promise<IDBDatabase> | undefined;
  const open = () => {
    db ??= new Promise<IDBDatabase>((resolve, reject) => {
      const request = indexedDB.open(TUNE_DB, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(TUNE_DB_STORE);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error ?? new Error(`IndexedDB: cannot open ${TUNE_DB}`));
    });
    return db;
  };
  return {
    async load(adapter) {
      const store = (await open()).transaction(TUNE_DB_STORE, 'readonly').objectStore(TUNE_DB_STORE);
      return ((await done(store.get(adapter))) as Choices | undefined) ?? {};
    },
    async save(adapter, choices) {
      // One readwrite transaction: IndexedDB runs those on a store one at a time, so concurrent saves
      // (another tab, a worker) merge instead of overwriting each other.
      const tx = (await open()).transaction(TUNE_DB_STORE, 'readwrite');
      const store = tx.objectStore(TUNE_DB_STORE);
      const stored = ((await done(store.get(adapter))) as Choices | undefined) ?? {};
      store.put({ ...stored, ...choices }, adapter);
      await new Promise<void>((resolve, reject) => {
        tx.oncomplete = () => resolve();
        tx.onerror = tx.onabort = () => reject(tx.error ?? new Error('IndexedDB: the tune table was not saved'));
      });
    },
  };
}

let store: Promise<TuneStore | null> | undefined;

/** The store of this environment, or null where there is none (then choices last as long as the process). */
export function tuneStore(): Promise<TuneStore | null> {
  store ??= fileStore().then((s) => s ?? indexedDbStore());
  return store;
}
