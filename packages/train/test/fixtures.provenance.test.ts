// Provenance of the evaluation and data fixtures: each has a generator in the repository, and the
// generators read only the repository (data/), never a folder beside it such as ../shared.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const read = (p: string) => readFileSync(join(root, p), 'utf8');

/** Every fixture generator of the repository: scripts/gen_*.py and packages/<pkg>/test/fixtures/<dir>/generate.py. */
function generators(): string[] {
  const out = readdirSync(join(root, 'scripts'))
    .filter((f) => /^gen_.*\.py$/.test(f))
    .map((f) => `scripts/${f}`);
  for (const pkg of readdirSync(join(root, 'packages'))) {
    const fixtures = join(root, 'packages', pkg, 'test', 'fixtures');
    if (!existsSync(fixtures)) continue;
    for (const d of readdirSync(fixtures, { withFileTypes: true })) {
      if (d.isDirectory() && existsSync(join(fixtures, d.name, 'generate.py'))) out.push(`packages/${pkg}/test/fixtures/${d.name}/generate.py`);
    }
  }
  return out;
}

describe('fixture provenance', () => {
  it('no generator reads a folder outside the repository (../shared)', () => {
    const gens = generators();
    expect(gens).toEqual(expect.arrayContaining(['scripts/gen_data_fixtures.py', 'scripts/gen_coco_eval_cases.py', 'scripts/gen_mpii_pckh_fixtures.py', 'packages/train/test/fixtures/coco-eval/generate.py']));
    for (const g of gens) {
      const src = read(g);
      expect(src, g).not.toMatch(/['"]\.\.['"]\s*,\s*['"]shared['"]|\.\.\/shared\b|['"]shared['"]\s*,\s*['"]data['"]/);
    }
  });

  it('data/coco-mini/eval-cases: every results file has its expected numbers, written by scripts/gen_coco_eval_cases.py', () => {
    const files = readdirSync(join(root, 'data/coco-mini/eval-cases'));
    const cases = files.filter((f) => f.endsWith('.results.json')).map((f) => f.slice(0, -'.results.json'.length));
    expect(cases.length).toBeGreaterThan(0);
    for (const c of cases) expect(files, c).toContain(`${c}.expected.json`);
    const gen = read('scripts/gen_coco_eval_cases.py');
    expect(gen).toContain("os.path.join(ROOT, 'data', 'coco-mini')");
    expect(read('data/coco-mini/eval-cases/README.md')).toContain('scripts/gen_coco_eval_cases.py');
  });

  it('the data-pipeline and MPII PCKh fixtures name generators that read data/', () => {
    expect(read('scripts/gen_data_fixtures.py')).toContain("DATA = os.path.join(ROOT, 'data')");
    const mpii = JSON.parse(read('packages/train/test/fixtures/mpii-pckh.json')) as { note: string; records: string };
    expect(mpii.note).toMatch(/^scripts\/gen_mpii_pckh_fixtures\.py:/);
    expect(existsSync(join(root, mpii.records))).toBe(true);
    expect(read('scripts/gen_mpii_pckh_fixtures.py')).toContain("os.path.join(ROOT, 'data', 'mpii-mini', 'test_mpii.json')");
  });
});
