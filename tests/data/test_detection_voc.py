"""The VOC reader on tiny files in the official layout: targets, difficult objects, and clear errors."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from greenkd_lib.data.detection.transforms import eval_transform
from greenkd_lib.data.detection.voc import read_annotation, VOC_CLASSES, VOCAnnotationError, VOCBoxes
from greenkd_lib.data.errors import DatasetCorruptError, DatasetNotFoundError
from tests.helpers.datagen import VOC_NAMES, voc_objects, VOC_SIZES, voc_xml, write_voc


@pytest.fixture(scope="module")
def voc_root(tmp_path_factory) -> Path:
    return write_voc(tmp_path_factory.mktemp("voc"), years=("2007", "2012"), n_trainval=6, n_test=4)


def _expected(k: int) -> tuple[np.ndarray, list[int], list[bool]]:
    objects = voc_objects(k, *VOC_SIZES[k % 3])
    boxes = np.array([[x0 - 1, y0 - 1, x1, y1] for _, x0, y0, x1, y1, _ in objects], dtype=np.float32)
    return boxes, [VOC_CLASSES.index(o[0]) + 1 for o in objects], [o[5] for o in objects]


def test_class_list_is_the_standard_one():
    assert VOC_CLASSES == VOC_NAMES and len(VOC_CLASSES) == 20


@pytest.mark.parametrize("year, image_set, first, count", [("2007", "trainval", 0, 6), ("2007", "test", 6, 4),
                                                           ("2012", "trainval", 0, 6), ("2007", "train", 0, 3)])
def test_targets_match_the_written_annotations(voc_root, year, image_set, first, count):
    data = VOCBoxes(voc_root, year, image_set)
    assert len(data) == len(data.targets) == count
    step = 2 if image_set == "train" else 1
    for n, target in enumerate(data.targets):
        k = first + n * step
        boxes, labels, difficult = _expected(k)
        np.testing.assert_array_equal(target["boxes"], boxes)
        assert target["labels"].dtype == np.int64 and target["labels"].tolist() == labels
        # VOC2012 writes no <difficult> for non-difficult objects: read as False, as VOC's devkit does.
        assert target["difficult"].tolist() == difficult
        assert target["size"] == VOC_SIZES[k % 3][::-1]


def test_item_without_transform_is_the_full_image_with_its_boxes(voc_root):
    data = VOCBoxes(voc_root, "2007", "trainval")
    image, target = data[1]
    width, height = VOC_SIZES[1]
    assert image.dtype == torch.float32 and image.shape == (3, height, width)
    assert 0 <= image.min() and image.max() <= 1
    boxes, labels, difficult = _expected(1)
    assert torch.equal(target["boxes"], torch.from_numpy(boxes))
    assert target["labels"].tolist() == labels and target["difficult"].tolist() == difficult
    assert target["image_id"] == 1
    # The rectangle painted last (on top) lies exactly under its box.
    x0, y0, x1, y1 = (int(v) for v in boxes[-1])
    patch = image[:, y0 + 1:y1 - 1, x0 + 1:x1 - 1]
    assert patch.std(dim=(1, 2)).max() < 0.05


def test_transform_moves_boxes_and_keeps_difficult_aligned(voc_root):
    data = VOCBoxes(voc_root, "2007", "trainval", transform=eval_transform(32))
    for k in range(len(data)):
        image, target = data[k]
        assert image.shape == (3, 32, 32)
        boxes, labels, difficult = _expected(k)
        width, height = VOC_SIZES[k % 3]
        scale = torch.tensor([32 / width, 32 / height] * 2)
        torch.testing.assert_close(target["boxes"], torch.from_numpy(boxes) * scale)
        assert target["labels"].tolist() == labels and target["difficult"].tolist() == difficult


def test_difficult_objects_are_kept(voc_root):
    data = VOCBoxes(voc_root, "2007", "test")
    assert sum(int(t["difficult"].sum()) for t in data.targets) > 0
    assert all(len(t["difficult"]) == len(t["labels"]) == len(t["boxes"]) for t in data.targets)


# --- read_annotation errors -------------------------------------------------------------------------------


def _xml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "000042.xml"
    path.write_text(text)
    return path


GOOD = [("dog", 2, 3, 20, 30, False)]


@pytest.mark.parametrize("text, words", [
    (voc_xml("a.jpg", 40, 40, GOOD)[:-20], "not well-formed XML"),
    (voc_xml("a.jpg", 40, 40, [("dog", 2, 3, 41, 30, False)]), "leaves the 40 x 40 image"),
    (voc_xml("a.jpg", 40, 40, [("dog", 0, 3, 20, 30, False)]), "leaves the 40 x 40 image"),
    (voc_xml("a.jpg", 40, 40, [("dog", 2, 3, 20, 41, False)]), "leaves the 40 x 40 image"),
    (voc_xml("a.jpg", 40, 40, [("dog", 20, 3, 10, 30, False)]), "is empty"),
    (voc_xml("a.jpg", 40, 40, [("unicorn", 2, 3, 20, 30, False)]), "'unicorn'.*aeroplane, bicycle"),
    (voc_xml("a.jpg", 40, 40, GOOD).replace("<xmin>2</xmin>", "<xmin>two</xmin>"), "'two', not a number"),
    (voc_xml("a.jpg", 40, 40, GOOD).replace("<ymax>30</ymax>", ""), "has no <ymax>"),
    (voc_xml("a.jpg", 40, 40, GOOD).replace("<name>dog</name>", ""), "has no <name>"),
    (re.sub(r"<size>.*</size>", "", voc_xml("a.jpg", 40, 40, GOOD), flags=re.S), "has no <size>"),
    (voc_xml("a.jpg", 40, 40, []), "has no <object>"),
])
def test_bad_annotations_fail_naming_the_file(tmp_path, text, words):
    path = _xml(tmp_path, text)
    with pytest.raises(VOCAnnotationError, match=words) as info:
        read_annotation(path, VOC_CLASSES)
    assert str(path.absolute()) in str(info.value)
    assert isinstance(info.value, DatasetCorruptError)


def test_a_box_on_the_image_edge_is_valid(tmp_path):
    parsed = read_annotation(_xml(tmp_path, voc_xml("a.jpg", 40, 30, [("cat", 1, 1, 40, 30, True)])), VOC_CLASSES)
    assert parsed["boxes"].tolist() == [[0, 0, 40, 30]] and parsed["difficult"].tolist() == [True]
    assert parsed["size"] == (30, 40) and parsed["filename"] == "a.jpg"
    assert parsed["labels"].tolist() == [VOC_CLASSES.index("cat") + 1]


# --- VOCBoxes errors --------------------------------------------------------------------------------------


def test_missing_folder_says_where_it_looked_and_how_to_get_voc(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        VOCBoxes(tmp_path, "2007", "trainval")
    message = str(info.value)
    assert str((tmp_path / "VOCdevkit" / "VOC2007").absolute()) in message
    assert "JPEGImages" in message and "ImageSets/Main" in message and "VOCtrainval_06-Nov-2007.tar" in message
    assert "VOCtest_06-Nov-2007.tar" in message


def test_missing_image_list_names_it(tmp_path, voc_root):
    root = shutil.copytree(voc_root, tmp_path / "copy")
    (root / "VOCdevkit" / "VOC2007" / "ImageSets" / "Main" / "test.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"missing: ImageSets/Main/test.txt"):
        VOCBoxes(root, "2007", "test")


def test_empty_image_list_names_the_file(tmp_path, voc_root):
    root = shutil.copytree(voc_root, tmp_path / "copy")
    list_file = root / "VOCdevkit" / "VOC2007" / "ImageSets" / "Main" / "val.txt"
    list_file.write_text("\n")
    with pytest.raises(DatasetCorruptError, match=re.escape(str(list_file.absolute())) + " lists no image"):
        VOCBoxes(root, "2007", "val")


def test_one_bad_annotation_fails_construction_naming_it(tmp_path, voc_root):
    root = shutil.copytree(voc_root, tmp_path / "copy")
    bad = root / "VOCdevkit" / "VOC2007" / "Annotations" / "000003.xml"
    bad.write_text(bad.read_text().replace("<name>", "<name>x", 1))
    with pytest.raises(VOCAnnotationError, match=re.escape(str(bad.absolute()))):
        VOCBoxes(root, "2007", "trainval")
    VOCBoxes(root, "2007", "test")  # the other image set does not list it


def test_class_not_in_the_label_map_fails(voc_root):
    with pytest.raises(VOCAnnotationError, match="not one of the 2 known classes"):
        VOCBoxes(voc_root, "2007", "trainval", classes=("dog", "cat"))


def test_missing_image_file_names_it(tmp_path, voc_root):
    root = shutil.copytree(voc_root, tmp_path / "copy")
    (root / "VOCdevkit" / "VOC2007" / "JPEGImages" / "000002.jpg").unlink()
    with pytest.raises(DatasetCorruptError, match="000002.jpg does not exist"):
        VOCBoxes(root, "2007", "trainval")


def test_size_that_disagrees_with_the_image_fails_on_read(tmp_path, voc_root):
    root = shutil.copytree(voc_root, tmp_path / "copy")
    xml = root / "VOCdevkit" / "VOC2007" / "Annotations" / "000001.xml"
    xml.write_text(xml.read_text().replace("<width>64</width>", "<width>80</width>"))
    data = VOCBoxes(root, "2007", "trainval")
    with pytest.raises(VOCAnnotationError, match="<size> says 80 x 48 pixels but .*000001.jpg is 64 x 48"):
        data[0]


@pytest.mark.parametrize("year, image_set", [("2005", "trainval"), ("2012", "test"), ("2007", "everything")])
def test_unknown_year_or_image_set(voc_root, year, image_set):
    with pytest.raises(ValueError, match="year must be|image sets"):
        VOCBoxes(voc_root, year, image_set)
