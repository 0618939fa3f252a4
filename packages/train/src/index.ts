// @tmpose/train: training and evaluation for TMPose.

// ---- evaluation (COCO keypoint AP as pycocotools, top-down rescoring + OKS-NMS, MPII PCKh) ----
export * from './eval/index.js';
