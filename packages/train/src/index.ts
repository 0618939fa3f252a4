// @tmpose/train: training and evaluation for TMPose.

// ---- evaluation (COCO keypoint AP as pycocotools, top-down rescoring + OKS-NMS, MPII PCKh) ----
export * from './eval/index.js';

// ---- data pipeline (COCO/MPII readers, DarkPose affine + cv2-exact warp, augmentation, DARK targets, DataLoader) ----
export * from './data/index.js';
