"""PASCAL VOC detection in its official layout, read through torchvision's ``VOCDetection``.

Every annotation is parsed and checked when a :class:`VOCBoxes` is built, so a bad file fails at
load time with its path in the message, never in the middle of training and never silently skipped.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.datasets import VOCDetection
from torchvision.datasets.voc import DATASET_YEAR_DICT
from torchvision.transforms.v2 import functional as TF

from ..errors import dataset_not_found, DatasetCorruptError

__all__ = ["VOC_CLASSES", "YEARS", "LAYOUT", "VOCAnnotationError", "VOCBoxes", "check_layout", "finish", "how_to_get",
           "read_annotation", "voc_folder"]

VOC_CLASSES: tuple[str, ...] = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable", "dog",
    "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor")
YEARS: tuple[str, ...] = ("2007", "2012")
LAYOUT = ("<root>/VOCdevkit/\n"
          "    VOC2007/\n"
          "        JPEGImages/<id>.jpg\n"
          "        Annotations/<id>.xml\n"
          "        ImageSets/Main/{train,val,trainval,test}.txt   (one <id> per line)\n"
          "    VOC2012/                                        (only for the paper's 07+12 training set)\n"
          "        JPEGImages/, Annotations/, ImageSets/Main/{train,val,trainval}.txt")
_IMAGE_SETS = {"2007": ("train", "val", "trainval", "test"), "2012": ("train", "val", "trainval")}
_COORDINATES = ("xmin", "ymin", "xmax", "ymax")


class VOCAnnotationError(DatasetCorruptError):
    """A VOC annotation XML that cannot be parsed or describes impossible boxes."""


def how_to_get(root: str | Path) -> str:
    """Where to download VOC (the official tars torchvision knows) and where to extract them."""
    tars = [DATASET_YEAR_DICT[k]["url"] for k in ("2007", "2007-test", "2012")]
    return (f"download {tars[0]} and {tars[1]} (VOC2007 trainval and test, about 0.9 GB together; both extract "
            f"into VOCdevkit/VOC2007) and, for the 07+12 training set, {tars[2]} (about 2 GB), then extract each "
            f"with `tar xf <file> -C {Path(root).expanduser().absolute()}` so that VOCdevkit/ lies there")


def voc_folder(root: str | Path, year: str) -> Path:
    """``root/VOCdevkit/VOC<year>``."""
    return Path(root) / "VOCdevkit" / f"VOC{year}"


def _fail(path: Path, what: str, fix: str = "restore the file from the official VOC tar") -> VOCAnnotationError:
    return VOCAnnotationError(f"{Path(path).absolute()}: {what}; {fix}")


def _number(path: Path, node: dict, key: str, where: str) -> float:
    if key not in node or not isinstance(node[key], str):
        raise _fail(path, f"{where} has no <{key}>")
    try:
        return float(node[key])
    except ValueError:
        raise _fail(path, f"{where}: <{key}> is {node[key]!r}, not a number") from None


def read_annotation(path: str | Path, classes: Sequence[str]) -> dict[str, Any]:
    """Parse and check one VOC XML.

    Returns ``boxes`` float32 (N, 4) xyxy in 0-based continuous pixels (VOC's 1-based inclusive
    ``(xmin, ymin, xmax, ymax)`` becomes ``(xmin - 1, ymin - 1, xmax, ymax)``), ``labels`` int64 (N,)
    1-based indices into ``classes`` (0 is the background), ``difficult`` bool (N,), ``size``
    ``(height, width)`` and ``filename``. Raises :class:`VOCAnnotationError` naming the file.
    """
    path = Path(path)
    try:
        tree = ET.parse(path)
    except ET.ParseError as e:
        raise _fail(path, f"is not well-formed XML ({e})") from None
    except OSError as e:
        raise _fail(path, f"cannot be read ({e.strerror or e})",
                    "the ImageSets list names it: restore it from the official VOC tar") from None
    parsed = VOCDetection.parse_voc_xml(tree.getroot())
    annotation = parsed.get("annotation")
    if not isinstance(annotation, dict):
        raise _fail(path, f"has root <{tree.getroot().tag}>, not <annotation>")
    size = annotation.get("size")
    if not isinstance(size, dict):
        raise _fail(path, "has no <size> with <width> and <height>")
    width, height = _number(path, size, "width", "<size>"), _number(path, size, "height", "<size>")
    if width < 1 or height < 1:
        raise _fail(path, f"<size> says {width:g} x {height:g} pixels")
    objects = annotation.get("object", [])
    if not objects:
        raise _fail(path, "has no <object>: every image of a VOC detection set holds at least one",
                    "restore the file from the official VOC tar, or remove the image from the ImageSets list")
    index = {name: k for k, name in enumerate(classes, start=1)}
    boxes, labels, difficult = [], [], []
    for n, obj in enumerate(objects, start=1):
        where = f"object {n}"
        name = obj.get("name") if isinstance(obj, dict) else None
        if not isinstance(name, str) or not name:
            raise _fail(path, f"{where} has no <name>")
        if name not in index:
            raise _fail(path, f"{where} is a {name!r}, which is not one of the {len(classes)} known classes "
                        f"({', '.join(classes)})", "fix the name, or load with a class list that holds it")
        bndbox = obj.get("bndbox")
        if not isinstance(bndbox, dict):
            raise _fail(path, f"{where} ({name}) has no <bndbox>")
        xmin, ymin, xmax, ymax = (_number(path, bndbox, key, f"{where} ({name}) <bndbox>") for key in _COORDINATES)
        box_text = f"{where} ({name}) box (xmin {xmin:g}, ymin {ymin:g}, xmax {xmax:g}, ymax {ymax:g})"
        if xmin < 1 or ymin < 1 or xmax > width or ymax > height:
            raise _fail(path, f"{box_text} leaves the {width:g} x {height:g} image (VOC pixels run from 1 to the "
                        f"width/height inclusive)")
        if xmax < xmin or ymax < ymin:
            raise _fail(path, f"{box_text} is empty (xmax < xmin or ymax < ymin)")
        boxes.append((xmin - 1, ymin - 1, xmax, ymax))
        labels.append(index[name])
        # VOC2012 leaves <difficult> out of some objects; VOC's own devkit reads that as not difficult.
        difficult.append(str(obj.get("difficult", "0")).strip() == "1")
    return {"boxes": np.asarray(boxes, dtype=np.float32).reshape(-1, 4), "labels": np.asarray(labels, dtype=np.int64),
            "difficult": np.asarray(difficult, dtype=bool), "size": (int(height), int(width)),
            "filename": str(annotation.get("filename", path.with_suffix(".jpg").name))}


def check_layout(root: str | Path, year: str, image_set: str) -> None:
    """Raise DatasetNotFoundError (what is missing, the layout, how to get it) unless the image set's files exist."""
    if year not in _IMAGE_SETS:
        raise ValueError(f"year must be one of {', '.join(_IMAGE_SETS)}, got {year!r}")
    if image_set not in _IMAGE_SETS[year]:
        raise ValueError(f"VOC{year} has the image sets {', '.join(_IMAGE_SETS[year])}, not {image_set!r}")
    folder = voc_folder(root, year)
    wanted = ("JPEGImages", "Annotations", f"ImageSets/Main/{image_set}.txt")
    missing = [w for w in wanted if not (folder / w).exists()]
    if missing:
        raise dataset_not_found(f"voc{year}", folder, LAYOUT + f"\nmissing: {', '.join(missing)}", how_to_get(root))


class VOCBoxes(Dataset):
    """One VOC image set; item ``i`` is ``(image, target)``.

    ``image``: float32 (3, H, W) in [0, 1] (the shape ``transform`` gives). ``target``: ``boxes``
    float32 (N, 4) xyxy pixels of the returned image, ``labels`` int64 (N,) 1-based, ``difficult``
    bool (N,), ``image_id`` = ``i``. ``transform(image, target)`` receives a ``tv_tensors.Image``
    (uint8) and a target whose ``boxes`` are ``tv_tensors.BoundingBoxes`` (see :mod:`.transforms`).
    ``targets``: every parsed annotation (numpy arrays), for statistics without decoding images.
    """

    def __init__(self, root: str | Path, year: str, image_set: str, classes: Sequence[str] = VOC_CLASSES,
                 transform: Callable[[Any, dict], tuple[Any, dict]] | None = None) -> None:
        self.root, self.year, self.image_set = Path(root), str(year), image_set
        self.classes = tuple(classes)
        self.transform = transform
        check_layout(self.root, self.year, image_set)
        voc = VOCDetection(str(self.root), year=self.year, image_set=image_set, download=False)
        list_file = voc_folder(self.root, self.year) / "ImageSets" / "Main" / f"{image_set}.txt"
        self.list_file = list_file
        # VOCDetection turns a blank line of the list into the id "": skip those.
        pairs = [(img, ann) for img, ann in zip(voc.images, voc.annotations) if os.path.basename(img) != ".jpg"]
        self.images = [img for img, _ in pairs]
        self.annotations = [ann for _, ann in pairs]
        if not self.images:
            raise DatasetCorruptError(f"{list_file.absolute()} lists no image; restore it from the official VOC tar "
                                      f"(one image id per line)")
        missing = next((p for p in self.images if not os.path.isfile(p)), None)
        if missing is not None:
            raise DatasetCorruptError(f"{list_file.absolute()} lists {Path(missing).stem}, but {missing} does not "
                                      f"exist; restore JPEGImages/ from the official VOC tar")
        self.targets = [read_annotation(p, self.classes) for p in self.annotations]

    def __len__(self) -> int:
        return len(self.images)

    def raw(self, index: int) -> tuple[tv_tensors.Image, dict[str, Any]]:
        """The decoded image (uint8 ``tv_tensors.Image``) and its target with ``BoundingBoxes``, untransformed."""
        with Image.open(self.images[index]) as pil:
            pil = pil.convert("RGB")
        parsed = self.targets[index]
        if (pil.height, pil.width) != parsed["size"]:
            raise VOCAnnotationError(f"{Path(self.annotations[index]).absolute()}: <size> says {parsed['size'][1]} x "
                                     f"{parsed['size'][0]} pixels but {self.images[index]} is {pil.width} x "
                                     f"{pil.height}; restore both from the official VOC tar")
        image = tv_tensors.Image(TF.pil_to_tensor(pil))
        target = {"boxes": tv_tensors.BoundingBoxes(torch.from_numpy(parsed["boxes"].copy()), format="XYXY",
                                                    canvas_size=parsed["size"]),
                  "labels": torch.from_numpy(parsed["labels"].copy()),
                  "difficult": torch.from_numpy(parsed["difficult"].copy())}
        return image, target

    def sample(self, index: int, transform: Callable | None, image_id: int) -> tuple[torch.Tensor, dict[str, Any]]:
        """Item ``index`` through ``transform`` as plain tensors, tagged ``image_id`` (views choose their own)."""
        image, target = self.raw(index)
        if transform is not None:
            image, target = transform(image, target)
        return finish(image, target, image_id)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        return self.sample(index, self.transform, index)


def finish(image: Any, target: dict[str, Any], image_id: int) -> tuple[torch.Tensor, dict[str, Any]]:
    """Plain tensors out of a (transformed) sample: float32 [0, 1] image, float32 boxes, aligned labels/difficult."""
    image = TF.to_image(image) if not isinstance(image, torch.Tensor) else image
    if not image.is_floating_point():
        image = TF.to_dtype(image, torch.float32, scale=True)
    boxes = torch.as_tensor(target["boxes"]).as_subclass(torch.Tensor).to(torch.float32).reshape(-1, 4)
    labels = torch.as_tensor(target["labels"]).as_subclass(torch.Tensor).to(torch.int64)
    difficult = torch.as_tensor(target["difficult"]).as_subclass(torch.Tensor).to(torch.bool)
    if not len(boxes) == len(labels) == len(difficult):
        raise RuntimeError(f"the transform returned {len(boxes)} boxes, {len(labels)} labels and {len(difficult)} "
                           f"difficult flags; a transform that drops boxes must drop their labels and flags too "
                           f"(SanitizeBoundingBoxes with labels_getter returning both)")
    return image.as_subclass(torch.Tensor).to(torch.float32), {"boxes": boxes, "labels": labels,
                                                               "difficult": difficult, "image_id": int(image_id)}
