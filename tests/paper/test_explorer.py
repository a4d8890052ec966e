"""The temperature explorer (greenkd_lib.paper.explorer, notebook 14): its numbers, and its widget
driven through the callbacks a slider move or a button click fires."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import math

import numpy as np
import pytest
import torch

from greenkd_lib import Lab
from greenkd_lib.paper import explorer as explore

PNG = b"\x89PNG"


@pytest.fixture(scope="module")
def explorer(tmp_path_factory, one_thread):
    """A real smoke teacher and its stochastic-tau student (one batch of one epoch each), over test image 3."""
    lab = Lab("smoke", output_root=tmp_path_factory.mktemp("out"), progress=False, executor="serial", epochs=1,
              max_batches=1)
    return explore.from_lab(lab, image_index=3)


def test_from_lab_reads_the_runs_and_the_image(explorer):
    assert set(explorer.runs) == {"teacher", "student"}
    assert explorer.runs["student"]["method"] == "ours" and explorer.runs["teacher"]["method"] == "teacher"
    assert explorer.x.shape[0] == 1 and explorer.a_m.shape == (len(explorer.classes),)
    assert explorer.picture.shape[-1] == 3 and "smoke" in explorer.title and "digits" in explorer.title


def test_a_larger_tau_flattens_both_distributions(explorer):
    soft = {t: explorer.soft(t) for t in (1, 2, 4, 20)}
    for t, table in soft.items():
        assert table["o_m (teacher)"].sum() == pytest.approx(1, abs=1e-5)
    entropy = [explorer.measure(t)["teacher_entropy"] for t in (1, 2, 4, 20)]
    assert entropy == sorted(entropy) and entropy[-1] < math.log(len(explorer.classes)) + 1e-6
    assert np.allclose(soft[1]["o_m (teacher)"], soft[1]["h_m (tau 1)"])


def test_the_terms_add_up_and_alpha_weighs_them(explorer):
    m = explorer.measure(4, 0.7)
    assert m["total"] == pytest.approx(m["ce_term"] + m["kd_term"])
    only_ce, only_kd = explorer.measure(4, 0.0), explorer.measure(4, 1.0)
    assert only_ce["kd_term"] == 0 and only_ce["kd_param_norm"] == 0 and only_ce["ce_param_norm"] > 0
    assert only_kd["ce_term"] == 0 and only_kd["ce_param_norm"] == 0 and only_kd["kd_param_norm"] > 0
    # The CE term does not depend on tau; the KD term does.
    assert explorer.measure(2, 0.7)["ce_term"] == pytest.approx(m["ce_term"])
    assert explorer.measure(2, 0.7)["kd_term"] != pytest.approx(m["kd_term"])


def test_the_scaled_curve_matches_a_fresh_measurement(explorer):
    curve = explorer.curve(0.3).set_index("tau")
    assert list(curve.index) == list(range(1, int(explorer.high) + 1))
    for tau in (2, 11):
        fresh = explorer.measure(tau, 0.3)
        assert curve.loc[tau, "kd_param_norm"] == pytest.approx(fresh["kd_param_norm"], rel=1e-4)
        assert curve.loc[tau, "ce_param_norm"] == pytest.approx(fresh["ce_param_norm"], rel=1e-4)


def test_draws_are_the_methods_and_accumulate(explorer):
    explorer.draws.clear()
    first = explorer.draw(30)
    assert len(explorer.draws) == 30 and all(float(t).is_integer() and 2 <= t <= 20 for t in first)
    explorer.draw(5)
    assert len(explorer.draws) == 35 and explorer.draws[:30] == first
    again = explore.Explorer(explorer.teacher, explorer.student, explorer.x[0], explorer.label, explorer.classes,
                             seed=explorer.policy.seed)
    assert again.draw(30) == first  # seeded like the run: the same taus


def test_the_widget_responds_to_its_sliders_and_buttons(explorer):
    explorer.draws.clear()
    w = explorer.widget()
    assert w.state["tau"] == explorer.low and bytes(w.image.value).startswith(PNG)
    w.tau.value = 20.0  # what moving the slider does: the observer redraws
    at_20, image_20 = dict(w.state), bytes(w.image.value)
    assert at_20["tau"] == 20 and at_20 == explorer.measure(20.0, explorer.alpha)
    w.tau.value = 1.0
    assert w.state["teacher_top"] > at_20["teacher_top"] and bytes(w.image.value) != image_20
    assert "tau 1" in w.numbers.value
    w.alpha.value = 0.0
    assert w.state["alpha"] == 0 and w.state["kd_param_norm"] == 0
    empty = bytes(w.histogram.value)
    w.draw_one.click()
    assert len(explorer.draws) == 1 and w.tau.value == explorer.draws[-1] and w.state["tau"] == explorer.draws[-1]
    assert bytes(w.histogram.value) != empty
    w.draw_many.click()
    assert len(explorer.draws) == 51 and 2 <= np.mean(explorer.draws) <= 20
    w.clear.click()
    assert explorer.draws == [] and bytes(w.histogram.value) == empty


def test_the_static_panel_table_and_captions(explorer):
    taus = explore.static_taus(None, 2, 20)
    assert taus == [1.0, 2.0, 6.0, 20.0]
    assert explore.static_taus([3, 5], 2, 20) == [3.0, 5.0]
    fig = explorer.static_figure(taus)
    assert len(fig.axes) == len(taus) + 2
    table = explorer.table(taus)
    assert list(table["tau"]) == taus and (table["param_ratio"] > 0).all()
    for caption in (explore.panel_caption(explorer, taus), explore.table_caption(explorer),
                    explore.draws_caption(explorer)):
        assert explorer.title in caption


def test_bad_inputs_are_refused_naming_the_problem(explorer, tmp_path):
    with pytest.raises(ValueError, match="tau must be a finite number > 0"):
        explorer.measure(0)
    with pytest.raises(ValueError, match=r"alpha \(the KD weight\) must be a number in \[0, 1\]"):
        explorer.measure(2, 1.5)
    with pytest.raises(ValueError, match="n \\(how many taus to draw\\)"):
        explorer.draw(0)
    with pytest.raises(ValueError, match="taus is empty"):
        explorer.static_figure([])
    with pytest.raises(ValueError, match="one image"):
        explore.Explorer(explorer.teacher, explorer.student, explorer.x, 0, explorer.classes)
    lab = Lab("smoke", output_root=tmp_path, progress=False)
    with pytest.raises(ValueError, match="image_index must be a whole number in 0"):
        explore.from_lab(lab, image_index=10**6)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # refused before training
    assert torch.is_tensor(explorer.a_s)
