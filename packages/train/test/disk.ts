// Temporary folders for a test file, and a small tmpfs for full-disk tests, shared by the train and CLI tests. Mounting needs root (as in CI);
// elsewhere `smallDisk` returns null and those cases are skipped.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

/** A tmpfs of `size` (e.g. '64k', '16m') mounted for the test file, unmounted after it; null where mounting is not allowed. */
export function smallDisk(size: string): string | null {
  const mount = mkdtempSync(join(tmpdir(), 'tmpose-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mount], { stdio: 'ignore' });
  } catch {
    return null;
  }
  afterAll(() => execFileSync('umount', [mount]));
  return mount;
}

/** Fills the disk under `root` until fewer than `free` bytes are left (a file named `filler`). */
export function fillDisk(root: string, free: number): void {
  const avail = Number(execFileSync('df', ['-B1', '--output=avail', root], { encoding: 'utf8' }).trim().split('\n').at(-1));
  writeFileSync(join(root, 'filler'), new Uint8Array(Math.max(0, avail - free)));
}

/** A maker of temporary folders (`tmpose-<name>-*`), all removed after the test file. */
export function tempDirs(name: string): () => string {
  const made: string[] = [];
  afterAll(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));
  return () => {
    const d = mkdtempSync(join(tmpdir(), `tmpose-${name}-`));
    made.push(d);
    return d;
  };
}
