"""The MLflow export: a run as an MLflow run (config as params, history as per-epoch metrics), read back
with MLflow's own client from its local file store; off unless asked for, and then never imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from greenkd_lib.config.profiles import get_profile
from greenkd_lib.engine import mlflow_sink
from greenkd_lib.engine.configs import teacher_config
from greenkd_lib.engine.train import get_or_run
from greenkd_lib.runs import RunStore

TINY = get_profile("smoke", epochs=2, max_batches=2)


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _runs(uri: str, **tags: str):
    client = _client(uri)
    experiment = client.get_experiment_by_name("greenkd-smoke")
    if experiment is None:
        return []
    where = " and ".join(f"tags.`greenkd.{k}` = '{v}'" for k, v in tags.items())
    return client.search_runs([experiment.experiment_id], filter_string=where)


@pytest.mark.parametrize("value", ["", "0", "off", "False", " no "])
def test_off_values_log_nothing(monkeypatch, tmp_path, value):
    monkeypatch.setenv(mlflow_sink.VARIABLE, value)
    assert mlflow_sink.tracking_uri(tmp_path) is None


def test_on_and_uri_values(monkeypatch, tmp_path):
    monkeypatch.setenv(mlflow_sink.VARIABLE, "1")
    assert mlflow_sink.tracking_uri(tmp_path) == (tmp_path.resolve() / "mlruns").as_uri()
    monkeypatch.setenv(mlflow_sink.VARIABLE, "sqlite:///elsewhere/mlflow.db")
    assert mlflow_sink.tracking_uri(tmp_path) == "sqlite:///elsewhere/mlflow.db"
    monkeypatch.setenv(mlflow_sink.VARIABLE, "maybe")
    with pytest.raises(ValueError, match="GREENKD_MLFLOW='maybe' is neither 1/0 nor a tracking URI"):
        mlflow_sink.tracking_uri(tmp_path)


def test_missing_extra_fails_before_training(monkeypatch, tmp_path):
    monkeypatch.setenv(mlflow_sink.VARIABLE, "1")
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if not installed: find_spec answers None
    store = RunStore(tmp_path / "runs")
    with pytest.raises(mlflow_sink.MlflowNotInstalledError, match=r'pip install "greenkd\[mlflow\]"'):
        get_or_run(teacher_config(TINY, "shufflenetv2", "digits", seed=0), store=store, device="cpu", progress=False)
    assert store.list().empty  # nothing trained, no run directory made


def test_off_never_imports_mlflow(tmp_path):
    """With the export off, training code and a notebook's outputs import no mlflow (import greenkd_lib stays cheap)."""
    code = ("import sys, pandas as pd\n"
            "import greenkd_lib, greenkd_lib.engine.train, greenkd_lib.engine.emissions\n"
            "from greenkd_lib.paper.outputs import NotebookOutputs\n"
            f"NotebookOutputs('99_x', 'smoke', {str(tmp_path)!r}).table(pd.DataFrame({{'a': [1]}}), 't', 'c')\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'mlflow'))\n")
    env = {k: v for k, v in os.environ.items() if k != mlflow_sink.VARIABLE}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_a_run_is_logged_once_with_params_and_per_epoch_metrics(tmp_path, one_thread, export_on):
    pytest.importorskip("mlflow", reason='the mlflow extra: pip install "greenkd[mlflow]"')
    store = RunStore(tmp_path / "runs")
    cfg = teacher_config(TINY, "shufflenetv2", "digits", seed=0)
    result = get_or_run(cfg, store=store, device="cpu", progress=False)
    assert os.environ["MLFLOW_ALLOW_FILE_STORE"] == "true"  # MLflow 3 refuses its file store otherwise

    (logged,) = _runs(export_on)
    assert logged.info.run_name == result["label"] and logged.info.status == "FINISHED"
    assert logged.data.tags["greenkd.hash"] == result["hash"]
    assert logged.data.tags["greenkd.kind"] == "training"
    # The config, nested keys dotted, as params.
    assert logged.data.params == mlflow_sink.flatten(cfg.to_dict())
    assert logged.data.params["model"] == "shufflenetv2" and logged.data.params["carbon.country"] == "null"
    # The history, one metric value per epoch; the result's totals as single values.
    history = store.run(cfg.to_dict()).history()
    client = _client(export_on)
    for column in ("train_loss", "val_acc", "test_acc", "lr", "energy_kwh", "co2_g", "flops", "wall_s"):
        points = client.get_metric_history(logged.info.run_id, column)
        assert [p.step for p in points] == [1, 2], column
        assert [p.value for p in points] == pytest.approx(history[column].tolist(), rel=1e-12), column
    assert logged.data.metrics["run.test_acc"] == pytest.approx(result["metrics"]["test_acc"])
    assert logged.data.metrics["run.footprint.energy_kwh"] == pytest.approx(result["footprint"]["energy_kwh"])
    assert logged.data.metrics["run.flops.total"] == result["flops"]["total"]
    artifacts = {a.path for a in client.list_artifacts(logged.info.run_id)}
    assert artifacts == {"result.json", "history.csv"}
    stored = json.loads(open(client.download_artifacts(logged.info.run_id, "result.json", str(tmp_path / "dl"))).read())
    assert stored["hash"] == result["hash"]

    # Read back: by this process, or by another one that does not remember it: still one MLflow run.
    get_or_run(cfg, store=store, device="cpu", progress=False)
    mlflow_sink._logged.clear()
    mlflow_sink._known.clear()
    get_or_run(cfg, store=store, device="cpu", progress=False)
    assert len(_runs(export_on)) == 1
    assert [r["hash"] for r in mlflow_sink.runs_logged(export_on)] == [result["hash"]]


@pytest.mark.slow
def test_a_stored_run_is_logged_when_read_with_the_export_on(tmp_path, one_thread, export_on, monkeypatch):
    pytest.importorskip("mlflow", reason='the mlflow extra: pip install "greenkd[mlflow]"')
    store = RunStore(tmp_path / "runs")
    cfg = teacher_config(TINY, "shufflenetv2", "digits", seed=1)
    monkeypatch.setenv(mlflow_sink.VARIABLE, "0")
    result = get_or_run(cfg, store=store, device="cpu", progress=False)
    assert not (tmp_path / "mlruns").exists()
    monkeypatch.setenv(mlflow_sink.VARIABLE, "1")
    get_or_run(cfg, store=store, device="cpu", progress=False)  # read from the store, and now logged
    (logged,) = _runs(export_on, hash=result["hash"])
    assert len(_client(export_on).get_metric_history(logged.info.run_id, "val_acc")) == 2
