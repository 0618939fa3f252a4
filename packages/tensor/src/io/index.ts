// Reading and writing tensors: the safetensors format (anywhere) and files (Node).
export {
  serialize,
  serializeChunks,
  parse,
  parseHost,
  type FileDType,
  type HostTensor,
  type ParsedSafetensors,
  type ParseOptions,
} from './safetensors.js';
export { saveSafetensors, loadSafetensors, writeFileAtomic } from './files.js';
