"""The ablation tables (notebook 13) on hand-made run rows, and the gradient study on a smoke run."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from greenkd_lib.methods import StochasticTemperature
from greenkd_lib.paper.ablation import (gradient_summary, initial_model, measure_gradients, other_reduction,
                                        per_tau, policy_table, training_batches, tuned_vs_ours,
                                        tuned_vs_ours_table)
from tests.helpers.grids import kd_grid



def _ours(accs, label="tau~U{2..20}/batch", co2=1.0):
    return pd.DataFrame([{"method": "ours", "seed": s, "tau": np.nan, "test_acc": a, "best_val_acc": a,
                          "co2_g": co2, "temperature": label, "hash": f"h{label}{s}"} for s, a in accs.items()])


def test_per_tau_averages_over_seeds():
    t = per_tau(kd_grid())
    assert list(t["tau"]) == [2.0, 8.0]
    assert t["test_acc_mean"].tolist() == [89.0, 88.5]
    assert t["test_acc_std"].iloc[0] == pytest.approx(np.std([90, 88], ddof=1))
    assert t["seeds"].tolist() == [2, 2] and t["co2_g"].tolist() == [1.2, 1.8]
    one = per_tau(kd_grid().query("seed == 0"))
    assert one["test_acc_std"].isna().all()  # one seed: no spread to report


def test_tuned_vs_ours_chooses_on_validation_and_pairs_by_seed():
    s = tuned_vs_ours(kd_grid(), _ours({0: 91.0, 1: 90.0}))
    # seed 0 keeps tau 2 (val 80: test 90), seed 1 keeps tau 8 (val 75: test 92)
    assert s["tuned_taus"] == "2, 8" and s["tuned_acc_mean"] == pytest.approx(91.0)
    assert s["ours_acc_mean"] == pytest.approx(90.5)
    assert s["ours_minus_tuned"] == pytest.approx(((91 - 90) + (90 - 92)) / 2)
    assert (s["best_fixed_tau"], s["worst_fixed_tau"]) == (2.0, 8.0)
    assert s["tau_spread"] == pytest.approx(0.5)
    assert s["trainings_tuned"] == 2 and s["trainings_ours"] == 1 and s["seeds"] == 2
    assert s["co2_tuned_g"] == pytest.approx(3.0) and s["co2_ours_g"] == pytest.approx(1.0)
    # only the seeds both sides have count
    s1 = tuned_vs_ours(kd_grid(), _ours({1: 80.0}))
    assert s1["seeds"] == 1 and s1["ours_minus_tuned"] == pytest.approx(-12.0) and math.isnan(s1["tuned_acc_std"])
    with pytest.raises(ValueError, match="share no seed"):
        tuned_vs_ours(kd_grid(), _ours({5: 80.0}))
    with pytest.raises(ValueError, match="empty"):
        tuned_vs_ours(kd_grid().iloc[:0], _ours({0: 80.0}))


def test_tuned_vs_ours_table_has_one_row_per_setting():
    t = tuned_vs_ours_table({"mean": (kd_grid(), _ours({0: 91.0, 1: 90.0})),
                             "batchmean": (kd_grid(), _ours({0: 80.0, 1: 80.0}))}, key="reduction")
    assert t["reduction"].tolist() == ["mean", "batchmean"]
    assert t["ours_minus_tuned"].tolist() == pytest.approx([-0.5, -11.0])
    with pytest.raises(ValueError, match="empty"):
        tuned_vs_ours_table({})


def test_policy_table_pairs_by_seed_against_the_reference_and_tuned():
    variants = {"per batch": _ours({0: 90.0, 1: 80.0}),
                "per epoch": _ours({0: 85.0, 1: 82.0}, "tau~U{2..20}/epoch", co2=2.0),
                "narrow": _ours({1: 70.0}, "tau~U{3..6}/batch")}
    tuned = pd.DataFrame({"seed": [0, 1], "test_acc": [91.0, 81.0]})
    histories = {h: pd.DataFrame({"tau_mean": [10.0, 12.0], "tau_distinct": [3, 5]})
                 for rows in variants.values() for h in rows["hash"]}
    t = policy_table(variants, tuned=tuned, history=histories.__getitem__).set_index("variant")
    assert list(t.index) == ["per batch", "per epoch", "narrow"]
    assert t.loc["per epoch", "temperature"] == "tau~U{2..20}/epoch"
    assert t.loc["per batch", "minus_reference"] == 0.0
    assert t.loc["per epoch", "minus_reference"] == pytest.approx(((85 - 90) + (82 - 80)) / 2)
    assert t.loc["narrow", "minus_reference"] == pytest.approx(-10.0)  # seed 1 only
    assert t.loc["per batch", "minus_tuned"] == pytest.approx(-1.0)
    assert t.loc["narrow", "seeds"] == 1 and math.isnan(t.loc["narrow", "test_acc_std"])
    assert t.loc["per epoch", "co2_g"] == 2.0
    assert t.loc["narrow", "tau_drawn_mean"] == 11.0 and t.loc["narrow", "taus_per_epoch"] == 4.0
    t2 = policy_table(variants, reference="per epoch")
    assert "tau_drawn_mean" not in t2 and t2["minus_tuned"].isna().all()
    assert t2.set_index("variant").loc["per batch", "minus_reference"] == pytest.approx(1.5)
    with pytest.raises(ValueError, match="not one of the variants"):
        policy_table(variants, reference="per sample")


def test_other_reduction():
    assert other_reduction("mean") == "batchmean" and other_reduction("batchmean") == "mean"
    with pytest.raises(ValueError, match="reduction must be"):
        other_reduction("sum")


def test_gradient_summary_averages_each_state_and_reduction_over_each_policy():
    taus = np.arange(1.0, 21.0)
    sizes = pd.concat([pd.DataFrame({"state": state, "reduction": r, "tau": taus, "param_ratio": k * taus})
                       for state in ("at initialisation", "trained") for r, k in (("mean", 0.1), ("batchmean", 1.0))],
                      ignore_index=True)
    for col in ("kd_logit_norm", "ce_logit_norm", "kd_param_norm", "ce_param_norm", "logit_ratio"):
        sizes[col] = 1.0
    sizes["kd_param_norm"] = sizes["param_ratio"]
    t = gradient_summary(sizes, {"paper": StochasticTemperature(2, 20), "narrow": StochasticTemperature(3, 6).config()})
    assert len(t) == 8 and list(t.columns[:3]) == ["state", "reduction", "policy"]
    row = t[(t["state"] == "trained") & (t["reduction"] == "mean") & (t["policy"] == "paper")].iloc[0]
    assert row["mean_tau"] == pytest.approx(11.0) and row["avg"] == pytest.approx(1.1)
    assert (row["low"], row["high"]) == pytest.approx((0.2, 2.0)) and row["equivalent_tau"] == pytest.approx(11.0)
    narrow = t[(t["reduction"] == "batchmean") & (t["policy"] == "narrow")].iloc[0]
    assert narrow["avg"] == pytest.approx(4.5) and narrow["equivalent_tau"] == pytest.approx(4.5)
    assert narrow["temperature"] == "tau~U{3..6}/batch"


def test_training_batches_are_seeded_real_batches():
    data = torch.utils.data.TensorDataset(torch.arange(50.0).reshape(50, 1), torch.arange(50))
    a, b = training_batches(data, 8, 3, seed=1), training_batches(data, 8, 3, seed=1)
    assert len(a) == 3 and all(len(x) == 8 for x, _ in a)
    assert all(torch.equal(x, y) for (x, _), (y, _) in zip(a, b))
    assert not torch.equal(a[0][0], training_batches(data, 8, 1, seed=2)[0][0])
    assert len(training_batches(data, 40, 5)) == 2  # the pass ends first
    with pytest.raises(ValueError, match="n"):
        training_batches(data, 8, 0)


def test_measure_gradients_on_a_smoke_run_starts_from_the_run_s_own_initial_weights(tmp_path):
    """lr = 0 leaves the parameters where training started: they must be initial_model's."""
    from greenkd_lib.paper.lab import Lab

    torch.set_num_threads(1)
    lab = Lab("smoke", output_root=tmp_path, progress=False, lr=0.0, epochs=1, max_batches=1)
    ours = lab.stochastic_kd()
    run_hash = ours["hash"].iloc[0]
    final = lab.store.run_by_hash(run_hash).load_weights("final")
    data = lab.data()
    start = initial_model(lab.profile.students[0], data.num_classes, data.image_size, lab.profile.seeds[0])
    for name, p in start.named_parameters():
        assert torch.equal(p.detach(), final[name]), name

    sizes = measure_gradients(lab, run_hash, [1.0, 2.0, 4.0], batches=1)
    assert sizes["state"].unique().tolist() == ["at initialisation", "trained"]
    assert sizes["reduction"].unique().tolist() == [lab.profile.kd_reduction, other_reduction(lab.profile.kd_reduction)]
    assert len(sizes) == 2 * 2 * 3 and (sizes["batches"] == 1).all()
    assert (sizes[["kd_param_norm", "ce_param_norm"]] > 0).all().all()
    mean = sizes[sizes["reduction"] == "mean"]["param_ratio"].to_numpy()
    batchmean = sizes[sizes["reduction"] == "batchmean"]["param_ratio"].to_numpy()
    np.testing.assert_allclose(mean, batchmean / data.num_classes, rtol=1e-5)
    with pytest.raises(ValueError, match="not a KD run"):
        measure_gradients(lab, lab.teacher()["hash"].iloc[0], [1.0])

    # Kept beside the run: the same call reads it back, other arguments measure again.
    cached = list((lab.store.run_by_hash(run_hash).dir / "analysis").glob("gradients-*.csv"))
    assert len(cached) == 1
    pd.testing.assert_frame_equal(measure_gradients(lab, run_hash, [1.0, 2.0, 4.0], batches=1), sizes)
    assert len(measure_gradients(lab, run_hash, [1.0, 2.0], batches=1)) == 2 * 2 * 2
    assert len(list(cached[0].parent.glob("gradients-*.csv"))) == 2
