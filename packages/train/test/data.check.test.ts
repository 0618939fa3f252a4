// inspectImageFile: an image's size from its header and whether a JPEG was cut short, read from a few KiB
// of the file, as train checks every image before its first step.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { inspectImageFile } from '@tmpose/train';

const photo = fileURLToPath(new URL('../../../data/coco-mini/000000196141.jpg', import.meta.url)); // 640×429
const dir = mkdtempSync(join(tmpdir(), 'tmpose-inspect-'));

describe('inspectImageFile', () => {
  it('reads the size of a whole JPEG, and of one whose frame header lies past 64 KiB of metadata', async () => {
    expect(await inspectImageFile(photo)).toEqual({ width: 640, height: 429, truncated: false });
    // Two 40,000-byte APP15 segments right after the start-of-image marker.
    const bytes = readFileSync(photo);
    const app = Buffer.alloc(40002);
    app.writeUInt16BE(0xffef, 0);
    app.writeUInt16BE(40000, 2);
    const padded = join(dir, 'padded.jpg');
    writeFileSync(padded, Buffer.concat([bytes.subarray(0, 2), app, app, bytes.subarray(2)]));
    expect(await inspectImageFile(padded)).toEqual({ width: 640, height: 429, truncated: false });
  });

  it('tells a JPEG cut short, and names an empty or non-image file', async () => {
    const bytes = readFileSync(photo);
    const cut = join(dir, 'cut.jpg');
    writeFileSync(cut, bytes.subarray(0, bytes.length >> 1));
    expect(await inspectImageFile(cut)).toEqual({ width: 640, height: 429, truncated: true });
    const empty = join(dir, 'empty.jpg');
    writeFileSync(empty, '');
    await expect(inspectImageFile(empty)).rejects.toThrow(`cannot read image ${empty}: the file is empty`);
    const text = join(dir, 'text.jpg');
    writeFileSync(text, 'not an image');
    await expect(inspectImageFile(text)).rejects.toThrow(`cannot decode image ${text}`);
  });
});
