"""Fig 3's tables, the ablation's headlines and its policy set-up (greenkd_lib.paper.ablation) on fabricated rows."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from greenkd_lib.methods import StochasticTemperature
from greenkd_lib.paper import ablation
from tests.helpers.grids import kd_grid



def _ours(accs):
    return pd.DataFrame([{"seed": s, "test_acc": a, "best_val_acc": a, "co2_g": 0.5, "energy_kwh": 0.05,
                          "wall_s": 1.0, "batch_size": b} for (s, b), a in accs.items()])


def test_tau_sweep_table_and_headline():
    grid, ours = kd_grid(), _ours({(0, 32): 91.0, (1, 32): 90.0})
    tuned = pd.DataFrame({"seed": [0, 1], "tau": [2.0, 8.0], "test_acc": [90.0, 92.0]})
    assert ablation.chosen_taus(tuned).to_dict() == {2.0: [0], 8.0: [1]}
    table = ablation.tau_sweep_table(grid, tuned, ours, 2, 20)
    assert table["method"].tolist() == ["kd", "kd", "ours"] and table["tau"].tolist() == ["2", "8", "U{2..20}"]
    assert table["chosen_by_seeds"].tolist() == ["0", "1", ""]
    assert table["test_acc_mean"].iloc[2] == pytest.approx(90.5) and table["seeds"].iloc[2] == 2
    text = ablation.sweep_headline(grid, tuned, ours)
    assert "spans 0.50 points" in text and "ours minus tuned: -0.50 points" in text and "instead of 2" in text


def test_batch_size_table_groups_by_batch_size():
    rows = _ours({(0, 16): 80.0, (1, 16): 82.0, (0, 64): 70.0})
    table = ablation.batch_size_table(rows)
    assert table["batch_size"].tolist() == [16, 64] and table["seeds"].tolist() == [2, 1]
    assert table["test_acc_mean"].tolist() == [81.0, 70.0] and math.isnan(table["test_acc_std"].iloc[1])


def test_reduction_and_policy_headlines():
    by = pd.DataFrame({"reduction": ["mean", "batchmean"], "ours_minus_tuned": [0.5, -1.25], "tau_spread": [2.0, 3.0]})
    text = ablation.reduction_headline(by, "mean", "batchmean")
    assert "+0.50 points under 'mean'" in text and "-1.25 points under 'batchmean'" in text
    policies = pd.DataFrame({"variant": ["a", "b"], "temperature": ["t1", "t2"], "test_acc_mean": [80.0, 82.0],
                             "minus_reference": [0.0, 2.0], "minus_tuned": [-1.0, 1.0]})
    fixed = pd.DataFrame({"tau": [1.0, 4.0], "test_acc_mean": [70.0, 75.0]})
    text = ablation.policy_headline(policies, fixed)
    assert text.startswith("Best policy: b (t2) at 82.00 %") and "span 2.00 points; fixed taus span 5.00" in text


def test_policy_variants_asks_the_lab_for_each_policy():
    calls = []
    lab = SimpleNamespace(profile=SimpleNamespace(tau_low=2, tau_high=20),
                          stochastic_kd=lambda **kw: calls.append(kw) or kw)
    variants = ablation.policy_variants(lab, "mobilenetv2", "reference rows", 3, 6)
    assert list(variants) == ["per batch, U{2..20} (the paper's)", "per epoch", "per sample", "narrow, U{3..6}",
                              "log-uniform [2, 20]"]
    assert variants["per batch, U{2..20} (the paper's)"] == "reference rows" and len(calls) == 4
    assert all(c["student"] == "mobilenetv2" for c in calls)
    with pytest.raises(ValueError, match="narrow_low must be <= narrow_high"):
        ablation.policy_variants(lab, "mobilenetv2", None, 6, 3)


def test_gradient_taus_draws_and_headline():
    assert ablation.gradient_taus(4.5) == [1, 2, 3, 4] and ablation.gradient_taus(20, [2, 3]) == [2.0, 3.0]
    draws = ablation.draw_policies(2, 20, 3, 6)
    assert list(draws) == ["paper's", "narrow", "log-uniform"]
    assert all(isinstance(d, StochasticTemperature) for d in draws.values()) and draws["narrow"].high == 6
    sizes = pd.DataFrame([{"state": "trained", "reduction": r, "tau": t, "kd_param_norm": t * (10 if r == "batchmean" else 1)}
                          for r in ("mean", "batchmean") for t in (1.0, 2.0)])
    averaged = pd.DataFrame([{"state": s, "reduction": r, "policy": "paper's", "low": 0.1, "high": 0.2, "avg": 0.15,
                              "equivalent_tau": 5.0} for s in ("trained", "at initialisation") for r in ("mean", "batchmean")])
    text = ablation.gradient_headline(sizes, averaged, "mean", "batchmean", 2, 20, 10)
    assert "'mean': for the trained student the KD gradient is 0.1 to 0.2 times" in text
    assert "under 'batchmean' is 10 times that under 'mean'" in text and np.isfinite(len(text))
