// WGSL constants that several kernels share.

/**
 * The lowest and highest finite values of a compute type, as WGSL expressions: the identities of max
 * and min reductions, and the score of a masked-out attention column. (-2147483648 is out of range as
 * an i32 literal, hence the subtraction.)
 */
export const LIMITS = {
  f32: { lowest: '-3.4028234663852886e38', highest: '3.4028234663852886e38' },
  i32: { lowest: '-2147483647 - 1', highest: '2147483647' },
} as const;
