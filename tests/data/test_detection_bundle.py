"""``load_detection``: digit scenes and VOC bundles, their splits, collate, and the errors of a missing set."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from greenkd_lib.data.detection.bundle import (collate, DETECTION_DATASETS, DetectionBundle, IMAGENET_MEAN,
                                               load_detection)
from greenkd_lib.data.detection.scenes import DIGIT_CLASSES, read_manifest, SceneSpec
from greenkd_lib.data.detection.voc import VOC_CLASSES
from greenkd_lib.data.errors import DatasetNotFoundError, UnknownDatasetError
from tests.helpers.datagen import write_voc

SPEC = SceneSpec(n_train=12, n_val=4, n_test=6)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> DetectionBundle:
    return load_detection("digit_scenes", tmp_path_factory.mktemp("data"), scene_spec=SPEC)


@pytest.fixture(scope="module")
def voc_root(tmp_path_factory) -> Path:
    return write_voc(tmp_path_factory.mktemp("voc"), years=("2007", "2012"), n_trainval=10, n_test=4)


def _image_ids(view) -> list[str]:
    return [Path(view.image_path(i)).stem for i in range(len(view))]


def test_names():
    assert DETECTION_DATASETS == ("digit_scenes", "voc")


def test_digit_scenes_bundle(scenes):
    assert scenes.name == "digit_scenes" and scenes.classes == DIGIT_CLASSES and scenes.num_classes == 11
    assert scenes.image_size == 64
    assert (len(scenes.train), len(scenes.val), len(scenes.test)) == (12, 4, 6)
    assert Path(scenes.root).parent.name == "digit_scenes"  # written under <data root>/digit_scenes
    assert tuple(scenes.mean) == tuple(read_manifest(scenes.root)["mean"])
    summary = json.loads(json.dumps(scenes.summary()))
    assert summary["sizes"] == {"train": 12, "val": 4, "test": 6} and summary["num_classes"] == 11
    assert summary["root"] == scenes.root and summary["classes"] == list(DIGIT_CLASSES)


def test_digit_scenes_items_and_collate(scenes):
    image, target = scenes.train[2]
    assert image.dtype == torch.float32 and image.shape == (3, 64, 64)
    assert set(target) == {"boxes", "labels", "difficult", "image_id"} and target["image_id"] == 2
    assert 1 <= target["labels"].min() and target["labels"].max() <= 10
    images, targets = next(iter(DataLoader(scenes.val, batch_size=3, collate_fn=collate)))
    assert images.shape == (3, 3, 64, 64) and [t["image_id"] for t in targets] == [0, 1, 2]
    with pytest.raises(ValueError, match="empty batch"):
        collate([])


def test_digit_scenes_test_split_is_not_augmented_and_matches_the_files(scenes):
    manifest = read_manifest(scenes.root)
    for i in range(len(scenes.test)):
        _, target = scenes.test[i]
        objects = manifest["images"][Path(scenes.test.image_path(i)).stem]["objects"]
        expected = torch.tensor([[x0 - 1, y0 - 1, x1, y1] for x0, y0, x1, y1 in (o["bndbox"] for o in objects)])
        torch.testing.assert_close(target["boxes"], expected.float())
        assert manifest["images"][Path(scenes.test.image_path(i)).stem]["split"] == "test"


def test_digit_scenes_resize_and_subset(scenes):
    bundle = load_detection("digit_scenes", Path(scenes.root).parents[1], scene_spec=SPEC, image_size=96, subset=3,
                            augment=False)
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (3, 3, 3)
    image, target = bundle.test[0]
    _, native = scenes.test[scenes.test.items.index(bundle.test.items[0])]
    assert image.shape == (3, 96, 96)
    torch.testing.assert_close(target["boxes"], native["boxes"] * 1.5)
    again = load_detection("digit_scenes", Path(scenes.root).parents[1], scene_spec=SPEC, subset=3)
    assert _image_ids(again.train) == _image_ids(bundle.train)  # seeded


def test_digit_scenes_augmentation_changes_pixels_not_boxes(scenes):
    torch.manual_seed(0)
    augmented = [scenes.train[0] for _ in range(4)]
    assert not all(torch.equal(augmented[0][0], a[0]) for a in augmented[1:])
    assert all(torch.equal(augmented[0][1]["boxes"], a[1]["boxes"]) for a in augmented[1:])  # no flip, no crop


def test_voc_bundle_holds_out_val_from_trainval(voc_root):
    bundle = load_detection("voc", voc_root)
    assert bundle.classes == VOC_CLASSES and bundle.num_classes == 21 and bundle.image_size == 300
    assert bundle.mean == IMAGENET_MEAN
    train, val = _image_ids(bundle.train), _image_ids(bundle.val)
    assert len(val) == math.ceil(0.1 * 10) and sorted(train + val) == [f"{k:06d}" for k in range(1, 11)]
    assert _image_ids(bundle.test) == [f"{k:06d}" for k in range(11, 15)]
    image, target = bundle.test[0]
    assert image.shape == (3, 300, 300) and target["image_id"] == 0
    assert sum(int(t["difficult"].sum()) for t in bundle.test.targets) > 0  # difficult objects kept
    json.dumps(bundle.summary())


def test_voc_holdout_is_seeded(voc_root):
    first = _image_ids(load_detection("voc", voc_root, val_fraction=0.3).val)
    assert _image_ids(load_detection("voc", voc_root, val_fraction=0.3).val) == first
    others = {tuple(_image_ids(load_detection("voc", voc_root, val_fraction=0.3, seed=s).val)) for s in range(1, 6)}
    assert len(first) == 3 and others - {tuple(first)}


def test_voc_07_plus_12(voc_root):
    bundle = load_detection("voc", voc_root, years=("2007", "2012"), image_size=64, subset=5)
    assert bundle.options["years"] == ["2007", "2012"]
    full = load_detection("voc", voc_root, years=("2007", "2012"), image_size=64)
    assert len(full.train) + len(full.val) == 20 and len(full.val) == 2
    assert any(i.startswith("2008_") for i in _image_ids(full.train) + _image_ids(full.val))
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (5, 2, 4)
    images, targets = collate([bundle.train[i] for i in range(len(bundle.train))])
    assert images.shape == (5, 3, 64, 64)
    for t in targets:
        assert len(t["boxes"]) == len(t["labels"]) == len(t["difficult"])
        assert ((t["boxes"] >= 0) & (t["boxes"] <= 64)).all()


def test_missing_voc_is_a_clear_error_and_nothing_is_downloaded(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        load_detection("voc", tmp_path)
    assert str((tmp_path / "VOCdevkit" / "VOC2007").absolute()) in str(info.value)
    assert "http" in str(info.value) and list(tmp_path.iterdir()) == []


def test_missing_voc_test_set_fails_before_parsing(tmp_path):
    root = write_voc(tmp_path, n_trainval=4, n_test=2)
    (root / "VOCdevkit" / "VOC2007" / "ImageSets" / "Main" / "test.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match="test.txt"):
        load_detection("voc", root)


def test_missing_voc2012_for_07_plus_12(tmp_path):
    root = write_voc(tmp_path, n_trainval=4, n_test=2)
    with pytest.raises(DatasetNotFoundError, match="VOC2012"):
        load_detection("voc", root, years=("2007", "2012"))


def test_unknown_name_suggests_a_known_one():
    with pytest.raises(UnknownDatasetError, match="digit_scenes"):
        load_detection("digit_scene")


@pytest.mark.parametrize("kwargs, words", [(dict(years=("2010",)), "years"), (dict(years=()), "years"),
                                           (dict(val_fraction=1.0), "val_fraction"), (dict(subset=0), "subset")])
def test_bad_arguments(voc_root, kwargs, words):
    with pytest.raises(ValueError, match=words):
        load_detection("voc", voc_root, **kwargs)
