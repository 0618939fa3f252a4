// Headless Chromium for the browser tests (packages/tensor/test/browser.test.ts, apps/web/test/web.test.ts):
// Debian's Chromium with WebGPU on SwiftShader (--enable-unsafe-webgpu), and a page watcher that turns an
// uncaught page error or a crash into a failure at once, with the page's console in the message.
// Never skips: a missing Chromium fails with what to install.
import { existsSync } from 'node:fs';
import { type Browser, type Page, chromium } from 'playwright-core';

export const CHROMIUM_PATHS = [process.env.CHROMIUM_PATH, '/usr/lib/chromium/chromium', '/usr/bin/chromium'];
export const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The Chromium executable, or an error that says how to install one. */
export function findChromium(): string {
  const found = CHROMIUM_PATHS.find((p): p is string => !!p && existsSync(p));
  if (!found) {
    throw new Error(
      `Chromium not found (looked at ${CHROMIUM_PATHS.filter(Boolean).join(', ')}): install it with ` +
        '`sudo apt-get install -y chromium` (Debian) or set CHROMIUM_PATH. The browser tests never skip.',
    );
  }
  return found;
}

/** Launches headless Chromium with WebGPU; `extraArgs` are added to CHROMIUM_ARGS. */
export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  const executablePath = findChromium();
  const args = [...CHROMIUM_ARGS, ...extraArgs];
  try {
    return await chromium.launch({
      executablePath,
      args,
      headless: true,
      timeout: 60_000,
      env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
    });
  } catch (err) {
    throw new Error(`could not launch Chromium (${executablePath} ${args.join(' ')}): ${(err as Error).message}`);
  }
}

export interface PageWatch {
  /** The page's console lines, errors, crashes and failed requests, in order. */
  log: string[];
  /** Rejects at the first uncaught page error or crash (race it against a wait to end the wait at once). */
  broken: Promise<never>;
  /** `work`, or the page's first uncaught error or crash, whichever comes first. */
  race<T>(work: Promise<T>): Promise<T>;
  /** Throws `what: err` with the page's log appended. */
  fail(what: string, err: unknown): never;
}

/** Records what `page` says and fails fast when it breaks. */
export function watchPage(page: Page): PageWatch {
  const log: string[] = [];
  let pageBroke: (err: Error) => void = () => {};
  const broken = new Promise<never>((_, reject) => (pageBroke = reject));
  broken.catch(() => {});
  page.on('console', (m) => log.push(`[console.${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => {
    log.push(`[pageerror] ${e.stack ?? e.message}`);
    pageBroke(new Error(`uncaught error in the page: ${e.message}`));
  });
  page.on('crash', () => {
    log.push('[crash] the page crashed');
    pageBroke(new Error('the page crashed'));
  });
  page.on('requestfailed', (r) => log.push(`[requestfailed] ${r.url()}: ${r.failure()?.errorText}`));
  return {
    log,
    broken,
    race: <T>(work: Promise<T>) => Promise.race([work, broken]),
    fail(what: string, err: unknown): never {
      const msg = err instanceof Error ? err.message : String(err);
      throw new Error(`${what}: ${msg}\n--- Chromium: ${CHROMIUM_ARGS.join(' ')}\n--- page console and errors:\n${log.length ? log.join('\n') : '(none)'}`);
    },
  };
}
