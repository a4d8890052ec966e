"""Evaluation: predictions of a model on a data set and the metrics of Table 5 (scikit-learn)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

__all__ = ["Predictions", "predict", "accuracy", "classification_metrics", "per_class_report", "confusion",
           "per_class_table", "confusion_summary", "METRICS"]

# Table 5's columns, in the order of :func:`classification_metrics`.
METRICS: tuple[str, ...] = ("accuracy", "precision", "recall", "f1", "kappa")


@dataclass
class Predictions:
    """What a model said about every sample of a split."""

    y_true: np.ndarray  # (N,) int
    y_pred: np.ndarray  # (N,) int
    logits: np.ndarray  # (N, C) float32

    @property
    def probabilities(self) -> np.ndarray:
        return torch.softmax(torch.from_numpy(self.logits), dim=1).numpy()

    @property
    def accuracy(self) -> float:
        return float((self.y_true == self.y_pred).mean() * 100.0)


@torch.inference_mode()
def predict(model: torch.nn.Module, data: Dataset | Iterable, device: str | torch.device = "cpu",
            batch_size: int = 256) -> Predictions:
    """Run ``model`` (in eval mode, restored afterwards) over ``data``: a Dataset (batched here by
    ``batch_size``), or any iterable of ``(x, y)`` batches (a DataLoader, a split held on the device)."""
    loader = _batches(data, torch.device(device), batch_size)
    was_training = model.training
    model.eval()
    logits, targets = [], []
    try:
        for x, y in loader:
            x = x.to(device, non_blocking=True)
            if x.dim() == 4:  # the layout the trained models use (train.py): faster convolutions
                x = x.contiguous(memory_format=torch.channels_last)
            # Kept where they are until the end: a copy to the host per batch would stall a GPU's queue.
            logits.append(model(x).float())
            targets.append(torch.as_tensor(y))
    finally:
        model.train(was_training)
    all_logits = torch.cat([t.cpu() for t in logits]).numpy()
    return Predictions(torch.cat([t.cpu() for t in targets]).numpy(), all_logits.argmax(1), all_logits)


def _batches(data: Dataset | Iterable, device: torch.device, batch_size: int) -> Iterable:
    if isinstance(data, DataLoader) or not hasattr(data, "__getitem__"):
        return data  # batches already
    from ..data.device import on_device

    held = on_device(data, device)  # a split of the library's data sets: batched on the device
    if held is not None and (held.form is None or held.form.augment is None):
        return held.in_order(batch_size)
    return DataLoader(data, batch_size=batch_size, shuffle=False)


def accuracy(model: torch.nn.Module, data: Dataset | DataLoader, device: str | torch.device = "cpu",
             batch_size: int = 256) -> float:
    """Top-1 accuracy in percent."""
    return predict(model, data, device, batch_size).accuracy


def classification_metrics(pred: Predictions) -> dict[str, float]:
    """Accuracy, weighted precision/recall/F1 and Cohen's kappa (Table 5's columns), in percent."""
    from sklearn.metrics import accuracy_score, cohen_kappa_score, precision_recall_fscore_support

    p, r, f, _ = precision_recall_fscore_support(pred.y_true, pred.y_pred, average="weighted", zero_division=0)
    return {
        "accuracy": 100.0 * accuracy_score(pred.y_true, pred.y_pred),
        "precision": 100.0 * p,
        "recall": 100.0 * r,
        "f1": 100.0 * f,
        "kappa": 100.0 * cohen_kappa_score(pred.y_true, pred.y_pred),
    }


def per_class_report(pred: Predictions, classes: list[str]) -> pd.DataFrame:
    """scikit-learn's per-class precision/recall/F1/support as a DataFrame."""
    from sklearn.metrics import classification_report

    report = classification_report(pred.y_true, pred.y_pred, labels=range(len(classes)), target_names=classes,
                                   output_dict=True, zero_division=0)
    report.pop("accuracy", None)  # a bare number, not a row: as a row its "support" would be the accuracy
    return pd.DataFrame(report).T


def confusion(pred: Predictions, classes: list[str], normalize: str | None = None) -> pd.DataFrame:
    """Confusion matrix (rows: true class, columns: predicted), labelled with class names."""
    from sklearn.metrics import confusion_matrix

    cm = confusion_matrix(pred.y_true, pred.y_pred, labels=range(len(classes)), normalize=normalize)
    return pd.DataFrame(cm, index=pd.Index(classes, name="true"), columns=pd.Index(classes, name="predicted"))


def per_class_table(pred: Predictions, classes: list[str]) -> pd.DataFrame:
    """:func:`per_class_report` as printed in Table 5: precision/recall/F1 in percent, an integer
    support, and the class (then the macro and weighted averages) as a first column ``class``."""
    report = per_class_report(pred, classes)
    report[["precision", "recall", "f1-score"]] *= 100
    report["support"] = report["support"].astype(int)
    return report.rename_axis("class").reset_index()


def confusion_summary(matrices: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """For each named confusion matrix (:func:`confusion`, counts): its accuracy, its number of
    errors and its most frequent confusion (true -> predicted class, and how many images)."""
    rows = []
    for name, cm in matrices.items():
        counts = cm.to_numpy()
        off = counts.copy()
        np.fill_diagonal(off, 0)
        t, p = np.unravel_index(off.argmax(), off.shape)
        worst = f"true {cm.index[t]} -> predicted {cm.columns[p]}" if off.any() else "-"
        rows.append({"model": name, "accuracy (%)": 100.0 * np.trace(counts) / counts.sum(),
                     "errors": int(off.sum()), "most frequent confusion": worst, "images": int(off[t, p])})
    return pd.DataFrame(rows)
