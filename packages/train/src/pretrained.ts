// ImageNet initialisation of the backbone, as the official `HRNET_base.init_weights` does it
// (model-spec §1 "Init"): after the normal init (conv N(0, 0.001), BN γ 1, β 0; createModel already did
// it), a tensor of the classification checkpoint (`hrnet_w32-36af842e.pth`, `hrnet_w48-8ef0771d.pth`)
// is copied when the first component of its name is in PRETRAINED_LAYERS and the backbone has that
// name (`load_state_dict(strict=False)` ignores the rest: stage4, transition3, incre_modules,
// downsamp_modules, final_layer, classifier, and the fuse rows 1 and 2 of stage3's last module, which
// the pose backbone does not have). A shape mismatch is an error, as in PyTorch.
import type { TMPose } from '@tmpose/model';
import { type DType, type Tensor, io, tensor } from '@tmpose/tensor';
import { existsSync, readFile } from './node.js';

export const PRETRAINED_LAYERS = ['conv1', 'bn1', 'conv2', 'bn2', 'layer1', 'transition1', 'stage2', 'transition2', 'stage3'] as const;

export interface PretrainedLoad {
  /** Checkpoint keys copied into the backbone, in the file's order. */
  loaded: string[];
  /** Checkpoint keys left out (outside PRETRAINED_LAYERS, or not in this backbone). */
  skipped: string[];
}

/** The official rule, by name only: which checkpoint keys go into a backbone that has `backboneKeys`. */
export function selectPretrained(checkpointKeys: readonly string[], backboneKeys: Iterable<string>): PretrainedLoad {
  const own = new Set(backboneKeys);
  const layers = new Set<string>(PRETRAINED_LAYERS);
  const loaded: string[] = [];
  const skipped: string[] = [];
  for (const k of checkpointKeys) (layers.has(k.split('.')[0]!) && own.has(k) ? loaded : skipped).push(k);
  return { loaded, skipped };
}

/**
 * Loads an ImageNet HRNet classification checkpoint (`.pth`, or `.safetensors` with the same names)
 * into `model`'s backbone by the official rule. Nothing outside the backbone changes; on a shape
 * mismatch nothing is loaded and the error names the file and the first mismatching key.
 */
export async function loadPretrainedBackbone(model: TMPose, path: string): Promise<PretrainedLoad> {
  if (!existsSync(path)) throw new Error(`${path}: no such pretrained checkpoint`);
  const host = await readHostTensors(path);
  const backbone = model.pre_feature;
  const own = backbone.stateDict();
  try {
    const choice = selectPretrained(Object.keys(host), Object.keys(own));
    for (const k of choice.loaded) {
      const [have, want] = [host[k]!, own[k]!];
      if (have.dtype !== want.dtype || have.shape.length !== want.rank || have.shape.some((d, i) => d !== want.shape[i])) {
        throw new Error(
          `${path}: '${k}' is ${have.dtype} [${have.shape.join(', ')}] in the checkpoint but ${want.dtype} [${want.shape.join(', ')}] ` +
            `in the ${model.config.name} backbone (HRNet-W${backbone.width}); is it the checkpoint for this width?`,
        );
      }
    }
    const dict: Record<string, Tensor> = {};
    try {
      for (const k of choice.loaded) dict[k] = tensor(host[k]!.data, host[k]!.shape, { dtype: host[k]!.dtype });
      backbone.loadStateDict(dict, { strict: false });
    } finally {
      for (const t of Object.values(dict)) t.dispose();
    }
    return choice;
  } finally {
    for (const t of Object.values(own)) t.dispose();
  }
}

type HostTensors = Record<string, { dtype: DType; shape: number[]; data: Float32Array | Int32Array }>;

async function readHostTensors(path: string): Promise<HostTensors> {
  if (path.endsWith('.safetensors')) return io.stripPrefix((await io.readSafetensors(path)).tensors, 'module.');
  return io.loadPthHost(new Uint8Array(await readFile(path)), { name: path, skipNonTensors: true });
}
