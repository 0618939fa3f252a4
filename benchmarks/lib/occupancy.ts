// Threads launched and workgroup memory of every kernel an op dispatches, for each forced variant of
// its family: occupancy on a GPU judged without one. Read from the dispatches the op would make
// (`launchesOf`: nothing compiles or runs) and from each kernel's WGSL.
import * as T from '@tmpose/tensor';

const BYTES: Record<string, number> = { f32: 4, f16: 2, u32: 4, i32: 4, 'vec4<f32>': 16, 'vec4<f16>': 8 };

/** Threads per workgroup and bytes of `var<workgroup>` arrays, from a kernel's WGSL. */
function footprint(kernel: T.Kernel): { threads: number; workgroupBytes: number } {
  const body = kernel.body();
  const size = /@workgroup_size\(([^)]*)\)/.exec(body)?.[1] ?? '1';
  const threads = size.split(',').reduce((p, d) => p * Number(d.trim()), 1);
  let workgroupBytes = 0;
  for (const m of body.matchAll(/var<workgroup>\s+\w+\s*:\s*array<(.+?),\s*(\d+)>;/g)) workgroupBytes += (BYTES[m[1]!] ?? 4) * Number(m[2]);
  return { threads, workgroupBytes };
}

const count = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : `${n}`);

/**
 * Prints, for each label of `family`, every dispatch of the op that `prepare` returns (after making its
 * inputs, which are not counted): kernel, grid, threads launched, workgroup memory.
 */
export function printOccupancy(title: string, family: string, labels: string[], prepare: () => () => void): void {
  console.log(`\n${title}: threads launched and workgroup memory per kernel, by ${family} variant`);
  for (const label of labels) {
    T.forceVariant(family, label);
    try {
      const rows = T.tidy(() => T.launchesOf(prepare())).map(({ kernel, workgroups: [x, y, z] }) => {
        const { threads, workgroupBytes } = footprint(kernel);
        return `${kernel.name} ${x}×${y}×${z} wg × ${threads} = ${count(x * y * z * threads)} threads, ${(workgroupBytes / 1024).toFixed(workgroupBytes ? 1 : 0)} KiB/wg`;
      });
      console.log(`  ${label.padEnd(9)} ${rows.join('; ')}`);
    } finally {
      T.forceVariant(family, null);
    }
  }
}
