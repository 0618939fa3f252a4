// Interrupts and crashes of `tmpose train`, in a child process killed at the point named: Ctrl-C
// mid-epoch (the step is finished and saved, and the resumed run is the uninterrupted one, loss for
// loss), SIGTERM at the end of an epoch (while saving or validating), and a crash (SIGKILL) between the
// epoch's checkpoint and its validation, which must not cost the epoch.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { root, run, sample, tempDir, trainArgs } from './helpers.js';

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** `tmpose <argv>` from source in a child process; `when` is polled and `then` called once it holds. */
function tmpose(argv: string[], options: { env?: Record<string, string>; when?: () => boolean; then?: (child: ChildProcess) => void } = {}): Promise<Exit> {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', join(root, 'apps/cli/src/main.ts'), ...argv], {
    cwd: root,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => void (stderr += d.toString()));
  const poll = options.when
    ? setInterval(() => {
        if (options.when!()) {
          clearInterval(poll);
          options.then!(child);
        }
      }, 20)
    : undefined;
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      clearInterval(poll);
      resolve({ code, signal, stderr });
    });
  });
}

const steps = (out: string) =>
  existsSync(join(out, 'log.jsonl'))
    ? readFileSync(join(out, 'log.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; step: number; loss: number }).filter((r) => r.type === 'step')
    : [];

async function checkpointState(path: string) {
  const { readCheckpointState } = await import('@tmpose/train');
  return readCheckpointState(path);
}

describe('tmpose train, interrupted', () => {
  it('Ctrl-C mid-epoch: the step is saved, exit 130 with how to resume, and the resumed run equals the uninterrupted one', async () => {
    // 2 epochs of 6 steps, without validation.
    const args = (out: string) => [...trainArgs(sample, out), '--samples-per-epoch', '24', '--epochs', '2', '--eval-every', '0'];
    const out = tempDir('sigint');
    const exit = await tmpose(args(out), { when: () => steps(out).length >= 2, then: (child) => child.kill('SIGINT') });
    expect(exit.code, exit.stderr).toBe(130);
    expect(exit.stderr).toMatch(/SIGINT: interrupted at epoch 1, batch \d of 6 \(step \d\); .*last\.safetensors holds every step so far; to continue: tmpose train .* --resume/);
    const state = await checkpointState(join(out, 'last.safetensors'));
    expect(state.epoch).toBe(0);
    expect(state.batch).toBe(state.step);
    expect(steps(out)).toHaveLength(state.step);
    expect(readdirSync(out).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(existsSync(join(out, 'loss.svg')), 'the loss curve is drawn').toBe(true);

    const resumed = await run(...args(out), '--resume');
    expect(resumed.code, resumed.stderr).toBe(0);
    const straight = tempDir('straight');
    expect((await run(...args(straight))).code).toBe(0);
    expect(steps(out).map((s) => s.step)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(steps(out).map((s) => s.loss)).toEqual(steps(straight).map((s) => s.loss));
  });

  it('SIGTERM at the end of an epoch (saving or validating): the epoch is kept, exit 143', async () => {
    const out = tempDir('sigterm');
    const exit = await tmpose([...trainArgs(sample, out), '--epochs', '2'], { when: () => steps(out).length >= 2, then: (child) => child.kill('SIGTERM') });
    expect(exit.code, exit.stderr).toBe(143);
    // Where the signal lands depends on timing: after the last step's log line but before the epoch's end
    // (batch 2 of 2), while validating, after the epoch, or in the next epoch's first step.
    expect(exit.stderr).toMatch(/SIGTERM: interrupted (at epoch 1, batch 2 of 2|while validating epoch 1|after epoch 1|at epoch 2, batch 1 of 2)/);
    expect((await checkpointState(join(out, 'last.safetensors'))).step).toBeGreaterThanOrEqual(2);
  });

  it('a crash between the checkpoint and the validation loses no epoch', async () => {
    const out = tempDir('crash');
    const exit = await tmpose([...trainArgs(sample, out), '--epochs', '2'], { env: { TMPOSE_CRASH_AT: 'validation' } });
    expect(exit.signal, exit.stderr).toBe('SIGKILL');
    const state = await checkpointState(join(out, 'last.safetensors'));
    expect([state.epoch, state.batch, state.step]).toEqual([1, 0, 2]);
    const resumed = await run(...trainArgs(sample, out), '--epochs', '2', '--resume');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(steps(out).map((s) => s.step)).toEqual([1, 2, 3, 4]);
  });
});
