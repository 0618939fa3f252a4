#!/usr/bin/env python3
"""Expected numbers of the bundled COCO keypoint evaluation cases, from pycocotools.

For every data/coco-mini/eval-cases/NAME.results.json this writes NAME.expected.json beside it: the ten
numbers (AP, AP50, AP75, APm, APl, AR, AR50, AR75, ARm, ARl) that pycocotools' COCOeval with
iouType='keypoints' and default parameters reports for those results against data/coco-mini/test_coco.json
(as `json.dump(stats, f, indent=1)`, no trailing newline). It reads only the repository's data/.

The NAME.results.json files are inputs, not outputs: they came with the bundled sample (eval-cases/README.md
says what each one holds) and no generator of theirs is recorded, so this script does not remake them.

Run with a Python that has numpy and pycocotools:
    /usr/bin/python3 scripts/gen_coco_eval_cases.py
or, where pycocotools cannot be installed (no PyPI), with a source checkout of github.com/cocodataset/cocoapi:
    /usr/bin/python3 scripts/gen_coco_eval_cases.py --pycocotools-src /path/to/cocoapi/PythonAPI
In that mode the unbuilt C extension `pycocotools._mask` and matplotlib (imported by coco.py for showAnns)
are replaced by stubs that raise if called, and `np.float` (removed in numpy 1.24, used by cocoeval.py's
accumulate) is aliased to the builtin `float` it always was. The keypoint evaluation calls neither masks
nor matplotlib, so the numbers are pycocotools' own.
--check compares with the committed files instead of writing them (exit status 1 on a difference).
"""
import argparse
import contextlib
import copy
import io
import json
import os
import sys
import types

import numpy as np

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
COCO_MINI = os.path.join(ROOT, 'data', 'coco-mini')
CASES = os.path.join(COCO_MINI, 'eval-cases')
NAMES = ['AP', 'AP50', 'AP75', 'APm', 'APl', 'AR', 'AR50', 'AR75', 'ARm', 'ARl']


def _stub(name, **attrs):
    mod = types.ModuleType(name)

    def missing(attr):
        def fail(*args, **kwargs):
            raise RuntimeError(f'{name}.{attr} is a stub (gen_coco_eval_cases.py --pycocotools-src)')
        return fail

    mod.__getattr__ = missing
    for k, v in attrs.items():
        setattr(mod, k, v)
    return mod


def import_pycocotools(src=None):
    """pycocotools' COCO and COCOeval, installed or from a source checkout (see the module docstring)."""
    if src is None:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
        return COCO, COCOeval
    src = os.path.abspath(src)
    if not os.path.isfile(os.path.join(src, 'pycocotools', 'cocoeval.py')):
        raise SystemExit(f'{src}: no pycocotools/cocoeval.py (give the PythonAPI folder of a cocoapi checkout)')
    sys.path.insert(0, src)
    try:
        import pycocotools._mask  # noqa: F401  (built in place: nothing to stub)
    except ImportError:
        sys.modules['pycocotools._mask'] = _stub('pycocotools._mask')
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        sys.modules['matplotlib'] = _stub('matplotlib')
        sys.modules['matplotlib.pyplot'] = _stub('matplotlib.pyplot')
        sys.modules['matplotlib.collections'] = _stub('matplotlib.collections', PatchCollection=None)
        sys.modules['matplotlib.patches'] = _stub('matplotlib.patches', Polygon=None)
    if 'float' not in np.__dict__:
        np.float = float  # the alias numpy < 1.24 had
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    return COCO, COCOeval


def evaluate(COCO, COCOeval, gt, results):
    """pycocotools' ten keypoint numbers and its printed summary."""
    coco = COCO()
    coco.dataset = copy.deepcopy(gt)
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
        dt = coco.loadRes(copy.deepcopy(results))
        ev = COCOeval(coco, dt, 'keypoints')
        ev.evaluate()
        ev.accumulate()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        ev.summarize()
    return [float(v) for v in ev.stats], printed.getvalue()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--pycocotools-src', help='the PythonAPI folder of a cocoapi checkout, if pycocotools is not installed')
    ap.add_argument('--check', action='store_true', help='compare with the committed expected files; write nothing')
    args = ap.parse_args()
    COCO, COCOeval = import_pycocotools(args.pycocotools_src)
    with open(os.path.join(COCO_MINI, 'test_coco.json')) as f:
        gt = json.load(f)
    names = sorted(n[:-len('.results.json')] for n in os.listdir(CASES) if n.endswith('.results.json'))
    bad = 0
    for name in names:
        with open(os.path.join(CASES, name + '.results.json')) as f:
            results = json.load(f)
        stats, _ = evaluate(COCO, COCOeval, gt, results)
        expected = dict(zip(NAMES, stats))
        path = os.path.join(CASES, name + '.expected.json')
        if args.check:
            with open(path) as f:
                committed = json.load(f)
            worst = max(abs(committed[k] - v) for k, v in expected.items())
            same = open(path).read() == json.dumps(expected, indent=1)
            print(f'{name}: max |diff| {worst:.3g}, {"byte-identical" if same else "values only"}')
            bad += worst > 1e-12 or set(committed) != set(expected)
        else:
            with open(path, 'w') as f:
                json.dump(expected, f, indent=1)
            print(name, ' '.join('%.4f' % s for s in stats))
    if bad:
        raise SystemExit(f'{bad} case(s) differ from the committed expected numbers')


if __name__ == '__main__':
    main()
