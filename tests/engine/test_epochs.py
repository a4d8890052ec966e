"""The bookkeeping every training loop shares (greenkd_lib.engine.epochs): losses kept on the device."""

from __future__ import annotations

import math

import pytest
import torch

from greenkd_lib.engine.epochs import EpochLosses, SYNC_EVERY, TrainingDivergedError


def test_the_epoch_losses_sum_each_term_over_samples():
    losses = EpochLosses(epoch=0)
    losses.add({"ce": torch.tensor(1.0), "kd": torch.tensor(0.5)}, torch.zeros(4, 3))
    losses.add({"ce": torch.tensor(2.0), "kd": torch.tensor(0.25)}, torch.zeros(2, 3))
    total, terms, seen = losses.totals()
    assert seen == 6 and len(losses) == 2
    assert terms == pytest.approx({"ce": 4 * 1.0 + 2 * 2.0, "kd": 4 * 0.5 + 2 * 0.25})
    assert total == pytest.approx(4 * 1.5 + 2 * 2.25)


def test_the_losses_stay_tensors_until_the_epoch_ends():
    # What the GPU path relies on: add() never reads a value back to the host.
    losses = EpochLosses(epoch=0)
    for _ in range(SYNC_EVERY + 1):
        losses.add({"ce": torch.tensor(0.5)}, torch.zeros(2, 1))
    assert all(isinstance(v, torch.Tensor) for v in losses.losses + losses.terms["ce"])


def test_a_nan_loss_names_its_epoch_and_batch():
    losses = EpochLosses(epoch=2)
    losses.add({"ce": torch.tensor(1.0)}, torch.zeros(1, 1))
    losses.add({"ce": torch.tensor(math.nan)}, torch.zeros(1, 1))
    with pytest.raises(TrainingDivergedError, match="epoch 3, batch 2"):
        losses.check_finite()
    with pytest.raises(TrainingDivergedError):
        losses.totals()


def test_an_epoch_without_batches_sums_to_zero():
    assert EpochLosses(epoch=0).totals() == (0.0, {}, 0)
