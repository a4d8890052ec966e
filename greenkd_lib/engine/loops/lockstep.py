"""A shared tau grid trained in lockstep: the students of one grid (same seed, teacher, data and schedule,
one fixed tau each) in one process. Each batch is drawn and augmented once and the frozen teacher runs
once on it (:class:`TeacherOnce`); then every student takes its own step, with its own tau, optimizer,
schedule and random stream (:class:`RngStream`).

Each student is set up, stepped, scored, checkpointed and resumed by the parts a run trained alone
uses (:meth:`.base.Loop.prepare`, :class:`.base.EpochSteps`, :meth:`.base.Loop.end_epoch`,
:meth:`.base.Loop.conclude`), inside its own global random stream: its numbers are the naive run's,
bit for bit on a CPU with the same thread count (tests/engine/test_shared_grid.py). The cost differs:
one carbon meter measures the grid (:class:`GridMeter`), and each student is charged the share of it
that its own FLOPs are of the grid's (:func:`attributed_flops`: its own passes plus an even split of
the teacher's), so that the members' costs add up to what the grid measured.

The run store's side (siblings, locks, results) is :mod:`greenkd_lib.engine.shared_grid`'s.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from pathlib import Path
from typing import Any, Iterator

import torch

from ...carbon import CarbonMeter, Footprint
from ...config.profiles import checked
from ...config.run import RunConfig
from ...devices import pick_device
from ...runs import Run, RunStore
from ..configs import run_label
from ..epochs import MeteredEpochs, short_label, TrainingDivergedError
from ..inputs import num_workers_for, precision_context
from .base import epoch_generator, EpochSteps, global_rng_state, Loop, Prepared, set_global_rng_state
from .classification import ClassificationLoop

__all__ = ["TeacherOnce", "RngStream", "GridMeter", "attributed_flops", "train_lockstep"]


class TeacherOnce:
    """The frozen teacher, run once per batch: the first student's call on a batch computes its output,
    the other students' calls on the same batch (the same tensor) read it."""

    def __init__(self, frozen: torch.nn.Module) -> None:
        self.frozen = frozen
        self.forwards = 0  # teacher passes computed (a test counts them)
        self._x: torch.Tensor | None = None
        self._out: Any = None

    def __call__(self, x: torch.Tensor) -> Any:
        if x is not self._x:  # a held reference: a new batch can never reuse the old one's identity
            self._out = self.frozen(x)
            self._x = x
            self.forwards += 1
        return self._out

    def forget(self) -> None:
        """Drop the last batch's output (end of an epoch)."""
        self._x = self._out = None

    def __getattr__(self, name: str) -> Any:  # anything else a method asks of its teacher
        return getattr(self.__dict__["frozen"], name)


class RngStream:
    """One student's global random streams (torch's, NumPy's, Python's and, on CUDA, the device's),
    swapped in around everything the student does: its dropout and whatever else a run trained alone
    draws from them (evaluation's loader seed, a checkpoint's saved states) follow its own stream."""

    def __init__(self, dev: torch.device) -> None:
        self.dev = dev
        self.state = global_rng_state(dev)

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        set_global_rng_state(self.state, self.dev)
        try:
            yield
        finally:
            self.state = global_rng_state(self.dev)


def _scaled(footprint: Footprint, share: float) -> Footprint:
    """``share`` of a footprint: energy, CO2 and wall time (the load figures are the grid's)."""
    def part(value: float | None) -> float | None:
        return None if value is None else value * share

    return dataclasses.replace(footprint, energy_kwh=part(footprint.energy_kwh), co2_g=part(footprint.co2_g),
                               duration_s=footprint.duration_s * share)


class GridMeter:
    """The grid's one carbon meter; :meth:`share` is what one student's books read instead of a meter."""

    FRESH_S = 1.0  # students' energy tallies asking within this interval share one codecarbon flush

    def __init__(self, cfg: RunConfig) -> None:
        self.meter = CarbonMeter(country_iso_code=cfg.carbon.country, carbon_intensity=cfg.carbon.carbon_intensity)
        self._last: Footprint | None = None
        self._at = -math.inf
        self._pinned: Footprint | None = None

    def __enter__(self) -> "GridMeter":
        self.meter.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.meter.stop()

    def reading(self) -> Footprint:
        """The grid's cumulative footprint: the pinned one at an epoch's end, else a recent one."""
        if self._pinned is not None:
            return self._pinned
        if time.monotonic() - self._at >= self.FRESH_S:
            self._last, self._at = self.meter.read(), time.monotonic()
        return self._last

    @contextlib.contextmanager
    def pinned(self) -> Iterator[Footprint]:
        """One reading for every student's epoch end, so that their shares add up to it."""
        self._pinned = self.meter.read()
        try:
            yield self._pinned
        finally:
            self._pinned = None

    def share(self, fraction: float) -> "_Share":
        return _Share(self, fraction)


class _Share:
    """A student's view of the grid's meter (what ``MeteredEpochs`` reads): ``fraction`` of each reading.
    Starting and stopping are the grid's."""

    def __init__(self, grid: GridMeter, fraction: float) -> None:
        self.grid, self.fraction = grid, fraction

    def start(self) -> None:
        pass

    def read(self) -> Footprint:
        return _scaled(self.grid.reading(), self.fraction)

    def stop(self) -> Footprint:
        return self.read()


def attributed_flops(train_per_sample: int, teacher_forward: int, size: int) -> int:
    """A student's training FLOPs per image in a grid of ``size``: its own passes and 1/size of the
    teacher's forward (``train_per_sample``: what it costs trained alone, the teacher's forward included)."""
    return int(round(train_per_sample - teacher_forward + teacher_forward / size))


@dataclasses.dataclass
class _Student:
    cfg: RunConfig
    loop: Loop
    p: Prepared
    rng: RngStream
    alone_per_sample: int
    epochs: MeteredEpochs | None = None
    steps: EpochSteps | None = None
    scored: tuple | None = None  # (totals, val, test) of the epoch just trained
    error: BaseException | None = None


def train_lockstep(members: list[tuple[RunConfig, Run]], *, store: RunStore, data_root: str | Path | None = None,
                   device: str | torch.device | None = None, progress: bool = True,
                   num_workers: int | None = None) -> dict[str, dict[str, Any] | BaseException]:
    """Train (or resume) the runs of ``members`` (configs of one shared grid) in lockstep; each one's
    result, or the error that stopped it (a diverged loss stops that student alone), by run hash."""
    cfgs = [cfg for cfg, _ in members]
    first = cfgs[0]
    if any({**c.to_dict(), "temperature": None} != {**first.to_dict(), "temperature": None} for c in cfgs):
        raise ValueError("the runs of a shared grid differ only by their tau; got configs that differ otherwise")
    from . import loop_for  # the package's table of loops

    loops = [loop_for(cfg) for cfg in cfgs]
    if not all(type(loop) is ClassificationLoop for loop in loops):
        raise ValueError(f"a shared grid trains classifiers distilled from real images; {run_label(first)} is not")
    dev = pick_device(device)
    amp = precision_context(first.precision, dev)
    workers = num_workers_for(first) if num_workers is None else int(checked("num_workers", num_workers))
    bundle = loops[0].load_data(data_root)
    teacher: list[TeacherOnce] = []

    def once(frozen: torch.nn.Module) -> TeacherOnce:
        if not teacher:
            teacher.append(TeacherOnce(frozen))
        elif teacher[0].frozen is not frozen:  # each student loads the same cached teacher (frozen_teacher)
            raise RuntimeError("the students of a shared grid got different teachers")
        return teacher[0]

    students: list[_Student] = []
    for (cfg, run), loop in zip(members, loops):
        # Each student is set up exactly as alone (seeded, built, resumed); its random stream starts there.
        # One copy of the data serves the grid: the first student's.
        p = loop.prepare(run, store=store, bundle=bundle, dev=dev, workers=workers, teacher_forward=once,
                         shared_inputs=students[0].p if students else None)
        students.append(_Student(cfg, loop, p, RngStream(dev), p.flops_per_sample))
    size = len(students)
    for s in students:
        s.p.flops_per_sample = attributed_flops(s.alone_per_sample, s.p.teacher_flops, size)
    total = sum(s.p.flops_per_sample for s in students)
    start = min(s.p.record.epoch for s in students)
    steps_per_epoch = students[0].p.steps_per_epoch
    from tqdm.auto import tqdm

    bar = tqdm(total=(first.epochs - start) * steps_per_epoch, unit="batch", mininterval=2.0, leave=True,
               desc=short_label(f"grid of {size}: {run_label(first)}"), disable=not progress)
    try:
        with GridMeter(first) as grid, contextlib.ExitStack() as books:
            for s in students:
                s.epochs = books.enter_context(MeteredEpochs(
                    s.cfg, s.p.run, s.p.record, s.p.lost, steps_per_epoch=steps_per_epoch, progress=False,
                    student_flops=s.p.student_flops, flops_per_sample=s.p.flops_per_sample,
                    eval_samples_per_epoch=s.loop.eval_samples_per_epoch(bundle),
                    meter=grid.share(s.p.flops_per_sample / total)))
            for epoch in range(start, first.epochs):
                _lockstep_epoch(epoch, [s for s in students if s.error is None and s.p.record.epoch == epoch],
                                teacher[0] if teacher else None, amp, dev, grid, bar)
    finally:
        bar.close()
    outcomes: dict[str, dict[str, Any] | BaseException] = {}
    for s in students:
        if s.error is not None:
            outcomes[s.p.run.hash] = s.error
            continue
        with s.rng.active():
            s.epochs.finish(s.p.model)
            result = s.loop.conclude(s.p, amp)
        result["shared_grid"] = {
            "taus": list(first.shared_grid or [float(c.temperature["tau"]) for c in cfgs]),
            "trained_together": size, "teacher_forward_split": size,
            "share": s.p.flops_per_sample / total,
            "train_per_sample_alone": int(s.alone_per_sample),
            "teacher_forwards": teacher[0].forwards if teacher else 0}
        outcomes[s.p.run.hash] = result
    _grid_totals([r for r in outcomes.values() if isinstance(r, dict)])
    return outcomes


def _lockstep_epoch(epoch: int, active: list[_Student], teacher: TeacherOnce | None, amp, dev: torch.device,
                    grid: GridMeter, bar) -> None:
    """One epoch of every ``active`` student on the same batches, then each one's scores and epoch end."""
    if not active:
        return
    for s in active:
        with s.rng.active():
            s.steps = EpochSteps(epoch, s.p.model, s.p.method, s.p.optimizer, s.p.scheduler, s.p.steps_per_epoch,
                                 s.epochs.bar, tick=s.epochs.tick)
    with amp():
        for x, y, index in active[0].p.batches(epoch_generator(active[0].cfg, epoch)):
            for s in active:
                if s.error is None:
                    with s.rng.active():
                        try:
                            s.steps.step(x, y, index)
                        except TrainingDivergedError as err:  # that student stops; the others go on
                            s.error = err
            bar.update(1)
        if teacher is not None:
            teacher.forget()
        for s in active:
            if s.error is None:
                with s.rng.active():
                    try:
                        totals = s.steps.totals()
                    except TrainingDivergedError as err:
                        s.error = err
                        continue
                    s.scored = (totals, *s.loop.evaluate(s.p.model, s.p.inputs, dev))
    ended = [s for s in active if s.error is None]
    with grid.pinned():
        for s in ended:
            with s.rng.active():
                row = s.loop.end_epoch(s.p, s.epochs, epoch, *s.scored)
    if ended:
        bar.set_postfix_str(f"epoch {epoch + 1}, val {row['val_acc']:.1f}% (tau={s.cfg.temperature['tau']:g})",
                            refresh=False)


def _grid_totals(results: list[dict[str, Any]]) -> None:
    """Record in each result what the students trained together cost as a whole (their parts' sum)."""
    if not results:
        return
    footprint = sum((Footprint.from_dict(dict(r["footprint"])) for r in results[1:]),
                    Footprint.from_dict(dict(results[0]["footprint"])))
    flops = sum(int(r["flops"]["total"]) for r in results)
    for r in results:
        r["shared_grid"].update(grid_footprint=footprint.to_dict(), grid_flops=flops)
