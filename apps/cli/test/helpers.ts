// Shared by the CLI tests: the command run in-process with its output captured, and small COCO folders
// made from the bundled sample, with a defect put in on purpose.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { vi } from 'vitest';
import { main } from '../src/main.js';

export const root = fileURLToPath(new URL('../../../', import.meta.url));
export const sample = join(root, 'data/coco-mini');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export async function run(...argv: string[]): Promise<Run> {
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

export const tempDir = (name: string) => mkdtempSync(join(tmpdir(), `tmpose-${name}-`));

/** `train` on `tiny`, small enough for lavapipe: 2 steps of 4 per epoch, every loss logged. */
export const trainArgs = (data: string, out: string) => [
  'train', '--config', 'tiny', '--data', data, '--out', out, '--batch-size', '4', '--samples-per-epoch', '8', '--workers', '0', '--log-every', '1',
];

export interface CocoJson {
  images: { id: number; file_name: string; width: number; height: number }[];
  annotations: { id: number; image_id: number; [k: string]: unknown }[];
  [k: string]: unknown;
}

export const sampleJson = (): CocoJson => JSON.parse(readFileSync(join(sample, 'test_coco.json'), 'utf8')) as CocoJson;
const images = () => readdirSync(sample).filter((f) => f.endsWith('.jpg'));

/** The sample as one annotation file beside its images, the annotations and the images edited. */
export function sampleFolder(edit: (json: CocoJson, dir: string) => void = () => {}): string {
  const dir = tempDir('data');
  for (const f of images()) copyFileSync(join(sample, f), join(dir, f));
  const json = sampleJson();
  edit(json, dir);
  writeFileSync(join(dir, 'test_coco.json'), JSON.stringify(json));
  return dir;
}

/** The sample in COCO's official layout (train2017/, val2017/), the validation half edited. */
export function officialLayout(editVal: (json: CocoJson, dir: string) => void = () => {}): string {
  const dir = tempDir('coco');
  mkdirSync(join(dir, 'annotations'));
  for (const split of ['train2017', 'val2017']) {
    mkdirSync(join(dir, split));
    for (const f of images()) copyFileSync(join(sample, f), join(dir, split, f));
  }
  writeFileSync(join(dir, 'annotations', 'person_keypoints_train2017.json'), JSON.stringify(sampleJson()));
  const val = sampleJson();
  editVal(val, join(dir, 'val2017'));
  writeFileSync(join(dir, 'annotations', 'person_keypoints_val2017.json'), JSON.stringify(val));
  return dir;
}
