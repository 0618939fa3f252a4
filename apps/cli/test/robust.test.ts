// A training run never loses work or lies about it (in-process; the interrupt and crash cases, which
// need a process to kill, are in interrupt.test.ts): weights holding NaN are never saved nor loaded, an
// earlier run is never silently overwritten, the best checkpoint is never lost, every input is checked
// before the first step, --config must match on --resume, a diverging loss stops the run, and errors
// say what and where in one line.
import { existsSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { officialLayout, run, sample, sampleFolder, tempDir, trainArgs } from './helpers.js';
import { fillDisk, smallDisk } from '../../../packages/train/test/disk.js';

const disk = smallDisk('16m');

/** NaN and Infinity values in a safetensors file. */
async function nonFinite(path: string): Promise<number> {
  const { io } = await import('@tmpose/tensor');
  let count = 0;
  for (const t of Object.values((await io.readSafetensors(path)).tensors)) for (const v of t.data) if (!Number.isFinite(v)) count++;
  return count;
}

/** The file rewritten with its tensors and metadata changed. */
async function tamper(from: string, to: string, edit: (tensors: Record<string, { data: Float32Array | Int32Array }>, meta: Record<string, string>) => void) {
  const { io, tensor } = await import('@tmpose/tensor');
  const parsed = await io.readSafetensors(from);
  edit(parsed.tensors, parsed.metadata);
  const tensors = Object.fromEntries(Object.entries(parsed.tensors).map(([k, h]) => [k, tensor(h.data, h.shape, { dtype: h.dtype })]));
  await io.saveSafetensors(to, tensors, parsed.metadata);
  for (const t of Object.values(tensors)) t.dispose();
}

const photo = join(sample, '000000196141.jpg');

describe('a training run never loses work or lies about it', () => {
  // One finished epoch, validated: last.safetensors, best.safetensors, log.jsonl.
  const first = tempDir('run');
  beforeAll(async () => {
    const r = await run(...trainArgs(sample, first), '--epochs', '1');
    expect(r.code, r.stderr).toBe(0);
  });

  it('a diverging run with NaN weights saves none of them; a checkpoint holding NaN is refused', async () => {
    const out = tempDir('nan');
    expect((await run(...trainArgs(sample, out), '--eval-every', '0', '--epochs', '1')).code).toBe(0);
    const good = readFileSync(join(out, 'last.safetensors'));
    // The run: at lr 1e6 the weights turn NaN at an epoch's last update, where no loss is read.
    const r = await run(...trainArgs(sample, out), '--eval-every', '0', '--epochs', '15', '--lr', '1e6', '--divergence', '0', '--resume');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/became (NaN|Infinity|-Infinity).*The last good checkpoint is .*last\.safetensors/);
    expect(await nonFinite(join(out, 'last.safetensors'))).toBe(0);
    expect(readFileSync(join(out, 'last.safetensors')).equals(good)).toBe(true);

    const bad = join(out, 'nan.safetensors');
    await tamper(join(first, 'last.safetensors'), bad, (t) => void (t['model.transformer.keypoint_token']!.data[3] = Number.NaN));
    const predicted = await run('predict', '--checkpoint', bad, photo, '--out', join(out, 'nan.png'));
    expect(predicted.code).toBe(1);
    expect(predicted.stderr).toMatch(/nan\.safetensors: 'model\.transformer\.keypoint_token' holds 1 NaN or Infinity values/);
    expect(existsSync(join(out, 'nan.png'))).toBe(false);
  });

  it('refuses to train into a folder holding an earlier run, unless --resume or --overwrite', async () => {
    const out = tempDir('again');
    expect((await run(...trainArgs(sample, out), '--epochs', '1')).code).toBe(0);
    const before = ['last.safetensors', 'best.safetensors', 'log.jsonl'].map((f) => readFileSync(join(out, f)));
    const again = await run(...trainArgs(sample, out), '--epochs', '1', '--seed', '3');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/holds an earlier run .*pass --resume to continue it or --overwrite to replace it/);
    ['last.safetensors', 'best.safetensors', 'log.jsonl'].forEach((f, i) => expect(readFileSync(join(out, f)).equals(before[i]!), f).toBe(true));
    const replaced = await run(...trainArgs(sample, out), '--epochs', '1', '--eval-every', '0', '--overwrite');
    expect(replaced.code, replaced.stderr).toBe(0);
    expect(existsSync(join(out, 'best.safetensors')), 'the earlier run\'s best').toBe(false);
  });

  it('a lost best.safetensors is written again at the next validation after a resume', async () => {
    const { readCheckpointState } = await import('@tmpose/train');
    const out = tempDir('best');
    expect((await run(...trainArgs(sample, out), '--epochs', '1')).code).toBe(0);
    rmSync(join(out, 'best.safetensors'));
    const r = await run(...trainArgs(sample, out), '--epochs', '2', '--resume');
    expect(r.code, r.stderr).toBe(0);
    const evals = readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; AP: number }).filter((x) => x.type === 'eval');
    expect((await readCheckpointState(join(out, 'best.safetensors'))).best).toBe(evals[1]!.AP);
  });

  it('checks every input before the first step: a 0-byte validation image, a duplicate annotation id', async () => {
    const empty = officialLayout((_, dir) => truncateSync(join(dir, '000000040083.jpg'), 0));
    const out = tempDir('val');
    const r = await run(...trainArgs(empty, out), '--epochs', '1');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/val2017\/000000040083\.jpg: the file is empty/);
    expect(existsSync(join(out, 'log.jsonl')), 'no step was trained').toBe(false);

    const duplicate = sampleFolder((json) => void (json.annotations[5]!.id = json.annotations[2]!.id));
    const d = await run(...trainArgs(duplicate, tempDir('dup')), '--epochs', '1');
    expect(d.code).toBe(1);
    expect(d.stderr).toMatch(/test_coco\.json: annotations\[5\]\.id: duplicate annotation id 230195 \(also annotations\[2\]\)/);

    // Validation ground truth the evaluator would refuse at the end of the first epoch.
    const gt = officialLayout((json) => void delete json.annotations[0]!.num_keypoints);
    const g = await run(...trainArgs(gt, tempDir('gt')), '--epochs', '1');
    expect(g.code).toBe(1);
    expect(g.stderr).toMatch(/person_keypoints_val2017\.json: .*annotations\[0\]\.num_keypoints/);
  });

  it('warns of images cut short or of another size than annotated, and predict treats a cut JPEG the same way', async () => {
    const data = sampleFolder((json, dir) => {
      json.images[1]!.width = 250; // really 500
      const bytes = readFileSync(join(dir, '000000000785.jpg'));
      writeFileSync(join(dir, '000000000785.jpg'), bytes.subarray(0, bytes.length >> 1));
    });
    const r = await run(...trainArgs(data, tempDir('warn')), '--epochs', '1', '--eval-every', '0');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/warning: 1 of 4 training images are cut short \(first: .*000000000785\.jpg\); their missing part is filled grey/);
    expect(r.stderr).toMatch(/warning: 1 of 4 training images differ in size from their annotation \(first: .*000000040083\.jpg is 500x333, annotated 250x333\)/);
    const p = await run('predict', '--checkpoint', join(first, 'last.safetensors'), join(data, '000000000785.jpg'), '--out', join(data, 'cut.png'));
    expect(p.code, p.stderr).toBe(0);
    expect(p.stderr).toMatch(/000000000785\.jpg is cut short; its missing part is filled grey/);
  });

  it.skipIf(!disk)('a full disk stops the run naming the file; nothing is left half-written, and the run resumes once there is room', async () => {
    const out = join(disk!, 'run');
    expect((await run(...trainArgs(sample, out), '--epochs', '1', '--eval-every', '0')).code).toBe(0);
    const good = readFileSync(join(out, 'last.safetensors'));
    writeFileSync(join(out, 'results.json'), '{"old": true}');
    fillDisk(disk!, 4096);
    const full = await run(...trainArgs(sample, out), '--epochs', '2', '--eval-every', '0', '--resume');
    expect(full.code).toBe(1);
    expect(full.stderr).toMatch(new RegExp(`${disk}/run/(log\\.jsonl|last\\.safetensors): .*ENOSPC`));
    const evaluated = await run('eval', '--checkpoint', join(out, 'last.safetensors'), '--data', sample, '--out', join(out, 'results.json'));
    expect(evaluated.stderr).toMatch(/results\.json: .*ENOSPC/);
    expect(readFileSync(join(out, 'results.json'), 'utf8')).toBe('{"old": true}');
    expect(readFileSync(join(out, 'last.safetensors')).equals(good)).toBe(true);
    expect(readdirSync(out).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    rmSync(join(disk!, 'filler'));
    const resumed = await run(...trainArgs(sample, out), '--epochs', '2', '--eval-every', '0', '--resume');
    expect(resumed.code, resumed.stderr).toBe(0);
    const steps = readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { step: number }).step);
    expect(steps).toEqual([1, 2, 3, 4]);
    expect(readFileSync(join(out, 'loss.svg'), 'utf8')).toContain('<svg');
  });

  it('--resume with another --config is an error', async () => {
    const r = await run(...trainArgs(sample, first).map((a) => (a === 'tiny' ? 'tmpose-b' : a)), '--epochs', '2', '--resume');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/last\.safetensors was trained as 'tiny', not 'tmpose-b'; pass the same --config/);
  });

  it('stops a diverging run (--lr 1e3) instead of reporting it done', async () => {
    const r = await run(...trainArgs(sample, tempDir('diverge')), '--eval-every', '0', '--epochs', '8', '--lr', '1e3');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the loss grew from .* \(over 1000x\) .*training diverged; stopping/);
  });

  it('train frees its tensors (model and optimizer state) when it ends, stopped by an error too', async () => {
    const { memory } = await import('@tmpose/tensor');
    const before = memory().liveTensors;
    expect((await run(...trainArgs(sample, tempDir('free')), '--epochs', '1', '--eval-every', '0')).code).toBe(0);
    expect(memory().liveTensors).toBe(before);
    expect((await run(...trainArgs(sample, tempDir('free')), '--eval-every', '0', '--epochs', '8', '--lr', '1e3')).code).toBe(1);
    expect(memory().liveTensors).toBe(before);
  });

  it('resuming a finished run says there is nothing to train', async () => {
    const r = await run(...trainArgs(sample, first), '--epochs', '1', '--resume');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/nothing to train: .*last\.safetensors already holds 1 epochs/);
    expect(r.stdout).not.toMatch(/NaN/);
  });

  it('errors name the file and the problem, in one line', async () => {
    const dir = tempDir('errors');
    const cases: [string[], RegExp][] = [];
    // A checkpoint whose metadata is damaged, and one whose configuration was tampered with.
    const damaged = join(dir, 'damaged.safetensors');
    await tamper(join(first, 'last.safetensors'), damaged, (_, meta) => void (meta.tmpose = meta.tmpose!.slice(0, 40)));
    cases.push([['predict', '--checkpoint', damaged, photo, '--out', join(dir, 'x.png')], /damaged\.safetensors: the checkpoint's metadata is corrupt/]);
    const tampered = join(dir, 'tampered.safetensors');
    await tamper(join(first, 'last.safetensors'), tampered, (_, meta) => {
      const m = JSON.parse(meta.tmpose!) as { state: { config: unknown } };
      m.state.config = { name: 'mine' };
      meta.tmpose = JSON.stringify(m);
    });
    cases.push([['predict', '--checkpoint', tampered, photo, '--out', join(dir, 'x.png')], /tampered\.safetensors: the model configuration is invalid/]);
    // Weights of another shape: the first mismatches are named, not cut off after the colon.
    cases.push([
      ['predict', '--checkpoint', join(first, 'last.safetensors'), '--config', 'tmpose-b', photo, '--out', join(dir, 'x.png')],
      /incompatible with tmpose-b: .*\(nothing was loaded\): (missing keys|unexpected keys|mismatched): \S+/,
    ]);
    // Nothing to train on.
    const none = sampleFolder((json) => void (json.annotations = []));
    cases.push([[...trainArgs(none, join(dir, 'run')), '--epochs', '1'], /test_coco\.json: no annotated person to train on/]);
    cases.push([['predict', '--checkpoint', join(first, 'last.safetensors'), photo, '--boxes', join(dir, 'boxes.json'), '--out', join(dir, 'x.png')], /boxes\.json: entry 0 is an empty box/]);
    writeFileSync(join(dir, 'boxes.json'), JSON.stringify([[10, 10, 0, 0]]));
    // eval: a detection without area, and nobody to evaluate.
    writeFileSync(join(dir, 'det.json'), JSON.stringify([{ image_id: 785, category_id: 1, bbox: [5, 5, 0, 20], score: 0.9 }]));
    cases.push([['eval', '--checkpoint', join(first, 'last.safetensors'), '--data', sample, '--boxes', join(dir, 'det.json')], /det\.json: detections\[0\]\.bbox: expected a box with positive width and height/]);
    cases.push([['eval', '--checkpoint', join(first, 'last.safetensors'), '--data', none], /test_coco\.json: no person to evaluate/]);
    for (const [argv, message] of cases) {
      const r = await run(...argv);
      expect(r.code, argv.join(' ')).toBe(1);
      expect(r.stderr.split('\n'), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
    expect(existsSync(join(dir, 'x.png'))).toBe(false);
    // --verbose: the whole message too, each kind of mismatch on its own line.
    const verbose = await run('predict', '--verbose', '--checkpoint', join(first, 'last.safetensors'), '--config', 'tmpose-b', photo, '--out', join(dir, 'x.png'));
    expect(verbose.code).toBe(1);
    expect(verbose.stderr).toMatch(/\n\s+missing keys: [^\n]*\n\s+mismatched: /);
  });
});
