"""Table 3's architecture table (greenkd_lib.paper.table3): sizes, one cheap measured model, the paper column."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from greenkd_lib.data import published
from greenkd_lib.models import MODELS, UnknownModelError
from greenkd_lib.paper import table3 as catalog


def test_architecture_names_accepts_a_name_a_list_or_none():
    assert catalog.architecture_names(None) == list(MODELS)
    assert catalog.architecture_names("ResNet18") == ["resnet18"]
    with pytest.raises(ValueError, match="empty"):
        catalog.architecture_names([])
    with pytest.raises(UnknownModelError):
        catalog.architecture_names(["resnet19"])


def test_table_sizes_raise_latency_to_the_smallest_accepted_size():
    assert catalog.table_sizes(["resnet18", "vgg16"], 12) == ([12, 16, 32, 64], 16)  # VGG16 needs 16x16
    assert catalog.table_sizes(["resnet18"], None) == ([32, 64], 32)
    assert catalog.table_sizes(["resnet18"], 12, latency_image_size=24) == ([12, 24, 32, 64], 24)


def test_measure_architectures_one_row_per_model_nan_below_its_minimum():
    dev = torch.device("cpu")
    table = catalog.measure_architectures(["wrn_16_1"], 10, [8, 16], 8, 2, dev)
    row = table.iloc[0]
    assert row["model"] == "wrn_16_1" and row["role in the paper"].startswith("data-free KD student")
    assert row["params (M)"] > 0 and row["size on disk (MB)"] > 0
    assert row["MFLOPs/image @16"] == pytest.approx(4 * row["MFLOPs/image @8"], rel=0.05)
    assert row[catalog.latency_column(8, dev, 2)] > 0
    with pytest.raises(ValueError, match="positive integer"):
        catalog.measure_architectures(["wrn_16_1"], 10, [8], 8, 0, dev)


def _measured():
    return pd.DataFrame({"model": ["resnet18", "mobilenetv2"], "role in the paper": ["teacher", "student 1"],
                         "params (M)": [11.2, 2.3], "size on disk (MB)": [45.0, 9.0],
                         "MFLOPs/image @16": [140.0, 7.0], "latency ms/image @16 (cpu, batch 32)": [2.0, 1.0]})


def test_beside_paper_adds_the_published_cell_and_ratios_to_the_teacher():
    table = catalog.beside_paper(_measured(), "resnet18", 100, 16)
    col = "params (M): ours (paper, Fig 1 caption)"
    assert list(table.columns[:4]) == ["model", "role in the paper", "params (M)", col]
    assert table[col].iloc[1] == published.NOT_PUBLISHED and table[col].iloc[0] != published.NOT_PUBLISHED
    student = table.set_index("model").loc["mobilenetv2"]
    assert student["resnet18 FLOPs / FLOPs"] == pytest.approx(20.0)
    assert student["resnet18 latency / latency"] == pytest.approx(2.0)
    assert "for 100 classes" in catalog.beside_paper(_measured(), "resnet18", 10, 16)[col].iloc[0]
    alone = catalog.beside_paper(_measured().iloc[1:], "resnet18", 100, 16)  # no teacher row: no ratios
    assert not any("/" in c for c in alone.columns if c.startswith("resnet18"))
    assert not math.isnan(alone["params (M)"].iloc[0])
