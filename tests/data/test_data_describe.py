"""Table 2's data-set table (greenkd_lib.data.describe) on the embedded digits and a missing data set."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torchvision.transforms import v2

from greenkd_lib.data import DATASETS, describe, DOCUMENTED_SIZES, load


@pytest.fixture(scope="module")
def digits():
    return load("digits", image_size=12, subset=40)


def test_training_augmentation_names_the_random_steps_only():
    t = v2.Compose([v2.RandomCrop(8, padding=2), v2.ToDtype(torch.float32), v2.RandomHorizontalFlip()])
    assert describe.training_augmentation(t) == "RandomCrop, RandomHorizontalFlip"
    assert describe.training_augmentation(v2.Compose([v2.ToDtype(torch.float32)])) == "none"
    assert describe.training_augmentation(None) == "none"


def test_loader_table_describes_a_found_and_a_missing_data_set(digits):
    table = describe.loader_table({"digits": digits, "cifar10": None}, "/nowhere")
    assert list(table.columns) == describe.COLUMNS
    found, missing = table.iloc[0], table.iloc[1]
    assert found["status"] == "found" and found["classes"] == 10 and found["image"] == "12x12"
    assert found["train"] + found["val"] > 0 and found["train augmentation"] == "none"  # digits are never flipped
    assert len(found["mean"].split(", ")) == 3
    assert "not found under /nowhere" in missing["status"] and missing["classes"] == "—"


def test_load_found_loads_only_what_is_there(tmp_path, digits):
    lab = SimpleNamespace(dataset="digits", data_root=tmp_path, data=lambda: digits)
    absent = SimpleNamespace(dataset="cifar100", data_root=tmp_path, data=lambda: pytest.fail("must not load"))
    bundles = describe.load_found([lab, absent])
    assert bundles == {"digits": digits, "cifar100": None}
    text = describe.availability(bundles, tmp_path)
    assert "digits        found" in text and f"cifar100      not found under {tmp_path}" in text


def test_datasets_table_adds_the_documented_sizes_and_the_data_set_in_use(digits):
    documented = describe.documented_table()
    assert list(documented["data set"]) == list(DOCUMENTED_SIZES) and set(describe.PUBLISHERS) >= set(DATASETS)
    assert documented.set_index("data set").loc["digits", "documented test"] == "no official split"
    table = describe.datasets_table(describe.loader_table({"digits": digits, "cifar10": None}, "d"), used="digits")
    row = table.set_index("data set")
    assert row.loc["cifar10", "documented train"] == 50_000 and row.loc["digits", "documented image"] == "8x8"
    assert row["used by this profile's runs"].tolist() == ["yes", ""]
