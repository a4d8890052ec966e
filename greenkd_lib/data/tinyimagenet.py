"""``tinyimagenet``: the standard ``tiny-imagenet-200`` folder; its official val split is our test set."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from torch.utils.data import Dataset
from torchvision import datasets
from torchvision.datasets.folder import default_loader, IMG_EXTENSIONS
from torchvision.transforms import v2

from .augment import BatchAugment
from .bundle import DatasetBundle, image_transform, split_views
from .device import PixelForm
from .errors import dataset_not_found, DatasetCorruptError

MEAN = (0.4802, 0.4481, 0.3975)
STD = (0.2302, 0.2265, 0.2262)
NATIVE_SIZE = 64
FOLDER = "tiny-imagenet-200"
URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
LAYOUT = (f"<root>/{FOLDER}/\n"
          "    wnids.txt                 (one wnid per line, e.g. n01443537)\n"
          "    words.txt                 (wnid<TAB>comma-separated names)\n"
          "    train/<wnid>/images/*.JPEG\n"
          "    val/images/*.JPEG\n"
          "    val/val_annotations.txt   (file<TAB>wnid<TAB>x0<TAB>y0<TAB>x1<TAB>y1)")
REQUIRED = ("wnids.txt", "words.txt", "train", "val/images", "val/val_annotations.txt")


def _how_to_get(root: Path) -> str:
    return f"download {URL} (about 240 MB) and unzip it into {Path(root).absolute()} so that {FOLDER}/ lies there"


class _TrainFolder(datasets.DatasetFolder):
    """``train/<wnid>/images/*.JPEG`` through torchvision, with classes taken from wnids.txt, not the folders."""

    def __init__(self, directory: Path, wnids: list[str]) -> None:
        self._wnids = wnids
        super().__init__(str(directory), loader=default_loader, extensions=IMG_EXTENSIONS)

    def find_classes(self, directory: str) -> tuple[list[str], dict[str, int]]:
        return list(self._wnids), {w: i for i, w in enumerate(self._wnids)}


class ImageFiles(Dataset):
    """``(PIL RGB image, label)`` for a list of ``(path, label)``; ``targets`` without decoding images."""

    def __init__(self, samples: list[tuple[str, int]]) -> None:
        self.samples = samples
        self.targets = [label for _, label in samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[Image.Image, int]:
        path, label = self.samples[i]
        return default_loader(path), label


def _read_wnids(folder: Path) -> list[str]:
    wnids = sorted({line.strip() for line in (folder / "wnids.txt").read_text().splitlines() if line.strip()})
    if not wnids:
        raise DatasetCorruptError(f"{(folder / 'wnids.txt').absolute()} lists no wnid; restore it from {URL}")
    return wnids


def _class_names(folder: Path, wnids: list[str]) -> list[str]:
    """First comma-separated name of each wnid in words.txt (the wnid itself where words.txt lacks it)."""
    wanted, names = set(wnids), {}
    for line in (folder / "words.txt").read_text(encoding="utf-8").splitlines():
        wnid, _, words = line.partition("\t")
        if wnid in wanted:
            names[wnid] = words.split(",")[0].strip() or wnid
    return [names.get(w, w) for w in wnids]


def _val_samples(folder: Path, class_to_idx: dict[str, int]) -> list[tuple[str, int]]:
    ann = folder / "val" / "val_annotations.txt"
    images = folder / "val" / "images"
    samples = []
    for lineno, line in enumerate(ann.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("\t")
        where = f"{ann.absolute()} line {lineno}"
        if len(parts) < 2:
            raise DatasetCorruptError(f"{where}: expected 'file<TAB>wnid<TAB>bbox...', got {line!r}")
        fname, wnid = parts[0].strip(), parts[1].strip()
        if wnid not in class_to_idx:
            raise DatasetCorruptError(f"{where}: wnid {wnid!r} is not in wnids.txt; the annotations and wnids.txt "
                                      f"come from different copies of the data set: restore both from {URL}")
        path = images / fname
        if not path.is_file():
            raise DatasetCorruptError(f"{where}: names {fname!r} but {path.absolute()} does not exist; "
                                      f"restore val/images from {URL}")
        samples.append((str(path), class_to_idx[wnid]))
    if not samples:
        raise DatasetCorruptError(f"{ann.absolute()} lists no image; restore it from {URL}")
    return samples


def transforms(image_size: int, augment: bool) -> tuple[v2.Compose, v2.Compose]:
    """(train, eval) transforms of the paper: RandomRotation(20) and a horizontal flip for training."""
    resize = None if image_size == NATIVE_SIZE else image_size
    train_aug = [v2.RandomRotation(20), v2.RandomHorizontalFlip()] if augment else []
    return (image_transform(MEAN, STD, resize=resize, augment=train_aug),
            image_transform(MEAN, STD, resize=resize))


def forms(image_size: int, augment: bool) -> tuple[PixelForm, PixelForm]:
    """(train, eval) forms of :func:`transforms` for whole batches on a device (``greenkd_lib.data.device``)."""
    resize = image_size != NATIVE_SIZE
    aug = BatchAugment(flip=True, degrees=20.0) if augment else None
    return (PixelForm(MEAN, STD, image_size, resize, aug), PixelForm(MEAN, STD, image_size, resize))


def present(root: Path) -> bool:
    """Whether every file and folder of the expected layout exists under ``root`` (contents unchecked)."""
    folder = Path(root) / FOLDER
    return all((folder / p).exists() for p in REQUIRED)


def load_tinyimagenet(root: Path, *, image_size: int | None, val_fraction: float, subset: int | None, seed: int,
                      download: bool, augment: bool) -> DatasetBundle:
    """Tiny ImageNet from ``root/tiny-imagenet-200``; class indices follow the sorted wnids."""
    folder = Path(root) / FOLDER
    missing = [p for p in REQUIRED if not (folder / p).exists()]
    if missing:
        how = _how_to_get(root)
        if download:
            how = f"torchvision has no downloader for Tiny ImageNet, so download=True cannot fetch it: {how}"
        raise dataset_not_found("tinyimagenet", folder, LAYOUT + f"\nmissing: {', '.join(missing)}", how)
    wnids = _read_wnids(folder)
    class_to_idx = {w: i for i, w in enumerate(wnids)}
    try:
        train_base = _TrainFolder(folder / "train", wnids)
    except FileNotFoundError as e:  # torchvision: a wnid without any training image
        raise dataset_not_found("tinyimagenet", folder / "train", LAYOUT, f"{e}; {_how_to_get(root)}") from e
    test_base = ImageFiles(_val_samples(folder, class_to_idx))
    size = image_size or NATIVE_SIZE
    train_tf, eval_tf = transforms(size, augment)
    train_form, eval_form = forms(size, augment)
    train, val, test = split_views(train_base, test_base, train_tf, eval_tf, val_fraction=val_fraction,
                                   subset=subset, seed=seed, train_form=train_form, eval_form=eval_form)
    return DatasetBundle(
        name="tinyimagenet", train=train, val=val, test=test, classes=_class_names(folder, wnids),
        num_classes=len(wnids), image_size=size, mean=MEAN, std=STD,
        source="tiny-imagenet-200 folder (torchvision DatasetFolder; official val split as test)",
        root=str(folder.absolute()),
    )
