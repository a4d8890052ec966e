"""The paper's numbers come from data/paper and nowhere else."""

from __future__ import annotations

import pandas as pd

from greenkd_lib.data import published as paper
from greenkd_lib.paths import paper_dir


def test_csvs_are_the_shared_ones():
    t4 = pd.read_csv(paper_dir() / "table4.csv")
    assert len(t4) == 24 and set(t4["method"]) == {"tuned", "ours"}


def test_lookups():
    assert paper.table4_value("cifar10", "HKD", "tuned", "co2_g") == 1173.44
    assert paper.table4_value("cifar10", "HKD", "ours", "energy_kwh") == 0.21
    assert paper.headline_value("teacher_accuracy", "cifar100") == 76.03
    assert paper.headline_value("teacher_accuracy", "digits") is None
    assert paper.table4_value("digits", "HKD", "ours", "co2_g") is None


def test_compare_says_not_published():
    assert paper.compare(90.0, None) == "90.00 (paper: not published here)"
    assert paper.compare(90.0, 91.78) == "90.00 (paper 91.78, diff -1.78)"
