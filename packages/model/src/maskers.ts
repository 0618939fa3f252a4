// TMPose's token maskers: which of the P visual tokens (P = 256 on a 16×16 grid) enter the Transformer.
//
// `keep` is the keep ratio r (the official SAMPLED_RATIO), n_keep = int(P·r) (truncation: 0.8→204,
// 0.6→153, 0.4→102 for P = 256).
//   random : numpy.random.choice(P, n_keep, replace=False), i.e. a random permutation's first n_keep
//            entries, UNSORTED. With a seed it reproduces numpy exactly: `new RandomState(s)` here draws
//            what `numpy.random.seed(s)` + `choice` draws (legacy MT19937, the same rejection sampling).
//   uniform: floor(numpy.linspace(0, P−1, n_keep)) → 0, 1, 3, 5, 6, 8, 10, 11, ... (deterministic).
//   block  : the prefix [0, 4·int(P·r/4)) — one contiguous block of top rows (0.6 → 152 tokens, not 153).
//
// The official code draws one index set per forward and shares it across the batch.

export type Sampler = 'random' | 'uniform' | 'block';

export const SAMPLERS: readonly Sampler[] = ['random', 'uniform', 'block'];

function checkRatio(keep: number): void {
  if (!(keep > 0 && keep <= 1)) throw new Error(`masker: the keep ratio must be in (0, 1], got ${keep}`);
}

/** int(P·r): how many tokens the random and uniform samplers keep. */
export function nKeep(numTokens: number, keep: number): number {
  checkRatio(keep);
  return Math.max(1, Math.trunc(numTokens * keep));
}

/** How many tokens a sampler keeps: int(P·r), or 4·int(P·r/4) for block. */
export function keptCount(sampler: Sampler, numTokens: number, keep: number): number {
  checkRatio(keep);
  if (sampler === 'block') return Math.max(4, 4 * Math.trunc((numTokens * keep) / 4));
  return nKeep(numTokens, keep);
}

/**
 * numpy's legacy `RandomState` (MT19937) for the few draws the maskers need: `choice(n, k)` without
 * replacement returns exactly what numpy returns after `numpy.random.seed(seed)`.
 */
export class RandomState {
  readonly #mt = new Uint32Array(624);
  #i = 624;

  constructor(seed = 0) {
    this.seed(seed);
  }

  /** numpy.random.seed(seed) for an integer seed in [0, 2³²). */
  seed(seed: number): void {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new Error(`RandomState: the seed must be an integer in [0, 2^32), got ${seed}`);
    const mt = this.#mt;
    mt[0] = seed >>> 0;
    for (let i = 1; i < 624; i++) {
      const prev = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
      // 1812433253 * prev + i, mod 2^32, without losing bits in float64.
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
    this.#i = 624;
  }

  /** The next 32-bit output of MT19937. */
  nextUint32(): number {
    const mt = this.#mt;
    if (this.#i >= 624) {
      for (let k = 0; k < 624; k++) {
        const y = (mt[k]! & 0x80000000) | (mt[(k + 1) % 624]! & 0x7fffffff);
        mt[k] = mt[(k + 397) % 624]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      this.#i = 0;
    }
    let y = mt[this.#i++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** A uniform integer in [0, max] by masked rejection (numpy's `random_interval` for max < 2³²). */
  interval(max: number): number {
    if (max === 0) return 0;
    let mask = max;
    mask |= mask >>> 1;
    mask |= mask >>> 2;
    mask |= mask >>> 4;
    mask |= mask >>> 8;
    mask |= mask >>> 16;
    mask >>>= 0;
    for (;;) {
      const v = (this.nextUint32() & mask) >>> 0;
      if (v <= max) return v;
    }
  }

  /** numpy `permutation(n)`: arange(n) shuffled by Fisher–Yates from the end. */
  permutation(n: number): number[] {
    const a = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.interval(i);
      const t = a[i]!;
      a[i] = a[j]!;
      a[j] = t;
    }
    return a;
  }

  /** numpy `choice(n, k, replace=False)` = permutation(n)[:k] (unsorted). */
  choice(n: number, k: number): number[] {
    if (!Number.isInteger(k) || k < 0 || k > n) throw new Error(`RandomState.choice: cannot take ${k} of ${n} without replacement`);
    return this.permutation(n).slice(0, k);
  }
}

/** Random sampler: numpy.random.choice(P, int(P·r), replace=False), unsorted. */
export function randomIndices(numTokens: number, keep: number, rng: RandomState): number[] {
  return rng.choice(numTokens, nKeep(numTokens, keep));
}

/** Uniform sampler: floor(numpy.linspace(0, P−1, int(P·r))). */
export function uniformIndices(numTokens: number, keep: number): number[] {
  const n = nKeep(numTokens, keep);
  if (n === 1) return [0];
  const stop = numTokens - 1;
  const step = stop / (n - 1);
  // numpy: arange(n) * step + start, then the last sample set to stop exactly.
  return Array.from({ length: n }, (_, i) => (i === n - 1 ? stop : Math.floor(i * step)));
}

/** Block sampler: the first 4·int(P·r/4) tokens. */
export function blockIndices(numTokens: number, keep: number): number[] {
  return Array.from({ length: keptCount('block', numTokens, keep) }, (_, i) => i);
}

/** The kept token ids for one draw of a sampler (`rng` is only used by 'random'). */
export function sampleIndices(sampler: Sampler, numTokens: number, keep: number, rng: RandomState): number[] {
  switch (sampler) {
    case 'random':
      return randomIndices(numTokens, keep, rng);
    case 'uniform':
      return uniformIndices(numTokens, keep);
    case 'block':
      return blockIndices(numTokens, keep);
    default:
      throw new Error(`sampleIndices: unknown sampler '${sampler as string}' (expected ${SAMPLERS.join(', ')})`);
  }
}
