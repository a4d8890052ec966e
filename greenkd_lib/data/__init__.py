"""Data sets of the paper (CIFAR-10, CIFAR-100, Tiny ImageNet) and the embedded offline ``digits``.

``load(name, root)`` returns a :class:`DatasetBundle` of train / val / test splits whose items are
``(float32 tensor (3, H, W), normalised; int label)``. Files are never fetched unless
``download=True`` (CIFAR only); see ``data/README.md`` for the folder layouts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import cifar, tinyimagenet
from .bundle import DatasetBundle, TensorImages, TransformSubset
from .digits import load_digits
from .errors import DatasetCorruptError, DatasetNotFoundError, UnknownDatasetError, unknown_dataset
from .splits import check_args

__all__ = ["DATASETS", "DOCUMENTED_SIZES", "DatasetBundle", "DatasetCorruptError", "DatasetNotFoundError", "TensorImages",
           "TransformSubset", "UnknownDatasetError", "available", "canonical_name", "load", "load_for"]

DATASETS: tuple[str, ...] = ("digits", "cifar10", "cifar100", "tinyimagenet")

# The official splits as their publishers document them (classes, train, test, image side), for
# tables that describe a data set that is not on this machine. Tiny ImageNet's test set here is
# its labelled official validation split.
DOCUMENTED_SIZES: dict[str, tuple[int, int, int, int]] = {
    "digits": (10, 1797, 0, 8),  # scikit-learn load_digits: 1,797 images, no official split
    "cifar10": (10, 50_000, 10_000, 32),
    "cifar100": (100, 50_000, 10_000, 32),
    "tinyimagenet": (200, 100_000, 10_000, 64),
}


def canonical_name(name: str) -> str:
    """The registered spelling of data set ``name`` (case and spaces ignored), or UnknownDatasetError."""
    key = str(name).strip().lower()
    if key not in DATASETS:
        raise unknown_dataset(name, DATASETS)
    return key


def load(name: str, root: str | Path = "data", *, image_size: int | None = None, val_fraction: float = 0.1,
         subset: int | None = None, seed: int = 0, download: bool = False, augment: bool = True) -> DatasetBundle:
    """Load data set ``name`` (one of :data:`DATASETS`, case-insensitive) from ``root``.

    ``image_size``: side of the square images (None: the data set's own, 32 for digits and CIFAR,
    64 for Tiny ImageNet). ``val_fraction``: share of the training set held out as ``val``
    (stratified, drawn with ``seed``). ``subset``: keep at most this many samples in each split
    (seeded, stratified where possible), for smoke runs. ``download``: let torchvision fetch CIFAR.
    ``augment``: the paper's training augmentation on ``train`` (never for digits).
    ``root`` is ignored for ``digits``, which ships with scikit-learn.
    """
    key = canonical_name(name)
    check_args(val_fraction, subset, image_size, seed)
    opts = dict(image_size=image_size, val_fraction=val_fraction, subset=subset, seed=seed)
    if key == "digits":
        bundle = load_digits(**opts, augment=augment)
    elif key in ("cifar10", "cifar100"):
        bundle = cifar.load_cifar(key, Path(root), **opts, download=download, augment=augment)
    else:
        bundle = tinyimagenet.load_tinyimagenet(Path(root), **opts, download=download, augment=augment)
    bundle.options = {"seed": seed, "val_fraction": val_fraction, "subset": subset, "augment": augment,
                      **bundle.options}
    return bundle


def load_for(cfg: Any, root: str | Path | None = None) -> DatasetBundle:
    """The bundle a run of ``cfg`` (a RunConfig) trains and is evaluated on: its data set, image size,
    validation share and subset, split with seed 0; ``root`` None: the project's data folder.

    Training and every later evaluation (``Lab.data``) load through here, so they cannot see
    different splits.
    """
    from .. import paths

    # The split's seed is fixed, not the run's: every seed of an experiment sees the same split.
    return load(cfg.dataset, root=paths.data_root(root), image_size=cfg.image_size,
                val_fraction=cfg.val_fraction, subset=cfg.subset, seed=0)


def available(root: str | Path = "data") -> dict[str, bool]:
    """Which data sets ``load`` can read from ``root`` (files present; contents are checked by ``load``)."""
    root = Path(root)
    return {
        "digits": True,
        "cifar10": all((root / cifar.CheckedCIFAR10.base_folder / f).is_file()
                       for f in cifar.CheckedCIFAR10.files()),
        "cifar100": all((root / cifar.CheckedCIFAR100.base_folder / f).is_file()
                        for f in cifar.CheckedCIFAR100.files()),
        "tinyimagenet": tinyimagenet.present(root),
    }
