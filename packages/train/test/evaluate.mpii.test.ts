// MPII evaluation: PCKh against the official HRNet/TokenPose `MPIIDataset.evaluate` run by
// scripts/gen_mpii_pckh_fixtures.py on made-up head boxes and predictions for the bundled records
// (fixtures/mpii-pckh.json), both for the evaluator alone and for the post-model half of
// `evaluateModelOnMpii`; then end to end with a 16-joint model on the bundled sample (no head boxes: the
// labelled PCK proxy).
import { createModel } from '@tmpose/model';
import { init } from '@tmpose/tensor';
import {
  type PckhResult,
  type TopDownPrediction,
  evaluateModelOnMpii,
  evaluateMpiiPredictions,
  evaluatePckh,
  loadMpii,
  loadMpiiGroundTruth,
  resolveDataLayout,
} from '@tmpose/train';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const data = fileURLToPath(new URL('../../../data/mpii-mini/', import.meta.url));

interface Fixture {
  records: string;
  head_boxes: [number, number, number, number][];
  /** N × 16 × [x, y, score], 0-based float32 values. */
  preds: number[][][];
  name_value: Record<string, number>;
  PCKh: number[];
  jnt_count: number[];
  pckAll: number[][];
  thresholds: number[];
}
const ref = JSON.parse(readFileSync(new URL('./fixtures/mpii-pckh.json', import.meta.url), 'utf8')) as Fixture;
const records = JSON.parse(readFileSync(`${data}test_mpii.json`, 'utf8')) as { joints: number[][]; joints_vis: number[] }[];

function expectOfficial(r: PckhResult): void {
  const close = (a: number, b: number, what: string) => expect(Math.abs(a - b), `${what}: ${a} vs ${b}`).toBeLessThanOrEqual(1e-9);
  expect(r.kind).toBe('PCKh');
  expect(r.jointCount).toEqual(ref.jnt_count);
  r.perJoint.forEach((v, j) => close(v, ref.PCKh[j]!, `PCKh joint ${j}`));
  expect(r.thresholds).toHaveLength(ref.thresholds.length);
  r.thresholds.forEach((t, k) => close(t, ref.thresholds[k]!, `threshold ${k}`));
  r.pckAll.forEach((row, k) => row.forEach((v, j) => close(v, ref.pckAll[k]![j]!, `pckAll[${k}][${j}]`)));
  expect(Object.keys(r.table)).toEqual(Object.keys(ref.name_value));
  for (const [k, v] of Object.entries(ref.name_value)) close(r.table[k as keyof typeof r.table], v, k);
}

describe('MPII PCKh = the official evaluation (numpy reference, scripts/gen_mpii_pckh_fixtures.py)', () => {
  it('the reference is not degenerate', () => {
    expect(ref.records).toBe('data/mpii-mini/test_mpii.json');
    expect(ref.preds).toHaveLength(records.length);
    // Joints right, wrong and in between: the per-joint numbers and the two means are neither 0 nor 100.
    expect(new Set(ref.PCKh).size).toBeGreaterThan(3);
    expect(ref.name_value.Mean).toBeGreaterThan(10);
    expect(ref.name_value.Mean).toBeLessThan(90);
    expect(ref.name_value['Mean@0.1']).toBeLessThan(ref.name_value.Mean!);
  });

  it('evaluatePckh on the 0-based predictions, the 1-based records and the head boxes', () => {
    const r = evaluatePckh({
      preds: ref.preds.map((p) => p.map(([x, y]) => [x!, y!])),
      joints: records.map((rec) => rec.joints),
      visible: records.map((rec) => rec.joints_vis),
      headBoxes: ref.head_boxes,
    });
    expectOfficial(r);
  });

  it('evaluateMpiiPredictions (what evaluateModelOnMpii does after the model) on the loaded sample', async () => {
    const dataset = await loadMpii({ annotationFile: `${data}test_mpii.json`, imageRoot: data, headBoxes: ref.head_boxes });
    const preds: TopDownPrediction[] = ref.preds.map((p, i) => ({
      imageId: dataset.images[dataset.imageIndex[i]!]!.id,
      keypoints: p.flat(),
      center: [dataset.centers[2 * i]!, dataset.centers[2 * i + 1]!],
      scale: [dataset.scales[2 * i]!, dataset.scales[2 * i + 1]!],
      boxScore: 1,
    }));
    const { result, table } = evaluateMpiiPredictions(preds, dataset);
    expectOfficial(result);
    expect(table.split('\n')[0]).toBe('# PCKh@0.5');
  });

  for (const file of ['mpii-gt_valid.mat', 'mpii-gt_valid-compressed.mat']) {
    it(`the ground truth from ${file} (as the official annot/gt_valid.mat, written by scipy.io.savemat)`, async () => {
      const gt = await loadMpiiGroundTruth(fileURLToPath(new URL(`./fixtures/${file}`, import.meta.url)));
      expect(gt.headBoxes).toEqual(ref.head_boxes);
      expect(gt.joints).toEqual(records.map((r) => r.joints));
      // The annotation file without head boxes: everything the evaluation needs comes from the .mat.
      const dataset = await loadMpii({ annotationFile: `${data}test_mpii.json`, imageRoot: data });
      expect(dataset.headBoxes).toBeUndefined();
      const preds = ref.preds.map((p, i): TopDownPrediction => ({ imageId: i, keypoints: p.flat(), center: [0, 0], scale: [1, 1], boxScore: 1 }));
      expectOfficial(evaluateMpiiPredictions(preds, dataset, gt).result);
      expect(() => evaluateMpiiPredictions(preds.slice(1), { ...dataset, length: 4 }, gt)).toThrow('the ground truth (gt_valid.mat) has 5 people, the validation set 4');
    });
  }
});

it('evaluates a 16-joint model on MPII data and prints the PCK table', async () => {
  await init();
  const layout = resolveDataLayout(data);
  expect(layout.kind).toBe('mpii');
  if (layout.kind !== 'mpii') return;
  const dataset = await loadMpii({ annotationFile: layout.annotationFile, imageRoot: layout.imageRoot });
  const model = createModel('tiny', { numJoints: 16, dataset: 'mpii', seed: 1 });
  const { result, table } = await evaluateModelOnMpii(model, dataset, { batchSize: 5, workers: 0 });
  model.dispose();
  expect(result.kind).toBe('PCK-proxy');
  expect(table).toContain('NOT PCKh');
  for (const v of Object.values(result.table)) expect(v).toBeGreaterThanOrEqual(0);
});
