// MPII evaluation end to end on the bundled sample: a 16-joint model, the loader, decoding, and the
// PCK table (a labelled proxy: the sample has no head boxes).
import { createModel } from '@tmpose/model';
import { init } from '@tmpose/tensor';
import { evaluateModelOnMpii, loadMpii, resolveDataLayout } from '@tmpose/train';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const data = fileURLToPath(new URL('../../../data/mpii-mini/', import.meta.url));

it('evaluates a 16-joint model on MPII data and prints the PCK table', async () => {
  await init();
  const layout = resolveDataLayout(data);
  expect(layout.kind).toBe('mpii');
  if (layout.kind !== 'mpii') return;
  const dataset = await loadMpii({ annotationFile: layout.annotationFile, imageRoot: layout.imageRoot });
  const model = createModel('tiny', { numJoints: 16, dataset: 'mpii', seed: 1 });
  const { result, table } = await evaluateModelOnMpii(model, dataset, { batchSize: 5, workers: 0 });
  model.dispose();
  expect(result.kind).toBe('PCK-proxy');
  expect(table).toContain('NOT PCKh');
  for (const v of Object.values(result.table)) expect(v).toBeGreaterThanOrEqual(0);
});
