"""Predictions of the trained runs of a :class:`~greenkd_lib.paper.lab.Lab`, kept beside each run,
and the per-run tables built from them (Table 5, Fig 4).

A model's predictions on a split depend only on its weights and on the split, so the first call
stores them in ``<run dir>/analysis/predictions-<split>-<key>.pt`` and later calls (another
notebook, a re-run) read them back instead of running the model again.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ..data import published
from ..engine.evaluate import classification_metrics, METRICS, per_class_report, predict, Predictions
from .display import arm_name

__all__ = ["SPLITS", "compared_runs", "run_predictions", "predictions_path", "metrics_table", "metrics_summary",
           "metric_differences", "table5", "per_class_f1", "model_label", "accuracy_table"]

SPLITS: tuple[str, ...] = ("train", "val", "test")

# What the paper's abstract calls each arm's accuracy (``published.headline_value`` quantities).
_HEADLINE_ACCURACY = {"teacher": "teacher_accuracy", "kd-tuned": "kd_accuracy", "ours": "ours_accuracy"}

# One data bundle per Lab: building a split reads the data set, which on CIFAR takes seconds.
_BUNDLES: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()


def _data(lab: Any) -> Any:
    if lab not in _BUNDLES:
        _BUNDLES[lab] = lab.data()
    return _BUNDLES[lab]


def compared_runs(lab: Any, student: str | None = None, seeds: Iterable[int] | None = None) -> pd.DataFrame:
    """The rows of the three models Table 5 and Fig 4 compare, per seed: the teacher, the student
    by KD at the tau tuned on validation, and the student by ours (stochastic tau)."""
    student = student or lab.profile.students[0]
    return pd.concat([lab.teacher(seeds=seeds), lab.tuned_kd(student=student, seeds=seeds),
                      lab.stochastic_kd(student=student, seeds=seeds)], ignore_index=True)


def predictions_path(lab: Any, run_hash: str, split: str = "test", weights: str = "best") -> Path:
    """Where :func:`run_predictions` keeps the predictions of run ``run_hash`` on ``split``."""
    from ..runs.hashing import config_hash

    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    run = lab.store.run_by_hash(run_hash)
    result = run.result()
    bundle = _data(lab)
    # The key changes whenever the predictions could: new weights (the run finished again), another
    # split or another build of it (size, image side, subset, seed of the hold-out).
    key = config_hash({"finished_at": result["finished_at"] if result else None, "weights": weights, "split": split,
                       "size": len(getattr(bundle, split)), "image_size": bundle.image_size,
                       "data": {k: bundle.options.get(k) for k in ("seed", "val_fraction", "subset")},
                       "dataset": bundle.name})
    return run.dir / "analysis" / f"predictions-{split}-{key}.pt"


def run_predictions(lab: Any, run_hash: str, split: str = "test", device: str | torch.device | None = None,
                    weights: str = "best", batch_size: int | None = None) -> Predictions:
    """:class:`~greenkd_lib.engine.evaluate.Predictions` of run ``run_hash``'s model on ``split`` of
    ``lab.data()``: computed once (on ``device``, default ``lab.device`` or the best available),
    then read back from beside the run."""
    from ..devices import pick_device
    from ..runs.atomic import atomic_torch_save

    path = predictions_path(lab, run_hash, split, weights)
    if path.exists():
        return _load(path)
    dev = pick_device(device if device is not None else lab.device)
    model = lab.model(run_hash, weights=weights, device=dev)
    data = getattr(_data(lab), split)
    pred = predict(model, data, dev, batch_size=batch_size or lab.profile.eval_batch_size)
    atomic_torch_save({"y_true": torch.from_numpy(pred.y_true), "y_pred": torch.from_numpy(pred.y_pred),
                       "logits": torch.from_numpy(pred.logits)}, path)
    return pred


def _load(path: Path) -> Predictions:
    # weights_only: a file in the run store is data, never code to run.
    saved = torch.load(path, map_location="cpu", weights_only=True)
    return Predictions(saved["y_true"].numpy(), saved["y_pred"].numpy(), saved["logits"].numpy())


def _tau(row: pd.Series) -> str:
    """The temperature a row trained with, as Table 5 prints it (a tuned tau, a policy, or "-")."""
    if row["method"] == "kd-tuned":
        return f"{row['tau']:g}"
    temperature = row.get("temperature")
    return "-" if temperature is None or pd.isna(temperature) or temperature == "" else temperature


def metrics_table(lab: Any, runs: pd.DataFrame, split: str = "test",
                  device: str | torch.device | None = None) -> pd.DataFrame:
    """Table 5's metrics (:func:`~greenkd_lib.engine.evaluate.classification_metrics`) of each run of
    ``runs`` (rows of ``Lab.teacher`` / ``tuned_kd`` / ``stochastic_kd``), one row per run, with
    the run's ``hash`` and its recorded ``run test_acc`` for a check."""
    records = []
    for _, r in runs.iterrows():
        pred = run_predictions(lab, r["hash"], split, device)
        records.append({"row": arm_name(r["method"]), "method": r["method"], "model": r["student"],
                        "seed": r["seed"], "tau": _tau(r), **classification_metrics(pred),
                        "hash": r["hash"], "run test_acc": r["test_acc"]})
    return pd.DataFrame(records)


def metrics_summary(per_run: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds of each metric of :func:`metrics_table`, one row per arm (in the
    order of ``per_run``): ``row``, ``seeds``, then ``<metric>_mean`` and ``<metric>_std``."""
    groups = per_run.groupby("method", sort=False)
    agg = groups[list(METRICS)].agg(["mean", "std"])
    table = pd.DataFrame({"row": [arm_name(m) for m in agg.index], "seeds": groups.size().values})
    for m in METRICS:
        table[f"{m}_mean"] = agg[(m, "mean")].values
        table[f"{m}_std"] = agg[(m, "std")].values
    return table


def metric_differences(summary: pd.DataFrame) -> pd.DataFrame:
    """From :func:`metrics_summary`: per metric, ours minus tuned KD and the teacher minus ours
    (mean over seeds, in points, to 0.01): the gaps Table 5 is about."""
    by = summary.set_index("row")
    ours, kd, teacher = by.loc[arm_name("ours")], by.loc[arm_name("kd-tuned")], by.loc[arm_name("teacher")]
    # To the hundredth of a point the metrics are printed with: a 1e-14 gap is float noise, not a gap
    # (+ 0.0 turns a rounded -0.0 into 0.0).
    def gaps(high: pd.Series, low: pd.Series) -> list[float]:
        return [round(high[f"{m}_mean"] - low[f"{m}_mean"], 2) + 0.0 for m in METRICS]

    return pd.DataFrame({"metric": list(METRICS), "ours - KD (tuned)": gaps(ours, kd),
                         "teacher - ours": gaps(teacher, ours)})


def table5(per_run: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Table 5 for one seed: the rows of :func:`metrics_table`, with the paper's CIFAR-10
    accuracies (abstract, Table 4) beside them; its Table 5 metrics are not published here."""
    accuracy = {"teacher": published.headline_value("teacher_accuracy", "cifar10"),
                "kd-tuned": published.table4_value("cifar10", "HKD", "tuned", "score_mean"),
                "ours": published.table4_value("cifar10", "HKD", "ours", "score_mean")}
    table = per_run[per_run["seed"] == seed].drop(columns=["hash", "run test_acc"]).reset_index(drop=True)
    table["paper accuracy, CIFAR-10 (abstract, Table 4)"] = [
        published.NOT_PUBLISHED if accuracy.get(m) is None else accuracy[m] for m in table["method"]]
    table["paper Table 5 metrics, CIFAR-10"] = published.NOT_PUBLISHED
    return table


def per_class_f1(lab: Any, per_run: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """F1 (%) per class (rows) of each run of ``per_run`` (columns: the runs' ``method``), e.g.
    one seed's rows of :func:`metrics_table`."""
    if per_run["method"].duplicated().any():
        raise ValueError("per_class_f1 takes one run per method (e.g. one seed's rows), got methods "
                         f"{list(per_run['method'])}")
    classes = _data(lab).classes
    return pd.DataFrame({r["method"]: per_class_report(run_predictions(lab, r["hash"], split), classes)
                         .loc[classes, "f1-score"] * 100 for _, r in per_run.iterrows()})


def model_label(row: pd.Series, student: str | None = None) -> str:
    """A model's name in Fig 4: its arm (with the tuned tau) and its architecture."""
    name = arm_name(row["method"])
    if row["method"] == "kd-tuned":
        name += f" = {row['tau']:g}"
    return f"{name} ({student or row['student']})"


def accuracy_table(lab: Any, runs: pd.DataFrame, target: int, split: str = "test",
                   device: str | torch.device | None = None) -> pd.DataFrame:
    """Fig 4's models (``runs``) beside the paper's CIFAR-10 accuracies (abstract): accuracy on
    ``split``, best test accuracy over epochs, recall of class ``target``; compared only on CIFAR-10."""
    classes = _data(lab).classes
    rows = []
    for _, r in runs.iterrows():
        pred = run_predictions(lab, r["hash"], split, device)
        theirs = published.headline_value(_HEADLINE_ACCURACY[r["method"]], "cifar10")
        rows.append({
            "model": model_label(r), "run": r["hash"], f"{split} acc (%)": pred.accuracy,
            "best test acc (%)": r["best_test_acc"],
            f"recall of class {classes[target]} (%)":
                100 * per_class_report(pred, classes).loc[classes[target], "recall"],
            "paper, CIFAR-10 (abstract) (%)": published.NOT_PUBLISHED if theirs is None else f"{theirs:.2f}",
            "ours vs paper": (published.compare(r["best_test_acc"], theirs) if lab.dataset == "cifar10"
                              else f"not compared ({lab.dataset} is not CIFAR-10)"),
        })
    return pd.DataFrame(rows)
