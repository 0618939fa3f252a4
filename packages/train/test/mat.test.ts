// The MATLAB v5 .mat reader against files written by scipy.io.savemat, plain and zlib-compressed
// (scripts/gen_mat_fixtures.py): every numeric class, logical, complex, empty, N-d arrays in MATLAB's
// column-major order, char rows and matrices, non-ASCII text, cells (nested), a struct read over.
import { type MatArray, loadMat, parseMat } from '@tmpose/train';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/mat/${name}`, import.meta.url));
const expected = JSON.parse(readFileSync(fixture('expected.json'), 'utf8')) as Record<string, unknown>;

/** The reader's value in the JSON shape of expected.json (typed arrays as plain lists). */
function plain(v: MatArray): unknown {
  if (v.kind === 'numeric') return { kind: v.kind, dims: v.dims, class: v.class, data: Array.from(v.data), ...(v.imag ? { imag: Array.from(v.imag) } : {}) };
  if (v.kind === 'cell') return { kind: v.kind, dims: v.dims, cells: v.cells.map(plain) };
  return v;
}

describe('parseMat / loadMat', () => {
  for (const file of ['types.mat', 'types_compressed.mat']) {
    it(`${file}: every variable as scipy.io.loadmat reads it`, async () => {
      const vars = await loadMat(fixture(file));
      expect(Object.keys(vars).sort()).toEqual(Object.keys(expected).sort());
      for (const [name, want] of Object.entries(expected)) expect(plain(vars[name]!), name).toEqual(want);
    });
  }

  it('refuses what it cannot read with one error naming the file', async () => {
    const bytes = readFileSync(fixture('types.mat'));
    expect(() => parseMat(bytes.subarray(0, 300), 'cut.mat')).toThrow(/^cut\.mat: truncated: a data element at byte \d+ claims \d+ bytes, past the end$/);
    const v73 = new Uint8Array(bytes);
    v73.set(new TextEncoder().encode('MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 .'));
    expect(() => parseMat(v73, 'new.mat')).toThrow('new.mat: a MATLAB v7.3 (HDF5) file, which is not supported; save it with -v7 (or scipy.io.savemat)');
    expect(() => parseMat(new Uint8Array(64), 'tiny.mat')).toThrow('tiny.mat: not a MATLAB v5 .mat file (64 bytes, shorter than the 128-byte header)');
    await expect(loadMat('/nonexistent/gt_valid.mat')).rejects.toThrow(/^\/nonexistent\/gt_valid\.mat: cannot read/);
  });
});
