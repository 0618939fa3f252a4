// The precision a run asks for ('float16', 'float32' or 'auto'), resolved against the adapter: 'auto'
// is float16 where the adapter has shader-f16 and float32 where it has not; an explicit 'float16'
// without it is one error, before any work.
import { checkDType } from '../dtype.js';
import { getDevice } from '../device.js';

export type Precision = 'float16' | 'float32' | 'auto';

export function resolvePrecision(precision: Precision): 'float16' | 'float32' {
  if (precision === 'auto') return getDevice().info.features.shaderF16 ? 'float16' : 'float32';
  if (precision !== 'float16' && precision !== 'float32') {
    throw new Error(`precision: unknown precision ${JSON.stringify(precision)} (the precisions are float16, float32, auto)`);
  }
  if (precision === 'float16') checkDType('precision float16', 'float16', "ask for precision 'auto' to fall back to float32");
  return precision;
}
