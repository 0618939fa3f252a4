// Finding the data in a dataset folder: COCO's official layout (annotations/person_keypoints_*.json,
// train2017/, val2017/), or a small folder with one annotation file next to its images (the bundled
// sample), used for both training and validation; or an MPII annotation file (for evaluation).
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface CocoLayout {
  trainAnnotations: string;
  trainImages: string;
  valAnnotations: string;
  valImages: string;
}

export function resolveCocoLayout(root: string): CocoLayout {
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new Error(`${root}: no such data folder`);
  const official = join(root, 'annotations', 'person_keypoints_train2017.json');
  if (existsSync(official)) {
    return {
      trainAnnotations: official,
      trainImages: join(root, 'train2017'),
      valAnnotations: join(root, 'annotations', 'person_keypoints_val2017.json'),
      valImages: join(root, 'val2017'),
    };
  }
  const candidates = readdirSync(root).filter((f) => f.endsWith('.json') && !/det|results/i.test(f));
  if (candidates.length === 1) {
    const file = join(root, candidates[0]!);
    return { trainAnnotations: file, trainImages: root, valAnnotations: file, valImages: root };
  }
  throw new Error(
    `${root}: expected COCO's layout (annotations/person_keypoints_train2017.json with train2017/ and val2017/) ` +
      `or a folder with exactly one annotation .json beside its images; found ${candidates.length ? candidates.join(', ') : 'no .json file'}`,
  );
}

export type DataLayout = { kind: 'coco'; coco: CocoLayout } | { kind: 'mpii'; annotationFile: string; imageRoot: string };

/** An MPII annotation file is a JSON array of records with `joints_vis`; COCO's is an object. */
function isMpiiFile(file: string): boolean {
  const head = readFileSync(file, 'utf8').slice(0, 4096).trimStart();
  return head.startsWith('[') && head.includes('"joints_vis"');
}

/**
 * COCO (see resolveCocoLayout) or MPII: an MPII annotation file in the HRNet/TokenPose JSON format, or
 * a folder holding one beside its images.
 */
export function resolveDataLayout(root: string): DataLayout {
  if (existsSync(root) && statSync(root).isFile()) {
    if (root.endsWith('.json') && isMpiiFile(root)) return { kind: 'mpii', annotationFile: root, imageRoot: dirname(root) };
    throw new Error(`${root}: expected a data folder, or an MPII annotation .json`);
  }
  const coco = existsSync(root) && statSync(root).isDirectory() ? readdirSync(root).filter((f) => f.endsWith('.json')) : [];
  if (coco.length === 1 && isMpiiFile(join(root, coco[0]!))) return { kind: 'mpii', annotationFile: join(root, coco[0]!), imageRoot: root };
  return { kind: 'coco', coco: resolveCocoLayout(root) };
}
