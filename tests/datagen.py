"""Writers of tiny data sets in the official on-disk formats, for tests (no download needed).

Images are class-coloured noise, so a model can learn them and a test can tell labels apart:
pixel = palette[label] + noise. Each writer returns the folder it wrote and is deterministic in
``seed``. The real CIFAR files are Python 2 pickles whose ``str`` keys load as ``str`` under
torchvision's ``pickle.load(f, encoding="latin1")``; Python 3 ``str`` keys (protocol 2) load the
same way, so that is what is written here.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from PIL import Image

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR100_FINE = [f"fine_{i:02d}" for i in range(100)]
CIFAR100_COARSE = [f"coarse_{i:02d}" for i in range(20)]
# Three real Tiny ImageNet wnids, listed unsorted on purpose (the real wnids.txt is not sorted).
TINY_WORDS = {
    "n01641577": "bullfrog, Rana catesbeiana",
    "n01443537": "goldfish, Carassius auratus",
    "n01629819": "European fire salamander, Salamandra salamandra",
}
TINY_WNIDS = tuple(TINY_WORDS)


def class_images(labels: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    """uint8 images (N, size, size, 3): a colour per class plus noise."""
    palette = np.random.default_rng(12345).integers(30, 226, size=(max(int(labels.max()) + 1, 1), 3))
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 20, size=(len(labels), size, size, 3))
    return np.clip(palette[labels][:, None, None, :] + noise, 0, 255).astype(np.uint8)


def _labels(num_classes: int, per_class: int, rng: np.random.Generator) -> np.ndarray:
    return rng.permutation(np.repeat(np.arange(num_classes), per_class))


def _rows(images: np.ndarray) -> np.ndarray:
    """(N, 32, 32, 3) -> (N, 3072) rows: all red, then green, then blue values, as CIFAR stores them."""
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(len(images), -1))


def _dump(obj: object, path: Path) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def write_cifar10(root: str | Path, train_per_class: int = 10, test_per_class: int = 5,
                  seed: int = 0) -> Path:
    """``root/cifar-10-batches-py`` with data_batch_1..5, test_batch and batches.meta."""
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    train_labels = _labels(10, train_per_class, rng)
    train_images = class_images(train_labels, 32, seed)
    for b, chunk in enumerate(np.array_split(np.arange(len(train_labels)), 5), start=1):
        _dump({"batch_label": f"training batch {b} of 5", "labels": train_labels[chunk].tolist(),
               "data": _rows(train_images[chunk]), "filenames": [f"train_{i}.png" for i in chunk]},
              folder / f"data_batch_{b}")
    test_labels = _labels(10, test_per_class, rng)
    _dump({"batch_label": "testing batch 1 of 1", "labels": test_labels.tolist(),
           "data": _rows(class_images(test_labels, 32, seed + 1)),
           "filenames": [f"test_{i}.png" for i in range(len(test_labels))]}, folder / "test_batch")
    _dump({"num_cases_per_batch": int(np.ceil(len(train_labels) / 5)), "label_names": CIFAR10_CLASSES,
           "num_vis": 3072}, folder / "batches.meta")
    return folder


def write_cifar100(root: str | Path, train_per_class: int = 5, test_per_class: int = 2,
                   seed: int = 0) -> Path:
    """``root/cifar-100-python`` with train, test and meta (fine and coarse labels)."""
    folder = Path(root) / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for split, per_class, img_seed in (("train", train_per_class, seed), ("test", test_per_class, seed + 1)):
        fine = _labels(100, per_class, rng)
        _dump({"filenames": [f"{split}_{i}.png" for i in range(len(fine))], "batch_label": f"{split} batch",
               "fine_labels": fine.tolist(), "coarse_labels": (fine // 5).tolist(),
               "data": _rows(class_images(fine, 32, img_seed))}, folder / split)
    _dump({"fine_label_names": CIFAR100_FINE, "coarse_label_names": CIFAR100_COARSE}, folder / "meta")
    return folder


def _jpeg(image: np.ndarray, path: Path, gray: bool = False) -> None:
    pil = Image.fromarray(image)
    (pil.convert("L") if gray else pil).save(path, format="JPEG", quality=90)


def write_tinyimagenet(root: str | Path, wnids: tuple[str, ...] = TINY_WNIDS, train_per_class: int = 10,
                       val_per_class: int = 3, seed: int = 0) -> Path:
    """``root/tiny-imagenet-200`` with wnids.txt, words.txt, train/<wnid>/images, val/images + annotations.

    Labels are indices into ``sorted(wnids)``. The first training image is grayscale, as some real
    Tiny ImageNet images are.
    """
    folder = Path(root) / "tiny-imagenet-200"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "wnids.txt").write_text("".join(f"{w}\n" for w in wnids))
    words = {"n00001740": "entity", **{w: TINY_WORDS.get(w, f"thing {w}") for w in wnids}}
    (folder / "words.txt").write_text("".join(f"{w}\t{n}\n" for w, n in words.items()))
    index = {w: i for i, w in enumerate(sorted(wnids))}
    for k, wnid in enumerate(wnids):
        images_dir = folder / "train" / wnid / "images"
        images_dir.mkdir(parents=True, exist_ok=True)
        images = class_images(np.full(train_per_class, index[wnid]), 64, seed + k)
        boxes = []
        for i, image in enumerate(images):
            _jpeg(image, images_dir / f"{wnid}_{i}.JPEG", gray=(k == 0 and i == 0))
            boxes.append(f"{wnid}_{i}.JPEG\t0\t0\t63\t63\n")
        (folder / "train" / wnid / f"{wnid}_boxes.txt").write_text("".join(boxes))
    val_images = folder / "val" / "images"
    val_images.mkdir(parents=True, exist_ok=True)
    val_wnids = np.random.default_rng(seed).permutation(np.repeat(np.array(wnids), val_per_class))
    labels = np.array([index[w] for w in val_wnids])
    lines = []
    for i, (wnid, image) in enumerate(zip(val_wnids, class_images(labels, 64, seed + 99))):
        _jpeg(image, val_images / f"val_{i}.JPEG")
        lines.append(f"val_{i}.JPEG\t{wnid}\t1\t2\t60\t61\n")
    (folder / "val" / "val_annotations.txt").write_text("".join(lines))
    return folder
