"""Tuned KD's tau grid with a shared teacher: the grid's students trained together in one process, one
teacher forward per batch (the loop: :mod:`greenkd_lib.engine.loops.lockstep`; the design note:
docs/shared_grid.md).

A member of such a grid is a run like any other, named by its config: the naive run's config with
``shared_grid`` set to the grid's taus (so both kinds co-exist in a store, and a member's cost, a share
of its grid's, is never mistaken for a run trained alone). :func:`get_or_run_grid` gives a member's
result; where it is missing it trains every missing member of its grid together, holding each one's
lock (taken in one order, by hash, so two processes asking for the same grid never deadlock); every
member's result is written by the run store as it would be for a run trained alone.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch

from ..config.run import RunConfig
from ..methods import FixedTemperature
from ..runs import Run, RunStore
from ..runs.recovery import verify_trained_run
from .configs import run_label
from .emissions import get_or_run_logged
from .slots import slot_device, training_slot

__all__ = ["shared_member", "siblings", "get_or_run_grid", "SharedGridError"]


class SharedGridError(RuntimeError):
    """Some members of a shared grid did not finish (the others are stored); ``errors``: label -> error."""

    def __init__(self, errors: Mapping[str, BaseException]) -> None:
        self.errors = dict(errors)
        super().__init__("members of a shared grid failed (the others are stored; a new call trains only these): "
                         + "; ".join(f"{label}: {type(e).__name__}: {e}" for label, e in self.errors.items()))


def shared_member(cfg: RunConfig, taus: Iterable[float]) -> RunConfig:
    """The member of the shared grid ``taus`` that trains what ``cfg`` (a fixed-tau KD run) trains."""
    return dataclasses.replace(cfg, shared_grid=tuple(taus))


def siblings(cfg: RunConfig) -> list[RunConfig]:
    """Every member of ``cfg``'s shared grid (``cfg`` among them), in the grid's order of taus."""
    if cfg.shared_grid is None:
        raise ValueError(f"{run_label(cfg)} is not a member of a shared grid (shared_grid is None)")
    return [dataclasses.replace(cfg, temperature=FixedTemperature(t).config()) for t in cfg.shared_grid]


def get_or_run_grid(cfg: RunConfig, *, store: RunStore, data_root: str | Path | None = None,
                    device: str | torch.device | None = None, progress: bool = True,
                    lock_timeout: float | None = None, num_workers: int | None = None) -> dict[str, Any]:
    """The result of ``cfg``, a member of a shared grid: read from the store when finished, else trained
    now with every other missing member of its grid (its teacher must be stored: ``get_or_run`` sees to it).

    Raises :class:`SharedGridError` when a member failed, once the others' results are stored.
    """
    members = sorted(siblings(cfg), key=lambda c: store.run(c.to_dict()).hash)  # one lock order everywhere
    results: dict[str, dict[str, Any]] = {}
    errors: dict[str, BaseException] = {}
    locked: list[tuple[RunConfig, Run]] = []
    trained: dict[str, dict[str, Any] | BaseException] = {}

    def train_locked() -> None:
        what = f"shared grid of {len(locked)}: {run_label(locked[0][0])}"
        try:
            from .loops.lockstep import train_lockstep

            with training_slot(device, what=what) as slot:
                trained.update(train_lockstep(locked, store=store, data_root=data_root,
                                              device=slot_device(device, slot), progress=progress,
                                              num_workers=num_workers))
        except Exception as err:  # noqa: BLE001 - the grid as a whole failed: each locked member reports it
            trained.update({run.hash: err for _, run in locked})

    def chain(k: int) -> None:
        """Member k's result under its lock, members k+1.. inside it; the locked ones train at the bottom."""
        if k == len(members):
            if locked:
                train_locked()
            return
        member = members[k]
        called = False

        def train_fn(run: Run) -> Mapping[str, Any]:
            nonlocal called
            called = True
            locked.append((member, run))
            chain(k + 1)
            outcome = trained.get(run.hash) or RuntimeError("the shared grid stopped before training this member")
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome

        try:
            results[run_label(member)] = get_or_run_logged(
                store, member.to_dict(), train_fn, country=member.carbon.country, verify=verify_trained_run,
                timeout=lock_timeout)
        except Exception as err:  # noqa: BLE001 - one member's failure must not lose the others' results
            errors[run_label(member)] = err
        if not called:  # stored already (or its lock timed out): the rest of the chain goes on
            chain(k + 1)

    chain(0)
    if errors:
        raise SharedGridError(errors)
    return results[run_label(cfg)]
