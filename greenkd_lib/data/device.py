"""Splits held whole on the training device, served as batches without a DataLoader.

Every data set of the paper fits in memory as uint8 (CIFAR 150 MB, Tiny ImageNet 1.2 GB), so
each split is gathered once into one tensor on the device; a batch is then an index gather,
the batch augmentation (:mod:`.augment`) and a normalisation, all on the device. Items are
those of the split's :class:`~.bundle.TransformSubset` view: digits (pre-processed floats, no
transform) batch for batch equal to the DataLoader's, shuffled in the same order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from .augment import AugmentParams
from .bundle import PixelForm, TensorImages, TransformSubset

__all__ = ["PixelForm", "DeviceSplit", "on_device", "shuffled"]


def shuffled(n: int, generator: torch.Generator) -> torch.Tensor:
    """The order in which ``DataLoader(shuffle=True, generator=generator)`` yields ``n`` items.

    Its iterator first draws the workers' base seed from the generator, then RandomSampler
    draws ``randperm(n)``; both are repeated here so that a run's batches do not change.
    """
    torch.empty((), dtype=torch.int64).random_(generator=generator)
    return torch.randperm(n, generator=generator)


class DeviceSplit:
    """One split on ``images.device``: float32 normalised images, or uint8 pixels with a :class:`PixelForm`."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, form: PixelForm | None = None) -> None:
        if (form is None) != images.is_floating_point():
            raise ValueError("float images take no PixelForm; uint8 pixels need one")
        self.images = images
        self.labels = labels.to(images.device)
        self.form = form

    @property
    def device(self) -> torch.device:
        return self.images.device

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, index: torch.Tensor, params: AugmentParams | None = None) -> torch.Tensor:
        """The items at ``index`` (on this device), augmented with ``params`` where given."""
        x = self.images[index]
        if self.form is None:
            return x
        if params is not None and self.form.augment is not None:
            x = self.form.augment.apply(x, params)
        # torchvision's own kernels, so that un-augmented items equal the per-sample transform's.
        return TF.normalize(TF.to_dtype(x, torch.float32, scale=True), list(self.form.mean), list(self.form.std))

    def epoch(self, generator: torch.Generator, batch_size: int, *, steps: int | None = None,
              augment: bool = True) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """``(x, y, index)`` batches in the shuffled order of ``generator``; ``index`` (CPU) is each item's
        position in the split. Augmentations are drawn from ``generator`` after the order, all at once."""
        n = len(self)
        order = shuffled(n, generator)
        order_dev = order.to(self.device, non_blocking=True)
        aug = self.form.augment if (augment and self.form is not None) else None
        params = _to(aug.draw(n, generator), self.device) if aug is not None else None
        count = -(-n // batch_size) if steps is None else min(steps, -(-n // batch_size))
        for step in range(count):
            lo, hi = step * batch_size, min(n, (step + 1) * batch_size)
            idx = order_dev[lo:hi]
            x = self.batch(idx, _slice(params, lo, hi) if params is not None else None)
            yield x, self.labels[idx], order[lo:hi]

    def in_order(self, batch_size: int) -> "_InOrder":
        """Re-iterable ``(x, y)`` batches in index order, not augmented (evaluation)."""
        return _InOrder(self, batch_size)


class _InOrder:
    def __init__(self, split: DeviceSplit, batch_size: int) -> None:
        self.split, self.batch_size = split, batch_size

    def __len__(self) -> int:
        return -(-len(self.split) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        # A DataLoader's iterator draws its workers' base seed from the global RNG; so does this one, so
        # that what the run draws later (dropout, a method's sampling) is what it was through DataLoaders.
        torch.empty((), dtype=torch.int64).random_()
        n, dev = len(self.split), self.split.device
        for lo in range(0, n, self.batch_size):
            idx = torch.arange(lo, min(n, lo + self.batch_size), device=dev)
            yield self.split.batch(idx), self.split.labels[idx]


def _to(p: AugmentParams, dev: torch.device) -> AugmentParams:
    return AugmentParams(*(t.to(dev, non_blocking=True) for t in (p.top, p.left, p.flip, p.angle)))


def _slice(p: AugmentParams, lo: int, hi: int) -> AugmentParams:
    return AugmentParams(p.top[lo:hi], p.left[lo:hi], p.flip[lo:hi], p.angle[lo:hi])


def on_device(view: Dataset, device: torch.device, *, augment: bool = True, num_workers: int = 0,
              max_bytes: int = 4 << 30) -> DeviceSplit | None:
    """``view`` gathered onto ``device``, or None where it cannot be (not a view this module knows,
    or larger than ``max_bytes``): the caller then uses a DataLoader.

    ``augment=False`` drops the view's augmentation (a view of training data used for evaluation).
    Pixels that are not in memory already (image folders) are decoded once by ``num_workers`` processes.
    """
    if not isinstance(view, TransformSubset):
        return None
    base, labels = view.base, torch.as_tensor(view.targets, dtype=torch.int64)
    if view.transform is None and isinstance(base, TensorImages):
        if base.images.element_size() * base.images[:1].numel() * len(view) > max_bytes:
            return None
        images = base.images[torch.as_tensor(view.indices, dtype=torch.int64)]
        return DeviceSplit(images.to(device), labels)
    form: PixelForm | None = getattr(view, "form", None)
    if form is None or 3 * form.size * form.size * len(view) > max_bytes:
        return None
    if not augment:
        form = PixelForm(form.mean, form.std, form.size, form.resize, None)
    return DeviceSplit(_pixels(base, view.indices, form, num_workers).to(device), labels, form)


def _pixels(base: Dataset, indices: Sequence[int], form: PixelForm, num_workers: int) -> torch.Tensor:
    """uint8 (N, 3, size, size) pixels of ``base``'s items ``indices``, resized as the per-sample transform does."""
    data = getattr(base, "data", None)
    if isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 4:  # torchvision's CIFAR: N,H,W,C
        x = torch.from_numpy(data[np.asarray(indices, dtype=np.int64)]).permute(0, 3, 1, 2).contiguous()
        if form.resize:
            x = torch.cat([TF.resize(c, [form.size, form.size], antialias=True) for c in x.split(1024)])
        return x
    decode = v2.Compose([v2.ToImage(), *([v2.Resize((form.size, form.size), antialias=True)] if form.resize else []),
                         v2.ToPureTensor()])
    loader = DataLoader(TransformSubset(base, indices, decode), batch_size=512, num_workers=num_workers)
    return torch.cat([x for x, _ in loader]) if len(indices) else torch.empty(0, 3, form.size, form.size,
                                                                                dtype=torch.uint8)
