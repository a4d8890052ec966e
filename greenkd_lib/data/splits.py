"""Seeded, stratified index splits (scikit-learn) and the validation of ``load``'s split arguments."""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import train_test_split


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_args(val_fraction: float, subset: int | None, image_size: int | None, seed: int) -> None:
    """Raise ``ValueError`` naming the allowed values when a ``load`` argument is out of range."""
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, numbers.Real) or not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be a number strictly between 0 and 1 (e.g. 0.1), got {val_fraction!r}")
    if subset is not None and (not _is_int(subset) or subset < 1):
        raise ValueError(f"subset must be None (all samples) or an integer >= 1, got {subset!r}")
    if image_size is not None and (not _is_int(image_size) or image_size < 8):
        raise ValueError(f"image_size must be None (the data set's own size) or an integer >= 8, got {image_size!r}")
    if not _is_int(seed) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r}")


def _can_stratify(targets: np.ndarray, n_take: int) -> bool:
    # sklearn's stratified split needs >= 2 members per class and room for every class on both sides.
    counts = np.unique(targets, return_counts=True)[1]
    n_classes = len(counts)
    return counts.min() >= 2 and n_take >= n_classes and len(targets) - n_take >= n_classes


def _split(targets: np.ndarray, n_take: int, seed: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """(kept, taken, stratified): sorted index arrays; ``taken`` holds ``n_take`` indices."""
    idx = np.arange(len(targets))
    stratified = _can_stratify(targets, n_take)
    kept, taken = train_test_split(idx, test_size=n_take, random_state=seed,
                                   stratify=targets if stratified else None)
    return np.sort(kept), np.sort(taken), stratified


def holdout(targets: Sequence[int] | np.ndarray, fraction: float, seed: int,
            *, purpose: str = "validation") -> tuple[np.ndarray, np.ndarray]:
    """Split indices ``0..len(targets)-1`` into (rest, held_out) with ``ceil(fraction * n)`` held out.

    Stratified on ``targets`` when every class has >= 2 samples and both parts can hold every class;
    otherwise a seeded random split with a warning (tiny data sets only).
    """
    targets = np.asarray(targets)
    n = len(targets)
    if n < 2:
        raise ValueError(f"cannot carve a {purpose} split from {n} sample(s); the data set needs at least 2")
    n_take = min(max(1, math.ceil(fraction * n)), n - 1)
    rest, taken, stratified = _split(targets, n_take, seed)
    if not stratified:
        warnings.warn(f"{purpose} split of {n_take} from {n} samples is not stratified: a class has fewer than 2 "
                      f"samples or a part is smaller than the number of classes; use a larger data set or fraction",
                      stacklevel=5)  # points at the caller of load()
    return rest, taken


def subsample(targets: Sequence[int] | np.ndarray, n: int | None, seed: int) -> np.ndarray:
    """Sorted positions of at most ``n`` samples of ``targets`` (seeded; stratified where possible)."""
    targets = np.asarray(targets)
    if n is None or n >= len(targets):
        return np.arange(len(targets))
    _, taken, _ = _split(targets, n, seed)
    return taken
