#!/usr/bin/env python3
"""Reference fixtures for the data pipeline tests (packages/train/test/data.*.test.ts).

Run:  /usr/bin/python3 scripts/gen_data_fixtures.py
Needs numpy, OpenCV (Debian: apt-get install python3-opencv; 4.6 was used) and PyTorch (for the
ToTensor/Normalize step). It reads only the repository's data/ (coco-mini, mpii-mini). CI never runs
this; the tests only read the JSON written here:
  packages/train/test/fixtures/data-pipeline.json
Rerun on Debian 12 (numpy 1.24.2, OpenCV 4.6.0, torch 1.13) it reproduces the committed file except
the last bit of a few augmented joint coordinates (`affine_transform`'s np.dot: the BLAS's summation
order), which the tests compare to 1e-9.

The reference functions below are the official TokenPose/TMPose (DarkPose variant) code, copied from
`lib/utils/transforms.py`, `lib/dataset/JointsDataset.py`, `lib/dataset/coco.py` and `lib/dataset/mpii.py`
(MIT licence, Microsoft; modified by Hanbin Dai and Feng Zhang), trimmed to what is exercised.
Binary arrays are stored base64 (uint8 images: HWC RGB; float32 targets: little-endian).
"""
import base64
import json
import os

import cv2
import numpy as np
import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
DATA = os.path.join(ROOT, 'data')  # the repository's bundled sample (data/coco-mini, data/mpii-mini)
OUT = os.path.join(ROOT, 'packages', 'train', 'test', 'fixtures', 'data-pipeline.json')


# ---- cv2.getAffineTransform as the pip wheels compute it ----
# cv2.getAffineTransform solves a 6x6 system with cv::solve(DECOMP_LU). The opencv-python wheels that the
# official code ran with have no LAPACK, so OpenCV's own LUImpl (partial pivoting, hal/matrix.cpp) does
# it; Debian's OpenCV links LAPACK (dgesv), whose result differs in the last bit for about half of the
# cases. One ulp matters where (M^-1)[0,2]*1024 lands on a .5 tie in warpAffine's fixed point, so the
# fixtures use LUImpl below; `matrixLapack` keeps what this machine's cv2 returned.
def lu_impl_affine(src, dst):
    A = [[0.0] * 6 for _ in range(6)]
    b = [0.0] * 6
    for i in range(3):
        A[2 * i][0] = A[2 * i + 1][3] = float(src[i][0])
        A[2 * i][1] = A[2 * i + 1][4] = float(src[i][1])
        A[2 * i][2] = A[2 * i + 1][5] = 1.0
        b[2 * i] = float(dst[i][0])
        b[2 * i + 1] = float(dst[i][1])
    m = 6
    for i in range(m):
        k = i
        for j in range(i + 1, m):
            if abs(A[j][i]) > abs(A[k][i]):
                k = j
        if abs(A[k][i]) < 2.220446049250313e-16 * 100:
            raise ValueError('singular')
        if k != i:
            A[i], A[k] = A[k], A[i]
            b[i], b[k] = b[k], b[i]
        d = -1.0 / A[i][i]
        for j in range(i + 1, m):
            alpha = A[j][i] * d
            for kk in range(i + 1, m):
                A[j][kk] += alpha * A[i][kk]
            b[j] += alpha * b[i]
        A[i][i] = -d
    for i in range(m - 1, -1, -1):
        s = b[i]
        for kk in range(i + 1, m):
            s -= A[i][kk] * b[kk]
        b[i] = s * A[i][i]
    return np.array(b, dtype=np.float64).reshape(2, 3)


GET_AFFINE = lu_impl_affine


# ---- lib/utils/transforms.py (DarkPose variant) ----
def get_affine_transform(center, scale, rot, output_size, shift=np.array([0, 0], dtype=np.float32), inv=0):
    if not isinstance(scale, np.ndarray) and not isinstance(scale, list):
        scale = np.array([scale, scale])
    scale_tmp = scale * 200.0
    src_w = scale_tmp[0]
    dst_w = output_size[0]
    dst_h = output_size[1]
    rot_rad = np.pi * rot / 180
    src_dir = get_dir([0, (src_w - 1) * -0.5], rot_rad)
    dst_dir = np.array([0, (dst_w - 1) * -0.5], np.float32)
    src = np.zeros((3, 2), dtype=np.float32)
    dst = np.zeros((3, 2), dtype=np.float32)
    src[0, :] = center + scale_tmp * shift
    src[1, :] = center + src_dir + scale_tmp * shift
    dst[0, :] = [(dst_w - 1) * 0.5, (dst_h - 1) * 0.5]
    dst[1, :] = np.array([(dst_w - 1) * 0.5, (dst_h - 1) * 0.5]) + dst_dir
    src[2:, :] = get_3rd_point(src[0, :], src[1, :])
    dst[2:, :] = get_3rd_point(dst[0, :], dst[1, :])
    if inv:
        trans = GET_AFFINE(np.float32(dst), np.float32(src))
    else:
        trans = GET_AFFINE(np.float32(src), np.float32(dst))
    return trans


def affine_transform(pt, t):
    new_pt = np.array([pt[0], pt[1], 1.]).T
    new_pt = np.dot(t, new_pt)
    return new_pt[:2]


def get_3rd_point(a, b):
    direct = a - b
    return b + np.array([-direct[1], direct[0]], dtype=np.float32)


def get_dir(src_point, rot_rad):
    sn, cs = np.sin(rot_rad), np.cos(rot_rad)
    src_result = [0, 0]
    src_result[0] = src_point[0] * cs - src_point[1] * sn
    src_result[1] = src_point[0] * sn + src_point[1] * cs
    return src_result


def fliplr_joints(joints, joints_vis, width, matched_parts):
    joints[:, 0] = width - joints[:, 0] - 1
    for pair in matched_parts:
        joints[pair[0], :], joints[pair[1], :] = joints[pair[1], :], joints[pair[0], :].copy()
        joints_vis[pair[0], :], joints_vis[pair[1], :] = joints_vis[pair[1], :], joints_vis[pair[0], :].copy()
    return joints * joints_vis, joints_vis


# ---- lib/dataset/JointsDataset.py generate_target / adjust_target_weight ----
def adjust_target_weight(joint, target_weight, tmp_size, heatmap_size):
    mu_x = joint[0]
    mu_y = joint[1]
    ul = [int(mu_x - tmp_size), int(mu_y - tmp_size)]
    br = [int(mu_x + tmp_size + 1), int(mu_y + tmp_size + 1)]
    if ul[0] >= heatmap_size[0] or ul[1] >= heatmap_size[1] or br[0] < 0 or br[1] < 0:
        target_weight = 0
    return target_weight


def generate_target(joints, joints_vis, heatmap_size, sigma=2):
    num_joints = joints.shape[0]
    target_weight = np.ones((num_joints, 1), dtype=np.float32)
    target_weight[:, 0] = joints_vis[:, 0]
    target = np.zeros((num_joints, heatmap_size[1], heatmap_size[0]), dtype=np.float32)
    tmp_size = sigma * 3
    for joint_id in range(num_joints):
        target_weight[joint_id] = adjust_target_weight(joints[joint_id], target_weight[joint_id], tmp_size, heatmap_size)
        if target_weight[joint_id] == 0:
            continue
        mu_x = joints[joint_id][0]
        mu_y = joints[joint_id][1]
        x = np.arange(0, heatmap_size[0], 1, np.float32)
        y = np.arange(0, heatmap_size[1], 1, np.float32)
        y = y[:, np.newaxis]
        v = target_weight[joint_id]
        if v > 0.5:
            target[joint_id] = np.exp(- ((x - mu_x) ** 2 + (y - mu_y) ** 2) / (2 * sigma ** 2))
    return target, target_weight


# ---- lib/dataset/coco.py ----
ASPECT = 192 * 1.0 / 256


def xywh2cs(x, y, w, h, aspect_ratio=ASPECT, pixel_std=200):
    center = np.zeros((2), dtype=np.float32)
    center[0] = x + (w - 1) * 0.5
    center[1] = y + (h - 1) * 0.5
    if w > aspect_ratio * h:
        h = w * 1.0 / aspect_ratio
    elif w < aspect_ratio * h:
        w = h * aspect_ratio
    scale = np.array([w * 1.0 / pixel_std, h * 1.0 / pixel_std], dtype=np.float32)
    if center[0] != -1:
        scale = scale * 1.25
    return center, scale


def coco_gt_db(ann):
    """_load_coco_keypoint_annotation_kernal over all images (pycocotools order), 17 joints."""
    imgs = ann['images']
    by_img = {}
    for a in ann['annotations']:
        by_img.setdefault(a['image_id'], []).append(a)
    db = []
    for im in imgs:
        width, height = im['width'], im['height']
        objs = [a for a in by_img.get(im['id'], []) if a['iscrowd'] == False]  # noqa: E712 (as pycocotools)
        valid = []
        for obj in objs:
            x, y, w, h = obj['bbox']
            x1 = np.max((0, x))
            y1 = np.max((0, y))
            x2 = np.min((width - 1, x1 + np.max((0, w - 1))))
            y2 = np.min((height - 1, y1 + np.max((0, h - 1))))
            if obj['area'] > 0 and x2 >= x1 and y2 >= y1:
                obj['clean_bbox'] = [x1, y1, x2 - x1 + 1, y2 - y1 + 1]
                valid.append(obj)
        for obj in valid:
            if obj['category_id'] != 1:
                continue
            if max(obj['keypoints']) == 0:
                continue
            joints = np.zeros((17, 3), dtype=np.float64)
            vis = np.zeros((17, 3), dtype=np.float64)
            for ipt in range(17):
                joints[ipt, 0] = obj['keypoints'][ipt * 3 + 0]
                joints[ipt, 1] = obj['keypoints'][ipt * 3 + 1]
                t_vis = obj['keypoints'][ipt * 3 + 2]
                if t_vis > 1:
                    t_vis = 1
                vis[ipt, 0] = t_vis
                vis[ipt, 1] = t_vis
            c, s = xywh2cs(*obj['clean_bbox'][:4])
            db.append({'image': im['file_name'], 'image_id': im['id'], 'ann_id': obj['id'], 'center': c, 'scale': s,
                       'joints': joints, 'vis': vis, 'clean_bbox': [float(v) for v in obj['clean_bbox']]})
    return db


def mpii_db(anno):
    db = []
    for a in anno:
        c = np.array(a['center'], dtype=np.float64)
        s = np.array([a['scale'], a['scale']], dtype=np.float64)
        if c[0] != -1:
            c[1] = c[1] + 15 * s[1]
            s = s * 1.25
        c = c - 1
        joints = np.array(a['joints'])
        joints[:, 0:2] = joints[:, 0:2] - 1
        db.append({'image': a['image'], 'center': c, 'scale': s, 'joints': joints[:, 0:2], 'vis': np.array(a['joints_vis'])})
    return db


# ---- helpers ----
def b64(a):
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode('ascii')


def fl(v):
    return [float(x) for x in np.asarray(v).reshape(-1)]


def imread_rgb(path):
    img = cv2.imread(path, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


MEAN = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float32)
STD = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float32)


def to_tensor_normalize(img):
    """torchvision ToTensor() then Normalize(mean, std), written out with torch ops."""
    t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).contiguous().float().div(255)
    return t.sub(MEAN[:, None, None]).div(STD[:, None, None]).numpy()


def main():
    global GET_AFFINE
    rs = np.random.RandomState(1234)
    fx = {'generator': 'scripts/gen_data_fixtures.py', 'opencv': cv2.__version__, 'numpy': np.__version__}

    # 1. affine matrices
    cases = []
    specs = [
        ([96.0, 128.0], [0.96, 1.28], 0, (192, 256)),
        ([320.5, 200.25], [1.7, 2.2666667], 0, (192, 256)),
        ([320.5, 200.25], [1.7, 2.2666667], 30, (192, 256)),
        ([320.5, 200.25], [1.7, 2.2666667], -62.5, (48, 64)),
        ([10.0, 500.0], [0.3, 0.4], 89.9, (192, 256)),
        ([966.0, 340.0], [5.89811, 5.89811], 17.3, (256, 256)),
        ([966.0, 340.0], [5.89811, 5.89811], 0, (64, 64)),
    ]
    for i, (c, s, r, size) in enumerate(specs):
        for dtype in ('float32', 'float64'):
            cc = np.array(c, dtype=dtype)
            ss = np.array(s, dtype=dtype)
            for inv in (0, 1):
                m = get_affine_transform(cc, ss, r, size, inv=inv)
                GET_AFFINE = cv2.getAffineTransform
                m_cv = get_affine_transform(cc, ss, r, size, inv=inv)
                GET_AFFINE = lu_impl_affine
                cases.append({'center': fl(cc), 'scale': fl(ss), 'dtype': dtype, 'rot': r, 'size': list(size),
                              'inv': inv, 'matrix': fl(m), 'matrixLapack': fl(m_cv)})
    fx['affine'] = cases

    # 2. warps of a small synthetic image: the exact cv2 matrix and output
    H0, W0 = 29, 37
    img = rs.randint(0, 256, size=(H0, W0, 3)).astype(np.uint8)
    fx['warpSource'] = {'width': W0, 'height': H0, 'data': b64(img)}
    warps = []
    wspecs = [
        ([18.0, 14.0], [0.185, 0.185 / 0.75], 0, (24, 32), False),
        ([18.0, 14.0], [0.185, 0.185 / 0.75], 0, (24, 32), True),
        ([20.3, 11.7], [0.06, 0.08], 33.0, (24, 32), False),   # zoom in
        ([5.0, 25.0], [0.5, 0.6666667], -71.0, (48, 64), False),  # zoom out, crosses the borders
        ([30.1, 3.9], [0.12, 0.16], 145.0, (24, 32), True),
    ]
    for c, s, r, size, flip in wspecs:
        cc = np.array(c, dtype=np.float32)
        ss = np.array(s, dtype=np.float32)
        m = get_affine_transform(cc, ss, r, size)
        src = img[:, ::-1, :] if flip else img
        out = cv2.warpAffine(np.ascontiguousarray(src), m, (size[0], size[1]), flags=cv2.INTER_LINEAR)
        warps.append({'center': fl(cc), 'scale': fl(ss), 'rot': r, 'size': list(size), 'flip': flip,
                      'matrix': fl(m), 'out': b64(out)})
    # a general (non-similarity) affine and a pure integer shift
    for m in (np.array([[0.83, -0.31, 4.2], [0.17, 1.21, -3.3]]), np.array([[1.0, 0.0, -5.0], [0.0, 1.0, 7.0]])):
        out = cv2.warpAffine(img, m, (40, 30), flags=cv2.INTER_LINEAR)
        warps.append({'size': [40, 30], 'flip': False, 'matrix': fl(m), 'out': b64(out)})
    fx['warps'] = warps

    # 3. targets
    tcases = []
    j = np.array([[10.0, 20.0], [23.37, 31.91], [-7.2, 30.0], [-6.9, 30.0], [53.5, 10.0], [54.1, 10.0],
                  [20.0, -12.9], [30.0, 70.2], [12.5, 12.5]], dtype=np.float64)
    v = np.array([1, 1, 1, 1, 1, 1, 1, 1, 0], dtype=np.float64)
    vis = np.stack([v, v, np.zeros_like(v)], 1)
    t, w = generate_target(j, vis, (48, 64))
    tcases.append({'size': [48, 64], 'joints': fl(j), 'vis': fl(v), 'target': b64(t.astype('<f4')), 'weight': fl(w)})
    j2 = np.array([[31.5, 31.5], [63.9, 0.2], [-3.0, 40.0]], dtype=np.float64)
    v2 = np.array([1, 1, 1], dtype=np.float64)
    t2, w2 = generate_target(j2, np.stack([v2, v2, np.zeros_like(v2)], 1), (64, 64))
    tcases.append({'size': [64, 64], 'joints': fl(j2), 'vis': fl(v2), 'target': b64(t2.astype('<f4')), 'weight': fl(w2)})
    fx['targets'] = tcases

    # 4. COCO: GT samples, detections, and the validation pipeline (no augmentation) end to end
    coco_dir = os.path.join(DATA, 'coco-mini')
    ann = json.load(open(os.path.join(coco_dir, 'test_coco.json')))
    db = coco_gt_db(ann)
    fx['cocoGt'] = [{'imageId': d['image_id'], 'annId': d['ann_id'], 'center': fl(d['center']), 'scale': fl(d['scale']),
                     'cleanBbox': d['clean_bbox'], 'vis': fl(d['vis'][:, 0])} for d in db]
    dets = json.load(open(os.path.join(coco_dir, 'test_coco_det_AP_H_56.json')))
    dd = []
    for det in dets:
        if det['category_id'] != 1 or det['score'] < 0.0:
            continue
        c, s = xywh2cs(*det['bbox'])
        dd.append({'imageId': det['image_id'], 'score': det['score'], 'center': fl(c), 'scale': fl(s)})
    fx['cocoDet'] = dd

    pipe = []
    k = 0
    for idx, d in enumerate(db):
        img = imread_rgb(os.path.join(coco_dir, d['image']))
        c = d['center'].copy()
        s = d['scale'].copy()
        r = 0
        joints = d['joints'].copy()
        vis = d['vis'].copy()
        flip = idx % 3 == 1  # a few fixed augmentations too (the random draws are the loader's own)
        if idx % 3 == 2:
            s = s * np.clip(-0.7 * 0.35 + 1, 1 - 0.35, 1 + 0.35)
            r = np.clip(0.9 * 45, -90, 90)
        if flip:
            img = img[:, ::-1, :]
            joints, vis = fliplr_joints(joints, vis, img.shape[1], [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12], [13, 14], [15, 16]])
            c[0] = img.shape[1] - c[0] - 1
        jh = joints.copy()
        trans = get_affine_transform(c, s, r, (192, 256))
        trans_h = get_affine_transform(c, s, r, (48, 64))
        inp = cv2.warpAffine(np.ascontiguousarray(img), trans, (192, 256), flags=cv2.INTER_LINEAR)
        x = to_tensor_normalize(inp)
        for i in range(17):
            if vis[i, 0] > 0.0:
                joints[i, 0:2] = affine_transform(joints[i, 0:2], trans)
                jh[i, 0:2] = affine_transform(jh[i, 0:2], trans_h)
        t, w = generate_target(jh, vis, (48, 64))
        picks = rs.randint(0, x.size, size=64)
        tpicks = rs.randint(0, t.size, size=64)
        entry = {'index': idx, 'flip': bool(flip), 'scale': fl(s), 'rot': float(r), 'center': fl(c),
                 'imageSum': float(x.astype(np.float64).sum()), 'imageAbsSum': float(np.abs(x.astype(np.float64)).sum()),
                 'imagePicks': [int(p) for p in picks], 'imageValues': fl(x.reshape(-1)[picks]),
                 'u8Sum': int(inp.astype(np.int64).sum()),
                 'targetSum': fl(t.astype(np.float64).sum(axis=(1, 2))), 'targetPicks': [int(p) for p in tpicks],
                 'targetValues': fl(t.reshape(-1)[tpicks]), 'weight': fl(w), 'joints': fl(joints[:, :2]),
                 'vis': fl(vis[:, 0])}
        if k == 0:
            entry['u8'] = b64(inp)  # one full crop, byte for byte
        k += 1
        pipe.append(entry)
    fx['cocoPipeline'] = pipe

    # 5. MPII
    mp = json.load(open(os.path.join(DATA, 'mpii-mini', 'test_mpii.json')))
    fx['mpii'] = [{'image': d['image'], 'center': fl(d['center']), 'scale': fl(d['scale']), 'joints': fl(d['joints']),
                   'vis': fl(d['vis'])} for d in mpii_db(mp)]

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, 'w') as f:
        json.dump(fx, f, separators=(',', ':'))
        f.write('\n')
    print(f'wrote {OUT} ({os.path.getsize(OUT)} bytes)')


if __name__ == '__main__':
    main()
