"""Every run this process finishes leaves one row in its run store's codecarbon ``emissions.csv``.

The row is the stored result's footprint in codecarbon's format (:mod:`greenkd_lib.carbon.emissions_csv`),
appended once the store has written the result: a run read back from the store, or finished by another
process, adds nothing, and a row never names a run whose result is missing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..carbon import Footprint
from ..carbon.emissions_csv import EMISSIONS_FILE, append_emissions, emissions_data
from ..runs import Run, RunStore
from ..runs.store import Verifier
from . import mlflow_sink

__all__ = ["emissions_path", "log_emissions", "get_or_run_logged"]

logger = logging.getLogger(__name__)


def emissions_path(store: RunStore) -> Path:
    """``<store root>/emissions.csv``: inside the store, beside the runs it lists (codecarbon's file name)."""
    return store.root / EMISSIONS_FILE


def log_emissions(store: RunStore, result: Mapping[str, Any], country: str | None) -> Path | None:
    """Append the row of the finished ``result`` (as the store wrote it) to :func:`emissions_path`.

    ``country``: the ISO code the run's CO2 was charged at (None: a forced intensity). A failure is
    logged, not raised: the result is stored already, and the row is a copy of its figures.
    """
    try:
        config = result["config"]
        parent = config.get("parent") if isinstance(config.get("parent"), Mapping) else {}
        data = emissions_data(
            Footprint.from_dict(dict(result["footprint"])),
            project_name=str(result.get("label") or config.get("label") or result["hash"]),
            run_id=str(result["hash"]),
            experiment_id=str(config.get("profile") or parent.get("profile") or ""),
            timestamp=str(result["finished_at"]),
            country_iso_code=country)
        return append_emissions(emissions_path(store), data)
    except Exception as exc:  # noqa: BLE001 - never fail a run whose result is stored
        logger.warning("run %s finished, but its row in %s was not written (%s: %s)", result.get("hash"),
                       emissions_path(store), type(exc).__name__, exc)
        return None


def get_or_run_logged(store: RunStore, config: Mapping, train_fn: Callable[[Run], Mapping], *,
                      country: str | None, verify: Verifier | None = None,
                      timeout: float | None = None) -> dict:
    """``store.get_or_run(config, train_fn, ...)``, logging the run's emissions when this call trained it,
    and the run to MLflow when ``GREENKD_MLFLOW`` asks for it (:mod:`.mlflow_sink`)."""
    mlflow_uri = mlflow_sink.tracking_uri(store.root.parent)  # None when off; a missing extra fails before training
    trained = False

    def train_and_note(run: Run) -> Mapping:
        nonlocal trained
        out = train_fn(run)
        trained = True
        return out

    result = store.get_or_run(config, train_and_note, verify=verify, timeout=timeout)
    if trained:
        log_emissions(store, result, country)
    if mlflow_uri is not None:
        mlflow_sink.log_result(store, result, mlflow_uri)
    return result
