import { expect, it } from 'vitest';
import { init } from '@tmpose/tensor';

it('finds a real WebGPU adapter (tests never skip for lack of one)', async () => {
  const info = await init();
  expect(info.description.length).toBeGreaterThan(0);
  console.log(`adapter: ${info.description} (cpu: ${info.isCpu}, subgroups: ${info.features.subgroups}, f16: ${info.features.shaderF16})`);
});
