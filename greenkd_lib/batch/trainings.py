"""The batch's trainings: how many a batch needs and how many it has done, for its time left.

Notebooks run side by side and their cells take very different times, but nearly all of a batch's
time is training, and every finished training leaves a ``result.json`` in the run store. So the
store counts the work done (finished runs of the batch's profile, against those it held when the
batch began), and the work to do is the previous full batch's count of the profile's runs (its
``summary.json``), else the reference batch shipped with greenkd (``reference.json``: a fresh
clone's batch on a 2-core CPU). Time left = trainings still to do at this batch's own pace so far,
plus the previous batch's tail (its time after its last training: notebooks that only read, the report).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from ..runs.hashing import HASH_LENGTH

__all__ = ["Expected", "expected_trainings", "Trainings", "record"]

_MIN_DONE = 3  # a pace from fewer trainings is mostly the first teacher's and the kernels' start


@dataclass(frozen=True)
class Expected:
    """A full batch's trainings of a profile, and its seconds after the last one finished."""

    total: int
    tail_s: float
    source: str  # "previous batch" or "reference batch (<when>, <machine>)"


def _read(block: Any, source: str) -> Expected | None:
    try:
        total, tail = int(block["total"]), float(block.get("tail_s", 0.0))
    except (KeyError, TypeError, ValueError):
        return None
    return Expected(total, max(tail, 0.0), source) if total > 0 else None


def expected_trainings(root: Path, profile: str, parameters: dict | None) -> Expected | None:
    """From ``root/summary.json`` when its batch ran every notebook with the same parameters, else the
    shipped reference for ``profile`` (default parameters only), else None."""
    try:
        summary = json.loads((root / "summary.json").read_text(encoding="utf-8"))
        block = summary.get("trainings") or {}
        if block.get("parameters", {}) == (parameters or {}):
            found = _read(block, "previous batch")
            if found is not None:
                return found
    except (OSError, ValueError, AttributeError):
        pass  # none, or damaged: the reference
    if parameters:
        return None  # overrides change the runs: the reference's count is not this batch's
    try:
        shipped = json.loads(resources.files(__package__).joinpath("reference.json").read_text(encoding="utf-8"))
        block = shipped[profile]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return _read(block, f"reference batch ({block.get('measured', '?')}, {block.get('machine', '?')})")


class Trainings:
    """Finished runs of ``profile`` in the store at ``runs`` since this object was made.

    ``expected`` (a full batch's count) gives how many this batch still needs; a store that already
    holds some of them needs fewer (none on a re-run).
    """

    def __init__(self, runs: Path, profile: str, expected: Expected | None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self._runs, self._profile, self.expected, self._clock = Path(runs), profile, expected, clock
        self._seen: dict[str, bool] = {}  # finished run -> of this profile
        self._lock = threading.Lock()
        self.at_start = self._count()
        self.needed = None if expected is None else max(expected.total - self.at_start, 0)
        self.start = clock()
        self._done = 0
        self.last_finished: float | None = None  # clock time the count last grew

    def _count(self) -> int:
        if not self._runs.is_dir():
            return 0
        for folder in self._runs.iterdir():
            name = folder.name
            if name in self._seen or len(name) != HASH_LENGTH or not (folder / "result.json").is_file():
                continue
            try:  # config.json is written before training starts; result.json only at its end
                config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
                self._seen[name] = config.get("profile") == self._profile
            except (OSError, ValueError, AttributeError):
                continue  # being repaired: next look
        return sum(self._seen.values())

    def done(self) -> int:
        """Trainings finished since the start (looks at the store)."""
        with self._lock:
            done = self._count() - self.at_start
            if done > self._done:
                self._done, self.last_finished = done, self._clock()
            return self._done

    def left(self) -> float | None:
        """Seconds left by the trainings' pace, or None (no count expected, too few done, or all done)."""
        done = self.done()
        if self.needed is None or self.expected is None or done < _MIN_DONE or done >= self.needed:
            return None
        pace = (self.last_finished - self.start) / done
        since = self._clock() - self.last_finished  # the next training is under way
        return max((self.needed - done) * pace - since, 0.0) + self.expected.tail_s

    def describe(self) -> str:
        """``"12/67 trainings"``, or ``"12 trainings"`` without an expected count."""
        done = self.done()
        return f"{done}/{self.needed} trainings" if self.needed is not None else f"{done} trainings"


def record(trainings: Trainings, total_s: float, parameters: dict | None) -> dict[str, Any]:
    """The ``trainings`` block of a full batch's ``summary.json`` (what the next batch expects)."""
    done = trainings.done()
    last = trainings.last_finished
    tail = total_s - (last - trainings.start) if last is not None else total_s
    return {"total": trainings.at_start + done, "done": done, "tail_s": round(max(tail, 0.0), 1),
            "parameters": parameters or {}}
