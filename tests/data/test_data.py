"""Tests of greenkd_lib.data on the embedded digits and on tiny official-format files (tests/datagen.py)."""

from __future__ import annotations

import pickle
import urllib.error
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits as sklearn_digits
from torch.utils.data import DataLoader

from greenkd_lib.data import (available, canonical_name, DatasetBundle, DatasetCorruptError, DatasetNotFoundError,
                              DATASETS, load, load_for, UnknownDatasetError)
from tests.helpers import datagen


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """One folder with all three file-based data sets, written once for the module."""
    r = tmp_path_factory.mktemp("data")
    datagen.write_cifar10(r)
    datagen.write_cifar100(r)
    datagen.write_tinyimagenet(r)
    return r


def _labels(ds) -> list[int]:
    return [int(ds[i][1]) for i in range(len(ds))]


def _assert_item(ds, size: int) -> None:
    x, y = ds[0]
    assert isinstance(x, torch.Tensor) and type(x) is torch.Tensor  # plain tensor, not a tv_tensors.Image
    assert x.dtype == torch.float32 and tuple(x.shape) == (3, size, size)
    assert isinstance(y, int)


def _assert_stratified(part: list[int], whole: list[int], fraction: float) -> None:
    """Each class gets its share of ``part`` within one sample."""
    part_counts, whole_counts = Counter(part), Counter(whole)
    for c, n in whole_counts.items():
        assert abs(part_counts.get(c, 0) - fraction * n) <= 1, (c, part_counts.get(c, 0), fraction * n)


# ---------------------------------------------------------------- digits

def test_digits_sizes_shapes_and_classes():
    b = load("digits")
    assert isinstance(b, DatasetBundle)
    assert (len(b.train), len(b.val), len(b.test)) == (1293, 144, 360)
    assert len(b.train) + len(b.val) + len(b.test) == 1797
    assert b.classes == [str(d) for d in range(10)] and b.num_classes == 10 and b.image_size == 32
    for split in (b.train, b.val, b.test):
        _assert_item(split, 32)
    x, _ = b.train[0]
    assert torch.equal(x[0], x[1]) and torch.equal(x[1], x[2])  # grey digits: three identical channels
    xb, yb = next(iter(DataLoader(b.train, batch_size=16)))
    assert xb.shape == (16, 3, 32, 32) and yb.dtype == torch.int64


def test_digits_image_size_and_normalisation_round_trip():
    assert tuple(load("digits", image_size=16).test[0][0].shape) == (3, 16, 16)
    b = load("digits", image_size=8)  # native size: denormalised pixels must be the raw values / 16
    raw = sklearn_digits()
    known = {(tuple(img.ravel().tolist()), int(t)) for img, t in zip(raw.images.astype(int), raw.target)}
    for split in (b.train, b.test):
        for i in (0, 5, len(split) - 1):
            x, y = split[i]
            pixels = (b.denormalize(x)[0] * 16).round().int().ravel().tolist()
            assert (tuple(pixels), y) in known
    train = torch.stack([b.train[i][0] for i in range(len(b.train))])
    assert abs(float(train.mean())) < 0.05 and abs(float(train.std()) - 1) < 0.05


def test_digits_test_split_fixed_val_split_seeded_and_stratified():
    a, a2, c = load("digits", seed=0), load("digits", seed=0), load("digits", seed=1)
    assert a.test.indices == a2.test.indices == c.test.indices  # test never moves with the seed
    assert a.val.indices == a2.val.indices and a.train.indices == a2.train.indices
    assert a.val.indices != c.val.indices
    assert not set(a.train.indices) & set(a.val.indices)
    all_labels = sklearn_digits().target.tolist()
    _assert_stratified(_labels(a.test), all_labels, 0.2)
    _assert_stratified(_labels(a.val), _labels(a.val) + _labels(a.train), 0.1)


def test_digits_never_augmented_and_root_ignored(tmp_path):
    b = load("digits", root=tmp_path / "nowhere", augment=True)
    assert torch.equal(b.train[3][0], b.train[3][0])
    assert b.summary()["augment"] is False


def test_digits_subset_is_stratified_and_bounded():
    b = load("digits", subset=50, seed=3)
    assert (len(b.train), len(b.val), len(b.test)) == (50, 50, 50)
    for split in (b.train, b.val, b.test):
        assert set(_labels(split)) == set(range(10))  # 50 samples over 10 classes: all classes kept
    assert load("digits", subset=50, seed=3).train.indices == b.train.indices
    assert len(load("digits", subset=5000).train) == 1293  # larger than a split: the whole split


def test_summary_and_denormalize():
    b = load("digits", subset=20)
    s = b.summary()
    assert {k: s[k] for k in ("name", "num_classes", "train_size", "val_size", "test_size", "image_size")} == {
        "name": "digits", "num_classes": 10, "train_size": 20, "val_size": 20, "test_size": 20, "image_size": 32}
    assert "load_digits" in s["source"] and s["seed"] == 0 and s["subset"] == 20
    batch = torch.stack([b.test[i][0] for i in range(4)])
    d = b.denormalize(batch)
    assert d.shape == batch.shape and float(d.min()) >= 0 and float(d.max()) <= 1
    with pytest.raises(ValueError, match=r"\(\.\.\., 3, H, W\)"):
        b.denormalize(torch.zeros(2, 1, 8, 8))


# ---------------------------------------------------------------- CIFAR

def test_cifar10_load_shapes_labels_and_disjoint_stratified_val(root):
    b = load("cifar10", root, val_fraction=0.2)
    assert b.classes == datagen.CIFAR10_CLASSES and b.num_classes == 10 and b.image_size == 32
    assert (len(b.train), len(b.val), len(b.test)) == (80, 20, 50)
    for split in (b.train, b.val, b.test):
        _assert_item(split, 32)
    assert not set(b.train.indices) & set(b.val.indices)
    assert sorted(b.train.indices + b.val.indices) == list(range(100))
    assert Counter(_labels(b.val)) == {c: 2 for c in range(10)}
    assert b.mean == (0.5071, 0.4865, 0.4409) and b.std == (0.2673, 0.2564, 0.2762)
    assert Path(b.summary()["root"]) == (root / "cifar-10-batches-py").absolute()


def test_cifar10_pixels_and_labels_match_the_files(root):
    b = load("cifar10", root)
    with open(root / "cifar-10-batches-py" / "test_batch", "rb") as f:
        entry = pickle.load(f, encoding="latin1")
    for i in (0, 17, 49):
        x, y = b.test[i]
        assert y == entry["labels"][i]
        expected = torch.from_numpy(entry["data"][i].reshape(3, 32, 32)).float() / 255
        assert torch.allclose(b.denormalize(x), expected, atol=1e-5)


def test_cifar10_augmentation_only_on_train(root):
    torch.manual_seed(0)
    b = load("cifar10", root)
    assert any(not torch.equal(b.train[i][0], b.train[i][0]) for i in range(5))
    assert all(torch.equal(b.val[i][0], b.val[i][0]) for i in range(5))
    plain = load("cifar10", root, augment=False)
    assert torch.equal(plain.train[0][0], plain.train[0][0])


def test_cifar_image_size_resizes_every_split(root):
    b = load("cifar10", root, image_size=48)
    for split in (b.train, b.val, b.test):
        _assert_item(split, 48)


def test_cifar10_seeded_split_and_subset(root):
    a, a2, c = (load("cifar10", root, seed=s) for s in (7, 7, 8))
    assert a.val.indices == a2.val.indices and a.train.indices == a2.train.indices
    assert a.val.indices != c.val.indices
    s = load("cifar10", root, subset=20, seed=7)
    assert (len(s.train), len(s.val), len(s.test)) == (20, 10, 20)
    assert Counter(_labels(s.train)) == {k: 2 for k in range(10)}
    assert set(s.val.indices) == set(a.val.indices)  # val is carved before subsetting
    assert not set(s.train.indices) & set(s.val.indices)


def test_cifar100_fine_labels_and_names(root):
    b = load("cifar100", root, val_fraction=0.4)
    assert b.num_classes == 100 and b.classes == datagen.CIFAR100_FINE
    assert (len(b.train), len(b.val), len(b.test)) == (300, 200, 200)
    assert Counter(_labels(b.val)) == {c: 2 for c in range(100)}
    with open(root / "cifar-100-python" / "test", "rb") as f:
        assert _labels(b.test) == pickle.load(f, encoding="latin1")["fine_labels"]
    _assert_item(b.train, 32)


def test_val_split_too_small_to_stratify_warns(root):
    with pytest.warns(UserWarning, match="not stratified"):
        b = load("cifar100", root)  # 50 validation samples cannot hold 100 classes
    assert len(b.val) == 50


# ---------------------------------------------------------------- Tiny ImageNet

def test_tinyimagenet_classes_sorted_names_and_val_as_test(root):
    b = load("tinyimagenet", root)
    wnids = sorted(datagen.TINY_WNIDS)
    assert b.classes == [datagen.TINY_WORDS[w].split(",")[0] for w in wnids]
    assert b.classes == ["goldfish", "European fire salamander", "bullfrog"]
    assert (len(b.train), len(b.val), len(b.test)) == (27, 3, 9)
    assert Counter(_labels(b.val)) == {0: 1, 1: 1, 2: 1}
    for split in (b.train, b.val, b.test):
        _assert_item(split, 64)
    lines = (root / "tiny-imagenet-200" / "val" / "val_annotations.txt").read_text().splitlines()
    assert _labels(b.test) == [wnids.index(line.split("\t")[1]) for line in lines]
    assert b.mean == (0.4802, 0.4481, 0.3975) and b.std == (0.2302, 0.2265, 0.2262)


def test_tinyimagenet_grayscale_resize_subset(root):
    b = load("tinyimagenet", root, image_size=32, subset=4, augment=False)
    assert (len(b.train), len(b.val), len(b.test)) == (4, 3, 4)
    grey = datagen.TINY_WNIDS[0]  # its first training image is a grayscale JPEG
    full = load("tinyimagenet", root, val_fraction=0.5, augment=False)
    base = full.train.base
    i = next(k for k, (path, _) in enumerate(base.samples) if path.endswith(f"{grey}_0.JPEG"))
    x, _ = base[i]
    assert x.mode == "RGB"
    _assert_item(b.train, 32)


# ---------------------------------------------------------------- available

def test_available(tmp_path, root):
    assert available(tmp_path) == {"digits": True, "cifar10": False, "cifar100": False, "tinyimagenet": False}
    assert available(root) == {name: True for name in DATASETS}


# ---------------------------------------------------------------- errors

def test_unknown_name_lists_known_and_suggests():
    with pytest.raises(UnknownDatasetError) as e:
        load("cifar-10")
    msg = str(e.value)
    assert all(name in msg for name in DATASETS) and "Did you mean 'cifar10'" in msg
    assert isinstance(e.value, ValueError)
    assert load("DIGITS", subset=5).name == "digits"


def test_canonical_name_and_load_for_a_runs_knobs(root):
    from types import SimpleNamespace

    assert canonical_name(" CIFAR10 ") == "cifar10"
    with pytest.raises(UnknownDatasetError, match="Did you mean 'cifar100'"):
        canonical_name("cifar-100")
    cfg = SimpleNamespace(dataset="cifar10", image_size=16, val_fraction=0.2, subset=30)  # a RunConfig's fields
    bundle = load_for(cfg, root)
    same = load("cifar10", root, image_size=16, val_fraction=0.2, subset=30, seed=0)
    assert bundle.summary() == same.summary()
    for split in ("train", "val", "test"):
        a, b = getattr(bundle, split), getattr(same, split)
        if split == "train":  # augmented: compare the picked samples, not their random crops
            assert list(a.indices) == list(b.indices)
        else:
            assert all(torch.equal(a[i][0], b[i][0]) and a[i][1] == b[i][1] for i in range(len(a)))


@pytest.mark.parametrize("kwargs, match", [
    ({"val_fraction": 0}, "between 0 and 1"), ({"val_fraction": 1.0}, "between 0 and 1"),
    ({"val_fraction": -0.1}, "between 0 and 1"), ({"subset": 0}, "integer >= 1"),
    ({"image_size": 4}, "integer >= 8"), ({"subset": 2.5}, "integer >= 1"), ({"seed": -1}, r"seed must be"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load("digits", **kwargs)


@pytest.mark.parametrize("name, folder, expected", [
    ("cifar10", "cifar-10-batches-py", "data_batch_1"),
    ("cifar100", "cifar-100-python", "fine_labels"),
])
def test_cifar_missing(tmp_path, name, folder, expected):
    with pytest.raises(DatasetNotFoundError) as e:
        load(name, tmp_path)
    msg = str(e.value)
    assert name in msg and str((tmp_path / folder).absolute()) in msg and expected in msg
    assert "download=True on a machine with internet" in msg
    assert isinstance(e.value, FileNotFoundError)


def test_cifar_one_missing_file_is_named(tmp_path):
    datagen.write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "test_batch").unlink()
    with pytest.raises(DatasetNotFoundError, match="missing: test_batch"):
        load("cifar10", tmp_path)


def test_cifar_corrupt_batch(tmp_path):
    folder = datagen.write_cifar10(tmp_path)
    (folder / "data_batch_3").write_bytes(b"\x80\x02}q\x00(X\x04\x00\x00")  # truncated pickle
    with pytest.raises(DatasetCorruptError, match=r"cannot unpickle .*data_batch_3"):
        load("cifar10", tmp_path)
    with open(folder / "data_batch_3", "wb") as f:
        pickle.dump({"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}, f)
    with pytest.raises(DatasetCorruptError, match=r"data_batch_3 .*3072"):
        load("cifar10", tmp_path)


class _Planted:
    """A pickle that creates a file when loaded: what a planted data_batch could do instead."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("name, dataset", [("data_batch_1", "cifar10"), ("test_batch", "cifar10"),
                                           ("batches.meta", "cifar10"), ("train", "cifar100"), ("meta", "cifar100")])
def test_a_planted_pickle_runs_no_code_and_is_named(tmp_path, name, dataset):
    folder = (datagen.write_cifar10 if dataset == "cifar10" else datagen.write_cifar100)(tmp_path / "data")
    marker = tmp_path / "ran"
    with open(folder / name, "wb") as f:
        pickle.dump({"data": _Planted(marker), "labels": [0]}, f, protocol=4)
    with pytest.raises(DatasetCorruptError, match=rf"refused to unpickle .*{name}: it names pathlib.Path.touch"):
        load(dataset, tmp_path / "data", val_fraction=0.4)
    assert not marker.exists()


def test_cifar_corrupt_meta(tmp_path):
    folder = datagen.write_cifar100(tmp_path)
    with open(folder / "meta", "wb") as f:
        pickle.dump({"coarse_label_names": datagen.CIFAR100_COARSE}, f)
    with pytest.raises(DatasetCorruptError, match="fine_label_names"):
        load("cifar100", tmp_path, val_fraction=0.4)


def test_cifar_download_uses_torchvision_checks(tmp_path, monkeypatch):
    """download=True hands over to torchvision: md5 checks (which test files fail), then a download."""
    import torchvision.datasets.cifar as tv_cifar

    calls = []

    def offline(url, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(tv_cifar, "download_and_extract_archive", offline)
    datagen.write_cifar10(tmp_path)
    with pytest.raises(DatasetNotFoundError, match="download failed") as e:
        load("cifar10", tmp_path, download=True)
    assert calls == [tv_cifar.CIFAR10.url] and "no network" in str(e.value)
    monkeypatch.setattr(tv_cifar, "download_and_extract_archive", lambda *a, **k: None)
    with pytest.raises(DatasetCorruptError, match="md5"):
        load("cifar10", tmp_path, download=True)


def test_tinyimagenet_missing_gives_url(tmp_path):
    for download in (False, True):
        with pytest.raises(DatasetNotFoundError) as e:
            load("tinyimagenet", tmp_path, download=download)
        msg = str(e.value)
        assert "http://cs231n.stanford.edu/tiny-imagenet-200.zip" in msg
        assert str((tmp_path / "tiny-imagenet-200").absolute()) in msg and "val_annotations.txt" in msg
        assert ("no downloader" in msg) == download


def test_tinyimagenet_unknown_wnid_in_annotations(tmp_path):
    folder = datagen.write_tinyimagenet(tmp_path, train_per_class=2, val_per_class=1)
    ann = folder / "val" / "val_annotations.txt"
    ann.write_text(ann.read_text() + "val_0.JPEG\tn99999999\t0\t0\t1\t1\n")
    with pytest.raises(DatasetCorruptError, match=r"line 4: wnid 'n99999999' is not in wnids.txt"):
        load("tinyimagenet", tmp_path, val_fraction=0.5)


def test_tinyimagenet_class_without_training_images(tmp_path):
    folder = datagen.write_tinyimagenet(tmp_path, train_per_class=2, val_per_class=1)
    for f in (folder / "train" / "n01443537" / "images").iterdir():
        f.unlink()
    with pytest.raises(DatasetNotFoundError, match="n01443537"):
        load("tinyimagenet", tmp_path, val_fraction=0.5)
