// `pnpm bench <name> [args]`: runs benchmarks/<name>.ts (its exported `main(args)`), or lists the names.
import './lib/gpu.js'; // before any engine loads: every engine must find the same navigator.gpu
import { readdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = dirname(fileURLToPath(import.meta.url));
const names = readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_') && !f.endsWith('.d.ts'))
  .map((f) => f.slice(0, -3))
  .sort();

const [name, ...args] = process.argv.slice(2);
if (!name || !names.includes(name)) {
  if (name) console.error(`unknown benchmark "${name}"`);
  console.error(`usage: pnpm bench <name> [args]\navailable: ${names.join(', ')}`);
  process.exit(name ? 1 : 0);
}

const mod = (await import(`./${name}.ts`)) as { main?: (args: string[]) => Promise<void> };
if (typeof mod.main !== 'function') {
  console.error(`benchmarks/${name}.ts exports no main(args)`);
  process.exit(1);
}
// Other processes on this (2-core) machine skew every number: say how busy it was.
const load = () => loadavg()[0]!.toFixed(2);
console.log(`machine load (1-min average) at start: ${load()}`);
await mod.main(args);
console.log(`machine load (1-min average) at end: ${load()}${loadavg()[0]! > 0.7 ? ' (busy: numbers are skewed)' : ''}`);
// Dawn can keep the event loop alive after the last device is idle; a finished benchmark should exit.
process.exit(0);
