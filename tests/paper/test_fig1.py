"""Fig 1's data and drawing from fabricated histories (no training)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from greenkd_lib.paper import fig1


def _history(scale, tuned=False):
    h = pd.DataFrame({"epoch": [1, 2], "test_acc": [50.0, 90.0], "energy_kwh": [scale, 2 * scale],
                      "co2_g": [scale * 300, scale * 600], "flops": [1e12 * scale, 2e12 * scale]})
    return h.assign(tau=4.0, trainings=3) if tuned else h


def _curves():
    return [("teacher", "resnet18", _history(1.0)), ("kd-tuned", "mbv2", _history(3.0, tuned=True)),
            ("ours", "mbv2", _history(1.0))]


def test_final_points_and_seed_row():
    final = fig1.final_points(_curves())
    assert final["trainings"].tolist() == [1, 3, 1] and final["epochs"].tolist() == [2, 2, 2]
    assert final["co2_g"].tolist() == [600.0, 1800.0, 600.0] and np.isnan(final["tau"].iloc[0])
    assert final["pflops"].iloc[1] == pytest.approx(6e-3)
    rows = pd.DataFrame({"seed": [0, 1], "hash": ["a", "b"]})
    assert fig1.seed_row(rows, 1)["hash"] == "b"
    with pytest.raises(ValueError, match=r"no row for seed 2; seeds: \[0, 1\]$"):
        fig1.seed_row(rows, 2)


def test_trained_models_one_seed():
    rows = pd.DataFrame({"seed": [0, 1], "hash": ["x0", "x1"]})
    models = fig1.trained_models(rows, {"mbv2": rows.assign(hash=["t0", "t1"])},
                                 {"mbv2": rows.assign(hash=["o0", "o1"])}, 1, "resnet18")
    assert models.values.tolist() == [["teacher", "resnet18", "x1"], ["kd-tuned", "mbv2", "t1"],
                                      ["ours", "mbv2", "o1"]]


def test_draw_curves_and_inference():
    fig, ax = plt.subplots()
    fig1.draw_curves(ax, _curves(), {"mbv2": "tab:red"})
    assert [l.get_linestyle() for l in ax.get_lines()] == [":", "--", "-"] and ax.get_yscale() == "log"
    assert "tuned tau=4 (grid of 3 trainings)" in ax.get_legend().get_texts()[1].get_text()
    plt.close(fig)
    inference = pd.DataFrame({"method": ["teacher", "kd-tuned", "ours"], "model": ["resnet18", "mbv2", "mbv2"],
                              "time_s": [0.3, 0.2, 0.2], "co2_g": [1e-3, 5e-4, 5e-4]})
    fig, axes = plt.subplots(1, 2)
    fig1.draw_inference(axes, inference, {"mbv2": "tab:red"})
    assert [len(a.patches) for a in axes] == [3, 3] and axes[1].get_title() == "(c) inference CO2"
    assert axes[0].patches[1].get_hatch() == "//" and axes[0].patches[2].get_hatch() in ("", None)
    plt.close(fig)


def test_vs_paper_figure_marks_the_papers_teacher_only():
    from greenkd_lib.paper import compare

    inference = pd.DataFrame({"method": ["teacher", "kd-tuned", "ours"], "model": ["resnet18", "mbv2", "mbv2"],
                              "time_s": [0.8, 0.5, 0.4], "co2_g": [7e-4, 4e-4, 4e-4]})
    versus = compare.inference_vs_paper(inference, "ours (digits)")
    fig = fig1.vs_paper_figure(versus, "digits")
    paper = f"paper, {compare.INFERENCE_PAPER}"
    for ax in fig.axes[:2]:
        ours = [l for l in ax.lines if l.get_label() == "ours (median pass)"][0]
        theirs = [l for l in ax.lines if l.get_label() == paper][0]
        assert len(ours.get_xdata()) == 3 and len(theirs.get_xdata()) == 1  # the teacher's only
    assert list([l for l in fig.axes[0].lines if l.get_label() == paper][0].get_ydata()) == [4.7]
    assert "(no marker where not published: 4 of 6 rows)" in fig.legends[0].get_texts()[1].get_text()
    assert "teacher's only" in fig1.vs_paper_figure_caption("digits")
    plt.close(fig)
