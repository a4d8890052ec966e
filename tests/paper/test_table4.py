"""Table 4's helpers on the paper's own rows and on labs (no training)."""

import pandas as pd
import pytest

from greenkd_lib.data import published
from greenkd_lib.paper import table4
from greenkd_lib.paper.lab import Lab
from greenkd_lib.paper.rows import caption_scope


def test_cost_ratios_of_the_papers_rows():
    rows = published.table4().query("task == 'classification'")
    ratios = table4.cost_ratios(rows, "paper")
    assert len(ratios) == 9 and set(ratios["loss"]) == {"HKD", "CMC", "DML"}
    assert ratios["GFLOPs tuned / ours"].round().eq(20).all()  # 128.3 / 6.42, 975 / 48.75
    hkd10 = ratios.query("dataset == 'cifar10' and loss == 'HKD'").iloc[0]
    assert hkd10["score ours - tuned (points)"] == pytest.approx(91.67 - 91.78)
    assert hkd10["kWh tuned / ours"] == pytest.approx(3.99 / 0.21)


def test_cost_ratios_need_both_rows():
    rows = published.table4().query("dataset == 'cifar10' and loss == 'CMC' and method == 'tuned'")
    with pytest.raises(ValueError, match="cifar10, CMC: need a row of each arm, 'tuned' and 'ours'"):
        table4.cost_ratios(rows, "paper")


def test_measured_columns_begin_with_the_papers():
    assert table4.TABLE4_COLUMNS == list(published.table4().columns)


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

    ratios = table4.cost_ratios(published.table4().query("dataset == 'cifar10'"), "paper")
    fig, ax = plt.subplots()
    table4.plot_cost_ratios(ax, ratios, "paper", grid_size=20)
    assert len(ax.patches) == 3 * len(ratios) and ax.get_title() == "paper"
    plt.close(fig)
    assert isinstance(ratios, pd.DataFrame)


def _measured():
    """Fabricated measured rows in :func:`table4.measure`'s columns: HKD and DML on digits."""
    rows = []
    for loss, (tuned, ours) in {"HKD": (3.0, 1.0), "DML": (6.0, 2.0)}.items():
        for method, g in (("tuned", tuned), ("ours", ours)):
            rows.append({"dataset": "digits", "task": "classification", "loss": loss, "method": method,
                         "score_mean": 90.0 + g, "score_std": 0.5, "gflops_millions": g, "energy_kwh": g / 10,
                         "co2_g": g / 5, "best_epoch_mean": 91.0 + g, "best_epoch_std": 0.4})
    return pd.DataFrame(rows)


def test_ratios_beside_the_papers_rows_of_the_same_losses():
    ratios = table4.ratios_beside_paper(_measured(), 3, "ours (quick profile)")
    ours = ratios[ratios["source"] == "ours (quick profile)"]
    assert ours["GFLOPs tuned / ours"].tolist() == [3.0, 3.0] and ours["grid values"].tolist() == [3, 3]
    theirs = ratios[ratios["source"] == "paper"]
    assert set(theirs["loss"]) == {"HKD", "DML"} and len(theirs) == 6  # three data sets, no CMC
    assert (theirs["grid values"] == published.NOT_PUBLISHED).all()
    assert "imply a grid of about 20-20 values" in table4.grid_note(ratios, 3)


def test_cost_per_objective_relative_to_hkd():
    per = table4.cost_per_objective(_measured())
    assert per["GFLOPs / HKD's"].tolist() == [1.0, 2.0]
    assert (per["paper: GFLOPs / HKD's, same data set"] == published.NOT_PUBLISHED).all()  # digits is not the paper's


def test_vs_paper_on_the_papers_data_set_gives_the_difference():
    measured = _measured().assign(dataset="cifar10")
    side = table4.vs_paper(measured)
    assert len(side) == len(measured) * len(table4.VS_PAPER_COLUMNS)
    cell = side.query("loss == 'HKD' and method == 'tuned' and column == 'score_mean'").iloc[0]
    assert cell["paper, same data set"] == 91.78 and cell["ours - paper"] == pytest.approx(94.0 - 91.78)
    digits = table4.vs_paper(_measured())
    assert (digits["ours - paper"] == "n/a: the paper has no digits value").all()


def test_coverage_names_what_is_measured():
    cov = table4.coverage(["HKD"], ["cifar10"])
    said = dict(zip(zip(cov["dataset"], cov["loss"]), cov["this notebook"]))
    assert said[("cifar10", "HKD")] == "measured above"
    assert said[("cifar10", "CMC")].startswith("not measured in this run")
    assert said[("cifar100", "HKD")] == "built; measured here on cifar10"


def test_coverage_says_which_detection_rows_were_left_out():
    cov = table4.coverage(["HKD", "CMC"], ["digits"], ["digit_scenes"], detection_losses=["HKD"])
    said = dict(zip(zip(cov["dataset"], cov["loss"]), cov["this notebook"]))
    assert said[("voc", "HKD")] == "built; measured here on digit_scenes"
    assert said[("voc", "CMC")] == "not measured in this run (detection_objectives)"
    assert said[("cifar10", "CMC")] == "built; measured here on digits"


def test_detection_objectives_quick_keeps_hkd_only(tmp_path):
    quick = Lab("quick", output_root=tmp_path, progress=False)
    smoke = Lab("smoke", output_root=tmp_path, progress=False)
    assert table4.detection_objectives(quick, ["kd", "cmc", "dml"]) == ["kd"]
    assert table4.detection_objectives(quick, ["cmc", "dml"]) == ["cmc", "dml"]  # no HKD asked: what was asked
    assert table4.detection_objectives(smoke, ["kd", "CMC", "dml"]) == ["kd", "cmc", "dml"]
    assert table4.detection_objectives(quick, ["kd"], ["dml", "kd", "dml"]) == ["dml", "kd"]
    with pytest.raises(ValueError, match="detection_objectives is empty"):
        table4.detection_objectives(quick, ["kd"], [])
    with pytest.raises(ValueError, match="cmx"):
        table4.detection_objectives(quick, ["kd"], ["cmx"])


def test_objective_seeds_and_settings(tmp_path):
    quick = Lab("quick", output_root=tmp_path, progress=False)
    seeds = table4.objective_seeds(quick, ["kd", "cmc", "dml"])
    assert seeds == {"kd": [0, 1], "cmc": [0], "dml": [0]}
    assert table4.objective_seeds(quick, ["dml"], [1, 2]) == {"dml": [1, 2]}
    settings = table4.settings(quick, seeds, "mobilenetv2")
    assert settings["Table 4 loss"].tolist() == ["HKD", "CMC", "DML"]
    assert settings["tau grid (tuned)"].iloc[0] == "1, 4, 16"


def test_vs_paper_figure_has_no_paper_marker_off_the_papers_data_sets():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = table4.vs_paper_figure(table4.vs_paper(_measured()), "digits")
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == list(table4._VS_PAPER_PANELS.values())
    for ax in panels:
        assert [l.get_label() for l in ax.lines if not l.get_label().startswith("_")] == [
            "ours (best epoch, mean over seeds)"]
        assert len(ax.lines[0].get_xdata()) == 4  # HKD and DML, tuned and ours (the caps follow)
    assert "paper, same data set (no value for any row)" in [t.get_text() for t in fig.legends[0].get_texts()]
    bars = panels[0].containers[0].lines[2][0].get_segments()  # the score ± best_epoch_std
    assert [round(s[1, 1] - s[0, 1], 6) for s in bars] == [0.8] * 4
    plt.close(fig)
    on_cifar = _measured().assign(dataset="cifar10")
    fig = table4.vs_paper_figure(table4.vs_paper(on_cifar), "cifar10")
    score = fig.axes[0]
    paper = [l for l in score.lines if l.get_label() == "paper, same data set"][0]
    assert list(paper.get_ydata()) == [published.table4_value("cifar10", l, m, "score_mean")
                                       for l in ("HKD", "DML") for m in ("tuned", "ours")]
    assert len(score.containers[1].lines[2][0].get_segments()) == 4  # the paper's std as error bars
    plt.close(fig)


def _boxes(n):
    import torch

    xy = torch.rand(n, 2) * 40
    return {"boxes": torch.cat([xy, xy + 10], dim=1), "labels": torch.arange(n) % 3 + 1,
            "scores": torch.linspace(0.99, 0.6, n)}


def test_boxes_grid_titles_summarise_and_an_empty_panel_does_not_warn():
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    images = torch.rand(2, 3, 64, 64)
    truth = [{"boxes": _boxes(3)["boxes"], "labels": torch.tensor([1, 2, 3])},
             {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}]
    empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long), "scores": torch.zeros(0)}
    found = {"teacher": [_boxes(7), empty], "tuned HKD (tau=4)": [_boxes(2), _boxes(1)]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torchvision warns on a panel without a box
        fig = table4.boxes_grid(images, truth, found, ["one", "two", "three"], min_score=0.5)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:3] == ["objects:\n3 objects", "teacher:\n7 boxes, best 0.99", "tuned HKD (tau=4):\n2 boxes, best 0.99"]
    assert titles[3:] == ["0 objects", "0 boxes", "1 box, best 0.99"]
    assert max(len(line) for t in titles for line in t.splitlines()) <= 25
    assert fig.get_size_inches()[0] < 8  # three narrow panels: no title widens the figure
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["one", "two", "three"]
    plt.close(fig)


def test_cost_ratio_bars_keep_their_labels_apart():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = pd.concat([_measured(), _measured().assign(dataset="digit_scenes", task="detection")],
                         ignore_index=True)
    ratios = table4.ratios_beside_paper(measured, 3, "ours (smoke profile)")
    fig = table4.cost_ratios_figure(ratios, "digits", 3)
    ours = fig.axes[0]
    labels = [t for t in ours.texts]
    assert labels and {t.get_text() for t in labels} == {"3"} and {t.get_rotation() for t in labels} == {90.0}
    ticks = [t.get_text() for t in ours.get_xticklabels()]
    assert "HKD\ndigit\nscenes" in ticks and all(len(line) <= 8 for t in ticks for line in t.splitlines())
    plt.close(fig)


def test_the_caption_scope_names_each_objectives_kl_reduction():
    from greenkd_lib.paper.lab import Lab

    lab = Lab("quick", output_root="/nonexistent-not-written")
    scope = table4.caption_scope([lab], ["kd", "cmc", "dml"])
    assert scope == "digits, quick profile, KL 'mean' for HKD; KL 'batchmean' for CMC and DML"
    assert table4.figure_scope(lab) == "digits, quick profile"
