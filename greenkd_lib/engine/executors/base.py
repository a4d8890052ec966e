"""What every executor shares: which runs a grid still needs, in which order, and what it reports.

An executor trains the runs of a grid that the run store lacks and reports, run by run, what it
trained and what failed and why. A failure never loses the other runs: each finished run is in the
store the moment it finishes, and a re-run of the grid submits only the runs still missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterable

import torch

from ...config.run import RunConfig
from ...runs import RunStore
from ...runs.locking import owner_path
from ..configs import run_label
from ..slots import default_workers

__all__ = ["Executor", "Grid", "GridReport", "GridError", "Failure", "missing_runs", "stages", "default_workers",
           "check_workers"]


def check_workers(workers: object) -> int:
    """``workers`` as an int >= 1, or a clear error."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a whole number >= 1 (trainings run at once), got {workers!r}; "
                         "use 1 to train one run after another")
    return workers


@dataclass(frozen=True)
class Failure:
    """One run of a grid that did not finish, and why."""

    label: str
    hash: str
    reason: str

    def __str__(self) -> str:
        return f"{self.label} (run {self.hash[:10]}): {self.reason}"


@dataclass
class GridReport:
    """What one pass over a grid did: runs asked for, already stored, trained now, failed."""

    executor: str
    asked: int = 0
    stored: int = 0
    trained: list[str] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def raise_failures(self) -> None:
        """Raise :class:`GridError` naming every failed run, if any failed."""
        if self.failed:
            raise GridError(self)

    def __str__(self) -> str:
        text = (f"{self.asked} run(s) with the {self.executor} executor: {self.stored} already stored, "
                f"{len(self.trained)} trained now, {len(self.failed)} failed")
        return text + "".join(f"\n  - {failure}" for failure in self.failed)


class GridError(RuntimeError):
    """Some runs of a grid failed; the others finished and are stored. ``report`` says which and why."""

    def __init__(self, report: GridReport) -> None:
        self.report = report
        super().__init__(
            f"{len(report.failed)} run(s) failed; the {len(report.trained)} trained now and the {report.stored} "
            "already stored are kept in the run store:\n"
            + "\n".join(f"  - {failure}" for failure in report.failed)
            + "\nFix the cause and run the same cell again: only the failed runs are trained again.")


@dataclass(frozen=True)
class Grid:
    """Where a grid's runs are stored and trained: the store, the data folder and the device."""

    store: RunStore
    data_root: str | None = None
    device: str | None = None
    progress: bool = True

    @classmethod
    def of(cls, store: RunStore, data_root: str | Path | None, device: str | torch.device | None,
           progress: bool) -> "Grid":
        # Absolute paths: a worker (another process, another machine) may start in another folder.
        return cls(RunStore(Path(store.root).resolve()), None if data_root is None else str(Path(data_root).resolve()),
                   None if device is None else str(device), progress)

    def hash(self, cfg: RunConfig) -> str:
        return self.store.run(cfg.to_dict()).hash

    def running(self, configs: Iterable[RunConfig]) -> list[RunConfig]:
        """Those of ``configs`` some process is training now: an owner note beside a lock that is held.

        The note alone is not enough: a training killed (SIGKILL) leaves its note behind, while the
        operating system releases its lock. The lock is probed only where a note exists.
        """
        runs = [(cfg, self.store.run(cfg.to_dict())) for cfg in configs]
        return [cfg for cfg, run in runs if owner_path(run.lock_path).exists() and run.is_locked()]


def missing_runs(configs: Iterable[RunConfig], store: RunStore) -> list[RunConfig]:
    """``configs`` without duplicates (same hash) and without the runs the store holds finished."""
    runs: dict[str, tuple[Any, RunConfig]] = {}
    for cfg in configs:
        run = store.run(cfg.to_dict())
        runs.setdefault(run.hash, (run, cfg))
    return [cfg for run, cfg in runs.values() if run.result() is None]


def stages(missing: list[RunConfig], store: RunStore) -> list[list[RunConfig]]:
    """``missing`` in dependency order: the missing teachers first (recursively), then the rest."""
    teachers = missing_runs([cfg.teacher for cfg in missing if cfg.teacher is not None], store)
    if not teachers:
        return [missing]
    earlier = stages(teachers, store)
    seen = {store.run(cfg.to_dict()).hash for stage in earlier for cfg in stage}
    rest = [cfg for cfg in missing if store.run(cfg.to_dict()).hash not in seen]
    return earlier + ([rest] if rest else [])


class Executor:
    """Trains the runs of a grid that the store lacks; subclasses say how (in this process, in local
    worker processes, on Ray). ``run`` never raises for a failed training: the report lists it."""

    name: ClassVar[str]

    def run(self, configs: Iterable[RunConfig], store: RunStore, *, data_root: str | Path | None = None,
            device: str | torch.device | None = None, progress: bool = True) -> GridReport:
        """Train every run of ``configs`` the store lacks (teachers first); report what happened."""
        configs = list(configs)
        grid = Grid.of(store, data_root, device, progress)
        unique = {grid.hash(cfg) for cfg in configs}
        missing = missing_runs(configs, grid.store)
        report = GridReport(self.name, asked=len(unique), stored=len(unique) - len(missing))
        if missing:
            self._train(stages(missing, grid.store), grid, report)
        return report

    def _train(self, ordered: list[list[RunConfig]], grid: Grid, report: GridReport) -> None:
        raise NotImplementedError

    @staticmethod
    def _blocked(cfg: RunConfig, grid: Grid, report: GridReport) -> Failure | None:
        """A failure for ``cfg`` when its teacher failed in this pass (it cannot train without it)."""
        failed = {failure.hash for failure in report.failed}
        teacher = cfg.teacher
        if teacher is not None and grid.hash(teacher) in failed:
            return Failure(run_label(cfg), grid.hash(cfg), f"not trained: its teacher {run_label(teacher)} failed")
        return None

    def __repr__(self) -> str:
        fields: dict[str, Any] = {k: v for k, v in vars(self).items() if not k.startswith("_")}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in fields.items())})"


def describe_error(err: BaseException) -> str:
    """One line: the exception's type and message."""
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
