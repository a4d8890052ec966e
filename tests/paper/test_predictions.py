"""predictions: cached predictions of a run and the Table 5 / Fig 4 tables, on a fabricated Lab
(a tiny linear model on random images: seconds, no training)."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from greenkd_lib.data import DatasetBundle, published, TensorImages
from greenkd_lib.engine.evaluate import METRICS
from greenkd_lib.paper import predictions

CLASSES = ["0", "1", "2"]


class FakeLab:
    """What ``predictions`` uses of a Lab: a store of runs, their models, the data bundle."""

    def __init__(self, root, hashes=("aaa", "bbb", "ccc")):
        torch.manual_seed(0)
        images = torch.randn(12, 3, 2, 2)
        split = TensorImages(images, [i % 3 for i in range(12)])
        self.bundle = DatasetBundle("fake", split, split, split, CLASSES, 3, 2, (0.0,) * 3, (1.0,) * 3,
                                    options={"seed": 0, "val_fraction": 0.1, "subset": None})
        self.runs = {h: SimpleNamespace(dir=root / h, finished_at="2026-01-01T00:00:00") for h in hashes}
        self.models = {h: nn.Sequential(nn.Flatten(), nn.Linear(12, 3)) for h in hashes}
        self.model_calls = 0
        self.store = SimpleNamespace(run_by_hash=lambda h: SimpleNamespace(
            dir=self.runs[h].dir, result=lambda: {"finished_at": self.runs[h].finished_at}))
        self.profile = SimpleNamespace(eval_batch_size=5, students=["mobilenetv2"])
        self.device = "cpu"
        self.dataset = "fake"

    def model(self, run_hash, weights="best", device="cpu"):
        self.model_calls += 1
        return self.models[run_hash]

    def data(self):
        return self.bundle


def rows(seeds=(0, 1)) -> pd.DataFrame:
    """Fabricated rows of Lab.teacher / tuned_kd / stochastic_kd, one per arm and seed."""
    out = []
    for method, student, tau, temperature in (("teacher", "resnet18", None, None), ("kd-tuned", "mobilenetv2", 4.0, None),
                                              ("ours", "mobilenetv2", None, "tau~U{2..20}/batch")):
        for seed in seeds:
            out.append({"method": method, "student": student, "seed": seed, "tau": tau, "temperature": temperature,
                        "hash": f"{method}-{seed}", "test_acc": 50.0, "best_test_acc": 60.0})
    return pd.DataFrame(out)


def test_a_second_call_reads_the_predictions_back_without_running_the_model(tmp_path):
    lab = FakeLab(tmp_path)
    first = predictions.run_predictions(lab, "aaa")
    path = predictions.predictions_path(lab, "aaa")
    assert path.exists() and path.parent == tmp_path / "aaa" / "analysis" and path.name.startswith("predictions-test-")
    assert lab.model_calls == 1
    second = predictions.run_predictions(lab, "aaa")
    assert lab.model_calls == 1  # read back, the model was not loaded again
    for field in ("y_true", "y_pred", "logits"):
        np.testing.assert_array_equal(getattr(first, field), getattr(second, field))
    assert second.logits.dtype == np.float32 and second.y_true.shape == (12,)


def test_new_weights_or_another_split_are_predicted_again(tmp_path):
    lab = FakeLab(tmp_path)
    before = predictions.predictions_path(lab, "aaa")
    predictions.run_predictions(lab, "aaa")
    assert predictions.predictions_path(lab, "aaa", split="val") != before
    lab.runs["aaa"].finished_at = "2026-02-01T00:00:00"  # the run was trained again
    assert predictions.predictions_path(lab, "aaa") != before
    predictions.run_predictions(lab, "aaa")
    assert lab.model_calls == 2
    with pytest.raises(ValueError, match="split must be one of train, val, test"):
        predictions.predictions_path(lab, "aaa", split="holdout")


def fake_metric_lab(tmp_path):
    runs = rows()
    return FakeLab(tmp_path, hashes=list(runs["hash"])), runs


def test_metrics_table_has_one_row_per_run_named_by_the_display_vocabulary(tmp_path):
    lab, runs = fake_metric_lab(tmp_path)
    table = predictions.metrics_table(lab, runs)
    assert list(table.columns) == ["row", "method", "model", "seed", "tau", *METRICS, "hash", "run test_acc"]
    assert table["row"].tolist()[::2] == ["Teacher", "KD, tuned tau", "Ours, stochastic tau"]
    assert table["tau"].tolist()[::2] == ["-", "4", "tau~U{2..20}/batch"]
    assert ((table["accuracy"] >= 0) & (table["accuracy"] <= 100)).all()


def test_summary_differences_and_the_first_seed_table_on_fabricated_metrics():
    per_run = rows().assign(row=lambda d: d["method"], model=lambda d: d["student"])
    values = {"teacher": (90.0, 92.0), "kd-tuned": (80.0, 82.0), "ours": (81.0, 81.0)}
    for m in METRICS:
        per_run[m] = [values[r["method"]][r["seed"]] for _, r in per_run.iterrows()]
    per_run["run test_acc"] = per_run["accuracy"]
    summary = predictions.metrics_summary(per_run)
    assert summary["row"].tolist() == ["Teacher", "KD, tuned tau", "Ours, stochastic tau"]
    assert summary["seeds"].tolist() == [2, 2, 2]
    assert summary["accuracy_mean"].tolist() == [91.0, 81.0, 81.0]
    assert summary["accuracy_std"].iloc[0] == pytest.approx(np.std([90, 92], ddof=1))
    gaps = predictions.metric_differences(summary).set_index("metric")
    assert gaps.loc["f1", "ours - KD (tuned)"] == 0.0 and gaps.loc["kappa", "teacher - ours"] == 10.0
    first = predictions.table5(per_run, seed=0)
    assert len(first) == 3 and "hash" not in first and "run test_acc" not in first
    assert first["paper accuracy, CIFAR-10 (abstract, Table 4)"].iloc[0] == published.headline_value(
        "teacher_accuracy", "cifar10")
    assert (first["paper Table 5 metrics, CIFAR-10"] == published.NOT_PUBLISHED).all()


def test_per_class_f1_takes_one_run_per_method(tmp_path):
    lab, runs = fake_metric_lab(tmp_path)
    f1 = predictions.per_class_f1(lab, runs[runs["seed"] == 0])
    assert list(f1.columns) == ["teacher", "kd-tuned", "ours"] and list(f1.index) == CLASSES
    with pytest.raises(ValueError, match="one run per method"):
        predictions.per_class_f1(lab, runs)


def test_fig4_labels_and_accuracy_table(tmp_path):
    lab, runs = fake_metric_lab(tmp_path)
    first = runs[runs["seed"] == 0]
    labels = [predictions.model_label(r) for _, r in first.iterrows()]
    assert labels == ["Teacher (resnet18)", "KD, tuned tau = 4 (mobilenetv2)", "Ours, stochastic tau (mobilenetv2)"]
    table = predictions.accuracy_table(lab, first, target=1)
    assert table["model"].tolist() == labels
    assert list(table.columns)[2:5] == ["test acc (%)", "best test acc (%)", "recall of class 1 (%)"]
    assert (table["ours vs paper"] == "not compared (fake is not CIFAR-10)").all()


def test_compared_runs_concatenates_teacher_tuned_kd_and_ours():
    calls = []
    lab = SimpleNamespace(profile=SimpleNamespace(students=["mobilenetv2"]),
                          teacher=lambda seeds: calls.append(("teacher", seeds)) or pd.DataFrame({"method": ["teacher"]}),
                          tuned_kd=lambda student, seeds: calls.append((student, seeds)) or pd.DataFrame({"method": ["kd-tuned"]}),
                          stochastic_kd=lambda student, seeds: pd.DataFrame({"method": ["ours"]}))
    assert predictions.compared_runs(lab, seeds=[0])["method"].tolist() == ["teacher", "kd-tuned", "ours"]
    assert calls == [("teacher", [0]), ("mobilenetv2", [0])]
