"""Training slots: a machine-wide cap on how many trainings compute at once, and on their threads.

Several notebooks (``greenkd reproduce --jobs 2``), several Labs or several worker processes may ask
for trainings at the same time. Each training first takes a slot, so the cores are never
oversubscribed, while the notebooks' other work (kernels starting, plots, runs read back) fills the
gaps between trainings. The slots are lock files in a per-user folder of the temporary directory:
they hold across processes and run stores on one machine, not across machines, and a killed
process's slot frees itself (the operating system drops its lock). On a machine with several GPUs
there is one slot per GPU and a training takes the GPU of its slot (:func:`slot_device`); a
process that sees only some GPUs (``CUDA_VISIBLE_DEVICES``, as Ray sets it per task) has slots of
its own for those.

A training computes with the same number of threads whichever process runs it: on a CPU, oneDNN's
results depend on the thread count (one ResNet18 epoch ended 26 points apart with 1 and 2 threads),
so a run's numbers must not depend on which notebook or worker happened to train it first.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch
from filelock import FileLock, Timeout

from ..devices import pick_device

__all__ = ["SLOTS_ENV", "default_workers", "slot_count", "training_threads", "training_slot", "slot_device", "holders"]

logger = logging.getLogger(__name__)

SLOTS_ENV = "GREENKD_TRAINING_SLOTS"
_POLL_S = 0.5


def default_workers(device: str | torch.device | None = None) -> int:
    """Trainings at once on this machine: one per GPU where there are GPUs; on a CPU, 2 where it has
    at least 2 cores (two single-threaded trainings side by side do more work per second than one on
    both cores: benchmarks/kd_step.py), else 1."""
    dev = pick_device(device)
    if dev.type == "cuda":
        return torch.cuda.device_count() if dev.index is None else 1
    if dev.type != "cpu":
        return 1
    return 2 if (os.cpu_count() or 1) >= 2 else 1


def slot_count(device: str | torch.device | None = None) -> int:
    """Trainings at once on this machine: ``$GREENKD_TRAINING_SLOTS``, else one per GPU and, on a
    CPU, 2 where there are at least 2 cores (two single-threaded trainings side by side do more
    work than one on both cores: benchmarks/kd_step.py), else 1."""
    text = os.environ.get(SLOTS_ENV)
    if text is None:
        return default_workers(device)
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(f"{SLOTS_ENV}={text!r}: give a whole number >= 1 (trainings at once on this machine), "
                         f"or unset it for the default ({default_workers(device)} here)")
    return count


def training_threads(device: str | torch.device | None = None) -> int:
    """The threads every CPU training uses: the cores shared out among the slots (at least 1)."""
    return max(1, (os.cpu_count() or 1) // slot_count(device))


def slot_device(device: str | torch.device | None, slot: int) -> str | torch.device | None:
    """The device a training in ``slot`` computes on: GPU number ``slot`` where ``device`` names no
    particular one of several GPUs, else ``device`` itself."""

    dev = pick_device(device)
    if dev.type == "cuda" and dev.index is None and torch.cuda.device_count() > 1:
        return torch.device("cuda", slot % torch.cuda.device_count())
    return device


def _folder(kind: str) -> Path:
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    if kind == "cuda":  # the GPUs this process sees: other processes may see other ones
        kind = "cuda-" + "".join(c if c.isalnum() else "_" for c in os.environ.get("CUDA_VISIBLE_DEVICES", "all"))
    folder = Path(tempfile.gettempdir()) / f"greenkd-slots-{uid}" / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def holders(device: str | torch.device | None = None) -> list[int]:
    """Process ids of the trainings that hold this machine's slots now (this process excluded)."""

    found = []
    for note in _folder(pick_device(device).type).glob("slot-*.pid"):
        try:
            pid = int(note.read_text())
        except (OSError, ValueError):
            continue
        if pid != os.getpid() and _alive(pid):
            found.append(pid)
    return sorted(found)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def training_slot(device: str | torch.device | None = None, what: str = "a training") -> Iterator[int]:
    """Wait for a free slot, hold it, and compute with :func:`training_threads` threads on a CPU.

    Yields the slot's number. Meanwhile the other slot holders are the carbon meter's siblings
    (greenkd's own trainings side by side: not a disturbance); that and the thread count are
    restored after.
    """
    from ..carbon import set_sibling_processes

    kind = pick_device(device).type
    count = slot_count(device)
    folder = _folder(kind)
    locks = [FileLock(str(folder / f"slot-{i}.lock")) for i in range(count)]
    waited = False
    while True:
        slot = next((i for i, lock in enumerate(locks) if _try(lock)), None)
        if slot is not None:
            break
        if not waited:
            logger.info("%s waits for one of %d training slot(s), held by pid(s) %s", what, count,
                        ", ".join(map(str, holders(device))) or "?")
            waited = True
        time.sleep(_POLL_S)
    note = folder / f"slot-{slot}.pid"
    threads = torch.get_num_threads()
    siblings = set_sibling_processes(lambda: _processes(holders(device)))
    try:
        note.write_text(str(os.getpid()))
        if kind == "cpu":
            torch.set_num_threads(training_threads(device))
        yield slot
    finally:
        set_sibling_processes(siblings)
        torch.set_num_threads(threads)
        note.unlink(missing_ok=True)
        locks[slot].release()


def _try(lock: FileLock) -> bool:
    try:
        lock.acquire(blocking=False)
    except Timeout:
        return False
    return True


def _processes(pids: list[int]) -> list:
    import psutil

    found = []
    for pid in pids:
        try:
            found.append(psutil.Process(pid))
        except psutil.NoSuchProcess:  # it finished between the listing and now
            continue
    return found
