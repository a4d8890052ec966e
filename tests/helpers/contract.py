"""What the method contract (tests/methods/test_methods.py) compares states with, for any method's tests."""

from __future__ import annotations

import io
import math

import numpy as np
import torch


def equal(a, b, where: str = "state") -> None:
    """Assert two nested states (dicts, lists, tensors, numbers) are exactly equal."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), where
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{where}: keys {sorted(map(str, a))} vs {sorted(map(str, b))}"
        for key in a:
            equal(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            equal(x, y, f"{where}[{i}]")
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, b), where
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b), where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def is_equal(a, b) -> bool:
    try:
        equal(a, b)
    except AssertionError:
        return False
    return True


def saved_and_loaded(state):
    """``state`` written with torch.save and read back, as a checkpoint is (Run.load_checkpoint)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, map_location="cpu", weights_only=False)
