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


# The 20 PASCAL VOC classes in their standard order (greenkd_lib.data.detection.voc.VOC_CLASSES).
VOC_NAMES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
             "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor")
VOC_SIZES = ((64, 48), (48, 64), (56, 56))  # (width, height), cycled: VOC images are not square


def voc_objects(k: int, width: int, height: int) -> list[tuple[str, int, int, int, int, bool]]:
    """The objects of the ``k``-th image ``write_voc`` writes: (name, xmin, ymin, xmax, ymax, difficult).

    VOC's 1-based inclusive pixel coordinates; 1 to 3 objects; the second object is difficult; the
    last object of every third image reaches the right and bottom edges (xmax = width, ymax = height).
    """
    objects = []
    for j in range(1 + k % 3):
        xmin, ymin = 1 + 3 * j + k % 5, 2 + 4 * j
        xmax, ymax = min(width, xmin + 14 + 4 * j), min(height, ymin + 12 + 5 * j)
        objects.append((VOC_NAMES[(3 * k + 7 * j) % 20], xmin, ymin, xmax, ymax, j == 1))
    if k % 3 == 0:
        name, xmin, ymin, _, _, difficult = objects[-1]
        objects[-1] = (name, xmin + 20, ymin + 20, width, height, difficult)
    return objects


def voc_xml(filename: str, width: int, height: int, objects: list[tuple], omit_difficult: bool = False) -> str:
    """One annotation in the official VOC XML format (tab-indented, as the real files are)."""
    parts = [f"<annotation>\n\t<folder>VOC</folder>\n\t<filename>{filename}</filename>\n"
             f"\t<source>\n\t\t<database>The VOC Database</database>\n\t</source>\n"
             f"\t<size>\n\t\t<width>{width}</width>\n\t\t<height>{height}</height>\n\t\t<depth>3</depth>\n\t</size>\n"
             f"\t<segmented>0</segmented>\n"]
    for name, xmin, ymin, xmax, ymax, difficult in objects:
        # VOC2012 leaves <difficult> out of some objects: omit_difficult writes those.
        flag = "" if omit_difficult and not difficult else f"\t\t<difficult>{int(difficult)}</difficult>\n"
        parts.append(f"\t<object>\n\t\t<name>{name}</name>\n\t\t<pose>Unspecified</pose>\n"
                     f"\t\t<truncated>0</truncated>\n{flag}\t\t<bndbox>\n\t\t\t<xmin>{xmin}</xmin>\n"
                     f"\t\t\t<ymin>{ymin}</ymin>\n\t\t\t<xmax>{xmax}</xmax>\n\t\t\t<ymax>{ymax}</ymax>\n"
                     f"\t\t</bndbox>\n\t</object>\n")
    return "".join(parts) + "</annotation>\n"


def write_voc(root: str | Path, years: tuple[str, ...] = ("2007",), n_trainval: int = 6, n_test: int = 4,
              seed: int = 0) -> Path:
    """``root/VOCdevkit/VOC<year>/{JPEGImages,Annotations,ImageSets/Main}`` in the official layout; returns ``root``.

    VOC2007: ids 000001.. (trainval, then test), lists train/val/trainval/test. VOC2012: ids
    2008_000001.. (trainval only, as the real set), lists train/val/trainval, and its non-difficult
    objects carry no <difficult> tag. Image k of a year has ``VOC_SIZES[k % 3]`` and the objects
    ``voc_objects(k, width, height)``, each painted as a filled rectangle in its class colour on noise.
    """
    root = Path(root)
    palette = np.random.default_rng(12345).integers(30, 226, size=(20, 3))
    rng = np.random.default_rng(seed)
    for year in years:
        folder = root / "VOCdevkit" / f"VOC{year}"
        for sub in ("JPEGImages", "Annotations", "ImageSets/Main"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        count = n_trainval + (n_test if year == "2007" else 0)
        ids = [f"{k + 1:06d}" if year == "2007" else f"2008_{k + 1:06d}" for k in range(count)]
        for k, image_id in enumerate(ids):
            width, height = VOC_SIZES[k % 3]
            objects = voc_objects(k, width, height)
            image = np.clip(rng.normal(110, 25, size=(height, width, 3)), 0, 255)
            for name, xmin, ymin, xmax, ymax, _ in objects:
                image[ymin - 1:ymax, xmin - 1:xmax] = palette[VOC_NAMES.index(name)]
            Image.fromarray(image.astype(np.uint8)).save(folder / "JPEGImages" / f"{image_id}.jpg", quality=90)
            (folder / "Annotations" / f"{image_id}.xml").write_text(
                voc_xml(f"{image_id}.jpg", width, height, objects, omit_difficult=(year == "2012")))
        trainval, test = ids[:n_trainval], ids[n_trainval:]
        lists = {"train": trainval[::2], "val": trainval[1::2], "trainval": trainval}
        if year == "2007":
            lists["test"] = test
        for image_set, names in lists.items():
            (folder / "ImageSets" / "Main" / f"{image_set}.txt").write_text("".join(f"{n}\n" for n in names))
    return root
