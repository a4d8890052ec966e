"""Ours beside the paper and cost ratios, on fabricated rows (no training)."""

import numpy as np
import pandas as pd
import pytest

from greenkd_lib.data import published
from greenkd_lib.paper import compare


def _rows():
    return pd.DataFrame({"method": ["teacher", "kd-tuned", "ours", "kd-tuned", "ours"],
                         "model": ["resnet18", "a", "a", "b", "b"],
                         "co2_g": [2.0, 6.0, 2.0, 9.0, 3.0], "acc": [90.0, 80.0, 81.5, 70.0, 69.0]})


def test_cost_ratios_per_group_skip_other_arms():
    ratios = compare.cost_ratios(_rows(), ["model"], "kd-tuned", "ours", {"co2_g": "CO2 tuned / ours"},
                                 score="acc", score_name="gap")
    assert list(ratios.columns) == ["model", "gap", "CO2 tuned / ours"]
    assert ratios["model"].tolist() == ["a", "b"]  # the teacher's group is not a pair
    assert ratios["CO2 tuned / ours"].tolist() == [3.0, 3.0]
    assert ratios["gap"].tolist() == pytest.approx([1.5, -1.0])


def test_cost_ratios_need_both_arms():
    rows = _rows().drop(index=4)
    with pytest.raises(ValueError, match="b: need a row of each arm, 'kd-tuned' and 'ours'"):
        compare.cost_ratios(rows, ["model"], "kd-tuned", "ours", {"co2_g": "r"})


def test_relative_to_the_teacher_overall_and_per_group():
    rows = _rows()
    assert compare.relative_to(rows, "co2_g").tolist() == [1.0, 3.0, 1.0, 4.5, 1.5]
    two = pd.concat([rows.assign(dataset="x"), rows.assign(dataset="y", co2_g=rows["co2_g"] * 2)],
                    ignore_index=True)
    assert compare.relative_to(two, "co2_g", by=["dataset"]).tolist() == [1.0, 3.0, 1.0, 4.5, 1.5] * 2
    with pytest.raises(ValueError, match="no 'scratch' row"):
        compare.relative_to(rows, "co2_g", reference="scratch")


def test_beside_paper_columns_delta_and_not_published():
    ours = pd.DataFrame({"dataset": ["cifar10", "cifar10", "digits"], "q": ["x", "y", "x"], "v": [1.0, 2.0, 3.0]})
    values = {("x", "cifar10"): 0.25, ("x", "cifar100"): 0.123456}
    side = compare.beside_paper(ours, lambda r, d: values.get((r["q"], d)), value="v", ours_label="ours",
                                datasets={"cifar10": "C10", "cifar100": "C100"}, same_dataset="paper, same",
                                delta="ours - paper", digits=2)
    assert list(side.columns) == ["dataset", "q", "ours", "paper, C10", "paper, C100", "paper, same",
                                  "ours - paper"]
    assert side["paper, C10"].tolist() == [0.25, published.NOT_PUBLISHED, 0.25]
    assert side["paper, C100"].iloc[0] == 0.12  # rounded to digits
    assert side["paper, same"].tolist() == [0.25, published.NOT_PUBLISHED, published.NOT_PUBLISHED]
    assert side["ours - paper"].tolist() == [0.75, published.NOT_PUBLISHED, "n/a: the paper has no digits value"]


def test_paper_hkd_ratio_from_table4():
    assert compare.paper_hkd_ratio("cifar10", "energy_kwh") == pytest.approx(3.99 / 0.21)
    assert compare.paper_hkd_ratio("cifar10", "score_mean") == pytest.approx(91.67 - 91.78)  # a difference
    assert compare.paper_hkd_ratio("digits", "co2_g") is None


def test_inference_beside_the_papers_teacher():
    inference = pd.DataFrame({"method": ["teacher", "ours"], "model": ["resnet18", "a"], "time_s": [0.3, 0.1],
                              "co2_g": [1e-3, 4e-4]})
    side = compare.inference_vs_paper(inference, "ours (digits)")
    where = compare.INFERENCE_PAPER
    assert list(side.columns) == ["method", "model", "time_s, ours (digits)", f"time_s, paper, {where}",
                                  "co2_g, ours (digits)", f"co2_g, paper, {where}"]
    assert side[f"time_s, paper, {where}"].tolist() == [published.headline_value("teacher_inference_time", "cifar100"),
                                                        published.NOT_PUBLISHED]
    assert not np.isnan(side["co2_g, ours (digits)"]).any()


# -- the figure: ours beside the paper ---------------------------------------------------------------

def _paper_lines(ax, name):
    return [line for line in ax.lines if line.get_label() == name]


def test_beside_paper_figure_marks_the_paper_only_where_it_has_a_value():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nope = published.NOT_PUBLISHED
    points = pd.DataFrame({"panel": ["acc"] * 3 + ["CO2"] * 3, "row": ["a", "b", "c"] * 2,
                           "ours": [90.0, 80.0, 70.0, 1e-4, 2e-4, 3e-4], "ours_std": [1.5, np.nan, 0.5] + [np.nan] * 3,
                           "paper, A": [91.0, nope, 72.0, nope, nope, nope], "paper, A std": [0.2] + [np.nan] * 5,
                           "paper, B": [nope] * 6})
    fig = compare.beside_paper_figure(points, ["paper, A", "paper, B"], ours_label="ours", title="t")
    acc, co2 = fig.axes[:2]
    assert [ax.get_title() for ax in (acc, co2)] == ["acc", "CO2"]
    for ax in (acc, co2):
        assert len(_paper_lines(ax, "ours")[0].get_xdata()) == 3  # one marker per row
        assert not _paper_lines(ax, "paper, B")  # never a made-up value
    assert list(_paper_lines(acc, "paper, A")[0].get_ydata()) == [91.0, 72.0]  # rows a and c only
    assert not _paper_lines(co2, "paper, A")
    # Error bars only where there is a std: ours (a: 1.5, c: 0.5), the paper's (a: 0.2).
    ours_bars = acc.containers[0].lines[2][0].get_segments()
    assert [round(s[1, 1] - s[0, 1], 6) for s in ours_bars] == [3.0, 1.0]  # none for b
    paper_bars = acc.containers[1].lines[2][0].get_segments()
    assert [round(s[1, 1] - s[0, 1], 6) for s in paper_bars] == [0.4]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["ours", "paper, A (no marker where not published: 4 of 6 rows)", "paper, B (no value for any row)"]
    assert co2.get_yscale() == "linear" and acc.get_yscale() == "linear"
    plt.close(fig)
    assert published.NOT_PUBLISHED in compare.beside_paper_note()
