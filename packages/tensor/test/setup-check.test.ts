import { homedir } from 'node:os';
import { expect, it } from 'vitest';
import { init } from '@tmpose/tensor';

it('finds a real WebGPU adapter (tests never skip for lack of one)', async () => {
  const info = await init();
  expect(info.description.length).toBeGreaterThan(0);
  console.log(`adapter: ${info.description} (cpu: ${info.isCpu}, subgroups: ${info.features.subgroups}, f16: ${info.features.shaderF16})`);
});

it("uses a tune table of the test run's own, never the user's", () => {
  const file = process.env.TMPOSE_TUNE_FILE;
  expect(file, 'vitest.config.ts sets TMPOSE_TUNE_FILE').toBeTruthy();
  expect(file!.startsWith(`${homedir()}/.cache`)).toBe(false);
});
