"""Fixtures shared by several test modules (plain helpers live in tests/helpers/)."""

import os

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


@pytest.fixture
def export_on(monkeypatch, tmp_path):
    """The MLflow export on for one test (GREENKD_MLFLOW=1, a fresh memory of what was logged); yields the
    tmp_path store's URI, and puts MLFLOW_ALLOW_FILE_STORE back as it was (the sink sets it for a file store)."""
    from greenkd_lib.engine import mlflow_sink

    monkeypatch.setenv(mlflow_sink.VARIABLE, "1")
    monkeypatch.setattr(mlflow_sink, "_logged", {})  # this process's memory of what it logged and saw: per test
    monkeypatch.setattr(mlflow_sink, "_known", {})
    before = os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)
    yield (tmp_path / "mlruns").as_uri()
    os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)
    if before is not None:
        os.environ["MLFLOW_ALLOW_FILE_STORE"] = before
