"""A notebook's figures and tables as the artifacts of its own MLflow run (the optional MLflow export).

With ``GREENKD_MLFLOW`` on (:mod:`greenkd_lib.engine.mlflow_sink`), each execution of a notebook is one
MLflow run named after the notebook, in its profile's experiment beside the training runs: every
figure (PNG, SVG) and table (CSV, Markdown) :class:`~.outputs.NotebookOutputs` saves, under the same
relative path as in ``outputs/<profile>/`` (``figures/``, ``tables/``), its manifest, and
``training_runs.json``: the training runs the notebook read or trained (their MLflow run ids and hashes).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..engine import mlflow_sink

__all__ = ["NotebookRun"]

logger = logging.getLogger(__name__)


class NotebookRun:
    """The MLflow run of one notebook execution, created with its first saved item."""

    def __init__(self, uri: str, notebook: str, profile: str, root: Path) -> None:
        self.uri, self.notebook, self.profile, self.root = uri, notebook, profile, root
        self.run_id: str | None = None
        self._client: Any = None

    @classmethod
    def from_environment(cls, notebook: str, profile: str, outputs: Path, root: Path) -> "NotebookRun | None":
        """The notebook's run when ``GREENKD_MLFLOW`` asks for the export (``outputs``: the outputs
        root), else None; a missing extra fails here, before the notebook trains anything."""
        uri = mlflow_sink.tracking_uri(outputs)
        return None if uri is None else cls(uri, notebook, profile, root)

    def log(self, files: list[Path], manifest: Path) -> None:
        """Add ``files`` (under ``root``) and the manifest to the run. A failure is logged, not raised:
        the files are saved already."""
        try:
            if self.run_id is None:
                self._client, experiment = mlflow_sink.client(self.uri, self.profile)
                tags = {"greenkd.kind": "notebook", "greenkd.notebook": self.notebook,
                        "greenkd.profile": self.profile, "greenkd.outputs": str(self.root.resolve())}
                self.run_id = self._client.create_run(experiment, run_name=self.notebook, tags=tags).info.run_id
                self._client.log_param(self.run_id, "profile", self.profile)
            for path in files:
                parent = path.relative_to(self.root).parent.as_posix()
                self._client.log_artifact(self.run_id, str(path), artifact_path=None if parent == "." else parent)
            self._client.log_artifact(self.run_id, str(manifest), artifact_path="manifest")
            runs = mlflow_sink.runs_logged(self.uri)
            self._client.log_dict(self.run_id, runs, "training_runs.json")
            self._client.set_tag(self.run_id, "greenkd.training_runs", str(len(runs)))
            self._client.set_terminated(self.run_id, "FINISHED")  # done so far; a later item adds to it
        except Exception as exc:  # noqa: BLE001 - the notebook's files are saved; the copy is a convenience
            logger.warning("%s: saved %s, but logging it to MLflow at %s failed (%s: %s)", self.notebook,
                           ", ".join(p.name for p in files), self.uri, type(exc).__name__, exc)
