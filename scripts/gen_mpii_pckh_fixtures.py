#!/usr/bin/env python3
"""Reference MPII PCKh numbers for packages/train/test/evaluate.mpii.test.ts.

Run:  /usr/bin/python3 scripts/gen_mpii_pckh_fixtures.py
Needs numpy and scipy. CI never runs this; the tests read what it writes:
  packages/train/test/fixtures/mpii-pckh.json
  packages/train/test/fixtures/mpii-gt_valid.mat, mpii-gt_valid-compressed.mat   the ground truth as the
      official annot/gt_valid.mat holds it (scipy.io.savemat, plain and zlib-compressed); the official
      evaluate, reading it back with loadmat, gives the numbers of mpii-pckh.json

What it does: takes the 5 records of the bundled `data/mpii-mini/test_mpii.json` (1-based joints and
`joints_vis`, as `pos_gt_src` and 1 - `jnt_missing` of gt_valid.mat), makes up a head box per record (the
sample has none) and predictions (0-based float32, as the model's `all_preds`), and scores them with the
official evaluation: `MPIIDataset.evaluate` of HRNet / TokenPose (`lib/dataset/mpii.py`, MIT licence,
Microsoft), copied below with only the .mat loading replaced by the arrays built here (same layout:
dataset_joints [1, 16], jnt_missing [16, N], pos_gt_src [16, 2, N], headboxes_src [2, 2, N]). SC_BIAS 0.6,
threshold 0.5, head size = 0.6 x the head-box diagonal, visible joints only, the per-joint table with
left/right averaged, Mean and Mean@0.1 (row 11 of np.arange(0, 0.51, 0.01), i.e. 0.11) over the joints
except pelvis and thorax, weighted by their visible counts.

The predictions are drawn so that no visible joint's normalised error lies within 1e-6 of any of the 51
thresholds: the numbers then do not hinge on the last bit of a distance, and an implementation that
follows the official arithmetic must match them to rounding (the test uses 1e-9).
"""
import json
import os
from collections import OrderedDict

import numpy as np
from scipy.io import loadmat, savemat

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
RECORDS = os.path.join(ROOT, 'data', 'mpii-mini', 'test_mpii.json')
OUT = os.path.join(ROOT, 'packages', 'train', 'test', 'fixtures', 'mpii-pckh.json')
GT_MAT = os.path.join(ROOT, 'packages', 'train', 'test', 'fixtures', 'mpii-gt_valid.mat')
GT_MAT_COMPRESSED = os.path.join(ROOT, 'packages', 'train', 'test', 'fixtures', 'mpii-gt_valid-compressed.mat')

# gt_valid.mat `dataset_joints`: joint names in the MPII order.
DATASET_JOINTS = ['rank', 'rkne', 'rhip', 'lhip', 'lkne', 'lank', 'pelv', 'thor', 'neck', 'head',
                  'rwri', 'relb', 'rsho', 'lsho', 'lelb', 'lwri']


# ---- lib/dataset/mpii.py, MPIIDataset.evaluate (HRNet / TokenPose), the .mat replaced by gt_dict ----
def evaluate(preds, gt_dict):
    # convert 0-based index to 1-based index
    preds = preds[:, :, 0:2] + 1.0

    SC_BIAS = 0.6
    threshold = 0.5

    dataset_joints = gt_dict['dataset_joints']
    jnt_missing = gt_dict['jnt_missing']
    pos_gt_src = gt_dict['pos_gt_src']
    headboxes_src = gt_dict['headboxes_src']

    pos_pred_src = np.transpose(preds, [1, 2, 0])

    head = np.where(dataset_joints == 'head')[1][0]
    lsho = np.where(dataset_joints == 'lsho')[1][0]
    lelb = np.where(dataset_joints == 'lelb')[1][0]
    lwri = np.where(dataset_joints == 'lwri')[1][0]
    lhip = np.where(dataset_joints == 'lhip')[1][0]
    lkne = np.where(dataset_joints == 'lkne')[1][0]
    lank = np.where(dataset_joints == 'lank')[1][0]

    rsho = np.where(dataset_joints == 'rsho')[1][0]
    relb = np.where(dataset_joints == 'relb')[1][0]
    rwri = np.where(dataset_joints == 'rwri')[1][0]
    rkne = np.where(dataset_joints == 'rkne')[1][0]
    rank = np.where(dataset_joints == 'rank')[1][0]
    rhip = np.where(dataset_joints == 'rhip')[1][0]

    jnt_visible = 1 - jnt_missing
    uv_error = pos_pred_src - pos_gt_src
    uv_err = np.linalg.norm(uv_error, axis=1)
    headsizes = headboxes_src[1, :, :] - headboxes_src[0, :, :]
    headsizes = np.linalg.norm(headsizes, axis=0)
    headsizes *= SC_BIAS
    scale = np.multiply(headsizes, np.ones((len(uv_err), 1)))
    scaled_uv_err = np.divide(uv_err, scale)
    scaled_uv_err = np.multiply(scaled_uv_err, jnt_visible)
    jnt_count = np.sum(jnt_visible, axis=1)
    less_than_threshold = np.multiply((scaled_uv_err <= threshold),
                                      jnt_visible)
    PCKh = np.divide(100. * np.sum(less_than_threshold, axis=1), jnt_count)

    # save
    rng = np.arange(0, 0.5 + 0.01, 0.01)
    pckAll = np.zeros((len(rng), 16))

    for r in range(len(rng)):
        threshold = rng[r]
        less_than_threshold = np.multiply(scaled_uv_err <= threshold,
                                          jnt_visible)
        pckAll[r, :] = np.divide(100. * np.sum(less_than_threshold, axis=1),
                                 jnt_count)

    PCKh = np.ma.array(PCKh, mask=False)
    PCKh.mask[6:8] = True

    jnt_count = np.ma.array(jnt_count, mask=False)
    jnt_count.mask[6:8] = True
    jnt_ratio = jnt_count / np.sum(jnt_count).astype(np.float64)

    name_value = [
        ('Head', PCKh[head]),
        ('Shoulder', 0.5 * (PCKh[lsho] + PCKh[rsho])),
        ('Elbow', 0.5 * (PCKh[lelb] + PCKh[relb])),
        ('Wrist', 0.5 * (PCKh[lwri] + PCKh[rwri])),
        ('Hip', 0.5 * (PCKh[lhip] + PCKh[rhip])),
        ('Knee', 0.5 * (PCKh[lkne] + PCKh[rkne])),
        ('Ankle', 0.5 * (PCKh[lank] + PCKh[rank])),
        ('Mean', np.sum(PCKh * jnt_ratio)),
        ('Mean@0.1', np.sum(pckAll[11, :] * jnt_ratio))
    ]
    name_value = OrderedDict(name_value)

    # (not part of the official return value: the per-joint numbers, for a finer comparison)
    extra = {'PCKh': np.asarray(PCKh.data, dtype=np.float64), 'pckAll': pckAll, 'jnt_count': np.asarray(jnt_count.data),
             'scaled_uv_err': scaled_uv_err, 'thresholds': rng}
    return name_value, name_value['Mean'], extra


def made_up_head_boxes(recs, rng):
    """A head box per record, around upper neck (8) and head top (9): not MPII's, but shaped like them."""
    boxes = []
    for r in recs:
        j = np.array(r['joints'], dtype=np.float64)
        c = 0.5 * (j[8] + j[9]) + rng.normal(0, 2.0, 2)
        size = np.linalg.norm(j[9] - j[8]) * rng.uniform(0.9, 1.2)
        half = np.array([size * rng.uniform(0.35, 0.5), size * rng.uniform(0.5, 0.6)])
        lo, hi = c - half, c + half
        boxes.append([float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])])
    return boxes


def made_up_predictions(recs, boxes, rng):
    """0-based float32 predictions [N, 16, 3]: gt - 1 + an error of 0..0.8 head sizes, in a random direction
    (wild values where the joint is not visible); the third column is a made-up score."""
    N = len(recs)
    preds = np.zeros((N, 16, 3), dtype=np.float32)
    for i, (r, b) in enumerate(zip(recs, boxes)):
        head = np.linalg.norm(np.array(b[2:]) - np.array(b[:2])) * 0.6
        for k in range(16):
            gx, gy = r['joints'][k]
            if r['joints_vis'][k]:
                dist = head * rng.choice([rng.uniform(0, 0.12), rng.uniform(0, 0.6), rng.uniform(0.4, 0.8)])
                ang = rng.uniform(0, 2 * np.pi)
                preds[i, k, 0] = gx - 1 + dist * np.cos(ang)
                preds[i, k, 1] = gy - 1 + dist * np.sin(ang)
            else:
                preds[i, k, 0:2] = rng.uniform(-500, 2000, 2)
            preds[i, k, 2] = rng.uniform(0, 1)
    return preds


def gt_dict_of(recs, boxes):
    N = len(recs)
    return {
        'dataset_joints': np.array([DATASET_JOINTS], dtype=object),
        'jnt_missing': np.array([[1.0 - r['joints_vis'][k] for r in recs] for k in range(16)]),
        'pos_gt_src': np.transpose(np.array([r['joints'] for r in recs], dtype=np.float64), [1, 2, 0]),
        'headboxes_src': np.transpose(np.array([[b[:2], b[2:]] for b in boxes], dtype=np.float64), [1, 2, 0]),
    }


def main():
    with open(RECORDS) as f:
        recs = json.load(f)
    rng = np.random.default_rng(20260)
    for attempt in range(1000):
        boxes = made_up_head_boxes(recs, rng)
        preds = made_up_predictions(recs, boxes, rng)
        gt = gt_dict_of(recs, boxes)
        name_value, mean, extra = evaluate(preds, gt)
        vis = 1 - gt['jnt_missing']
        err = extra['scaled_uv_err'][vis > 0]
        margin = np.min(np.abs(err[:, None] - extra['thresholds'][None, :]))
        if margin > 1e-6:
            break
    else:
        raise SystemExit('no draw kept every error away from the thresholds')
    assert not np.any(np.isnan(extra['PCKh'])), 'every joint is visible somewhere in the sample'
    out = {
        'note': ('scripts/gen_mpii_pckh_fixtures.py: the official HRNet/TokenPose MPIIDataset.evaluate on made-up head '
                 'boxes and predictions for the records of data/mpii-mini/test_mpii.json. preds: 0-based float32 '
                 '[x, y, score] per joint (as all_preds); head_boxes: [x1, y1, x2, y2] (as headboxes_src); joints and '
                 'visibility are the records\' own (1-based).'),
        'records': 'data/mpii-mini/test_mpii.json',
        'draws': attempt + 1,
        'min_threshold_margin': float(margin),
        'head_boxes': boxes,
        'preds': [[[float(v) for v in p] for p in person] for person in preds],
        'name_value': OrderedDict((k, float(v)) for k, v in name_value.items()),
        'PCKh': [float(v) for v in extra['PCKh']],
        'jnt_count': [int(v) for v in extra['jnt_count']],
        'pckAll': [[float(v) for v in row] for row in extra['pckAll']],
        'thresholds': [float(v) for v in extra['thresholds']],
    }
    with open(OUT, 'w') as f:
        json.dump(out, f, indent=1)
        f.write('\n')
    # The same ground truth as the official gt_valid.mat (scipy.io.savemat, plain and zlib-compressed); the
    # official evaluate reads it with loadmat and must give the numbers above.
    for path, compress in ((GT_MAT, False), (GT_MAT_COMPRESSED, True)):
        savemat(path, gt, do_compression=compress)
        again, _, _ = evaluate(preds, loadmat(path))
        assert all(again[k] == v for k, v in name_value.items()), (path, again)
        print(path, os.path.getsize(path), 'bytes')
    print(OUT, 'draws', attempt + 1, 'margin %.2e' % margin)
    print(' '.join('%s %.4f' % kv for kv in out['name_value'].items()))


if __name__ == '__main__':
    main()
