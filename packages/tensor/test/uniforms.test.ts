// Named uniforms: one declaration gives the WGSL struct and the host packing; a kernel reads what
// the host packed, u32, negative i32 and f32 alike, through the cached, content-keyed uniform buffers.
import { beforeAll, expect, it } from 'vitest';
import { init, zeros } from '@tmpose/tensor';
import { dispatch } from '../src/runtime/queue.js';
import { uniforms } from '../src/runtime/uniforms.js';

beforeAll(async () => {
  await init();
});

const U = uniforms({ N: 'u32', padH: 'i32', scale: 'f32' });

it('declares a struct in declaration order and packs words in that order', () => {
  expect(U.wgsl).toBe('struct Uniforms {\n  N: u32,\n  padH: i32,\n  scale: f32,\n}\n@group(0) @binding(0) var<uniform> u: Uniforms;');
  expect(U.words).toBe(3);
  expect(U.pack({ scale: 1.5, N: 7, padH: -2 })).toEqual([7, -2, 0x3fc00000]);
});

it('refuses values that are not of the declared type, naming the field', () => {
  expect(() => U.pack({ N: -1, padH: 0, scale: 0 })).toThrow(/'N' = -1 is not a u32/);
  expect(() => U.pack({ N: 1.5, padH: 0, scale: 0 })).toThrow(/'N' = 1.5 is not a u32/);
  expect(() => U.pack({ N: 1, padH: 2 ** 31, scale: 0 })).toThrow(/'padH' = 2147483648 is not a i32/);
  expect(() => U.pack({ N: 1, padH: 0 } as unknown as Parameters<typeof U.pack>[0])).toThrow(/no number for 'scale' \(f32\)/);
  expect(() => uniforms({ 'not-a-name': 'u32' })).toThrow(/'not-a-name' is not a WGSL identifier/);
});

it('a kernel reads the packed values by name', async () => {
  const out = zeros([3]);
  const kernel = {
    name: 'uniformsTest',
    key: '',
    uniforms: U,
    bindings: [{ name: 'O', type: 'f32', access: 'read_write' as const }],
    body: () => '@compute @workgroup_size(1) fn main() { O[0] = f32(u.N); O[1] = f32(u.padH); O[2] = u.scale; }',
  };
  dispatch(kernel, [out.storage], U.pack({ N: 5, padH: -3, scale: 0.25 }), [1]);
  expect([...(await out.data())]).toEqual([5, -3, 0.25]);
  // The words must match the declaration: a kernel with named uniforms refuses another count.
  expect(() => dispatch(kernel, [out.storage], [1, 2], [1])).toThrow(/uniformsTest: 2 parameter words for 3 declared uniforms/);
  out.dispose();
});
