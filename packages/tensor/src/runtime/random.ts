// Counter-based random numbers: element i of a seeded tensor is a hash of (seed, i) alone, so it does
// not depend on the tensor's size, on how work is split, or on the machine. rand and randn sample on
// the host in float64 with exactly rounded operations (see exactmath.ts) and round to float32, so a
// seed gives the same bits on every adapter and in every JS engine; dropout hashes on the GPU with the
// same function (RANDOM_WGSL), since integer hashing and a compare are exact there too.
import { type CosSin, cosSin2Pi, ln } from './exactmath.js';

/** PCG's output permutation of one 32-bit state (O'Neill's pcg_hash), on u32 values. */
export function pcg(x: number): number {
  const s = (Math.imul(x, 747796405) + 2891336453) >>> 0;
  const w = Math.imul((s >>> ((s >>> 28) + 4)) ^ s, 277803737) >>> 0;
  return ((w >>> 22) ^ w) >>> 0;
}

/** The same hash in WGSL; `rand01` is `uniformAt`'s uniform in [0, 1) (24 bits, exact in f32). */
export const RANDOM_WGSL = `
fn pcg(x: u32) -> u32 {
  let s = x * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}
fn rand01(i: u32, seed: u32, stream: u32) -> f32 {
  let h = pcg(pcg(i * 2u + stream) ^ pcg(seed));
  return f32(h >> 8u) * (1.0 / 16777216.0);
}`;

const TWO_POW_32 = 4294967296;

/** Fills `out` with low + (high − low)·u, u uniform on 24-bit steps of [0, 1), as rand01(i, seed, 0). */
export function fillUniform(out: Float32Array, seed: number, low: number, high: number): void {
  const hs = pcg(seed >>> 0);
  const scale = (high - low) / 16777216;
  for (let i = 0; i < out.length; i++) {
    out[i] = low + scale * (pcg(pcg((2 * i) >>> 0) ^ hs) >>> 8);
  }
}

/**
 * Fills `out` with normal numbers of the given mean and std by Box–Muller: elements 2j and 2j + 1 are
 * r·cos θ and r·sin θ of pair j, whose radius takes a 52-bit uniform (tails to 8.6σ) and angle a 32-bit
 * one, from counters 4j, 4j + 1, 4j + 2.
 */
export function fillNormal(out: Float32Array, seed: number, mean: number, std: number): void {
  const hs = pcg(seed >>> 0);
  const angle: CosSin = { cos: 0, sin: 0 };
  for (let i = 0; i < out.length; i += 2) {
    const c = 2 * i;
    const hi = pcg(pcg(c >>> 0) ^ hs) >>> 12;
    const lo = pcg(pcg((c + 1) >>> 0) ^ hs);
    // (k + ½)/2^52 for a 52-bit k: exact, and never 0 or 1.
    const u = (hi * TWO_POW_32 + lo + 0.5) / 4503599627370496;
    const t = pcg(pcg((c + 2) >>> 0) ^ hs) / TWO_POW_32;
    const r = std * Math.sqrt(-2 * ln(u));
    cosSin2Pi(t, angle);
    out[i] = mean + r * angle.cos;
    if (i + 1 < out.length) out[i + 1] = mean + r * angle.sin;
  }
}
