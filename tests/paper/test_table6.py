"""Table 6's helpers: names and seeds checked, real smoke runs measured, ratios, reference, plots."""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest
import torch

from greenkd_lib.paper import table6
from greenkd_lib.paper.lab import Lab


def _measured() -> pd.DataFrame:
    return pd.DataFrame({
        "dataset": "digits", "synthesizer": ["DAFL", "DAFL", "CMI", "CMI"], "method": ["tuned", "ours"] * 2,
        "score_mean": [60.0, 58.0, 40.0, 45.0], "score_std": [1.0, 2.0, float("nan"), float("nan")],
        "gflops_millions": [3e-3, 1e-3, 6e-3, 2e-3], "energy_kwh": [3e-5, 1.1e-5, 6e-5, 2e-5],
        "co2_g": [9e-3, 3e-3, 1.8e-2, 6e-3],
    })


def test_synthesizer_names_are_checked():
    assert table6.synthesizer_names(None) == ["dafl", "zskt", "dfq", "deepinv", "cmi"]
    assert table6.synthesizer_names(None, "smoke") == ["dafl", "zskt", "dfq", "deepinv", "cmi"]
    assert table6.synthesizer_names(None, "quick") == ["dfq", "deepinv"]
    assert table6.synthesizer_names(["zskt"], "quick") == ["zskt"]
    assert table6.synthesizer_names(["CMI", "cmi", "DeepInv"]) == ["cmi", "deepinv"]
    with pytest.raises(ValueError, match="unknown .*'dafI'.*dafl"):
        table6.synthesizer_names(["dafI"])
    with pytest.raises(ValueError, match="'kd' is not a data-free synthesizer; choose from dafl, zskt"):
        table6.synthesizer_names(["kd"])
    with pytest.raises(ValueError, match="synthesizers is empty"):
        table6.synthesizer_names([])


def test_seeds_one_under_quick_all_under_paper(tmp_path):
    assert table6.synthesizer_seeds(Lab("quick", output_root=tmp_path)) == [0]
    assert table6.synthesizer_seeds(Lab("paper", output_root=tmp_path, seeds=[3, 4])) == [3, 4]
    assert table6.synthesizer_seeds(Lab("quick", output_root=tmp_path), [5, 6]) == [5, 6]
    with pytest.raises(ValueError, match="seeds"):
        table6.synthesizer_seeds(Lab("quick", output_root=tmp_path), ["a"])


def test_captions_name_the_kl_every_data_free_run_uses(tmp_path):
    labs = Lab("quick", output_root=tmp_path).across()
    assert table6.caption_scope(labs) == "digits, quick profile, KL 'batchmean' (CMI's)"


def test_settings_name_each_synthesizers_parameters(tmp_path):
    settings = table6.settings(Lab("quick", output_root=tmp_path), ["dafl", "cmi"], [0])
    assert list(settings["synthesizer"]) == ["DAFL", "CMI"]
    assert settings["KL reduction"].eq("batchmean").all()  # CMI's, whatever the profile's
    assert settings["parameters"].iloc[0]["kd_steps"] == 5 and settings["parameters"].iloc[1]["g_steps"] == 30
    assert settings["epochs x student steps"].iloc[0] == "4 x 60"
    assert not any(tmp_path.iterdir())  # nothing trained


def test_measure_trains_the_grid_and_ours_on_synthetic_inputs(tmp_path):
    lab = Lab("smoke", output_root=tmp_path, progress=False, workers=1)
    measured = table6.measure_all([lab], ["dafl"])
    assert list(measured.columns[:len(table6.TABLE6_COLUMNS)]) == table6.TABLE6_COLUMNS
    assert list(measured["method"]) == ["tuned", "ours"] and measured["synthesizer"].eq("DAFL").all()
    tuned, ours = measured.iloc[0], measured.iloc[1]
    assert tuned["trainings"] == len(lab.profile.tau_grid) and ours["trainings"] == 1
    # The tuned arm pays for its whole grid: about twice ours with a grid of two.
    assert tuned["gflops_millions"] == pytest.approx(2 * ours["gflops_millions"], rel=0.05)
    assert 0 < ours["synthesis_share"] < 1 and ours["tau"] == "tau~U{2..20}/batch"
    images = table6.synthetic_images(lab, table6.ours_runs(measured, "digits")["DAFL"])
    assert images.dtype == torch.uint8 and images.shape[1:] == (3, 12, 12) and len(images) > 0
    teachers = table6.teacher_rows([lab])
    assert teachers["method"].tolist() == ["teacher"] and teachers["teacher"].tolist() == ["wrn_40_2"]
    again = table6.measure_all([lab], ["dafl"])  # read back: same rows
    pd.testing.assert_frame_equal(again, measured)


def test_cost_ratios_ours_over_tuned_and_the_gap():
    ratios = table6.cost_ratios(_measured()).set_index("synthesizer")
    assert ratios.loc["DAFL", "GFLOPs ours / tuned"] == pytest.approx(1 / 3)
    assert ratios.loc["CMI", "CO2 ours / tuned"] == pytest.approx(1 / 3)
    assert ratios.loc["DAFL", "score ours - tuned (points)"] == pytest.approx(-2.0)
    assert ratios.loc["CMI", "score ours - tuned (points)"] == pytest.approx(5.0)
    text = table6.headline(_measured(), table6.cost_ratios(_measured()), chance=10.0)
    assert "DAFL: tuned 60.00 %, ours 58.00 % (-2.00 points) at 0.33x" in text and "+30.0 points above chance" in text


def test_reference_is_cmis_readme_never_the_papers():
    teachers = pd.DataFrame({"dataset": ["digits"], "score_mean": [98.3], "teacher": ["wrn_40_2"]})
    ref = table6.beside_reference(_measured(), teachers).set_index("model")
    assert ref.loc["DAFL", "CMI README, CIFAR-10"] == 65.71 and ref.loc["CMI", "stochastic tau (measured)"] == 45.0
    assert ref.loc["teacher (wrn_40_2)", "CMI README, CIFAR-10"] == 94.87


def test_plots_draw_bars_grids_and_curves():
    fig = table6.accuracy_and_co2(_measured(), grid_size=3, teacher_acc=98.0)
    assert len(fig.axes[0].patches) == 4 and len(fig.axes[1].patches) == 4
    assert [t.get_text() for t in fig.axes[1].texts] == ["0.33x", "0.33x"]
    plt.close(fig)
    images = {"DAFL": torch.zeros(40, 3, 12, 12, dtype=torch.uint8), "CMI": torch.full((8, 3, 12, 12), 255,
                                                                                      dtype=torch.uint8)}
    fig = table6.synthetic_grids(images, per_method=16)
    assert [ax.get_title() for ax in fig.axes] == ["DAFL", "CMI"]
    plt.close(fig)
    history = pd.DataFrame({"epoch": [1, 2], "val_acc": [20.0, 40.0], "test_acc": [float("nan")] * 2,
                            "syn_teacher_conf": [0.5, 0.9]})  # no data-free epoch reads the test split
    fig = table6.accuracy_by_epoch({"DAFL": history})
    assert list(fig.axes[0].lines[0].get_ydata()) == [20.0, 40.0]
    assert list(fig.axes[1].lines[0].get_ydata()) == [50.0, 90.0]
    plt.close(fig)


def test_the_reference_caption_says_cmi_trains_dafl_zskt_and_dfq_at_t_1():
    caption = table6.reference_caption("digits, quick profile")
    assert "DAFL, ZSKT and DFQ students learn at T = 1" in caption and "settings differ" in caption


def test_a_zero_score_gap_reads_0_not_minus_0():
    same = _measured().assign(score_mean=50.0)
    gaps = table6.cost_ratios(same)["score ours - tuned (points)"]
    assert (gaps == 0).all() and all(math.copysign(1, g) == 1 for g in gaps)
    assert "-0" not in same.pipe(table6.cost_ratios).to_markdown(floatfmt=".3g")


def test_cost_ratios_figure_bars_per_cost_and_a_dashed_line_at_one_over_n():
    ratios = table6.cost_ratios(_measured())
    fig = table6.cost_ratios_figure(ratios, 3, "t")
    costs, gap = fig.axes
    assert len(costs.patches) == 3 * len(ratios) and len(gap.patches) == len(ratios)
    dashed = [l for l in costs.lines if l.get_linestyle() == "--"]
    assert len(dashed) == 1 and dashed[0].get_ydata()[0] == pytest.approx(1 / 3)
    assert [p.get_height() for p in gap.patches] == pytest.approx([-2.0, 5.0])
    assert [t.get_text() for t in costs.get_xticklabels()] == ["DAFL", "CMI"]
    assert "1 / N" in table6.cost_ratios_figure_caption("digits, quick profile", 3)
    plt.close(fig)
