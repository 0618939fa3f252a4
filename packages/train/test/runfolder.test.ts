// The run folder and its files under failure: an earlier run refused or overwritten, stale temporaries
// removed, the log kept to whole records (a full disk mid-append, a half record left by a crash), and
// every write failing on a full disk leaving the previous file whole and naming the file. The disk is a
// 64 KiB tmpfs where the machine lets us mount one (root); elsewhere those cases are skipped.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io } from '@tmpose/tensor';
import { describe, expect, it } from 'vitest';
import { appendLogLine, drawLossCurve, prepareRunFolder, readLog, repairLog, truncateLogAfter } from '@tmpose/train';
import { fillDisk, smallDisk } from './disk.js';

const dir = () => mkdtempSync(join(tmpdir(), 'tmpose-runfolder-'));
const record = (step: number) => `${JSON.stringify({ type: 'step', epoch: 1, step, loss: 1 / step })}\n`;

const disk = smallDisk('64k');

describe('run folder', () => {
  it('refuses a folder holding an earlier run; --overwrite clears it; --resume needs its checkpoint', async () => {
    const out = dir();
    writeFileSync(join(out, 'notes.txt'), 'mine');
    await prepareRunFolder(out, {}); // other files are not a run
    writeFileSync(join(out, 'log.jsonl'), record(1));
    writeFileSync(join(out, 'best.safetensors'), 'old best');
    await expect(prepareRunFolder(out, {})).rejects.toThrow(/holds an earlier run \(best\.safetensors, log\.jsonl\); pass --resume to continue it or --overwrite/);
    expect(readFileSync(join(out, 'log.jsonl'), 'utf8')).toBe(record(1));
    await expect(prepareRunFolder(out, { resume: true })).rejects.toThrow(/last\.safetensors does not exist/);
    await prepareRunFolder(out, { overwrite: true });
    expect(readdirSync(out)).toEqual(['notes.txt']);
  });

  it('removes temporaries left by a write that never finished', async () => {
    const out = dir();
    writeFileSync(join(out, '.last.safetensors.m3x1abc.tmp'), new Uint8Array(1000));
    writeFileSync(join(out, '.loss.svg.m3x1abd.tmp'), '');
    writeFileSync(join(out, '.other.tmp'), 'not ours');
    const warnings: string[] = [];
    await prepareRunFolder(out, { warn: (m) => warnings.push(m) });
    expect(readdirSync(out)).toEqual(['.other.tmp']);
    expect(warnings[0]).toMatch(/removed 2 unfinished temporary files/);
  });

  it('on resume, cuts the log after its last whole record', async () => {
    const out = dir();
    const log = join(out, 'log.jsonl');
    writeFileSync(join(out, 'last.safetensors'), '');
    writeFileSync(log, `${record(1)}${record(2)}{"type":"step","ep`);
    await prepareRunFolder(out, { resume: true, warn: () => {} });
    expect(readFileSync(log, 'utf8')).toBe(`${record(1)}${record(2)}`);
    // A half record with the next one glued to it (an older version's append after ENOSPC).
    writeFileSync(log, `${record(1)}{"type":"st${record(3)}`);
    expect(await repairLog(log)).toBeGreaterThan(0);
    expect(readFileSync(log, 'utf8')).toBe(record(1));
    expect(await repairLog(log)).toBe(0);
  });

  it('on resume, drops the records of steps past the checkpoint (they are trained again)', async () => {
    const log = join(dir(), 'log.jsonl');
    const evalRecord = `${JSON.stringify({ type: 'eval', epoch: 1, step: 2, AP: 0.5 })}\n`;
    writeFileSync(log, `${record(1)}${record(2)}${evalRecord}${record(3)}${record(4)}`);
    expect(await truncateLogAfter(log, 2)).toBe(2);
    expect(readFileSync(log, 'utf8')).toBe(`${record(1)}${record(2)}${evalRecord}`);
    expect(await truncateLogAfter(log, 2)).toBe(0);
  });

  it('draws the loss curve past a damaged line of the log', async () => {
    const out = dir();
    writeFileSync(join(out, 'log.jsonl'), `${record(1)}{"type":"st${record(2)}${record(3)}`);
    expect((await readLog<{ step: number }>(join(out, 'log.jsonl'))).map((r) => r.step)).toEqual([1, 3]);
    await drawLossCurve(join(out, 'log.jsonl'), out);
    expect(readFileSync(join(out, 'loss.svg'), 'utf8')).toContain('<svg');
  });

  it.skipIf(!disk)('a full disk: an append is cut back off, atomic writes keep the old file, and errors name the file', async () => {
    const out = join(disk!, 'run');
    mkdirSync(out);
    const log = join(out, 'log.jsonl');
    await appendLogLine(log, record(1));
    const svg = join(out, 'loss.svg');
    writeFileSync(svg, '<svg>old</svg>');
    fillDisk(disk!, 2048);
    const big = `${JSON.stringify({ type: 'step', step: 2, pad: 'x'.repeat(16384) })}\n`;
    await expect(appendLogLine(log, big)).rejects.toThrow(new RegExp(`${log}: .*ENOSPC`));
    expect(readFileSync(log, 'utf8')).toBe(record(1));
    await expect(io.writeFileAtomic(svg, new Uint8Array(16384))).rejects.toThrow(new RegExp(`${svg}: .*ENOSPC`));
    expect(readFileSync(svg, 'utf8')).toBe('<svg>old</svg>');
    expect(readdirSync(out).sort()).toEqual(['log.jsonl', 'loss.svg']);
    // Once there is room again, the log goes on with whole records.
    execFileSync('rm', [join(disk!, 'filler')]);
    await appendLogLine(log, record(2));
    expect((await readLog<{ step: number }>(log)).map((r) => r.step)).toEqual([1, 2]);
    expect(existsSync(join(out, 'loss.svg'))).toBe(true);
  });
});
