// Finding the data in a dataset folder: COCO's official layout (annotations/person_keypoints_*.json,
// train2017/, val2017/), or a small folder with one annotation file next to its images (the bundled
// sample), used for both training and validation; or MPII: the official folder (annot/, images/), or one
// annotation file.
import { dirname, existsSync, join, readFileSync, readdirSync, statSync } from './node.js';

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

export interface MpiiDataLayout {
  kind: 'mpii';
  /** The training records (the official layout's annot/train.json; for a single file, that file). */
  trainAnnotationFile: string;
  /** The validation records (annot/valid.json; for a single file, that file). */
  annotationFile: string;
  imageRoot: string;
  /** annot/gt_valid.mat, the ground truth of the official PCKh, when the folder has it. */
  gtValidFile?: string;
}

export type DataLayout = { kind: 'coco'; coco: CocoLayout } | MpiiDataLayout;

/** An MPII annotation file is a JSON array of records with `joints_vis`; COCO's is an object. */
function isMpiiFile(file: string): boolean {
  const head = readFileSync(file, 'utf8').slice(0, 4096).trimStart();
  return head.startsWith('[') && head.includes('"joints_vis"');
}

/** An MPII annotation file used for both training and validation, its images beside it. */
const singleMpiiFile = (file: string, imageRoot: string): MpiiDataLayout => ({ kind: 'mpii', trainAnnotationFile: file, annotationFile: file, imageRoot });

/**
 * COCO (see resolveCocoLayout) or MPII: the official HRNet/TokenPose folder (annot/train.json,
 * annot/valid.json, annot/gt_valid.mat, images/), an MPII annotation file in that JSON format, or a
 * folder holding one beside its images.
 */
export function resolveDataLayout(root: string): DataLayout {
  if (existsSync(root) && statSync(root).isFile()) {
    if (root.endsWith('.json') && isMpiiFile(root)) return singleMpiiFile(root, dirname(root));
    throw new Error(`${root}: expected a data folder, or an MPII annotation .json`);
  }
  const annot = join(root, 'annot');
  if (existsSync(join(annot, 'train.json')) || existsSync(join(annot, 'valid.json'))) {
    for (const f of ['train.json', 'valid.json']) if (!existsSync(join(annot, f))) throw new Error(`${root}: MPII's layout needs annot/${f} (found annot/ without it)`);
    const gt = join(annot, 'gt_valid.mat');
    return {
      kind: 'mpii',
      trainAnnotationFile: join(annot, 'train.json'),
      annotationFile: join(annot, 'valid.json'),
      imageRoot: join(root, 'images'),
      ...(existsSync(gt) ? { gtValidFile: gt } : {}),
    };
  }
  const coco = existsSync(root) && statSync(root).isDirectory() ? readdirSync(root).filter((f) => f.endsWith('.json')) : [];
  if (coco.length === 1 && isMpiiFile(join(root, coco[0]!))) return singleMpiiFile(join(root, coco[0]!), root);
  return { kind: 'coco', coco: resolveCocoLayout(root) };
}
