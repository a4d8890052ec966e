"""Digit scenes: the writer, its VOC round trip, determinism, disjoint glyph pools and the write-once cache."""

from __future__ import annotations

import json
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from torchvision.datasets import VOCDetection

from greenkd_lib.data.detection import scenes
from greenkd_lib.data.detection.scenes import (DIGIT_CLASSES, ensure_digit_scenes, MANIFEST, read_manifest,
                                               SceneSpec, spec_hash, write_digit_scenes)
from greenkd_lib.data.detection.voc import VOCBoxes
from greenkd_lib.data.errors import DatasetCorruptError

SMALL = SceneSpec(n_train=12, n_val=4, n_test=6)


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    return write_digit_scenes(tmp_path_factory.mktemp("scenes"), SMALL)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_layout_and_image_sets(written):
    folder = written / "VOCdevkit" / "VOC2007"
    lists = {s: (folder / "ImageSets" / "Main" / f"{s}.txt").read_text().split() for s in
             ("train", "val", "test", "trainval")}
    assert [len(lists[s]) for s in ("train", "val", "test")] == [12, 4, 6]
    assert lists["trainval"] == lists["train"] + lists["val"]
    assert not set(lists["test"]) & set(lists["trainval"])
    for image_id in lists["trainval"] + lists["test"]:
        assert (folder / "JPEGImages" / f"{image_id}.jpg").is_file()
        assert (folder / "Annotations" / f"{image_id}.xml").is_file()


def test_xml_is_standard_voc(written):
    voc = VOCDetection(str(written), year="2007", image_set="train", download=False)
    image, target = voc[0]
    annotation = target["annotation"]
    assert annotation["filename"] == Path(voc.images[0]).name
    assert annotation["size"] == {"width": "64", "height": "64", "depth": "3"}
    assert image.size == (64, 64)
    for obj in annotation["object"]:
        assert obj["name"] in DIGIT_CLASSES
        assert (obj["pose"], obj["truncated"], obj["difficult"]) == ("Unspecified", "0", "0")
        assert set(obj["bndbox"]) == {"xmin", "ymin", "xmax", "ymax"}


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_written_boxes_round_trip_through_the_voc_reader(written, split):
    manifest = read_manifest(written)
    data = VOCBoxes(written, "2007", split, classes=DIGIT_CLASSES)
    assert len(data) == SMALL.count(split)
    for path, target in zip(data.images, data.targets):
        objects = manifest["images"][Path(path).stem]["objects"]
        assert manifest["images"][Path(path).stem]["split"] == split
        expected = np.array([[x0 - 1, y0 - 1, x1, y1] for x0, y0, x1, y1 in (o["bndbox"] for o in objects)])
        np.testing.assert_array_equal(target["boxes"], expected.astype(np.float32))
        assert target["labels"].tolist() == [DIGIT_CLASSES.index(o["name"]) + 1 for o in objects]
        assert not target["difficult"].any()
        assert SMALL.min_digits <= len(objects) <= SMALL.max_digits


def test_every_box_lies_inside_its_image_and_is_not_empty(written):
    for entry in read_manifest(written)["images"].values():
        for obj in entry["objects"]:
            xmin, ymin, xmax, ymax = obj["bndbox"]
            assert 1 <= xmin <= xmax <= SMALL.image_size and 1 <= ymin <= ymax <= SMALL.image_size


def test_boxes_are_the_tight_box_of_the_ink():
    """Before JPEG: on a plain background exactly the pixels inside a box change, and ink touches all four sides."""
    spec = SceneSpec(max_digits=1, noisy_share=0.0)
    pool = np.arange(300)
    for i in range(20):
        image, objects = scenes._draw_scene(spec, pool, np.random.default_rng(i))
        changed = np.any(image != image[0, 0], axis=-1)  # the corner is background for these one-digit scenes
        x0, y0, x1, y1 = objects[0]["box"]
        inside = np.zeros_like(changed)
        inside[y0:y1, x0:x1] = True
        assert not (changed & ~inside).any(), f"scene {i}: ink outside its box"
        ink = changed[y0:y1, x0:x1]
        assert ink[0].any() and ink[-1].any() and ink[:, 0].any() and ink[:, -1].any(), f"scene {i}: box not tight"


def test_overlaps_are_bounded(written):
    for entry in read_manifest(written)["images"].values():
        boxes = [(x0 - 1, y0 - 1, x1, y1) for x0, y0, x1, y1 in (o["bndbox"] for o in entry["objects"])]
        for a in range(len(boxes)):
            for b in range(a):
                assert scenes._iou(boxes[a], boxes[b]) <= SMALL.max_iou


def test_glyph_pools_are_disjoint_and_each_split_draws_from_its_own(written):
    manifest = read_manifest(written)
    pools = {s: set(v) for s, v in manifest["glyph_pools"].items()}
    assert not pools["train"] & pools["val"] and not pools["train"] & pools["test"] and not pools["val"] & pools["test"]
    assert len(pools["train"] | pools["val"] | pools["test"]) == 1797
    for entry in manifest["images"].values():
        assert {o["glyph"] for o in entry["objects"]} <= pools[entry["split"]]


def test_writer_is_deterministic_in_its_seed(tmp_path, written):
    again = write_digit_scenes(tmp_path / "again", SMALL)
    assert _files(again) == _files(written)
    other = write_digit_scenes(tmp_path / "other", SceneSpec(n_train=12, n_val=4, n_test=6, seed=1))
    other_files = _files(other)
    assert other_files.keys() == _files(written).keys()
    changed = [k for k, v in _files(written).items() if other_files[k] != v and k.endswith(".jpg")]
    assert len(changed) == 22


def test_manifest_records_spec_and_train_statistics(written):
    manifest = json.loads((written / MANIFEST).read_text())
    assert manifest["spec"]["n_train"] == 12 and manifest["classes"] == list(DIGIT_CLASSES)
    assert all(0.05 < m < 0.95 for m in manifest["mean"]) and all(0.02 < s < 0.5 for s in manifest["std"])


@pytest.mark.parametrize("change, words", [
    (dict(max_digits=0), "max_digits"),
    (dict(max_scale=80), "image_size"),
    (dict(min_scale=5), "min_scale"),
    (dict(n_train=0), "n_train"),
    (dict(n_train=2.5), "integer"),
    (dict(max_iou=1.5), "max_iou"),
    (dict(val_glyphs=0.5, test_glyphs=0.45), "train on"),
    (dict(min_contrast=200), "min_contrast"),
])
def test_spec_rejects_bad_fields(change, words):
    with pytest.raises(ValueError, match=words):
        SceneSpec(**change)


def test_spec_hash_depends_on_every_field():
    assert spec_hash(SMALL) == spec_hash(SceneSpec(n_train=12, n_val=4, n_test=6))
    assert spec_hash(SMALL) != spec_hash(SceneSpec(n_train=12, n_val=4, n_test=6, noisy_share=0.4))
    assert spec_hash(SceneSpec(max_iou=0)) == spec_hash(SceneSpec(max_iou=0.0))


def test_ensure_writes_once_and_reuses(tmp_path):
    first = ensure_digit_scenes(tmp_path, SMALL)
    assert first == tmp_path / f"digit_scenes-{spec_hash(SMALL)}"
    stamps = {p: p.stat().st_mtime_ns for p in first.rglob("*")}
    second = ensure_digit_scenes(tmp_path, SMALL)
    assert second == first
    assert {p: p.stat().st_mtime_ns for p in second.rglob("*")} == stamps
    assert not list(tmp_path.glob(".*.tmp-*"))


def test_ensure_ignores_and_removes_a_partial_temp_folder(tmp_path):
    name = f"digit_scenes-{spec_hash(SMALL)}"
    partial = tmp_path / f".{name}.tmp-killed"
    (partial / "VOCdevkit" / "VOC2007" / "JPEGImages").mkdir(parents=True)
    (partial / "VOCdevkit" / "VOC2007" / "JPEGImages" / "000000.jpg").write_bytes(b"truncated")
    folder = ensure_digit_scenes(tmp_path, SMALL)
    assert folder.name == name and not partial.exists()
    assert len(VOCBoxes(folder, "2007", "train", classes=DIGIT_CLASSES)) == 12


def test_a_killed_writer_leaves_no_final_folder(tmp_path, monkeypatch):
    def dies_half_way(root, spec):
        (Path(root) / "VOCdevkit").mkdir(parents=True)
        raise KeyboardInterrupt

    monkeypatch.setattr(scenes, "write_digit_scenes", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        ensure_digit_scenes(tmp_path, SMALL)
    assert list(tmp_path.iterdir()) == [tmp_path / f".digit_scenes-{spec_hash(SMALL)}.lock"]
    monkeypatch.undo()
    assert (ensure_digit_scenes(tmp_path, SMALL) / MANIFEST).is_file()


def test_a_final_folder_without_manifest_is_refused(tmp_path):
    (tmp_path / f"digit_scenes-{spec_hash(SMALL)}").mkdir()
    with pytest.raises(DatasetCorruptError, match="delete it"):
        ensure_digit_scenes(tmp_path, SMALL)


def test_concurrent_callers_get_one_complete_set(tmp_path):
    results, errors = [], []

    def call():
        try:
            results.append(ensure_digit_scenes(tmp_path, SMALL))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(results)) == 1
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 1
    ET.parse(results[0] / "VOCdevkit" / "VOC2007" / "Annotations" / "000000.xml")
