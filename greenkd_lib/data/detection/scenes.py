"""``digit_scenes``: the embedded, offline detection set, generated from scikit-learn's 8x8 digits.

Each image is a plain or noisy RGB canvas with a few digits pasted at random positions, scales and
colours. The set is written once in the official PASCAL VOC layout and read back by the same code
as real VOC (:mod:`.voc`), so the VOC path is exercised by every offline run. Train, val and test
paste glyphs from disjoint pools of the 1,797 sklearn digits: test glyphs are never trained on.
"""

from __future__ import annotations

import hashlib
import json
import numbers
import os
import shutil
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from pathlib import Path

import numpy as np
from filelock import FileLock
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from ..errors import DatasetCorruptError

__all__ = ["DIGIT_CLASSES", "SPLITS", "MANIFEST", "SceneSpec", "spec_hash", "write_digit_scenes",
           "ensure_digit_scenes", "read_manifest"]

DIGIT_CLASSES: tuple[str, ...] = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SPLITS: tuple[str, ...] = ("train", "val", "test")
MANIFEST = "manifest.json"
"""The file beside ``VOCdevkit/`` that records the spec, every drawn box and the train split's mean/std."""

# Bump when the generator's output changes for an unchanged spec, so that old caches are not reused.
FORMAT_VERSION = 1
YEAR_FOLDER = Path("VOCdevkit") / "VOC2007"
# Bilinear upscaling leaves a faint halo around each stroke; alpha below this is cut to 0 so that the
# tight box of the ink encloses every pixel the digit changed.
INK_THRESHOLD = 0.15
PLACEMENT_TRIES = 50
JPEG_QUALITY = 95


@dataclass(frozen=True)
class SceneSpec:
    """What :func:`write_digit_scenes` draws; every field enters the cache folder's hash.

    ``min_scale``/``max_scale``: side in pixels of a pasted (upscaled) 8x8 glyph. ``max_iou``: a
    placement whose box overlaps an earlier one by more is redrawn (up to 50 tries, then the digit
    is left out). ``noisy_share``: share of images with a noisy, shaded background rather than a
    plain one. ``min_contrast``: least difference of mean grey level between a digit and its
    background (0..255). ``val_glyphs``/``test_glyphs``: shares of the sklearn digits reserved for
    the val and test images (stratified by digit, drawn with ``seed``).
    """

    image_size: int = 64
    n_train: int = 800
    n_val: int = 150
    n_test: int = 200
    min_digits: int = 1
    max_digits: int = 3
    min_scale: int = 14
    max_scale: int = 30
    max_iou: float = 0.1
    noisy_share: float = 0.5
    min_contrast: int = 64
    val_glyphs: float = 0.15
    test_glyphs: float = 0.25
    seed: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            real = f.type in ("float", float)
            if isinstance(value, bool) or not isinstance(value, numbers.Real if real else numbers.Integral):
                raise ValueError(f"SceneSpec.{f.name} must be {'a number' if real else 'an integer'}, got {value!r}")
            # One spelling per value, so that equal specs hash equal (0 and 0.0, numpy and Python ints).
            object.__setattr__(self, f.name, float(value) if real else int(value))
        if self.image_size < 16:
            raise ValueError(f"SceneSpec.image_size must be >= 16 pixels, got {self.image_size}")
        for name in ("n_train", "n_val", "n_test", "min_digits"):
            if getattr(self, name) < 1:
                raise ValueError(f"SceneSpec.{name} must be >= 1, got {getattr(self, name)}")
        if self.max_digits < self.min_digits:
            raise ValueError(f"SceneSpec.max_digits ({self.max_digits}) must be >= min_digits ({self.min_digits})")
        if not 8 <= self.min_scale <= self.max_scale <= self.image_size:
            raise ValueError(f"SceneSpec needs 8 <= min_scale <= max_scale <= image_size (a glyph is 8x8 and must "
                             f"fit the image), got min_scale={self.min_scale}, max_scale={self.max_scale}, "
                             f"image_size={self.image_size}")
        if not 0 <= self.max_iou <= 1:
            raise ValueError(f"SceneSpec.max_iou must lie in [0, 1], got {self.max_iou}")
        if not 0 <= self.noisy_share <= 1:
            raise ValueError(f"SceneSpec.noisy_share must lie in [0, 1], got {self.noisy_share}")
        if not 16 <= self.min_contrast <= 127:
            raise ValueError(f"SceneSpec.min_contrast must lie in [16, 127] grey levels (some contrast, and "
                             f"room for it on a 0..255 scale), got {self.min_contrast}")
        if not (0 < self.val_glyphs < 1 and 0 < self.test_glyphs < 1 and self.val_glyphs + self.test_glyphs < 0.9):
            raise ValueError(f"SceneSpec.val_glyphs and test_glyphs must be shares in (0, 1) that leave at least 10 % "
                             f"of the digits to train on, got {self.val_glyphs} and {self.test_glyphs}")
        if not 0 <= self.seed < 2**32:
            raise ValueError(f"SceneSpec.seed must be an integer in [0, 2**32), got {self.seed}")

    def count(self, split: str) -> int:
        """Number of images in ``split`` (train, val or test)."""
        return {"train": self.n_train, "val": self.n_val, "test": self.n_test}[split]


def spec_hash(spec: SceneSpec) -> str:
    """A short hash of ``spec`` and the generator's format version: the name of its cache folder."""
    text = json.dumps({"format": FORMAT_VERSION, **asdict(spec)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


@lru_cache(maxsize=1)
def _glyphs() -> tuple[np.ndarray, np.ndarray]:
    """sklearn's digits as float alpha masks in [0, 1] (1797, 8, 8) and their labels. Cached: read-only."""
    digits = load_digits()
    return digits.images / 16.0, digits.target.astype(np.int64)


def _glyph_pools(spec: SceneSpec) -> dict[str, np.ndarray]:
    """Disjoint, stratified, sorted index pools of the sklearn digits for train / val / test."""
    _, labels = _glyphs()
    everything = np.arange(len(labels))
    rest, test = train_test_split(everything, test_size=spec.test_glyphs, stratify=labels, random_state=spec.seed)
    train, val = train_test_split(rest, test_size=spec.val_glyphs / (1 - spec.test_glyphs),
                                  stratify=labels[rest], random_state=spec.seed)
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """IoU of two boxes given as 0-based (x0, y0, x1, y1) with exclusive x1, y1."""
    iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area if area else 0.0


def _background(spec: SceneSpec, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """A float (H, W, 3) canvas in 0..255, plain or shaded with noise, and the grey level of its colour."""
    size = spec.image_size
    level = rng.uniform(0, 255)
    colour = np.clip(level + rng.uniform(-40, 40, size=3), 0, 255)
    canvas = np.broadcast_to(colour, (size, size, 3)).astype(np.float64)
    if rng.random() < spec.noisy_share:
        # A linear shade across the image plus sensor-like noise: clutter the detector must ignore.
        ramp = np.linspace(-1, 1, size)
        angle = rng.uniform(0, 2 * np.pi)
        shade = np.cos(angle) * ramp[None, :] + np.sin(angle) * ramp[:, None]
        canvas = canvas + rng.uniform(0, 30) * shade[..., None] + rng.normal(0, rng.uniform(4, 24), canvas.shape)
    return canvas, float(colour.mean())


def _ink_colour(background_level: float, spec: SceneSpec, rng: np.random.Generator) -> np.ndarray:
    """A digit colour at least ``min_contrast`` grey levels darker or brighter than the background."""
    darker_room = background_level - spec.min_contrast
    brighter_room = 255 - spec.min_contrast - background_level
    if darker_room > 0 and (brighter_room <= 0 or rng.random() < darker_room / (darker_room + brighter_room)):
        level = rng.uniform(0, darker_room)
    else:
        level = rng.uniform(background_level + spec.min_contrast, 255)
    tint = rng.uniform(-30, 30, size=3)
    return np.clip(level + tint - tint.mean(), 0, 255)  # zero-mean tint: the grey level keeps its contrast


def _scaled_glyph(glyph: np.ndarray, side: int) -> np.ndarray:
    """The 8x8 alpha mask upscaled to side x side (PIL bilinear), faint halo cut to 0."""
    pil = Image.fromarray(np.round(glyph * 255).astype(np.uint8))
    alpha = np.asarray(pil.resize((side, side), Image.BILINEAR), dtype=np.float64) / 255.0
    return np.where(alpha >= INK_THRESHOLD, alpha, 0.0)


def _draw_scene(spec: SceneSpec, pool: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, list[dict]]:
    """One uint8 (H, W, 3) image and its objects: label, glyph index, box (0-based, exclusive x1/y1)."""
    glyphs, labels = _glyphs()
    canvas, level = _background(spec, rng)
    objects: list[dict] = []
    for _ in range(int(rng.integers(spec.min_digits, spec.max_digits + 1))):
        glyph_index = int(rng.choice(pool))
        side = int(rng.integers(spec.min_scale, spec.max_scale + 1))
        alpha = _scaled_glyph(glyphs[glyph_index], side)
        rows, cols = np.nonzero(alpha)
        for _ in range(PLACEMENT_TRIES):
            x, y = (int(v) for v in rng.integers(0, spec.image_size - side + 1, size=2))
            box = (x + int(cols.min()), y + int(rows.min()), x + int(cols.max()) + 1, y + int(rows.max()) + 1)
            if all(_iou(box, o["box"]) <= spec.max_iou for o in objects):
                break
        else:
            continue  # no free spot for this digit: the image gets one digit fewer
        a = alpha[..., None]
        ink = _ink_colour(level, spec, rng)
        canvas[y:y + side, x:x + side] = canvas[y:y + side, x:x + side] * (1 - a) + ink * a
        objects.append({"label": int(labels[glyph_index]), "glyph": glyph_index, "box": box})
    return np.clip(np.round(canvas), 0, 255).astype(np.uint8), objects


def _annotation_xml(image_id: str, size: int, objects: list[dict]) -> bytes:
    """The VOC XML of one image; boxes in VOC's 1-based inclusive pixel convention."""
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = "VOC2007"
    ET.SubElement(root, "filename").text = f"{image_id}.jpg"
    source = ET.SubElement(root, "source")
    ET.SubElement(source, "database").text = "greenkd digit scenes (sklearn load_digits)"
    size_node = ET.SubElement(root, "size")
    for tag, value in (("width", size), ("height", size), ("depth", 3)):
        ET.SubElement(size_node, tag).text = str(value)
    ET.SubElement(root, "segmented").text = "0"
    for obj in objects:
        node = ET.SubElement(root, "object")
        ET.SubElement(node, "name").text = DIGIT_CLASSES[obj["label"]]
        ET.SubElement(node, "pose").text = "Unspecified"
        ET.SubElement(node, "truncated").text = "0"
        ET.SubElement(node, "difficult").text = "0"
        bndbox = ET.SubElement(node, "bndbox")
        for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), _voc_box(obj["box"])):
            ET.SubElement(bndbox, tag).text = str(value)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8") + b"\n"


def _voc_box(box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """0-based (x0, y0, exclusive x1, exclusive y1) -> VOC's 1-based inclusive (xmin, ymin, xmax, ymax)."""
    return box[0] + 1, box[1] + 1, box[2], box[3]


def write_digit_scenes(root: str | Path, spec: SceneSpec = SceneSpec()) -> Path:
    """Write the digit scenes of ``spec`` under ``root`` in the PASCAL VOC 2007 layout; return ``root``.

    ``root/VOCdevkit/VOC2007/{JPEGImages,Annotations,ImageSets/Main/{train,val,test,trainval}.txt}``
    and ``root/manifest.json`` (the spec, every object's VOC box, class and sklearn glyph index, and
    the per-channel mean/std of the train images in [0, 1]). The same spec gives identical bytes.
    """
    root = Path(root)
    folder = root / YEAR_FOLDER
    for sub in ("JPEGImages", "Annotations", "ImageSets/Main"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    pools = _glyph_pools(spec)
    manifest: dict = {"format": FORMAT_VERSION, "spec": asdict(spec), "classes": list(DIGIT_CLASSES),
                      "glyph_pools": {s: pools[s].tolist() for s in SPLITS}, "images": {}}
    ids: dict[str, list[str]] = {}
    pixel_sum, pixel_sq, pixel_count = np.zeros(3), np.zeros(3), 0
    next_id = 0
    for split_number, split in enumerate(SPLITS):
        ids[split] = []
        for i in range(spec.count(split)):
            # One generator per image: an image does not change when another split's size does.
            rng = np.random.default_rng([spec.seed, split_number, i])
            image, objects = _draw_scene(spec, pools[split], rng)
            image_id = f"{next_id:06d}"
            next_id += 1
            Image.fromarray(image).save(folder / "JPEGImages" / f"{image_id}.jpg", format="JPEG", quality=JPEG_QUALITY)
            xml = _annotation_xml(image_id, spec.image_size, objects)
            (folder / "Annotations" / f"{image_id}.xml").write_bytes(xml)
            manifest["images"][image_id] = {
                "split": split,
                "objects": [{"name": DIGIT_CLASSES[o["label"]], "glyph": o["glyph"], "bndbox": _voc_box(o["box"])}
                            for o in objects]}
            ids[split].append(image_id)
            if split == "train":
                pixels = image.reshape(-1, 3) / 255.0
                pixel_sum += pixels.sum(0)
                pixel_sq += (pixels ** 2).sum(0)
                pixel_count += len(pixels)
    ids["trainval"] = ids["train"] + ids["val"]
    for image_set, names in ids.items():
        (folder / "ImageSets" / "Main" / f"{image_set}.txt").write_text("".join(f"{n}\n" for n in names))
    mean = pixel_sum / pixel_count
    manifest["mean"] = [round(float(m), 6) for m in mean]
    manifest["std"] = [round(float(s), 6) for s in np.sqrt(pixel_sq / pixel_count - mean ** 2)]
    (root / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return root


def read_manifest(root: str | Path) -> dict:
    """The ``manifest.json`` that :func:`write_digit_scenes` left under ``root``."""
    path = Path(root) / MANIFEST
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DatasetCorruptError(f"cannot read the digit scenes manifest {path.absolute()} ({e}); delete "
                                  f"{Path(root).absolute()} and it will be written again") from e


def ensure_digit_scenes(cache_dir: str | Path, spec: SceneSpec = SceneSpec()) -> Path:
    """The digit scenes of ``spec`` under ``cache_dir/digit_scenes-<hash>``: written once, reused afterwards.

    A writer fills a temporary sibling folder and renames it into place, so a killed writer never
    leaves a half-written set under the final name; a file lock makes concurrent callers wait for
    the first writer instead of racing it. Temporary folders left by killed writers are removed.
    """
    cache_dir = Path(cache_dir)
    name = f"digit_scenes-{spec_hash(spec)}"
    final = cache_dir / name
    if (final / MANIFEST).is_file():  # fast path: no lock once written
        return final
    cache_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache_dir / f".{name}.lock")):
        if (final / MANIFEST).is_file():  # another process wrote it while we waited
            return final
        if final.exists():
            raise DatasetCorruptError(f"{final.absolute()} exists but holds no {MANIFEST}: it was not written by "
                                      f"ensure_digit_scenes, or was damaged; delete it and it will be written again")
        for stale in cache_dir.glob(f".{name}.tmp-*"):  # holding the lock, no live writer owns these
            shutil.rmtree(stale, ignore_errors=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=cache_dir))
        try:
            write_digit_scenes(partial, spec)
            partial.chmod(0o755)  # mkdtemp makes it private; the data folder is shared like any other
            os.replace(partial, final)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    return final
