"""Per-process attribution: CPU-time samples of this process, its children, its declared sibling
workers and the whole machine, and the shares and loads computed from two samples.

The meter charges whole-machine energy by :func:`busy_share` (the process's share of the machine's
busy CPU time) and modelled power by :func:`capacity_share` (CPU time / (wall time x cores));
:func:`loads` gives a Footprint's load figures.
"""

from __future__ import annotations

import time
from typing import Callable, NamedTuple

import psutil

__all__ = ["set_sibling_processes", "CpuTimes", "cpu_times", "loads", "capacity_share", "busy_share"]

_SIBLINGS: Callable[[], list[psutil.Process]] | None = None


def set_sibling_processes(
        siblings: Callable[[], list[psutil.Process]] | None) -> Callable[[], list[psutil.Process]] | None:
    """Declare this process's sibling trainings (``executors/processes.py`` does in each worker, ``slots.py``
    while a training holds a slot); returns the previous declaration, to restore it.

    Their CPU time is reported as ``sibling_load`` instead of ``other_load``: work that greenkd itself
    runs beside a training by choice does not flag it ``disturbed`` (its energy is per process either
    way; its wall time is shared).
    """
    global _SIBLINGS
    previous, _SIBLINGS = _SIBLINGS, siblings
    return previous


class CpuTimes(NamedTuple):
    """CPU times at one instant: the process's, the machine's and the declared siblings'."""

    at: float  # time.perf_counter()
    process_s: float  # CPU seconds of this process and its descendants (live and reaped)
    busy_s: float  # busy CPU seconds of the whole machine, all cores (in 10 ms kernel ticks)
    total_s: float  # the machine's CPU seconds, busy or idle: wall time x cores (in ticks)
    siblings: dict[int, float] = {}  # pid -> CPU seconds of each declared sibling worker


def _sibling_times() -> dict[int, float]:
    if _SIBLINGS is None:
        return {}
    times = {}
    try:
        for proc in _SIBLINGS():
            try:
                t = proc.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            times[proc.pid] = t.user + t.system
    except (psutil.Error, OSError):
        return {}
    return times


def cpu_times(process: psutil.Process) -> CpuTimes:
    """CPU times now; ``process`` is this process (psutil.Process())."""
    at = time.perf_counter()
    t = process.cpu_times()
    # Own time at nanosecond resolution (psutil's is in 10 ms ticks: a short pass would often read
    # 0); children_* hold the reaped descendants, live ones are read directly, as codecarbon does.
    own = time.process_time() + getattr(t, "children_user", 0.0) + getattr(t, "children_system", 0.0)
    for child in process.children(recursive=True):
        try:
            c = child.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):  # exited between listing and reading
            continue
        own += c.user + c.system + getattr(c, "children_user", 0.0) + getattr(c, "children_system", 0.0)
    m = psutil.cpu_times()
    # As codecarbon's SystemCPULoadMeter: guest time is already in user time; steal (other VMs on
    # the host) counts as busy, since it is load by others that slows this run.
    total = sum(m) - getattr(m, "guest", 0.0) - getattr(m, "guest_nice", 0.0)
    busy = total - m.idle - getattr(m, "iowait", 0.0)
    return CpuTimes(at, own, busy, total, _sibling_times())


def loads(start: CpuTimes, now: CpuTimes) -> dict[str, float | None]:
    """machine_load, other_load and sibling_load over [start, now] (None for a window shorter than a tick)."""
    capacity = now.total_s - start.total_s
    if capacity <= 0:
        return {"machine_load": None, "other_load": None, "sibling_load": None}
    busy = min(max(now.busy_s - start.busy_s, 0.0), capacity)
    own = max(now.process_s - start.process_s, 0.0)
    # A sibling that started inside the window counts from 0; one that exited is lost (rarely: a
    # worker lives as long as its pool).
    sibling = sum(max(t - start.siblings.get(pid, 0.0), 0.0) for pid, t in now.siblings.items())
    sibling = min(sibling, max(busy - own, 0.0))
    out = {"machine_load": busy / capacity, "other_load": max(busy - own - sibling, 0.0) / capacity}
    out["sibling_load"] = sibling / capacity if _SIBLINGS is not None else None
    return out


def capacity_share(start: CpuTimes, now: CpuTimes, cores: int) -> float:
    """The process's CPU time over [start, now] / (wall time x cores), 0..1."""
    capacity = (now.at - start.at) * cores  # not total_s: its ticks would leave a short window empty
    return min(max(now.process_s - start.process_s, 0.0) / capacity, 1.0) if capacity > 0 else 0.0


def busy_share(start: CpuTimes, now: CpuTimes) -> float:
    """The process's share of the machine's busy CPU time over [start, now], 0..1."""
    busy = now.busy_s - start.busy_s
    own = max(now.process_s - start.process_s, 0.0)
    if busy <= 0:
        return 1.0  # nothing ran, this process included: nobody to share with
    return min(own / busy, 1.0)  # min: the two counters are read a few microseconds apart
