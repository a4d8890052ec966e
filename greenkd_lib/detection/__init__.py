"""Object detection for Table 4's PASCAL VOC rows: data (VOC and the embedded digit scenes), SSD
detectors that share one anchor layout, distillation on matched anchors, and VOC mAP."""
