"""The detection data a training loop reads: ``load_detection(name)`` -> :class:`DetectionBundle`.

``digit_scenes`` is generated offline from scikit-learn's digits (written once under
``data/digit_scenes``); ``voc`` is PASCAL VOC in its official layout under ``data/VOCdevkit``
(never downloaded here). Both are read by :class:`.voc.VOCBoxes`, so items look the same:
``(float32 image (3, S, S) in [0, 1], target dict)``; the detector normalises with ``mean``/``std``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ... import paths
from ..errors import unknown_dataset
from ..splits import check_args
from .scenes import DIGIT_CLASSES, ensure_digit_scenes, read_manifest, SceneSpec
from .transforms import eval_transform, train_transform
from .voc import check_layout, VOC_CLASSES, voc_folder, VOCBoxes, YEARS

__all__ = ["DETECTION_DATASETS", "IMAGENET_MEAN", "IMAGENET_STD", "VOC_IMAGE_SIZE", "DetectionBundle",
           "DetectionView", "collate", "load_detection"]

DETECTION_DATASETS: tuple[str, ...] = ("digit_scenes", "voc")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VOC_IMAGE_SIZE = 300  # SSD300, the paper's detector input


class DetectionView(Dataset):
    """Items ``indices`` of the concatenation of ``bases``, each through ``transform``.

    Views of one base share its parsed annotations, so a training view (augmented) and a
    validation view (not augmented) of VOC trainval parse the XML once. ``image_id`` of item ``i``
    is ``i``; ``targets`` holds the parsed annotations of the view's images (numpy arrays).
    """

    def __init__(self, bases: Sequence[VOCBoxes], indices: Sequence[int] | np.ndarray,
                 transform: Callable | None) -> None:
        self.bases = list(bases)
        positions = [(b, j) for b, base in enumerate(self.bases) for j in range(len(base))]
        self.items = [positions[int(i)] for i in indices]
        self.transform = transform
        self.targets = [self.bases[b].targets[j] for b, j in self.items]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict[str, Any]]:
        b, j = self.items[i]
        return self.bases[b].sample(j, self.transform, i)

    def image_path(self, i: int) -> str:
        """The JPEG file behind item ``i``."""
        b, j = self.items[i]
        return self.bases[b].images[j]


@dataclass
class DetectionBundle:
    """Train / validation / test splits of a detection set and what a detector needs to know.

    Items are ``(float32 image (3, S, S) in [0, 1], {"boxes", "labels", "difficult", "image_id"})``
    with ``labels`` 1-based (0 is the background); ``classes`` excludes the background. ``mean`` and
    ``std`` are the per-channel normalisation the detector should apply to those [0, 1] images.
    """

    name: str
    train: Dataset
    val: Dataset
    test: Dataset
    classes: tuple[str, ...]
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    root: str | None = None
    source: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        """Classes including the background (what torchvision's detectors take)."""
        return len(self.classes) + 1

    def summary(self) -> dict[str, Any]:
        """A JSON-able description: name, image size, split sizes, classes, where the files are."""
        return {"name": self.name, "image_size": self.image_size,
                "sizes": {"train": len(self.train), "val": len(self.val), "test": len(self.test)},
                "classes": list(self.classes), "num_classes": self.num_classes, "mean": list(self.mean),
                "std": list(self.std), "root": self.root, "source": self.source, "options": dict(self.options)}


def collate(batch: Sequence[tuple[torch.Tensor, dict[str, Any]]]) -> tuple[torch.Tensor, list[dict[str, Any]]]:
    """DataLoader ``collate_fn``: images stacked (B, 3, S, S), targets kept as a list (box counts differ)."""
    if not batch:
        raise ValueError("cannot collate an empty batch")
    images, targets = zip(*batch)
    return torch.stack(images), list(targets)


def _subset(n: int, subset: int | None, seed: int) -> np.ndarray:
    """Sorted positions of at most ``subset`` of ``n`` items (seeded)."""
    if subset is None or subset >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=subset, replace=False))


def _holdout(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(rest, held_out) sorted positions; ``ceil(fraction * n)`` held out, at least 1, never all."""
    if n < 2:
        raise ValueError(f"cannot hold out a validation split from {n} training image(s); VOC trainval needs >= 2")
    n_val = min(max(1, math.ceil(fraction * n)), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _check_years(years: Sequence[str]) -> tuple[str, ...]:
    years = tuple(dict.fromkeys(str(y) for y in ([years] if isinstance(years, (str, int)) else years)))
    if not years or any(y not in YEARS for y in years):
        raise ValueError(f"years must name VOC training years among {', '.join(YEARS)} (the paper's 07+12: "
                         f"('2007', '2012')), got {years!r}")
    return years


def _load_digit_scenes(data_root: Path, spec: SceneSpec, image_size: int | None, subset: int | None, seed: int,
                       augment: bool) -> DetectionBundle:
    folder = ensure_digit_scenes(data_root / "digit_scenes", spec)
    size = image_size or spec.image_size
    # No flip: a mirrored 2 or 7 is no digit; no SSD crops: they would cut glyphs into other digits.
    train_tf = train_transform(size, flip=False) if augment else eval_transform(size)
    views = {}
    for split in ("train", "val", "test"):
        base = VOCBoxes(folder, "2007", split, classes=DIGIT_CLASSES)
        views[split] = DetectionView([base], _subset(len(base), subset, seed),
                                     train_tf if split == "train" else eval_transform(size))
    manifest = read_manifest(folder)
    return DetectionBundle(
        name="digit_scenes", **views, classes=DIGIT_CLASSES, image_size=size,
        mean=tuple(manifest["mean"]), std=tuple(manifest["std"]), root=str(folder.absolute()),
        source="digit scenes generated from sklearn.datasets.load_digits, in the PASCAL VOC 2007 layout",
        options={"spec": manifest["spec"]})


def _load_voc(data_root: Path, years: tuple[str, ...], image_size: int | None, val_fraction: float,
              subset: int | None, seed: int, augment: bool) -> DetectionBundle:
    # Check every needed file list before parsing any XML, so a missing part fails at once.
    for year, image_set in [(y, "trainval") for y in years] + [("2007", "test")]:
        check_layout(data_root, year, image_set)
    size = image_size or VOC_IMAGE_SIZE
    trainval = [VOCBoxes(data_root, year, "trainval") for year in years]
    test = VOCBoxes(data_root, "2007", "test")
    rest, held_out = _holdout(sum(len(b) for b in trainval), val_fraction, seed)
    train_tf = train_transform(size, flip=True, ssd_crops=True) if augment else eval_transform(size)
    return DetectionBundle(
        name="voc",
        train=DetectionView(trainval, rest[_subset(len(rest), subset, seed)], train_tf),
        val=DetectionView(trainval, held_out[_subset(len(held_out), subset, seed)], eval_transform(size)),
        test=DetectionView([test], _subset(len(test), subset, seed), eval_transform(size)),
        classes=VOC_CLASSES, image_size=size, mean=IMAGENET_MEAN, std=IMAGENET_STD,
        root=str(voc_folder(data_root, "2007").parent.absolute()),
        source=f"PASCAL VOC {'+'.join(years)} trainval (minus a held-out val share), VOC2007 test",
        options={"years": list(years)})


def load_detection(name: str, root: str | Path | None = None, *, image_size: int | None = None,
                   subset: int | None = None, seed: int = 0, val_fraction: float = 0.1, augment: bool = True,
                   years: Sequence[str] = ("2007",), scene_spec: SceneSpec | None = None) -> DetectionBundle:
    """Load detection set ``name`` (one of :data:`DETECTION_DATASETS`, case-insensitive).

    ``root``: the data folder (None: the project's ``data/``); VOC is read from
    ``root/VOCdevkit``, digit scenes are written once under ``root/digit_scenes``.
    ``image_size``: side of the square inputs (None: 64 for digit scenes, 300 for VOC).
    ``subset``: at most this many images in each split (seeded), for smoke runs.
    ``val_fraction`` (VOC only; digit scenes have their own val set): share of trainval held out
    as ``val`` with ``seed``, so the best epoch is chosen without the test set.
    ``augment``: training augmentation (digit scenes: photometric only; VOC: SSD's recipe).
    ``years``: VOC training years, ``("2007", "2012")`` for the paper's 07+12; test is VOC2007 test.
    ``scene_spec``: the digit scenes to generate (None: :class:`SceneSpec`'s defaults).
    """
    key = str(name).strip().lower()
    if key not in DETECTION_DATASETS:
        raise unknown_dataset(name, DETECTION_DATASETS)
    check_args(val_fraction, subset, image_size, seed)
    data_root = paths.data_root(root)
    if key == "digit_scenes":
        bundle = _load_digit_scenes(data_root, scene_spec or SceneSpec(), image_size, subset, seed, augment)
    else:
        bundle = _load_voc(data_root, _check_years(years), image_size, val_fraction, subset, seed, augment)
    bundle.options = {"seed": seed, "val_fraction": val_fraction, "subset": subset, "augment": augment,
                      **bundle.options}
    return bundle
