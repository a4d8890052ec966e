"""``digits``: scikit-learn's embedded 8x8 handwritten digits, the offline default of every quick run."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits as _sklearn_digits
from sklearn.model_selection import train_test_split

from .bundle import DatasetBundle, split_views, TensorImages

NATIVE_SIZE = 8
DEFAULT_SIZE = 32
TEST_FRACTION = 0.2
# Fixed on purpose: the test split must not move when `seed` changes, so every seed is scored on the same images.
TEST_SPLIT_SEED = 2320


@lru_cache(maxsize=4)
def _images(image_size: int) -> tuple[torch.Tensor, np.ndarray]:
    """All 1,797 images in [0, 1], 3 identical channels, upsampled once; and their labels. Cached: read-only."""
    digits = _sklearn_digits()
    x = torch.from_numpy(digits.images).float().div_(16.0).unsqueeze(1)  # pixel values are 0..16
    if image_size != NATIVE_SIZE:
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False)
    return x.expand(-1, 3, -1, -1).contiguous(), digits.target.astype(np.int64)


def load_digits(*, image_size: int | None, val_fraction: float, subset: int | None, seed: int,
                augment: bool) -> DatasetBundle:
    """The digits bundle: a fixed stratified 20 % test split, val carved from the rest with ``seed``.

    Mean and std come from the non-test part (train + val), so they do not depend on ``seed``.
    No augmentation whatever ``augment`` says: flips and rotations turn digits into other digits
    (a flipped 2 is no 2, a rotated 6 is a 9), and crops of an 8x8 source remove strokes.
    """
    size = image_size or DEFAULT_SIZE
    x, y = _images(size)
    pool, test = train_test_split(np.arange(len(y)), test_size=TEST_FRACTION, stratify=y,
                                  random_state=TEST_SPLIT_SEED)
    pool, test = np.sort(pool), np.sort(test)
    mean = x[pool].mean(dim=(0, 2, 3))
    std = x[pool].std(dim=(0, 2, 3))
    x = (x - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    train, val, test_view = split_views(TensorImages(x[pool], y[pool]), TensorImages(x[test], y[test]),
                                        None, None, val_fraction=val_fraction, subset=subset, seed=seed)
    return DatasetBundle(
        name="digits", train=train, val=val, test=test_view,
        classes=[str(d) for d in range(10)], num_classes=10, image_size=size,
        mean=tuple(float(m) for m in mean), std=tuple(float(s) for s in std),
        source="sklearn.datasets.load_digits (embedded, 8x8 upsampled bilinearly)", root=None,
        options={"augment": False},
    )
