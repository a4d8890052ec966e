"""The grid's progress bar for the executors that train in other processes (``processes``, ``ray``).

It counts epochs, not runs: a finished run counts all its epochs, a running one the epochs its
worker has written to the run's history so far (read from the run store, the only thing the
workers and this process share). The postfix says how many runs are done and names the running
ones with their epochs, so a grid of two 8-epoch runs moves eight times per run, not once.
"""

from __future__ import annotations

from typing import Iterable

from ...config.run import RunConfig
from ..configs import run_label
from ..epochs import short_label
from .base import Grid

__all__ = ["GridBar"]


class GridBar:
    """``tqdm.auto`` bar over the epochs of ``queue`` (a widget in a notebook, text in a terminal)."""

    def __init__(self, grid: Grid, queue: Iterable[RunConfig], executor: str) -> None:
        from tqdm.auto import tqdm

        self._grid = grid
        self._epochs = {grid.hash(cfg): max(int(cfg.epochs), 1) for cfg in queue}
        self._finished: set[str] = set()
        self.bar = tqdm(total=sum(self._epochs.values()), desc=f"{len(self._epochs)} runs ({executor})",
                        unit="epoch", mininterval=1.0, leave=True, disable=not grid.progress)

    def show(self, pending: Iterable[RunConfig]) -> None:
        """Move the bar to the epochs done: finished runs whole, ``pending``'s running runs as far as they got."""
        done = sum(self._epochs[h] for h in self._finished)
        names = []
        for cfg in self._grid.running(pending):
            total = self._epochs.get(self._grid.hash(cfg), max(int(cfg.epochs), 1))
            epochs = min(self._epoch_of(cfg), total)
            done += epochs
            names.append(f"{short_label(run_label(cfg), 24)} {epochs}/{total} ep")
        self._draw(done, names or ["waiting"])

    def finished(self, cfg: RunConfig) -> None:
        """``cfg`` ended (trained or failed): it counts all its epochs from now on."""
        self._finished.add(self._grid.hash(cfg))

    def close(self) -> None:
        # Nothing is running any more: say so rather than leave the last running run's name at 100 %.
        self._draw(sum(self._epochs[h] for h in self._finished), [])
        self.bar.close()

    def _epoch_of(self, cfg: RunConfig) -> int:
        try:
            return self._grid.store.run(cfg.to_dict()).epochs_done()
        except (OSError, ValueError):  # a history being replaced this instant: next look
            return 0

    def _draw(self, done: int, names: list[str]) -> None:
        runs = f"{len(self._finished)}/{len(self._epochs)} runs done"
        self.bar.n = min(done, self.bar.total)
        self.bar.set_postfix_str("; ".join([runs, *names]), refresh=True)
