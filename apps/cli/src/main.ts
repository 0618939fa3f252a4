// The `tmpose` command. Every failure is one line on stderr and a non-zero exit; files are written
// atomically, so a failed command leaves nothing half-written.
import { isMainThread } from 'node:worker_threads';
import { commands, usage } from './commands.js';

// The bundled loader's worker threads import this file for `runLoaderWorker`.
export { runLoaderWorker } from '@tmpose/train';

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv.filter((a, i) => !(a === '--' && i <= 1));
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name ? 0 : 1;
  }
  const command = commands[name];
  if (!command) {
    console.error(`tmpose: unknown command '${name}'\n${usage()}`);
    return 2;
  }
  try {
    await command.run(rest);
    return 0;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    console.error(`tmpose ${name}: ${message.split('\n')[0]}`);
    if (process.env.TMPOSE_DEBUG) console.error(err);
    return 1;
  }
}

if (isMainThread && process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  // Dawn can keep the event loop alive after the device is idle: exit explicitly.
  process.exit(await main(process.argv.slice(2)));
}
