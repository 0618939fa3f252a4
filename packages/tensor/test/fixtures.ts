// The runner shared by ops.fixtures.test.ts and kernels.fixtures.test.ts: PyTorch references stored as
// JSON under ./fixtures (scripts/gen_fixtures.py, scripts/gen_kernel_fixtures.py; see the latter's
// docstring for the layout). For each case: build the leaves, apply the input views, run the op through
// the public API, compare the output (and any state it updates in place), call `out.backward(gradOut)`
// and compare each leaf's `.grad`, everything on the real WebGPU device in float32.
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import * as api from '@tmpose/tensor';
import { type Tensor, memory, tensor } from '@tmpose/tensor';
import { forceVariant } from '../src/runtime/tune.js';
import { expectClose } from './helpers.js';

/** |got - want| <= atol + atolPerK * k + rtol * |want|, where k is the longest sum the case does. */
export interface Tol {
  atol: number;
  rtol: number;
  atolPerK?: number;
}
export const tol = (atol: number, rtol: number, atolPerK = 0): Tol => ({ atol, rtol, atolPerK });

interface Arr {
  shape: number[];
  values: number[];
}
interface Fill {
  seed: number;
  levels: number;
  denominator: number;
}
/** Values stored, or regenerated from a hash (`fill`, with the float64 sum of the values as a check). */
interface Source {
  shape: number[];
  values?: number[];
  fill?: Fill;
  sum?: number;
}
export type ViewStep = [string, ...(number | number[])[]];
interface Input extends Source {
  name?: string;
  dtype: 'float32' | 'float16' | 'int32';
  requiresGrad: boolean;
  view?: ViewStep[];
}
/** An input by index, a null argument, or another view of one input. */
type Arg = number | null | { input: number; view: ViewStep[] };
export type Options = Record<string, any>;
interface CaseTol {
  why: string;
  output?: Tol;
  grads?: (Tol | null)[];
  state?: Tol;
}
export interface Case {
  name: string;
  op: string;
  options: Options;
  k: number;
  args?: Arg[];
  inputs: Input[];
  output: Arr;
  gradOutput: Source;
  grads: (Arr | null)[];
  state?: (Arr & { arg: number })[];
  tol?: CaseTol;
}

export function loadCases(file: string): Case[] {
  const text = readFileSync(new URL(`./fixtures/${file}.json`, import.meta.url), 'utf8');
  return (JSON.parse(text) as { cases: Case[] }).cases;
}

/** scripts/gen_kernel_fixtures.py hash_fill: (lowbias32(i + seed * 0x9E3779B9) % levels - (levels - 1) / 2) / denominator. */
export function hashFill(n: number, { seed, levels, denominator }: Fill): number[] {
  const base = Math.imul(seed >>> 0, 0x9e3779b9) >>> 0;
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    let h = (i + base) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
    h = Math.imul(h, 0x7feb352d) >>> 0;
    h = (h ^ (h >>> 15)) >>> 0;
    h = Math.imul(h, 0x846ca68b) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
    out[i] = ((h % levels) - (levels - 1) / 2) / denominator;
  }
  return out;
}

function valuesOf(src: Source): number[] {
  if (src.values) return src.values;
  const n = src.shape.reduce((a, b) => a * b, 1);
  const v = hashFill(n, src.fill!);
  const s = v.reduce((a, b) => a + b, 0);
  expect(Math.abs(s - src.sum!), 'regenerated fill values differ from the generator\'s').toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(s)));
  return v;
}

/** The shape a view of `shape` has after the view steps. */
export function viewShape(shape: number[], view: ViewStep[] | undefined): number[] {
  let s = [...shape];
  const axis = (d: number) => (d < 0 ? d + s.length : d);
  for (const [kind, ...a] of view ?? []) {
    const args = a as never[];
    if (kind === 'transpose') {
      const [i, j] = [axis(args[0]), axis(args[1])];
      [s[i], s[j]] = [s[j]!, s[i]!];
    } else if (kind === 'permute') s = (args[0] as number[]).map((d) => s[d]!);
    else if (kind === 'slice') s[axis(args[0])] = (args[2] as number) - (args[1] as number);
    else if (kind === 'expand') s = [...(args[0] as number[])];
    else throw new Error(`unknown view step ${kind}`);
  }
  return s;
}

/** Applies the view steps to x; every view made is pushed to `owned` for disposal. */
export function applyView(x: Tensor, view: ViewStep[] | undefined, owned: Tensor[]): Tensor {
  let y = x;
  for (const [kind, ...a] of view ?? []) {
    const args = a as never[];
    if (kind === 'transpose') y = api.transpose(y, args[0], args[1]);
    else if (kind === 'permute') y = api.permute(y, args[0]);
    else if (kind === 'slice') y = api.slice(y, args[0], args[1], args[2]);
    else if (kind === 'expand') y = api.expand(y, args[0]);
    else throw new Error(`unknown view step ${kind}`);
    owned.push(y);
  }
  return y;
}

/** An op under test: its (viewed) arguments, the case's options, and the inputs that have a name. */
export type OpCall = (xs: (Tensor | null)[], o: Options, named: Record<string, Tensor>) => Tensor;

/**
 * Runs cases of `ops` against `tolerances` (per op; `stateTolerance` for state read back after the call;
 * a case's own `tol` overrides either). Each case must dispose all it made: `expectNoLeaks` checks that.
 */
export function fixtureRunner(ops: Record<string, OpCall>, tolerances: Record<string, Tol>, stateTolerance?: Tol) {
  const leaks: string[] = [];
  /** Optional calibration aid: FIXTURE_REPORT=1 prints how much of its tolerance each check used. */
  const report = process.env.FIXTURE_REPORT ? new Map<string, number>() : null;

  function tolFor(c: Case, which: 'output' | 'state' | number): { atol: number; rtol: number } {
    const base = which === 'state' ? stateTolerance : tolerances[c.op];
    if (!base) throw new Error(`no tolerance stated for ${c.op}${which === 'state' ? ' state' : ''}`);
    const over = which === 'output' ? c.tol?.output : which === 'state' ? c.tol?.state : c.tol?.grads?.[which];
    const t = over ?? base;
    return { atol: t.atol + (t.atolPerK ?? 0) * c.k, rtol: t.rtol };
  }

  function check(what: string, got: ArrayLike<number>, want: number[], t: { atol: number; rtol: number }): void {
    if (report) {
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / (t.atol + t.rtol * Math.abs(want[i]!)));
      report.set(what, worst);
    }
    expectClose(got, want, t.atol, t.rtol, what);
  }

  async function run(c: Case): Promise<void> {
    const before = memory().liveTensors;
    const owned: Tensor[] = [];
    try {
      const leaves = c.inputs.map((inp) => {
        const vals = valuesOf(inp);
        const leaf =
          inp.dtype === 'int32'
            ? tensor(Int32Array.from(vals), inp.shape, { dtype: 'int32' })
            : tensor(Float32Array.from(vals), inp.shape, { dtype: inp.dtype, requiresGrad: inp.requiresGrad });
        owned.push(leaf);
        return leaf;
      });
      const viewed = leaves.map((leaf, i) => applyView(leaf, c.inputs[i]!.view, owned));
      const named: Record<string, Tensor> = {};
      c.inputs.forEach((inp, i) => {
        if (inp.name) named[inp.name] = viewed[i]!;
      });
      const xs = (c.args ?? c.inputs.map((_, i) => i)).map((a) =>
        a === null ? null : typeof a === 'number' ? viewed[a]! : applyView(leaves[a.input]!, a.view, owned),
      );
      const out = ops[c.op]!(xs, c.options, named);
      owned.push(out);

      expect(out.shape, `${c.name}: output shape`).toEqual(c.output.shape);
      check(`${c.name}: output`, await out.data(), c.output.values, tolFor(c, 'output'));
      for (const s of c.state ?? []) {
        const x = xs[s.arg]!;
        expect(x.shape, `${c.name}: argument ${s.arg} shape`).toEqual(s.shape);
        check(`${c.name}: argument ${s.arg} after the call`, await x.data(), s.values, tolFor(c, 'state'));
      }

      if (!c.grads.some((g) => g)) return;
      const gradOut = tensor(Float32Array.from(valuesOf(c.gradOutput)), c.gradOutput.shape, { dtype: out.dtype });
      owned.push(gradOut);
      out.backward(gradOut);
      for (const [i, want] of c.grads.entries()) {
        if (!want) continue;
        const grad = leaves[i]!.grad;
        expect(grad, `${c.name}: input ${i} has no .grad after backward()`).not.toBeNull();
        expect(grad!.shape, `${c.name}: grad ${i} shape`).toEqual(want.shape);
        check(`${c.name}: grad of input ${i}`, await grad!.data(), want.values, tolFor(c, i));
      }
    } finally {
      for (const x of owned) x.dispose();
      const after = memory().liveTensors;
      if (after !== before) leaks.push(`${c.name}: ${after - before} tensor handle(s)`);
    }
  }

  /**
   * One test per (variant, case): the tuner picks a kernel variant per adapter by measurement, so every
   * variant must be right, not just the fallback that small cases get. `variants` pairs each label of
   * `family` with cases whose every tuned call has that variant: a forced label the shape lacks throws.
   */
  function everyVariant(family: string, variants: [label: string, cases: Case[]][]): void {
    for (const [label, cases] of variants) {
      for (const c of cases) {
        it(`${c.name} with ${family} variant ${label}`, async () => {
          forceVariant(family, label);
          try {
            await run(c);
          } finally {
            forceVariant(family, null);
          }
        });
      }
    }
  }

  /** Expects no case to have left live tensor handles behind (and prints the calibration report). */
  function expectNoLeaks(): void {
    if (report) {
      const rows = [...report.entries()].sort((a, b) => b[1] - a[1]);
      console.log(rows.map(([k, v]) => `${v.toFixed(3)}  ${k}`).join('\n'));
    }
    expect(leaks).toEqual([]);
  }

  return { run, everyVariant, expectNoLeaks };
}
