"""Table 4's helpers on the paper's own rows and on labs (no training)."""

import pandas as pd
import pytest

from greenkd_lib import paper, table4
from greenkd_lib.experiments import Lab, caption_scope


def test_cost_ratios_of_the_papers_rows():
    rows = paper.table4().query("task == 'classification'")
    ratios = table4.cost_ratios(rows, "paper")
    assert len(ratios) == 9 and set(ratios["loss"]) == {"HKD", "CMC", "DML"}
    assert ratios["GFLOPs tuned / ours"].round().eq(20).all()  # 128.3 / 6.42, 975 / 48.75
    hkd10 = ratios.query("dataset == 'cifar10' and loss == 'HKD'").iloc[0]
    assert hkd10["score ours - tuned (points)"] == pytest.approx(91.67 - 91.78)
    assert hkd10["kWh tuned / ours"] == pytest.approx(3.99 / 0.21)


def test_cost_ratios_need_both_rows():
    rows = paper.table4().query("dataset == 'cifar10' and loss == 'CMC' and method == 'tuned'")
    with pytest.raises(ValueError, match="both a 'tuned' and an 'ours' row"):
        table4.cost_ratios(rows, "paper")


def test_measured_columns_begin_with_the_papers():
    assert table4.TABLE4_COLUMNS == list(paper.table4().columns)


def test_a_lab_across_data_sets(tmp_path):
    quick = Lab("quick", output_root=tmp_path, progress=False)
    assert [l.dataset for l in quick.across()] == ["digits"]  # the quick profile pins digits
    labs = Lab("paper", output_root=tmp_path, progress=False).across()
    assert [l.dataset for l in labs] == ["cifar10", "cifar100", "tinyimagenet"]
    assert all(l.store.root == quick.store.root and l.profile.name == "paper" for l in labs)
    assert caption_scope(labs) == "cifar10, cifar100, tinyimagenet, paper profile, KL 'mean'"
    assert [l.dataset for l in Lab("paper", dataset="cifar10", output_root=tmp_path).across()] == ["cifar10"]
    assert [l.dataset for l in quick.across("CIFAR100")] == ["cifar100"]
    with pytest.raises(ValueError, match="datasets is empty"):
        quick.across([])
    with pytest.raises(ValueError, match="unknown data set .mnist.*cifar10"):
        quick.across(["mnist"])
    assert not any(tmp_path.iterdir())  # nothing written


def test_plot_cost_ratios_draws_a_bar_per_cost_and_row():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ratios = table4.cost_ratios(paper.table4().query("dataset == 'cifar10'"), "paper")
    fig, ax = plt.subplots()
    table4.plot_cost_ratios(ax, ratios, "paper", grid_size=20)
    assert len(ax.patches) == 3 * len(ratios) and ax.get_title() == "paper"
    plt.close(fig)
    assert isinstance(ratios, pd.DataFrame)
