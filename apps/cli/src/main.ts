// The `tmpose` command. Every failure is one line on stderr and a non-zero exit; files are written
// atomically, so a failed command leaves nothing half-written.
import { isMainThread } from 'node:worker_threads';
import { commands, usage } from './commands.js';

// The bundled loader's worker threads import this file for `runLoaderWorker`.
export { runLoaderWorker } from '@tmpose/train';

/**
 * An error message as one line: the first line, then the details of the lines after it (a list of
 * mismatched tensors, say) joined and cut at `limit` characters; the whole list goes to --verbose.
 */
export function oneLine(message: string, limit = 400): string {
  const [first = '', ...details] = message.split('\n').map((l) => l.trim()).filter(Boolean);
  if (!details.length) return first;
  const rest = details.join('; ');
  return rest.length <= limit ? `${first} ${rest}` : `${first} ${rest.slice(0, limit)}... (the whole list with --verbose)`;
}

export async function main(argv: string[]): Promise<number> {
  // --verbose anywhere: errors are printed in full, with their stack.
  const verbose = argv.includes('--verbose') || Boolean(process.env.TMPOSE_DEBUG);
  const [name, ...rest] = argv.filter((a, i) => !(a === '--' && i <= 1) && a !== '--verbose');
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
    console.error(`tmpose ${name}: ${oneLine(message)}`);
    if (verbose) console.error(err);
    return (err as { exitCode?: number }).exitCode ?? 1;
  }
}

if (isMainThread && process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  // Dawn can keep the event loop alive after the device is idle: exit explicitly.
  process.exit(await main(process.argv.slice(2)));
}
