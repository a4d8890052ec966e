"""The optional MLflow export: each finished run as an MLflow run (config as params, history as metrics).

Switched on by the environment variable ``GREENKD_MLFLOW`` (``greenkd reproduce --mlflow`` sets it for
its kernels and their workers): ``1`` logs to MLflow's local file store ``<outputs>/mlruns/`` beside the
run store (no server; ``MLFLOW_ALLOW_FILE_STORE`` is set for it, as MLflow 3 otherwise refuses it), a
URI (``file:///...``, ``sqlite:///...``, ``http://...``) logs there. Unset, empty or ``0``: nothing is
logged and ``mlflow`` is never imported. It needs the ``mlflow`` extra (``pip install "greenkd[mlflow]"``),
checked before anything trains.

A run of the store becomes one MLflow run in the experiment ``greenkd-<profile>``, tagged with its hash
and ``finished_at``: a run this process trains, and a run it reads back that the experiment lacks (a
batch re-run with the export on fills the experiment from the store), each logged once under a lock.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from ..runs import RunStore

__all__ = ["VARIABLE", "INSTALL_HINT", "MlflowNotInstalledError", "tracking_uri", "experiment_name", "client",
           "log_result", "runs_logged", "flatten"]

logger = logging.getLogger(__name__)

VARIABLE = "GREENKD_MLFLOW"
INSTALL_HINT = 'pip install "greenkd[mlflow]"'
_ON, _OFF = {"1", "true", "yes", "on"}, {"", "0", "false", "no", "off"}
_MAX_PARAM_CHARS = 6000  # MLflow 3's limit on a param's value
_BATCH = 100  # params per log_batch call (MLflow's limit)
_ALLOW_FILE_STORE = "MLFLOW_ALLOW_FILE_STORE"

# This process's runs in MLflow: (tracking URI, hash, finished_at) -> {"run_id", "label", "hash"}; the
# notebook's own MLflow run lists them (greenkd_lib.paper.mlflow_notebook).
_logged: dict[tuple[str, str, str], dict[str, str]] = {}
# The training runs each experiment held when this process last looked: (URI, profile) -> (hash, finished_at) -> id.
_known: dict[tuple[str, str | None], dict[tuple[str, str], str]] = {}


class MlflowNotInstalledError(ImportError):
    """``GREENKD_MLFLOW`` asks for the export, but the ``mlflow`` extra is not installed."""


def tracking_uri(outputs: str | Path) -> str | None:
    """Where runs go when ``GREENKD_MLFLOW`` asks for the export (``outputs``: the outputs root, whose
    ``mlruns/`` is the default), else None. Raises before any training when mlflow is missing or the
    variable's value is neither a switch nor a URI."""
    value = os.environ.get(VARIABLE, "").strip()
    if value.lower() in _OFF:
        return None
    if value.lower() in _ON:
        uri = (Path(outputs).expanduser().resolve() / "mlruns").as_uri()
    elif "://" in value:
        uri = value
    else:
        raise ValueError(f"{VARIABLE}={value!r} is neither 1/0 nor a tracking URI: set {VARIABLE}=1 for "
                         f"<outputs>/mlruns, {VARIABLE}=file:///path/to/mlruns (or sqlite:///..., http://...) "
                         f"for another store, or unset it")
    if importlib.util.find_spec("mlflow") is None:
        raise MlflowNotInstalledError(f"{VARIABLE}={value!r} asks for the MLflow export, but mlflow is not "
                                      f"installed: {INSTALL_HINT} (or unset {VARIABLE})")
    return uri


def experiment_name(profile: str | None) -> str:
    """The experiment of a profile's runs and notebooks: ``greenkd-<profile>``."""
    return f"greenkd-{profile or 'custom'}"


def client(uri: str, profile: str | None) -> tuple[Any, str]:
    """An ``MlflowClient`` on ``uri`` and the id of ``profile``'s experiment (created if missing)."""
    if uri.startswith("file:"):
        # MLflow 3 refuses its file store unless asked (it prefers sqlite, which needs SQLAlchemy and
        # Alembic: not in mlflow-skinny). An explicit MLFLOW_ALLOW_FILE_STORE=false still wins.
        os.environ.setdefault(_ALLOW_FILE_STORE, "true")
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    mlflow_client = MlflowClient(tracking_uri=uri)
    name = experiment_name(profile)
    found = mlflow_client.get_experiment_by_name(name)
    if found is not None:
        return mlflow_client, found.experiment_id
    try:
        return mlflow_client, mlflow_client.create_experiment(name)
    except MlflowException:  # another process created it meanwhile
        return mlflow_client, mlflow_client.get_experiment_by_name(name).experiment_id


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """A nested config as MLflow params: ``{"teacher": {"model": m}}`` -> ``{"teacher.model": "m"}``."""
    flat: dict[str, str] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            flat[name] = text[:_MAX_PARAM_CHARS]
    return flat


def _key(name: str) -> str:
    """``name`` with the characters MLflow refuses in a param or metric name replaced by ``_``."""
    return re.sub(r"[^\w\-./ :]", "_", name)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if math.isnan(value) or math.isinf(value) else float(value)


def _profile(config: Mapping[str, Any]) -> str | None:
    parent = config.get("parent") if isinstance(config.get("parent"), Mapping) else {}
    return config.get("profile") or parent.get("profile")


def _summary(result: Mapping[str, Any]) -> dict[str, float]:
    """The finished run's totals: its result's metrics, footprint and FLOPs (``run.``-prefixed, one value)."""
    sections = {"metrics": result.get("metrics"), "footprint": result.get("footprint"), "flops": result.get("flops")}
    summary = {}
    for section, values in sections.items():
        for key, value in (values or {}).items():
            number = _number(value)
            if number is not None:
                summary[f"run.{key}" if section == "metrics" else f"run.{section}.{key}"] = number
    return summary


def log_result(store: RunStore, result: Mapping[str, Any], uri: str) -> str | None:
    """Log the stored ``result`` as an MLflow run on ``uri`` unless the experiment has it; its run id.

    A failure is logged, not raised (the result is stored already), and returns None.
    """
    key = (uri, str(result.get("hash")), str(result.get("finished_at")))
    if key in _logged:
        return _logged[key]["run_id"]
    try:
        profile = _profile(result["config"])
        known = _known.setdefault((uri, profile), {})
        run_id = known.get(key[1:])
        if run_id is None:
            from filelock import FileLock

            lock = store.root / ".locks" / "mlflow.lock"
            lock.parent.mkdir(parents=True, exist_ok=True)
            with FileLock(str(lock)):  # one MLflow run per stored run, whichever process logs it
                mlflow_client, experiment = client(uri, profile)
                known.update(_training_runs(mlflow_client, experiment))  # one search, not one per run read
                run_id = known.get(key[1:]) or _create(mlflow_client, experiment, store, result)
            known[key[1:]] = run_id
    except Exception as exc:  # noqa: BLE001 - never fail a run whose result is stored
        logger.warning("run %s is stored, but logging it to MLflow at %s failed (%s: %s)", result.get("hash"),
                       uri, type(exc).__name__, exc)
        return None
    _logged[key] = {"run_id": run_id, "hash": key[1], "label": str(result.get("label") or "")}
    return run_id


def _training_runs(mlflow_client: Any, experiment: str) -> dict[tuple[str, str], str]:
    """The experiment's training runs: (hash, finished_at) -> MLflow run id."""
    found, token = {}, None
    while True:
        page = mlflow_client.search_runs([experiment], filter_string="tags.`greenkd.kind` = 'training'",
                                         max_results=1000, page_token=token)
        for run in page:
            tags = run.data.tags
            found[(tags.get("greenkd.hash", ""), tags.get("greenkd.finished_at", ""))] = run.info.run_id
        token = page.token
        if not token:
            return found


def _create(mlflow_client: Any, experiment: str, store: RunStore, result: Mapping[str, Any]) -> str:
    """A new MLflow run holding ``result``; its id."""
    config = result["config"]
    run = store.run(config)
    tags = {"greenkd.hash": str(result["hash"]), "greenkd.finished_at": str(result["finished_at"]),
            "greenkd.kind": "training", "greenkd.profile": str(_profile(config) or ""),
            "greenkd.method": str(result.get("method") or config.get("method") or ""),
            "greenkd.run_dir": str(run.dir.resolve())}
    created = mlflow_client.create_run(experiment, run_name=str(result.get("label") or result["hash"]), tags=tags)
    run_id = created.info.run_id
    try:
        _fill(mlflow_client, run_id, run, result)
    except BaseException:
        mlflow_client.delete_run(run_id)  # a half-logged run would pass for a logged one: the next read retries
        raise
    return run_id


def _fill(mlflow_client: Any, run_id: str, run: Any, result: Mapping[str, Any]) -> None:
    """Log the params, metrics and files of ``result`` to the new MLflow run ``run_id``."""
    from mlflow.entities import Metric, Param

    config = result["config"]
    params = [Param(_key(k), v) for k, v in flatten(config).items()]
    for start in range(0, len(params), _BATCH):
        mlflow_client.log_batch(run_id, params=params[start:start + _BATCH])
    stamp = int(datetime.fromisoformat(str(result["finished_at"])).timestamp() * 1000)
    metrics = [Metric(_key(name), value, stamp, 0) for name, value in _summary(result).items()]
    for row in _history(run):
        step = int(row["epoch"])
        metrics += [Metric(_key(column), number, stamp, step) for column, value in row.items()
                    if column != "epoch" and (number := _number(value)) is not None]
    for start in range(0, len(metrics), 1000):
        mlflow_client.log_batch(run_id, metrics=metrics[start:start + 1000])
    for path in (run.result_path, run.history_path):
        if path.is_file():
            mlflow_client.log_artifact(run_id, str(path))
    mlflow_client.set_terminated(run_id, "FINISHED")


def _history(run: Any) -> list[dict[str, Any]]:
    """The run's history.csv rows (none for a derived run without epochs)."""
    if not run.history_path.is_file():
        return []
    table = run.history()
    return table.to_dict("records") if "epoch" in table.columns else []


def runs_logged(uri: str) -> list[dict[str, str]]:
    """The runs this process logged to ``uri`` or found there (``run_id``, ``hash``, ``label``), in that order."""
    return [entry for (where, _, _), entry in _logged.items() if where == uri]
