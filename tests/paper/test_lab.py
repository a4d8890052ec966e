"""The experiments' arithmetic on fabricated result rows (no training): tune, summarize, tuned_curve;
and Lab.data() is the split training loads."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from greenkd_lib import data as data_mod
from greenkd_lib.engine import train as train_mod
from greenkd_lib.methods import FixedTemperature
from greenkd_lib.paper.lab import Lab
from greenkd_lib.paper.rows import COST_COLUMNS, summarize, tune


def _row(seed: int, tau: float, val: float, test: float, energy: float | None = 1.0, wall: float = 10.0,
         objective: str = "kd", other_load: float = 0.0, disturbed: bool = False, run_hash: str = "") -> dict:
    """One fixed-tau KD result row, shaped as greenkd_lib.paper.rows.row makes them."""
    return {"method": "kd", "objective": objective, "dataset": "digits", "profile": "smoke", "teacher": "resnet18",
            "student": "mobilenetv2", "seed": seed, "tau": tau, "temperature": f"tau={tau:g}", "batch_size": 64,
            "test_acc": test, "best_test_acc": test + 1, "best_val_acc": val,
            "energy_kwh": np.nan if energy is None else energy,
            "co2_g": np.nan if energy is None else energy * 294.21, "wall_s": wall,
            "pflops": 2.0, "gflops_millions": 2.0, "trainings": 1, "mode": "estimate", "carbon_intensity": 294.21,
            "machine_load": 0.5, "other_load": other_load, "sibling_load": None, "disturbed": disturbed,
            "hash": run_hash or f"{seed}{int(tau)}"}


def test_tune_chooses_tau_on_validation_per_seed_and_charges_the_whole_grid():
    rows = pd.DataFrame([
        _row(0, 2.0, val=80, test=90, wall=10), _row(0, 4.0, val=85, test=70, wall=30), _row(0, 8.0, val=60, test=95),
        _row(1, 2.0, val=70, test=70), _row(1, 4.0, val=60, test=99), _row(1, 8.0, val=75, test=71),
    ])
    tuned = tune(rows)
    assert list(tuned["seed"]) == [0, 1]
    assert list(tuned["tau"]) == [4.0, 8.0]  # best validation, not best test
    assert list(tuned["test_acc"]) == [70, 71]
    for col in COST_COLUMNS:
        assert list(tuned[col]) == pytest.approx(list(rows.groupby("seed")[col].sum()))
    assert list(tuned["wall_s"]) == [50.0, 30.0]
    assert (tuned["trainings"] == 3).all() and (tuned["method"] == "kd-tuned").all()
    assert tuned.loc[0, "temperature"] == "tuned tau=4 (grid of 3)"


def test_tune_carries_a_missing_cost_as_missing():
    rows = pd.DataFrame([_row(0, 2.0, 80, 80), _row(0, 4.0, 90, 90, energy=None), _row(1, 2.0, 80, 80)])
    tuned = tune(rows).set_index("seed")
    assert math.isnan(tuned.loc[0, "energy_kwh"]) and math.isnan(tuned.loc[0, "co2_g"])  # not 1.0, not 0
    assert tuned.loc[0, "wall_s"] == 20.0  # the other costs are still known
    assert tuned.loc[1, "energy_kwh"] == 1.0


def test_tune_weights_loads_by_duration_and_keeps_objectives_apart():
    rows = pd.DataFrame([
        _row(0, 2.0, 80, 80, wall=30, other_load=0.0), _row(0, 4.0, 70, 70, wall=10, other_load=0.4, disturbed=True),
        _row(0, 2.0, 50, 50, objective="dml"), _row(0, 4.0, 60, 60, objective="dml"),
    ])
    tuned = tune(rows).set_index("objective")
    assert tuned.loc["kd", "other_load"] == pytest.approx(0.4 * 10 / 40)
    assert bool(tuned.loc["kd", "disturbed"]) and not bool(tuned.loc["dml", "disturbed"])  # any part disturbed
    assert (tuned.loc["kd", "tau"], tuned.loc["dml", "tau"]) == (2.0, 4.0)


def test_summarize_means_over_seeds_per_group_in_order_of_appearance():
    rows = pd.DataFrame([_row(0, 4.0, 80, 90), _row(1, 4.0, 80, 80, energy=3.0), _row(0, 4.0, 80, 70)])
    rows["method"] = ["ours", "ours", "kd-tuned"]
    out = summarize(rows)
    assert list(out["method"]) == ["ours", "kd-tuned"]  # sort=False: the rows' own order
    ours = out.iloc[0]
    assert ours["test_acc_mean"] == 85 and ours["test_acc_std"] == pytest.approx(np.std([90, 80], ddof=1))
    assert ours["seeds"] == 2 and ours["best_test_acc_mean"] == 86
    assert ours["energy_kwh"] == 2.0 and ours["mode"] == "estimate"
    assert math.isnan(out.iloc[1]["test_acc_std"]) and out.iloc[1]["seeds"] == 1  # one seed: no spread
    assert list(summarize(rows, by=("method", "no_such_column"))["method"]) == ["ours", "kd-tuned"]
    assert "best_test_acc_mean" in summarize(rows, metric="best_val_acc").columns


@pytest.fixture
def lab(tmp_path):
    return Lab("smoke", dataset="digits", runs_root=tmp_path / "runs", data_root=tmp_path / "data", device="cpu",
               workers=1, progress=False)


def _history(val: list[float], test: list[float], wall: float, energy: float) -> pd.DataFrame:
    epochs = np.arange(1, len(val) + 1)
    return pd.DataFrame({"epoch": epochs, "val_acc": val, "test_acc": test, "wall_s": wall * epochs,
                         "energy_kwh": energy * epochs, "co2_g": energy * 294.21 * epochs, "flops": 100 * epochs})


def test_tuned_curve_follows_the_validation_choice_at_the_whole_grids_cost(lab, monkeypatch):
    rows = pd.DataFrame([_row(0, 2.0, 70, 90, run_hash="a2"), _row(0, 8.0, 80, 60, run_hash="a8"),
                         _row(1, 2.0, 99, 99, run_hash="b2")])
    histories = {"a2": _history([60, 70], [80, 90], wall=1.0, energy=0.1),
                 "a8": _history([75, 80], [55, 60], wall=2.0, energy=0.3),
                 "b2": _history([99, 99], [99, 99], wall=5.0, energy=5.0)}
    monkeypatch.setattr(lab, "history", lambda run_hash: histories[run_hash].copy())
    curve = lab.tuned_curve(rows)  # the profile's first seed: 0
    assert list(curve["epoch"]) == [1, 2]
    assert list(curve["test_acc"]) == [55, 60] and (curve["tau"] == 8.0).all()  # tau=8 won on validation
    assert list(curve["wall_s"]) == [3.0, 6.0]  # both grid runs, epoch by epoch; not seed 1's
    assert list(curve["energy_kwh"]) == pytest.approx([0.4, 0.8])
    assert list(curve["flops"]) == [200, 400] and (curve["trainings"] == 2).all()
    assert list(lab.tuned_curve(rows, seed=1)["test_acc"]) == [99, 99]
    with pytest.raises(ValueError, match=r"no grid run for seed 7; the grid has seeds \[0, 1\]$"):
        lab.tuned_curve(rows, seed=7)


class _Loaded(Exception):
    """Stops a training right after it loaded its data."""


def test_lab_data_is_the_split_training_loads(lab, monkeypatch):
    seen = []

    def spy(cfg, root=None):
        seen.append(real(cfg, root))
        raise _Loaded

    real = data_mod.load_for
    monkeypatch.setattr(data_mod, "load_for", spy)
    cfg = lab.kd_config(FixedTemperature(4.0).config())  # a student: its knobs are the lab's, like the teacher's
    with pytest.raises(_Loaded):
        train_mod.train(cfg, lab.store.run(cfg.to_dict()), store=lab.store, data_root=lab.data_root, device="cpu",
                        progress=False)
    monkeypatch.undo()
    trained_on, evaluated_on = seen[0], lab.data()
    assert trained_on.summary() == evaluated_on.summary()
    for split in ("val", "test"):
        a, b = getattr(trained_on, split), getattr(evaluated_on, split)
        assert len(a) == len(b) > 0
        assert all(torch.equal(a[i][0], b[i][0]) and a[i][1] == b[i][1] for i in range(len(a)))  # same order
    assert list(trained_on.train.indices) == list(evaluated_on.train.indices)
