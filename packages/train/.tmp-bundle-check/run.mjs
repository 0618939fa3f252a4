import { loadCoco, DataLoader } from './index.js';
const root = '/work/shared/data/coco-mini/';
const ds = await loadCoco({ annotationFile: root + 'test_coco.json', imageRoot: root });
const l = new DataLoader(ds, { batchSize: 4, workers: 2, seed: 1 });
let n = 0; const t0 = performance.now();
for await (const b of l.epoch(0)) n += b.size;
console.log('bundle mode: samples', n, 'ms', (performance.now() - t0).toFixed(0));
await l.close();
