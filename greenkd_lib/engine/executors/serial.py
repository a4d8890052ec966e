"""The ``serial`` executor: one run after another in this process, each with its own progress bar."""

from __future__ import annotations

from ...config.run import RunConfig
from ..configs import run_label
from .base import describe_error, Executor, Failure, Grid, GridReport

__all__ = ["SerialExecutor"]


class SerialExecutor(Executor):
    """Trains each missing run here, in order; a failed run is reported and the next one starts."""

    name = "serial"

    def _train(self, ordered: list[list[RunConfig]], grid: Grid, report: GridReport) -> None:
        from ..train import get_or_run

        for stage in ordered:
            for cfg in stage:
                blocked = self._blocked(cfg, grid, report)
                if blocked is not None:
                    report.failed.append(blocked)
                    continue
                try:
                    get_or_run(cfg, store=grid.store, data_root=grid.data_root, device=grid.device,
                               progress=grid.progress)
                except Exception as err:  # noqa: BLE001 - one failed run must not stop the grid
                    report.failed.append(Failure(run_label(cfg), grid.hash(cfg), describe_error(err)))
                else:
                    report.trained.append(run_label(cfg))
