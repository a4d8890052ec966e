"""Detection data for Table 4's VOC rows: PASCAL VOC in its official layout (:mod:`.voc`), the
embedded digit scenes (:mod:`.scenes`), their box-aware transforms and the bundle a run loads."""

from .bundle import DETECTION_DATASETS, DetectionBundle, collate, load_detection

__all__ = ["DETECTION_DATASETS", "DetectionBundle", "collate", "load_detection"]
