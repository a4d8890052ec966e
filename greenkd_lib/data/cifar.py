"""``cifar10`` / ``cifar100``: torchvision's readers of the official python pickles, with the paper's transforms."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
from torchvision import datasets
from torchvision.transforms import v2

from .augment import BatchAugment
from .bundle import DatasetBundle, image_transform, split_views
from .device import PixelForm
from .errors import dataset_not_found, DatasetCorruptError

# The paper normalises both CIFARs with the CIFAR-100 statistics (PAPER.md, training recipe).
MEAN = (0.5071, 0.4865, 0.4409)
STD = (0.2673, 0.2564, 0.2762)
NATIVE_SIZE = 32
ROW_BYTES = 3 * NATIVE_SIZE * NATIVE_SIZE


# What the official batches' pickles may name: numpy's array reconstruction and dtype (numpy 1 and 2
# module paths) and, in protocol-2 pickles written by Python 3, the bytes codec; nothing else is
# imported, so a planted pickle cannot run code.
_BATCH_GLOBALS: dict[str, frozenset[str]] = {
    "_codecs": frozenset({"encode"}),
    "numpy": frozenset({"ndarray", "dtype"}),
    "numpy.core.multiarray": frozenset({"_reconstruct", "scalar"}),
    "numpy._core.multiarray": frozenset({"_reconstruct", "scalar"}),
    "numpy.core.numeric": frozenset({"_frombuffer"}),
    "numpy._core.numeric": frozenset({"_frombuffer"}),
}


class _RefusedGlobal(pickle.UnpicklingError):
    """A pickle names something a CIFAR batch never holds."""


class _BatchUnpickler(pickle.Unpickler):
    """An unpickler that admits only what a CIFAR python batch needs (:data:`_BATCH_GLOBALS`)."""

    def find_class(self, module: str, name: str) -> Any:
        if name in _BATCH_GLOBALS.get(module, ()):
            return super().find_class(module, name)
        raise _RefusedGlobal(f"it names {module}.{name}, which no CIFAR batch holds")


class _CheckedCifar:
    """Mixin over torchvision's CIFAR readers: check files by content, not md5, unless ``download=True``.

    torchvision accepts a batch file only when its md5 equals the one of the official archive, so
    files written by tests (or re-pickled copies) would be refused as "not found or corrupted"
    without saying which file or why. Without ``download`` the files are read here instead: "every
    file present, well-formed, and holding nothing but what a batch holds" (a restricted unpickler,
    so a planted file runs no code), and each failure names its file. With ``download=True``
    torchvision's own checks (md5, then download) apply unchanged.
    """

    dataset_name: str
    source: str
    layout: str
    how_to_get: str

    def __init__(self, root: Path, train: bool, download: bool) -> None:
        self._strict = download
        folder = Path(root) / self.base_folder
        if not download:
            missing = [f for f in self.files() if not (folder / f).is_file()]
            if missing:
                raise dataset_not_found(self.dataset_name, folder,
                                        self.layout + f"\nmissing: {', '.join(missing)}", self.how_to_get)
            self._read(root, train)
            return
        try:
            super().__init__(str(root), train=train, download=True)
        except RuntimeError as e:  # strict mode: torchvision's md5 check failed
            raise DatasetCorruptError(
                f"data set {self.dataset_name!r} in {folder.absolute()} failed torchvision's md5 check after "
                f"download=True ({e}); delete the folder and download again, or load with download=False"
            ) from e
        except OSError as e:  # strict mode: the download itself failed (no network, ...)
            raise dataset_not_found(self.dataset_name, folder, self.layout,
                                    f"the download failed ({e}); {self.how_to_get}") from e

    @classmethod
    def files(cls) -> list[str]:
        """Names of every file the folder must hold."""
        return [name for name, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]

    def _unpickle(self, name: str) -> Any:
        path = Path(self.root) / self.base_folder / name
        try:
            with open(path, "rb") as f:
                return _BatchUnpickler(f, encoding="latin1").load()  # the official files are Python 2 pickles
        except _RefusedGlobal as e:
            raise DatasetCorruptError(
                f"data set {self.dataset_name!r}: refused to unpickle {path.absolute()}: {e}; a CIFAR python batch "
                f"holds only a dict of bytes, lists and a numpy array: replace the file (download=True re-fetches "
                f"it and checks its md5)") from e
        except Exception as e:  # any other unpickling failure means the same thing: the file is damaged
            raise DatasetCorruptError(
                f"data set {self.dataset_name!r}: cannot unpickle {path.absolute()} ({type(e).__name__}: {e}); "
                f"the file is damaged or not a CIFAR python batch: replace it (download=True re-fetches it)"
            ) from e

    def _read(self, root: Path, train: bool) -> None:
        """torchvision's reading of the split's batches and meta (the same ``data``, ``targets`` and
        ``classes``), each file through the restricted unpickler: torchvision's own ``pickle.load``
        would run whatever a planted file holds."""
        datasets.VisionDataset.__init__(self, str(root))
        self.train = train
        data, self.targets = [], []
        for name, _ in self.train_list if train else self.test_list:
            entry = self._unpickle(name)
            problem = _batch_problem(entry)
            if problem:
                raise DatasetCorruptError(
                    f"data set {self.dataset_name!r}: {Path(self.root, self.base_folder, name).absolute()} "
                    f"is not a CIFAR python batch: {problem}; replace it (download=True re-fetches it)")
            data.append(entry["data"])
            self.targets.extend(entry["labels"] if "labels" in entry else entry["fine_labels"])
        self.data = np.vstack(data).reshape(-1, 3, 32, 32).transpose((0, 2, 3, 1))  # HWC, as torchvision
        self._load_meta()

    def _load_meta(self) -> None:
        if self._strict:  # torchvision read the files after checking their md5
            return super()._load_meta()
        meta = self._unpickle(self.meta["filename"])
        key = self.meta["key"]
        if not isinstance(meta, dict) or key not in meta:
            raise DatasetCorruptError(
                f"data set {self.dataset_name!r}: {self.meta['filename']} in {Path(self.root, self.base_folder)} "
                f"has no {key!r} entry; replace it (download=True re-fetches it)")
        self.classes = [str(c) for c in meta[key]]
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}


def _batch_problem(entry: Any) -> str | None:
    """Why ``entry`` is not a CIFAR batch dict (``None`` when it is one)."""
    if not isinstance(entry, dict) or "data" not in entry:
        return "no 'data' entry"
    data = entry["data"]
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != ROW_BYTES or data.dtype != np.uint8:
        return f"'data' must be a uint8 array of rows of {ROW_BYTES} bytes"
    labels = entry.get("labels", entry.get("fine_labels"))
    if labels is None:
        return "no 'labels' (CIFAR-10) or 'fine_labels' (CIFAR-100) entry"
    if len(labels) != len(data):
        return f"{len(data)} images but {len(labels)} labels"
    return None


def _how_to_get(url: str) -> str:
    return (f"pass download=True on a machine with internet (torchvision fetches {url} and unpacks it into "
            f"the root), or unpack that archive into the root yourself")


class CheckedCIFAR10(_CheckedCifar, datasets.CIFAR10):
    dataset_name = "cifar10"
    source = "torchvision.datasets.CIFAR10 (official python pickles)"
    layout = ("<root>/cifar-10-batches-py/\n"
              "    data_batch_1 ... data_batch_5   (python pickles: 'data' uint8 N x 3072, 'labels')\n"
              "    test_batch\n"
              "    batches.meta                    ('label_names')")
    how_to_get = _how_to_get(datasets.CIFAR10.url)


class CheckedCIFAR100(_CheckedCifar, datasets.CIFAR100):
    dataset_name = "cifar100"
    source = "torchvision.datasets.CIFAR100 (official python pickles)"
    layout = ("<root>/cifar-100-python/\n"
              "    train   (python pickle: 'data' uint8 N x 3072, 'fine_labels', 'coarse_labels')\n"
              "    test\n"
              "    meta    ('fine_label_names', 'coarse_label_names')")
    how_to_get = _how_to_get(datasets.CIFAR100.url)


_READERS = {"cifar10": CheckedCIFAR10, "cifar100": CheckedCIFAR100}


def _padding(image_size: int) -> int:
    return max(1, round(4 * image_size / NATIVE_SIZE))  # 4 px at 32 px, scaled with the image


def forms(image_size: int, augment: bool) -> tuple[PixelForm, PixelForm]:
    """(train, eval) forms of :func:`transforms` for whole batches on a device (``greenkd_lib.data.device``)."""
    resize = image_size != NATIVE_SIZE
    aug = BatchAugment(padding=_padding(image_size), flip=True, degrees=15.0) if augment else None
    return (PixelForm(MEAN, STD, image_size, resize, aug), PixelForm(MEAN, STD, image_size, resize))


def transforms(image_size: int, augment: bool) -> tuple[v2.Compose, v2.Compose]:
    """(train, eval) transforms of the paper: RandomCrop(32, padding 4), flip, RandomRotation(15)."""
    resize = None if image_size == NATIVE_SIZE else image_size
    padding = _padding(image_size)
    train_aug = [v2.RandomCrop(image_size, padding=padding), v2.RandomHorizontalFlip(),
                 v2.RandomRotation(15)] if augment else []
    return (image_transform(MEAN, STD, resize=resize, augment=train_aug),
            image_transform(MEAN, STD, resize=resize))


def load_cifar(name: str, root: Path, *, image_size: int | None, val_fraction: float, subset: int | None,
               seed: int, download: bool, augment: bool) -> DatasetBundle:
    """``cifar10`` or ``cifar100`` from ``root``; each pickle is read once, train and val share it."""
    reader = _READERS[name]
    train_base = reader(root, train=True, download=download)
    test_base = reader(root, train=False, download=download)  # a second download=True finds the files and skips
    size = image_size or NATIVE_SIZE
    train_tf, eval_tf = transforms(size, augment)
    train_form, eval_form = forms(size, augment)
    train, val, test = split_views(train_base, test_base, train_tf, eval_tf, val_fraction=val_fraction,
                                   subset=subset, seed=seed, train_form=train_form, eval_form=eval_form)
    return DatasetBundle(
        name=name, train=train, val=val, test=test, classes=list(train_base.classes),
        num_classes=len(train_base.classes), image_size=size, mean=MEAN, std=STD,
        source=reader.source,
        root=str((Path(root) / reader.base_folder).absolute()),
    )
