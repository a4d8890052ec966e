"""The :class:`DatasetBundle` that ``load`` returns, and the small views its splits are made of."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2

from .augment import BatchAugment
from .splits import holdout, subsample



@dataclass(frozen=True)
class PixelForm:
    """How a view's items are made from its uint8 pixels: ``size`` (resized to it when ``resize``),
    ``augment`` (None: none), then scaled to [0, 1] and normalised with ``mean`` / ``std``."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    size: int
    resize: bool = False
    augment: BatchAugment | None = None


class TensorImages(Dataset):
    """Pre-processed images held in memory: item ``i`` is ``(images[i], int(labels[i]))``."""

    def __init__(self, images: torch.Tensor, labels: Sequence[int]) -> None:
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images = images
        self.targets = [int(y) for y in labels]

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.images[i], self.targets[i]


class TransformSubset(Dataset):
    """The items ``indices`` of ``base`` (which yields ``(image, label)``) with ``transform`` applied.

    Unlike :class:`torch.utils.data.Subset` each view carries its own transform, so a training
    view (augmented) and a validation view (not augmented) can share one base read from disk once.
    ``form`` says how ``transform`` is done on whole batches on a device (:mod:`.device`), where it can be.
    """

    def __init__(self, base: Dataset, indices: Sequence[int] | np.ndarray,
                 transform: Callable[[Any], torch.Tensor] | None = None, form: PixelForm | None = None) -> None:
        self.base = base
        self.indices = [int(i) for i in indices]
        self.transform = transform
        self.form = form
        base_targets = base.targets  # every base used here exposes its labels without decoding images
        self.targets = [int(base_targets[i]) for i in self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        image, label = self.base[self.indices[i]]
        if self.transform is not None:
            image = self.transform(image)
        return image, int(label)


def image_transform(mean: Sequence[float], std: Sequence[float], *, resize: int | None = None,
                    augment: Sequence[Callable] = ()) -> v2.Compose:
    """PIL/uint8 image -> float32 (3,H,W) normalised plain tensor: optional resize, then ``augment``."""
    steps: list[Callable] = [v2.ToImage()]
    if resize is not None:
        steps.append(v2.Resize((resize, resize), antialias=True))
    steps += [*augment, v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std)),
              v2.ToPureTensor()]
    return v2.Compose(steps)


@dataclass
class DatasetBundle:
    """Train / validation / test splits of one data set, with what a model and a plot need to know.

    Every item of every split is ``(float32 tensor (3, H, W), normalised; int label)``. ``val`` is
    carved from the official training set (seeded, stratified); ``test`` is the official test split
    (Tiny ImageNet: its official validation split).
    """

    name: str
    train: Dataset
    val: Dataset
    test: Dataset
    classes: list[str]
    num_classes: int
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    source: str = ""
    root: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """Undo the normalisation of ``x`` (..., 3, H, W) and clamp to [0, 1] (for plotting)."""
        if x.dim() < 3 or x.shape[-3] != 3:
            raise ValueError(f"denormalize expects a tensor shaped (..., 3, H, W), got {tuple(x.shape)}")
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(3, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(3, 1, 1)
        return (x * std + mean).clamp(0.0, 1.0)

    def summary(self) -> dict[str, Any]:
        """Plain (JSON-ready) description: name, classes count, split sizes, image size, source, root."""
        return {
            "name": self.name,
            "num_classes": self.num_classes,
            "train_size": len(self.train),
            "val_size": len(self.val),
            "test_size": len(self.test),
            "image_size": self.image_size,
            "mean": list(self.mean),
            "std": list(self.std),
            "source": self.source,
            "root": self.root,
            **self.options,
        }


def split_views(train_base: Dataset, test_base: Dataset, train_transform: Callable | None,
                eval_transform: Callable | None, *, val_fraction: float, subset: int | None,
                seed: int, train_form: PixelForm | None = None,
                eval_form: PixelForm | None = None) -> tuple[TransformSubset, TransformSubset, TransformSubset]:
    """(train, val, test) views: val carved from ``train_base`` first, then each split cut to ``subset``.

    Carving before subsetting keeps the validation samples the same whatever ``subset`` is.
    """
    rest, held = holdout(train_base.targets, val_fraction, seed)
    test_idx = np.arange(len(test_base))

    def cut(idx: np.ndarray, targets: Sequence[int]) -> np.ndarray:
        return idx[subsample(np.asarray(targets)[idx], subset, seed)]

    return (TransformSubset(train_base, cut(rest, train_base.targets), train_transform, train_form),
            TransformSubset(train_base, cut(held, train_base.targets), eval_transform, eval_form),
            TransformSubset(test_base, cut(test_idx, test_base.targets), eval_transform, eval_form))
