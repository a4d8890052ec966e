"""With the MLflow export on, a notebook's saved figures and tables are the artifacts of its own MLflow run,
which lists the training runs the notebook used."""

from __future__ import annotations

import json
import logging

import matplotlib
import pandas as pd
import pytest

from greenkd_lib.engine import mlflow_sink
from greenkd_lib.paper.outputs import NotebookOutputs
from greenkd_lib.runs import RunStore

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

pytest.importorskip("mlflow", reason='the mlflow extra: pip install "greenkd[mlflow]"')


def _figure():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    return fig


def test_figures_and_tables_are_the_notebook_runs_artifacts(tmp_path, export_on):
    from mlflow.tracking import MlflowClient

    # A stored run this process read, as a notebook's Lab reads its runs (a run without epochs: a derived one).
    store = RunStore(tmp_path / "runs")
    result = store.get_or_run({"profile": "smoke", "method": "ptq", "parent": None},
                              lambda run: {"label": "derived", "metrics": {"test_acc": 0.5}})
    run_id = mlflow_sink.log_result(store, result, export_on)
    assert run_id is not None

    out = NotebookOutputs("99_fig9_example", "smoke", tmp_path)
    out.figure(_figure(), "fig9_curve", "A curve.")
    out.table(pd.DataFrame({"tau": [1.0, 4.0], "acc": [0.9, 0.91]}), "fig9_values", "Its values.")
    out.figure(_figure(), "fig9_curve", "A curve, saved again.")  # the same name: replaced, not added

    client = MlflowClient(tracking_uri=export_on)
    experiment = client.get_experiment_by_name("greenkd-smoke")
    (notebook,) = client.search_runs([experiment.experiment_id], filter_string="tags.`greenkd.kind` = 'notebook'")
    assert notebook.info.run_name == "99_fig9_example" and notebook.info.status == "FINISHED"
    assert notebook.data.tags["greenkd.notebook"] == "99_fig9_example"
    assert notebook.data.params == {"profile": "smoke"}
    files = {a.path for folder in ("figures", "tables", "manifest") for a in client.list_artifacts(notebook.info.run_id, folder)}
    assert files == {"figures/fig9_curve.png", "figures/fig9_curve.svg", "tables/fig9_values.csv",
                     "tables/fig9_values.md", "manifest/99_fig9_example.json"}
    local = tmp_path / "dl"
    png = client.download_artifacts(notebook.info.run_id, "figures/fig9_curve.png", str(local))
    assert open(png, "rb").read() == (tmp_path / "smoke" / "figures" / "fig9_curve.png").read_bytes()
    manifest = json.loads(open(client.download_artifacts(notebook.info.run_id, "manifest/99_fig9_example.json",
                                                         str(local))).read())
    assert [(i["kind"], i["caption"]) for i in manifest["items"]] == [("table", "Its values."),
                                                                     ("figure", "A curve, saved again.")]
    used = json.loads(open(client.download_artifacts(notebook.info.run_id, "training_runs.json", str(local))).read())
    assert used == [{"run_id": run_id, "hash": result["hash"], "label": "derived"}]


def test_a_failing_tracking_store_does_not_fail_the_notebook(tmp_path, monkeypatch, caplog):
    blocked = tmp_path / "not_a_folder"
    blocked.write_text("a file where the store would be")
    monkeypatch.setenv(mlflow_sink.VARIABLE, blocked.as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    out = NotebookOutputs("99_fig9_example", "smoke", tmp_path)
    with caplog.at_level(logging.WARNING, logger="greenkd_lib.paper.mlflow_notebook"):
        paths = out.figure(_figure(), "fig9_curve", "A curve.")
    assert all(p.is_file() for p in paths)
    assert "logging it to MLflow at" in caplog.text and "failed" in caplog.text
