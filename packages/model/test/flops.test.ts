// FLOP counts (model-spec §6): the paper's counter and true MACs, from the config alone.
import { describe, expect, it } from 'vitest';
import { CONFIGS, countFlops, flopTable, getConfig, hrnetArch, hrnetConvMacs, hrnetParamCount } from '@tmpose/model';

const paper = (name: keyof typeof CONFIGS, keep?: number) => countFlops(CONFIGS[name], { keep, convention: 'paper' });
const macs = (name: keyof typeof CONFIGS, keep?: number) => countFlops(CONFIGS[name], { keep, convention: 'macs' });

describe('HRNet-s, walked from its layer shapes', () => {
  it('has the spec conv MACs and parameters', () => {
    expect(hrnetConvMacs(hrnetArch(32), 256, 192)).toBe(4_684_775_424);
    expect(hrnetConvMacs(hrnetArch(48), 256, 192)).toBe(9_032_564_736);
    expect(hrnetConvMacs(hrnetArch(32), 256, 256) / 1e9).toBeCloseTo(6.2464, 4);
    expect(hrnetConvMacs(hrnetArch(48), 256, 256) / 1e9).toBeCloseTo(12.0434, 4);
    expect(hrnetParamCount(hrnetArch(32))).toBe(7_685_632);
    expect(hrnetParamCount(hrnetArch(48))).toBe(16_705_824);
    expect(hrnetConvMacs(hrnetArch(32), 256, 192) / 2 ** 30).toBeCloseTo(4.363, 3);
    expect(hrnetConvMacs(hrnetArch(48), 256, 192) / 2 ** 30).toBeCloseTo(8.4122, 4);
  });
});

describe("the paper's counter (Linear as N²·D_out, /2^30)", () => {
  it('reproduces the TokenPose-B / TMPose-B tables', () => {
    expect(paper('tokenpose-b').total).toBeCloseTo(5.6551, 4);
    expect(paper('tokenpose-b').transformer).toBeCloseTo(1.292, 3);
    expect(paper('tmpose-b', 0.8).transformer).toBeCloseTo(0.8511, 4);
    expect(paper('tmpose-b', 0.6).transformer).toBeCloseTo(0.5088, 4);
    expect(paper('tmpose-b', 0.4).transformer).toBeCloseTo(0.2557, 4);
    expect(paper('tmpose-b').total).toBeCloseTo(4.8718, 4); // config default keep 0.6
    expect(paper('tmpose-b', 0.8).total).toBeCloseTo(5.2141, 4);
    expect(paper('tmpose-b', 0.4).total).toBeCloseTo(4.6188, 4);
    expect(paper('tmpose-b').keptTokens).toBe(153);
    expect(paper('tmpose-b').sequence).toBe(170);
  });

  it('reproduces the L tables', () => {
    expect(paper('tokenpose-l-d24').total).toBeCloseTo(10.9835, 4);
    expect(paper('tokenpose-l-d24').transformer).toBeCloseTo(2.5713, 4);
    expect(paper('tmpose-l-d24').total).toBeCloseTo(9.417, 3);
    expect(paper('tmpose-l-d24').transformer).toBeCloseTo(1.0047, 4);
    expect(paper('tokenpose-l-d6').total).toBeCloseTo(9.0645, 4);
    expect(paper('tokenpose-l-d6').transformer).toBeCloseTo(0.6522, 4);
    expect(paper('tmpose-l-d6').total).toBeCloseTo(8.6728, 4);
    expect(paper('tmpose-l-d6').transformer).toBeCloseTo(0.2606, 4);
    // The 9.2 GFLOPs of the paper's L/D6 row is the 18-layer yaml as written (3 × 6).
    const yaml = getConfig('tmpose-l-d6', { depth: 6 });
    expect(countFlops(yaml, { convention: 'paper' }).total).toBeCloseTo(9.1689, 4);
    expect(countFlops(yaml, { convention: 'paper' }).transformer).toBeCloseTo(0.7567, 4);
    expect(paper('tmpose-l-d6-mpii').total).toBeCloseTo(11.4741, 4);
    expect(paper('tmpose-l-d6-mpii').transformer).toBeCloseTo(0.2578, 4);
  });
});

describe('true MACs (attention included, /1e9)', () => {
  it('reproduces the spec table', () => {
    expect(macs('tokenpose-b').total).toBeCloseTo(6.2761, 4);
    expect(macs('tokenpose-b').transformer).toBeCloseTo(1.5913, 4);
    expect(macs('tmpose-b', 0.8).total).toBeCloseTo(5.9276, 4);
    expect(macs('tmpose-b', 0.8).transformer).toBeCloseTo(1.2429, 4);
    expect(macs('tmpose-b').total).toBeCloseTo(5.6102, 4);
    expect(macs('tmpose-b').transformer).toBeCloseTo(0.9254, 4);
    expect(macs('tmpose-b', 0.4).total).toBeCloseTo(5.3166, 4);
    expect(macs('tmpose-b', 0.4).transformer).toBeCloseTo(0.6319, 4);
    expect(macs('tokenpose-l-d24').total).toBeCloseTo(12.1931, 4);
    expect(macs('tokenpose-l-d24').transformer).toBeCloseTo(3.1606, 4);
    expect(macs('tmpose-l-d24').total).toBeCloseTo(10.8614, 4);
    expect(macs('tmpose-l-d24').transformer).toBeCloseTo(1.8288, 4);
    expect(macs('tokenpose-l-d6').total).toBeCloseTo(9.8665, 4);
    expect(macs('tmpose-l-d6').total).toBeCloseTo(9.5336, 4);
    expect(macs('tmpose-l-d6').transformer).toBeCloseTo(0.501, 3);
    expect(macs('tmpose-l-d6-mpii').total).toBeCloseTo(12.5585, 4);
    expect(macs('tmpose-l-d6-mpii').transformer).toBeCloseTo(0.5151, 4);
    // Per-keep table of MACs^T.
    const perKeep: [keyof typeof CONFIGS, number[]][] = [
      ['tmpose-b', [1.591, 1.243, 0.925, 0.632]],
      ['tmpose-l-d6', [0.834, 0.66, 0.501, 0.354]],
      ['tmpose-l-d24', [3.161, 2.464, 1.829, 1.242]],
    ];
    for (const [name, values] of perKeep) {
      [1, 0.8, 0.6, 0.4].forEach((keep, i) => expect(macs(name, keep).transformer, `${name} ${keep}`).toBeCloseTo(values[i]!, 3));
    }
    // The exact closed form for TokenPose-B.
    expect(macs('tokenpose-b').raw.transformer).toBe(1_591_276_032);
    expect(paper('tokenpose-b').raw.transformer).toBe(1_387_300_224);
  });

  it('prints a table', () => {
    const text = flopTable(CONFIGS['tmpose-b']);
    expect(text).toContain('tmpose-b');
    expect(text).toContain('0.5088');
    expect(text).toContain('0.9254');
    expect(text.split('\n')).toHaveLength(7);
  });
});
