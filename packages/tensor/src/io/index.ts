// Reading and writing tensors: the safetensors format (anywhere) and files (Node).
export {
  serialize,
  serializeChunks,
  parse,
  parseHost,
  type FileDType,
  type HalfDtype,
  type HostArray,
  type HostTensor,
  type ParsedSafetensors,
  type ParseOptions,
  type WritableTensor,
} from './safetensors.js';
export { toHalves } from './half.js';
export { saveSafetensors, loadSafetensors, readSafetensors, writeFileAtomic } from './files.js';
export { loadPth, loadPthHost, stripPrefix, selectPrefix, type PthHostTensor, type PthOptions, type TorchDType } from './pth.js';
