"""Fig 2's diagrams and the diagram's quantities on tiny tensors (greenkd_lib.paper.fig2)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from greenkd_lib.paper import fig2 as diagrams


def test_kd_diagrams_draws_two_panels():
    fig = diagrams.kd_diagrams(alpha=0.9)
    assert len(fig.axes) == 2


def test_check_taus_defaults_to_the_range_ends():
    assert diagrams.check_taus(None, 2, 20) == [2.0, 20.0]
    assert diagrams.check_taus([1, 4], 2, 20) == [1.0, 4.0]
    with pytest.raises(ValueError, match="two temperatures"):
        diagrams.check_taus([1, 2, 3], 2, 20)


def test_shown_classes_keeps_the_largest_logits_in_class_order():
    assert diagrams.shown_classes(torch.zeros(4), 4).tolist() == [0, 1, 2, 3]
    logits = torch.arange(12.0).flip(0)  # class 0 largest
    assert diagrams.shown_classes(logits, 12, most=3).tolist() == [0, 1, 2]


def test_quantities_and_their_table():
    a_m, a_s = torch.tensor([2.0, 0.0, -1.0]), torch.tensor([0.5, 0.5, 0.0])
    q = diagrams.quantities(a_m, a_s, [1.0, 4.0])
    assert len(q) == 8 and torch.allclose(q["h_m = softmax(a_m)"], q["o_m = softmax(a_m / 1)"])
    assert q["o_m = softmax(a_m / 4)"].max() < q["o_m = softmax(a_m / 1)"].max()  # a larger tau flattens
    table = diagrams.quantity_table(q, torch.tensor([0, 2]), ["cat", "dog", "emu"])
    assert table.index.name == "quantity" and list(table.columns) == ["cat", "emu"]
    assert table.loc["a_m (teacher logits)", "cat"] == pytest.approx(2.0)


def test_loss_terms_mix_linearly_and_ce_ignores_tau():
    torch.manual_seed(0)
    a_s, a_m, y = torch.randn(4, 3), torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    losses = diagrams.loss_terms(a_s, a_m, y, [("fixed 1", 1.0), ("fixed 8", 8.0)], 0.9, "batchmean")
    assert losses["temperature"].tolist() == ["fixed 1", "fixed 8"]
    ce = losses["CE(h_s, y) [alpha=0]"]
    assert ce.iloc[0] == pytest.approx(ce.iloc[1])
    total = 0.1 * ce + 0.9 * losses["tau^2 KL(o_m || o_s) [alpha=1]"]
    assert losses["total [alpha=0.9]"].tolist() == pytest.approx(total.tolist(), rel=1e-4)
