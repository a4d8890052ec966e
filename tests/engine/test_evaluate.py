"""evaluate: predictions of a model and Table 5's metrics, on tiny tensors and fabricated labels."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from greenkd_lib.data import TensorImages
from greenkd_lib.engine.evaluate import (classification_metrics, confusion, confusion_summary, METRICS,
                                         per_class_table, predict, Predictions)

CLASSES = ["a", "b", "c"]


def fabricated(y_true, y_pred) -> Predictions:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    logits = np.eye(3, dtype=np.float32)[y_pred] * 5
    return Predictions(y_true, y_pred, logits)


def test_predict_runs_a_model_over_a_dataset_in_order_and_restores_training_mode():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 2 * 2, 3)).train()
    images = torch.randn(5, 3, 2, 2)
    pred = predict(model, TensorImages(images, [0, 1, 2, 0, 1]), batch_size=2)
    assert model.training
    assert pred.y_true.tolist() == [0, 1, 2, 0, 1]
    with torch.no_grad():
        expected = model.eval()(images).numpy()
    np.testing.assert_allclose(pred.logits, expected, rtol=1e-5, atol=1e-6)
    assert pred.y_pred.tolist() == expected.argmax(1).tolist()
    np.testing.assert_allclose(pred.probabilities.sum(1), 1, rtol=1e-6)


def test_metrics_are_in_percent_and_in_table5_order():
    pred = fabricated([0, 0, 1, 1, 2, 2], [0, 0, 1, 2, 2, 2])
    metrics = classification_metrics(pred)
    assert tuple(metrics) == METRICS
    assert metrics["accuracy"] == pytest.approx(100 * 5 / 6) == pytest.approx(pred.accuracy)
    assert metrics["recall"] == pytest.approx(metrics["accuracy"])  # weighted recall is accuracy


def test_per_class_table_is_in_percent_with_integer_support_and_the_averages_last():
    table = per_class_table(fabricated([0, 0, 1, 1, 2, 2], [0, 0, 1, 2, 2, 2]), CLASSES)
    assert list(table.columns) == ["class", "precision", "recall", "f1-score", "support"]
    assert table["class"].tolist() == [*CLASSES, "macro avg", "weighted avg"]
    assert table.set_index("class").loc["b", "recall"] == pytest.approx(50.0)
    assert table["support"].dtype.kind == "i" and table["support"].tolist()[:3] == [2, 2, 2]


def test_confusion_summary_counts_errors_and_names_the_largest_off_diagonal_cell():
    matrices = {"m1": confusion(fabricated([0, 0, 1, 1, 2, 2], [0, 0, 1, 2, 2, 0]), CLASSES),
                "perfect": confusion(fabricated([0, 1, 2], [0, 1, 2]), CLASSES)}
    assert matrices["m1"].loc["b", "c"] == 1 and matrices["m1"].index.name == "true"
    summary = confusion_summary(matrices)
    assert isinstance(summary, pd.DataFrame)
    m1, perfect = summary.to_dict("records")
    assert m1["errors"] == 2 and m1["accuracy (%)"] == pytest.approx(400 / 6) and m1["images"] == 1
    assert m1["most frequent confusion"] == "true b -> predicted c"  # the first of the tied cells, row by row
    assert perfect["errors"] == 0 and perfect["most frequent confusion"] == "-" and perfect["accuracy (%)"] == 100
