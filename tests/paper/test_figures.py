"""The figure functions of notebooks 02, 03, 05, 06, 11 and 13 (greenkd_lib.paper) on fabricated tables."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from greenkd_lib.data import load
from greenkd_lib.paper import ablation_figures
from greenkd_lib.paper import fig2, fig3, table2, table3, table7


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _grid(shift=0.0):
    return pd.DataFrame([{"tau": t, "seed": s, "test_acc": 80 + t + s + shift, "best_val_acc": 70.0, "co2_g": 1.0}
                         for t in (1.0, 4.0) for s in (0, 1)])


def _ours(acc=(85.0, 86.0)):
    return pd.DataFrame({"seed": [0, 1], "test_acc": list(acc)})


def test_fig2_soft_outputs_one_panel_per_tau():
    q = {f"o_{w} = softmax(a_{w} / {t:g})": torch.softmax(torch.randn(3) / t, 0) for w in "ms" for t in (1.0, 4.0)}
    fig = fig2.soft_outputs_figure(np.zeros((4, 4, 3)), "cat", q, torch.arange(3), ["a", "b", "c"], [1.0, 4.0])
    assert len(fig.axes) == 3 and fig.axes[1].get_title() == "tau = 1"


def test_fig3_sweep_and_batch_sizes():
    per_tau = pd.DataFrame({"tau": [1.0, 4.0], "test_acc_mean": [80.0, 84.0], "test_acc_std": [1.0, np.nan]})
    fig = fig3.tau_sweep_figure(per_tau, _ours(), pd.Series({4.0: [0, 1]}), 2, 20)
    assert "tau chosen on validation: 4 (seeds 0, 1)" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    by_batch = pd.DataFrame({"batch_size": [16, 32], "test_acc_mean": [80.0, 81.0], "test_acc_std": [np.nan, 1.0]})
    fig = fig3.batch_size_figure(by_batch, 82.0, 32)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["16", "32 (default)"]


def test_table2_examples_one_row_per_data_set():
    digits = load("digits", image_size=12, subset=40)
    fig = table2.examples_figure({"digits": digits}, 3)
    assert len(fig.axes) == 3
    with pytest.raises(ValueError, match="positive integer"):
        table2.examples_figure({"digits": digits}, 0)


def test_table3_three_panels():
    measured = pd.DataFrame({"model": ["resnet18", "mobilenetv2"], "params (M)": [11.2, 2.3],
                             "MFLOPs/image @32": [500.0, 90.0], "latency ms/image @32 (cpu, batch 2)": [2.0, 1.0]})
    fig = table3.architectures_figure(measured, [32], "resnet18", ["mobilenetv2"], 100, "cpu")
    assert len(fig.axes) == 3 and fig.axes[0].patches[1].get_facecolor()[:3] == matplotlib.colors.to_rgb("tab:red")


def test_table7_accuracy_and_co2_panels():
    table = pd.DataFrame({"pair": ["a -> b"], "teacher acc": [95.0], "tuned acc": [90.0], "tuned acc std": [np.nan],
                          "ours acc": [89.0], "ours acc std": [1.0], "tuned CO2 (g)": [8.0], "ours CO2 (g)": [2.0],
                          "CO2 tuned / ours": [4.0]})
    fig = table7.pairs_figure(table, 4)
    assert len(fig.axes) == 2 and "4.0x" in [t.get_text() for t in fig.axes[1].texts]


def test_ablation_figures():
    fig = ablation_figures.reduction_figure({"mean": _grid(), "batchmean": _grid(1)},
                                          {"mean": _ours(), "batchmean": _ours()}, [1.0, 4.0], 2, 20)
    assert len(fig.legends[0].get_texts()) == 4
    policies = pd.DataFrame({"variant": ["a", "b"], "temperature": ["t1", "t2"], "test_acc_mean": [80.0, 81.0],
                             "test_acc_std": [1.0, np.nan]})
    fixed = pd.DataFrame({"tau": [1.0, 4.0], "test_acc_mean": [78.0, 83.0]})
    assert len(ablation_figures.policy_figure(policies, fixed, 82.0).axes[0].get_yticklabels()) == 2
    sizes = pd.DataFrame([{"state": s, "reduction": r, "tau": t, "param_ratio": 0.1 * t, "logit_ratio": 0.2 * t}
                          for s in ("at initialisation", "trained") for r in ("mean", "batchmean") for t in (1.0, 2.0)])
    averaged = pd.DataFrame([{"state": s, "reduction": r, "policy": "paper's", "avg": 0.15}
                             for s in ("at initialisation", "trained") for r in ("mean", "batchmean")])
    fig = ablation_figures.gradient_figure(sizes, averaged, ["mean", "batchmean"], 1, 2, "mobilenetv2")
    assert [ax.get_title() for ax in fig.axes] == ["mobilenetv2 at initialisation", "mobilenetv2 trained"]
