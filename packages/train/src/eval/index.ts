// Evaluation: COCO keypoint AP/AR (pycocotools-exact), top-down rescoring and OKS-NMS, MPII PCKh.
export * from './coco.js';
export * from './rescore.js';
export * from './pckh.js';
export { CocoFormatError } from './validate.js';
export { npSum, npMean, npLinspace, npArange, formatFixed, NP_SPACING_1 } from './numeric.js';
