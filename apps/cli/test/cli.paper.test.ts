// The paper's training path through the tmpose command, on the bundled sample: an ImageNet-pretrained
// backbone (--pretrained), MPII in the official HRNet folder layout with PCKh from gt_valid.mat, weights
// export, and prediction over many images.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { main } from '../src/main.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const coco = join(root, 'data/coco-mini');
const pretrained = join(root, 'packages/train/test/fixtures/pretrained/hrnet_w8_cls.pth');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(...argv: string[]): Promise<Run> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a) => void stdout.push(a.join(' ')));
  const err = vi.spyOn(console, 'error').mockImplementation((...a) => void stderr.push(a.join(' ')));
  try {
    const code = await main(argv);
    return { code, stdout: stdout.join('\n'), stderr: stderr.join('\n') };
  } finally {
    log.mockRestore();
    err.mockRestore();
  }
}

const tinyRun = (data: string, out: string) => ['--data', data, '--out', out, '--batch-size', '4', '--samples-per-epoch', '8', '--workers', '0', '--epochs', '1'];

describe('tmpose train --pretrained', () => {
  it('loads the ImageNet backbone by the official rule and says how many tensors it loaded and skipped', async () => {
    const out = mkdtempSync(join(tmpdir(), 'tmpose-pretrained-'));
    const r = await run('train', '--config', 'tiny', ...tinyRun(coco, out), '--eval-every', '0', '--pretrained', pretrained);
    expect(r.code, r.stderr).toBe(0);
    // The `tiny` backbone has 138 of the checkpoint's 1,380 tensors (scripts/gen_pretrained_fixtures.py).
    expect(r.stderr).toContain(`pretrained: 138 tensors loaded into the backbone from ${pretrained}, 1242 skipped`);
  });

  it('a checkpoint of another width is one line naming the file and the tensor', async () => {
    const out = mkdtempSync(join(tmpdir(), 'tmpose-pretrained-'));
    const r = await run('train', '--config', 'tmpose-b', ...tinyRun(coco, out), '--pretrained', pretrained);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^tmpose train: .*hrnet_w8_cls\.pth: '.*' is float32 \[.*\] in the checkpoint but float32 \[.*\] in the tmpose-b backbone \(HRNet-W32\)/);
    expect(r.stderr.split('\n')).toHaveLength(1);
  });
});
