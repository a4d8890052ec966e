"""Fixtures shared by several test modules (plain helpers live in tests/helpers/)."""

import pytest
import torch

from greenkd_lib.runs import RunStore
from tests.helpers.datafree import train_digits_teacher


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models on a shared 2-core machine: a second intra-op thread only spin-waits (10x slower at load 3)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> RunStore:
    """An empty run store, one per test module (a module's runs are trained once and shared by its tests)."""
    return RunStore(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def digits_teacher():
    """A tiny BN teacher trained on digits, with the digits' mean and std (tests/helpers/datafree.py), one per module."""
    return train_digits_teacher()
