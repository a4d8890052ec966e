"""``greenkd reproduce --mlflow``: a smoke batch leaves an MLflow experiment whose runs hold the params,
the per-epoch metrics and the figures (read back with MLflow's client from the local file store)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from greenkd_lib.batch.cli import main
from greenkd_lib.engine import mlflow_sink
from greenkd_lib.runs import RunStore

NOTEBOOK = "02_fig2_kd_diagrams"  # the cheapest notebook that trains (a teacher and a student) and saves figures


def test_mlflow_without_the_extra_is_an_error_before_anything_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(mlflow_sink.VARIABLE, raising=False)
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if not installed
    code = main(["reproduce", "--profile", "smoke", "--only", NOTEBOOK, "--mlflow", "--output", str(tmp_path)])
    assert code == 2
    assert 'pip install "greenkd[mlflow]"' in capsys.readouterr().err
    assert not (tmp_path / "smoke" / "summary.json").exists() and not (tmp_path / "runs").exists()
    assert mlflow_sink.VARIABLE not in os.environ  # the switch is the batch's, not left behind


@pytest.mark.slow
def test_a_smoke_batch_leaves_an_mlflow_experiment(tmp_path: Path, monkeypatch):
    pytest.importorskip("mlflow", reason='the mlflow extra: pip install "greenkd[mlflow]"')
    from mlflow.tracking import MlflowClient

    out = tmp_path / "outputs"
    env = {k: v for k, v in os.environ.items() if k not in (mlflow_sink.VARIABLE, "MLFLOW_ALLOW_FILE_STORE")}
    env["GREENKD_HOME"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-m", "greenkd_lib.batch.cli", "reproduce", "--profile", "smoke",
                           "--only", NOTEBOOK, "--mlflow", "--output", str(out)],
                          env=env, capture_output=True, text=True)  # no time limit: trainings wait for a free slot
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"MLflow: runs and figures go to {(out / 'mlruns').as_uri()}" in done.stdout

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # reading MLflow 3's file store, as the batch wrote it
    client = MlflowClient(tracking_uri=(out / "mlruns").as_uri())
    experiment = client.get_experiment_by_name("greenkd-smoke")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])

    # Every run the batch trained, once (the worker that trained it and the kernel that read it share one
    # MLflow run), with its config as params and its history as per-epoch metrics.
    store = RunStore(out / "runs")
    stored = store.list()
    trainings = [r for r in runs if r.data.tags["greenkd.kind"] == "training"]
    assert sorted(r.data.tags["greenkd.hash"] for r in trainings) == sorted(stored["hash"])
    for logged in trainings:
        run = store.run_by_hash(logged.data.tags["greenkd.hash"])
        assert logged.data.params == mlflow_sink.flatten(run.read_config())
        history = run.history()
        for column in ("val_acc", "train_loss", "energy_kwh", "co2_g", "flops"):
            points = client.get_metric_history(logged.info.run_id, column)
            assert [p.step for p in points] == history["epoch"].tolist(), column
            assert [p.value for p in points] == pytest.approx(history[column].tolist(), rel=1e-12), column

    # The notebook's run: every figure and table of its manifest, and the training runs it used.
    (notebook,) = [r for r in runs if r.data.tags["greenkd.kind"] == "notebook"]
    assert notebook.info.run_name == NOTEBOOK
    manifest = json.loads((out / "smoke" / "manifest" / f"{NOTEBOOK}.json").read_text())
    saved = {f for item in manifest["items"] for f in item["files"]}
    assert any(f.endswith(".png") for f in saved)
    artifacts = {a.path for folder in ("figures", "tables") for a in client.list_artifacts(notebook.info.run_id, folder)}
    assert artifacts == saved
    used = json.loads(Path(client.download_artifacts(notebook.info.run_id, "training_runs.json",
                                                     str(tmp_path / "dl"))).read_text())
    assert used and {u["run_id"] for u in used} <= {r.info.run_id for r in trainings}
