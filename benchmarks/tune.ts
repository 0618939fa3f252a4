// The tuner's own numbers: each problem tuned afresh 3 times (`--runs N`) in one process, printing every
// candidate's time in each run (its fastest sample), the spread of those over the runs and the noise
// within a run (median sample over fastest, the tuner's own margin), the
// clock (GPU timestamps, or the wall clock with --wall), and the choice of each run, then how many
// problems changed their choice between runs. The tune table goes to a temporary file, not the user's.
// `pnpm bench tune [--runs N] [--wall] [--quick]`.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as T from '@tmpose/tensor';

process.env.TMPOSE_TUNE_FILE = join(mkdtempSync(join(tmpdir(), 'tmpose-bench-tune-')), 'tune.json');

/** One tunable op of each family at TMPose-like shapes (batch cut so that lavapipe finishes in minutes). */
const PROBLEMS: [string, () => T.Tensor][] = [
  ['matmul 256x512x256', () => T.matmul(T.randn([256, 512], { seed: 1 }), T.randn([512, 256], { seed: 2 }))],
  ['matmul 2048x192x576', () => T.matmul(T.randn([2048, 192], { seed: 3 }), T.randn([192, 576], { seed: 4 }))],
  ['attention B4 H8 L170 D24', () => {
    const q = T.randn([4, 8, 170, 24], { seed: 5 });
    return T.scaledDotProductAttention(q, q, q);
  }],
  ['conv 3x3 32->32 64x48 N2', () => T.conv2d(T.randn([2, 32, 64, 48], { seed: 6 }), T.randn([32, 32, 3, 3], { seed: 7 }), undefined, { padding: 1 })],
];

const pct = (x: number) => `${(100 * x).toFixed(0)}%`;

export async function main(args: string[]): Promise<void> {
  const runsArg = args.indexOf('--runs');
  const runs = runsArg >= 0 ? Number(args[runsArg + 1]) : args.includes('--quick') ? 2 : 3;
  const info = await T.init();
  if (args.includes('--wall')) info.features.timestampQuery = false;
  console.log(`adapter: ${info.description} (${info.backend}); clock: ${info.features.timestampQuery ? 'GPU timestamps' : 'wall clock'}; ${runs} tuner runs`);
  let changed = 0;
  for (const [name, make] of PROBLEMS) {
    const records: T.TuneRecord[] = [];
    for (let run = 0; run < runs; run++) {
      T.forgetTuning();
      T.takeTuneRecords();
      T.tidy(() => void make());
      await T.sync();
      records.push(...T.takeTuneRecords());
    }
    // One op may meet several problems (attention: forward only here; conv: one pass).
    for (const problem of [...new Set(records.map((r) => r.problem))]) {
      const mine = records.filter((r) => r.problem === problem);
      const choices = mine.map((r) => r.choice);
      const stable = choices.every((c) => c === choices[0]);
      if (!stable) changed++;
      console.log(`\n${name}: ${problem} (fallback ${mine[0]!.fallback}, ${mine[0]!.clock})`);
      for (const [i, c] of mine[0]!.candidates.entries()) {
        const medians = mine.map((r) => r.candidates[i]!.ms);
        const mean = medians.reduce((a, b) => a + b, 0) / medians.length;
        const within = mine.map((r) => r.candidates[i]!.median / r.candidates[i]!.ms - 1);
        console.log(
          `  ${c.label.padEnd(8)} ${medians.map((ms) => ms.toFixed(3).padStart(9)).join(' ')} ms` +
            `   spread over runs ${pct((Math.max(...medians) - Math.min(...medians)) / mean).padStart(4)},` +
            ` within a run ${pct(Math.max(...within)).padStart(4)}   ${c.reps} reps x ${c.samples}`,
        );
      }
      console.log(`  choice per run: ${choices.join(', ')}${stable ? ' (stable)' : ' (CHANGED)'}`);
    }
  }
  console.log(`\n${changed} problem(s) changed their choice over ${runs} runs`);
}
