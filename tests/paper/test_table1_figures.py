"""Table 1's bars from a fabricated table (no training)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from greenkd_lib.paper.table1 import draw_table1


def test_two_panels_per_data_set_annotated_relative_to_the_teacher():
    one = pd.DataFrame({"method": ["teacher", "scratch", "kd-tuned", "ours"],
                        "row": ["Teacher", "Student alone", "KD, tuned tau", "Ours, stochastic tau"],
                        "model": ["resnet18", "mbv2", "mbv2", "mbv2"], "test_acc_mean": [97.0, 95.0, 96.0, 96.5],
                        "test_acc_std": [0.2, np.nan, 0.1, 0.3], "co2_g": [2.0, 1.0, 6.0, 2.0],
                        "co2_vs_teacher": [1.0, 0.5, 3.0, 1.0], "gflops_millions": [4.0, 1.0, 6.0, 2.0],
                        "mode": "estimate"})
    table = pd.concat([one.assign(dataset="digits"), one.assign(dataset="cifar10")], ignore_index=True)
    fig, axes = plt.subplots(2, 2, squeeze=False)
    draw_table1(axes, table, ["digits, quick", "cifar10, quick"])
    assert all(len(ax.patches) == 4 for ax in axes.flat)
    texts = [t.get_text() for t in axes[0, 0].texts]
    assert texts[2] == "acc 96.0 ± 0.1 %\n3.00x teacher" and texts[1] == "acc 95.0 %\n0.50x teacher"
    assert [t.get_text() for t in axes[1, 1].texts][3] == "0.50x teacher"
    assert axes[1, 0].get_title() == "CO2 (estimate) and accuracy (cifar10, quick)"
    plt.close(fig)


def _table1(dataset):
    from greenkd_lib.paper.table1 import TABLE1_COLUMNS

    return pd.DataFrame({"dataset": dataset, "method": ["teacher", "scratch", "kd-tuned", "ours"],
                         "row": ["Teacher", "Student alone", "KD, tuned tau", "Ours, stochastic tau"],
                         "model": ["resnet18", "mbv2", "mbv2", "mbv2"], "temperature": "x", "trainings": [1, 1, 3, 1],
                         "seeds": 2, "test_acc_mean": [93.0, 88.0, 90.0, 90.5], "test_acc_std": [0.3, 0.2, 0.1, 0.4],
                         "best_test_acc_mean": [94.0, 89.0, 91.0, 91.5], "best_test_acc_std": [0.5, 0.6, 0.7, 0.8],
                         "gflops_millions": [4.0, 1.0, 6.0, 2.0], "energy_kwh": [0.2, 0.1, 0.6, 0.2],
                         "co2_g": [60.0, 30.0, 180.0, 60.0], "co2_vs_teacher": [1.0, 0.5, 3.0, 1.0],
                         "mode": "estimate"})[TABLE1_COLUMNS]


def test_vs_paper_figure_one_panel_per_quantity_with_the_papers_markers_and_error_bars():
    from greenkd_lib.paper import table1

    t1 = _table1("cifar10")
    vs = table1.vs_paper(t1, "ours (paper profile)")
    fig = table1.vs_paper_figure(vs, t1, "cifar10, paper profile")
    panels = [ax for ax in fig.axes if ax.get_visible()]
    # The std rows become error bars: six panels, not seven.
    assert [ax.get_title() for ax in panels] == [q for q in table1.QUANTITIES if q != "accuracy std, best epoch"]
    best = panels[1]
    ours = [l for l in best.lines if l.get_label() == "ours (paper profile)"][0]
    assert list(ours.get_ydata()) == [94.0, 89.0, 91.0, 91.5]
    cifar10 = [l for l in best.lines if l.get_label() == "paper, CIFAR-10"][0]
    assert list(cifar10.get_ydata()) == [95.04, 91.78, 91.67]  # teacher, tuned, ours: none for the student alone
    ours_bars = best.containers[0].lines[2][0].get_segments()
    assert [round(s[1, 1] - s[0, 1], 6) for s in ours_bars] == [1.0, 1.2, 1.4, 1.6]
    paper_bars = best.containers[1].lines[2][0].get_segments()  # the paper's std: none for the teacher
    assert [round(s[1, 1] - s[0, 1], 6) for s in paper_bars] == [0.28, 0.46]
    val_bars = panels[0].containers[0].lines[2][0].get_segments()  # best-validation std from Table 1
    assert [round(s[1, 1] - s[0, 1], 6) for s in val_bars] == [0.6, 0.4, 0.2, 0.8]
    assert not [l for l in panels[0].lines if l.get_label().startswith("paper")]  # the paper has none
    plt.close(fig)


def test_story_ratios_figure_marks_the_paper_for_its_student_only():
    from greenkd_lib.data import published
    from greenkd_lib.paper import table1

    nope = published.NOT_PUBLISHED
    comparison = pd.DataFrame({"quantity": ["tuned KD CO2 / teacher CO2"] * 2 + ["tuned KD FLOPs / ours FLOPs"] * 2,
                               "student": ["mobilenetv2", "shufflenetv2"] * 2, "ours (digits)": [0.8, 0.6, 2.0, 2.0],
                               "paper, CIFAR-10": [15.8, nope, 19.98, nope], "paper, CIFAR-100": [17.9, nope, 20.0, nope]})
    fig = table1.story_ratios_figure(comparison, "digits")
    for ax in fig.axes[:2]:
        assert len([l for l in ax.lines if l.get_label() == "ours (digits)"][0].get_xdata()) == 2
        for paper in ("paper, CIFAR-10", "paper, CIFAR-100"):
            assert list([l for l in ax.lines if l.get_label() == paper][0].get_xdata()) == [0.15 + 0.125 * (paper == "paper, CIFAR-100")]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["mobilenetv2", "shufflenetv2"]
    plt.close(fig)
