"""SSD detectors for Table 4's VOC rows: the paper's SSD300-VGG16 and SSDLite-MobileNetV2, and
narrow versions of both for the quick profile (:mod:`.archs` names them, :mod:`.ssd` builds them)."""
