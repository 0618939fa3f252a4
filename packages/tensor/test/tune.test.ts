// The kernel-tune table in Node: keyed by what tells adapters apart, saved to $TMPOSE_TUNE_FILE by
// merging (another adapter's entries and this adapter's other problems stay), loaded by init. The
// browser side (IndexedDB, a Web Worker) is in browser.test.ts.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { type DeviceInfo, init, matmul, randn } from '@tmpose/tensor';
import { adapterKey, loadTuning } from '../src/runtime/tune.js';

// A table of this file's own, set before init reads it (vitest runs each file in a fresh module graph).
const file = join(mkdtempSync(join(tmpdir(), 'tmpose-tune-')), 'tune.json');
process.env.TMPOSE_TUNE_FILE = file;
const OTHER = 'google | | swiftshader'; // a key of the old form, from another adapter
writeFileSync(file, JSON.stringify({ [OTHER]: { 'matmul|kn|M256|N256|K512': '4x4' } }));

let info: DeviceInfo;
let key: string;
beforeAll(async () => {
  info = await init();
  key = adapterKey(info);
  // This adapter's entry for a problem the test does not meet: it must survive the save.
  const table = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Record<string, string>>;
  table[key] = { 'attention|L64|D32': '2' };
  writeFileSync(file, JSON.stringify(table));
  await loadTuning();
});

const table = () => JSON.parse(readFileSync(file, 'utf8')) as Record<string, Record<string, string>>;

it('keys adapters by names, device id, subgroup sizes, fallback, features and a fingerprint of the limits', () => {
  const a = info.adapter;
  expect(a.features.length).toBeGreaterThan(0);
  expect(a.features).toEqual([...a.features].sort());
  expect(a.limits.maxBufferSize).toBeGreaterThan(0);
  expect(Object.keys(a.limits).length).toBeGreaterThan(20);
  expect(key).toContain(`${info.description} | ${info.vendor} | ${info.architecture} | ${a.device} | subgroups ${a.subgroupMinSize}-${a.subgroupMaxSize}`);
  expect(key).toContain(a.features.join(','));
  // Two adapters that differ in one thing only get different keys.
  const variants: DeviceInfo[] = [
    { ...info, adapter: { ...a, device: `${a.device}x` } },
    { ...info, adapter: { ...a, isFallbackAdapter: !a.isFallbackAdapter } },
    { ...info, adapter: { ...a, subgroupMaxSize: a.subgroupMaxSize * 2 + 1 } },
    { ...info, adapter: { ...a, features: a.features.slice(1) } },
    { ...info, adapter: { ...a, limits: { ...a.limits, maxBufferSize: a.limits.maxBufferSize! / 2 } } },
  ];
  const keys = new Set([key, ...variants.map(adapterKey)]);
  expect(keys.size).toBe(variants.length + 1);
  expect(adapterKey({ ...info, adapter: { ...a, limits: { ...a.limits } } })).toBe(key);
});

it('a tuned matmul is saved under the adapter key, merged into the table, and loaded by the next init', async () => {
  // 2·M·N·K = 67e6 flops: worth tuning; the readback times the variants and saves the winner.
  const c = matmul(randn([256, 512], { seed: 1 }), randn([512, 256], { seed: 2 }));
  await c.data();
  const saved = table();
  expect(saved[OTHER], 'another adapter keeps its entries').toEqual({ 'matmul|kn|M256|N256|K512': '4x4' });
  expect(saved[key]!['attention|L64|D32'], 'this adapter keeps its other problems').toBe('2');
  const tuned = Object.keys(saved[key]!).filter((p) => p.startsWith('matmul|'));
  expect(tuned.length, JSON.stringify(saved[key])).toBeGreaterThan(0);

  // A new run (loadTuning is what init calls) starts with the choice: the same matmul queues nothing,
  // so the next readback writes no table.
  await loadTuning();
  writeFileSync(file, JSON.stringify({}));
  const again = matmul(randn([256, 512], { seed: 3 }), randn([512, 256], { seed: 4 }));
  await again.data();
  expect(table()).toEqual({});
});
