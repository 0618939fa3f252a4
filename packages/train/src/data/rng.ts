// A small seeded PRNG for the data pipeline (no Math.random anywhere in src/data).
//
// Generator: sfc32 (Chris Doty-Humphrey's "small fast chaotic" generator, 128-bit state, passes
// PractRand), seeded through a splitmix32-style hash of the seed and any number of integer keys. The
// keys make independent streams: the loader uses (seed, "shuffle", epoch) for the permutation and
// (seed, "sample", epoch, position) for each sample's augmentation, so a sample's augmentation depends
// only on the seed, the epoch and its position in the epoch, never on the number of workers or on
// timing.

/** splitmix32 finaliser: a bijective 32-bit mix. */
function mix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Hashes a seed and keys (integers or short strings) to one 32-bit value. */
export function hashKeys(seed: number, ...keys: (number | string)[]): number {
  // Seeds may be any safe integer: fold in the high part.
  let h = mix32((seed >>> 0) ^ mix32(Math.floor(seed / 2 ** 32) >>> 0));
  for (const k of keys) {
    if (typeof k === 'number') {
      h = mix32(h ^ mix32(k >>> 0) ^ Math.imul(Math.floor(k / 2 ** 32) >>> 0, 0x27d4eb2f));
    } else {
      for (let i = 0; i < k.length; i++) h = mix32(h ^ k.charCodeAt(i));
      h = mix32(h ^ k.length);
    }
  }
  return h;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** A generator for the stream named by `seed` and `keys` (see `hashKeys`). */
  constructor(seed: number, ...keys: (number | string)[]) {
    const h = hashKeys(seed, ...keys);
    this.a = mix32(h ^ 0x1);
    this.b = mix32(h ^ 0x2);
    this.c = mix32(h ^ 0x3);
    this.d = 1;
    for (let i = 0; i < 12; i++) this.nextU32();
  }

  /** A uniform 32-bit unsigned integer. */
  nextU32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1) with 53 random bits (numpy's `random()` / Python's `random.random()`). */
  random(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Standard normal (numpy's `randn()`), Box–Muller; one draw per call, so the stream stays simple. */
  randn(): number {
    let u = this.random();
    while (u === 0) u = this.random();
    const v = this.random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.random() * n);
  }
}

/** Fisher–Yates shuffle of 0..n-1 driven by `rng`. */
export function permutation(n: number, rng: Rng): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}
