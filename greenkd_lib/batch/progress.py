"""The batch's progress lines: each notebook's start and end with the elapsed time, the trainings done
of those the batch needs and the time left (:mod:`.trainings`; before three trainings are done, or
on a re-run that trains nothing, from the previous batch's notebook times in ``summary.json``); a
line of the same whenever trainings finish, at most once a minute; and one line when a notebook waits
on a run another notebook or process is training (the notes its workers write, :mod:`..runs.locking`).

Plain log lines, not a redrawn bar: the batch's output often goes to a file or a CI log.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Callable

from .trainings import Trainings

__all__ = ["previous_times", "Eta", "Progress", "Waits", "about"]


def previous_times(root: Path, stems: list[str], jobs: int) -> tuple[dict[str, float], float]:
    """From the previous batch's ``summary.json``: the seconds of each of ``stems`` it holds, and how
    many notebook-seconds that batch did per second (its notebooks side by side), between 1 and ``jobs``."""
    try:
        summary = json.loads((root / "summary.json").read_text(encoding="utf-8"))
        entries = [e for e in summary.get("notebooks", []) if isinstance(e, dict)]
        times = {str(e["notebook"]): float(e["seconds"]) for e in entries
                 if e.get("notebook") in stems and isinstance(e.get("seconds"), (int, float)) and e["seconds"] >= 0}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}, 1.0  # none, or damaged: no estimate
    parallel = 1.0
    try:  # the notebooks of that batch itself (the summary keeps older ones from --only runs)
        began, total = str(summary["started_at"]), float(summary["total_s"])
        own = sum(float(e["seconds"]) for e in entries if str(e.get("finished_at", "")) >= began)
        if total > 0 and own > 0:
            parallel = min(max(own / total, 1.0), float(jobs))
    except (KeyError, TypeError, ValueError):
        pass
    return times, parallel


class Eta:
    """Time left, from the previous batch's time for each notebook still to run (less what a running
    one has already done), scaled by how fast this batch's finished notebooks went compared with
    theirs last time (runs already in the store make a notebook much faster), over the notebooks
    side by side last time. None without a previous time for any of them."""

    def __init__(self, previous: dict[str, float], parallel: float, planned: list[str]) -> None:
        self.previous, self.parallel, self.planned = previous, parallel, planned

    def left(self, finished: dict[str, float], running: dict[str, float]) -> tuple[float, int] | None:
        """(seconds left, notebooks to run that have no previous time), or None (no estimate)."""
        if not self.previous:
            return None
        timed = [stem for stem in finished if self.previous.get(stem, 0) > 0]
        speed = 1.0
        if timed:
            speed = sum(finished[stem] for stem in timed) / sum(self.previous[stem] for stem in timed)
            speed = min(max(speed, 0.02), 5.0)
        todo = [stem for stem in self.planned if stem not in finished]
        work = sum(max(self.previous.get(stem, 0.0) * speed - running.get(stem, 0.0), 0.0) for stem in todo)
        return work / self.parallel, sum(stem not in self.previous for stem in todo)


def about(seconds: float) -> str:
    return "under a minute left" if seconds < 60 else f"about {round(seconds / 60)} min left"


class Progress:
    """Thread-safe progress on stdout, one line per event: a log, not a redrawn bar, since the output
    may go to a file or a CI log. A notebook's start and end also give the batch's elapsed time and
    the time left (:class:`Eta`)."""

    def __init__(self, total: int, eta: Eta | None = None, clock: Callable[[], float] = time.perf_counter,
                 trainings: Trainings | None = None) -> None:
        self._lock = threading.Lock()
        self._width = len(str(total))
        self._total = total
        self._eta = eta
        self._clock = clock
        self._start = clock()
        self._running: dict[str, float] = {}  # stem -> when it started
        self._finished: dict[str, float] = {}  # stem -> its seconds
        self.trainings = trainings
        self._said_done = 0  # trainings done at the last overall line
        self._said_at = self._start
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def tick(self, every: float = 60.0) -> None:
        """An overall line when trainings finished since the last line and ``every`` seconds passed."""
        if self.trainings is None:
            return
        with self._lock:
            done, now = self.trainings.done(), self._clock()
            if done > self._said_done and now - self._said_at >= every:
                print(f"[{'-' * self._width}/{self._total}] {self._overall()}", flush=True)

    def start_ticking(self, look: float = 5.0, every: float = 60.0) -> None:
        """Look at the store every ``look`` seconds in a thread (:meth:`tick`) until :meth:`close`."""
        def loop() -> None:
            while not self._stop.wait(look):
                self.tick(every)

        self._ticker = threading.Thread(target=loop, name="greenkd-trainings", daemon=True)
        self._ticker.start()

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()

    def say(self, index: int, stem: str, text: str) -> None:
        with self._lock:
            self._print(index, stem, text)

    def started(self, index: int, stem: str) -> None:
        with self._lock:
            self._running[stem] = self._clock()
            self._print(index, stem, "started", self._overall())

    def finished(self, index: int, stem: str, seconds: float, text: str) -> None:
        with self._lock:
            self._running.pop(stem, None)
            self._finished[stem] = seconds
            self._print(index, stem, text, self._overall())

    def _print(self, index: int, stem: str, text: str, overall: str = "") -> None:
        print(f"[{index:>{self._width}}/{self._total}] {stem} ... {text}" + (f" | {overall}" if overall else ""),
              flush=True)

    def _overall(self) -> str:
        from .report import format_duration

        now = self._clock()
        elapsed = f"{format_duration(now - self._start)} elapsed"
        if self.trainings is not None:
            elapsed = f"{self.trainings.describe()}, {elapsed}"
            self._said_done, self._said_at = self.trainings.done(), now
        if len(self._finished) == self._total:
            return elapsed
        by_trainings = self._by_trainings(now)
        if by_trainings is not None:
            return f"{elapsed}, {about(by_trainings)}"
        left = None if self._eta is None else self._eta.left(
            self._finished, {stem: now - since for stem, since in self._running.items()})
        if left is None:
            if self.trainings is not None and self.trainings.needed:
                return f"{elapsed}, time left once 3 trainings are done"
            return f"{elapsed}, ETA unknown (first run)"
        seconds, untimed = left
        more = f" (more for {untimed} notebook(s) not run before)" if untimed else ""
        return f"{elapsed}, {about(seconds)}{more}"

    def _by_trainings(self, now: float) -> float | None:
        """Seconds left by the trainings (:meth:`Trainings.left`); once all are done, the previous
        batch's tail after its last training; None where the trainings cannot tell."""
        tr = self.trainings
        if tr is None or tr.needed is None or tr.expected is None or tr.needed == 0:
            return None
        if tr.done() >= tr.needed:
            since = now - (tr.last_finished if tr.last_finished is not None else self._start)
            return max(tr.expected.tail_s - since, 0.0)
        return tr.left()


class Waits:
    """Says once per notebook that it waits for a run another notebook (or process) trains.

    Each notebook's kernel, and the worker processes it starts, note their waits for a run's lock in
    the notebook's own file (``$GREENKD_LOCK_WAIT_NOTES``, :mod:`greenkd_lib.runs.locking`) rather than
    logging a warning each to the batch's terminal; a thread reads those files."""

    def __init__(self, folder: Path, progress: Progress, every: float = 0.5) -> None:
        self._folder, self._progress, self._every = folder, progress, every
        self._watched: dict[Path, tuple[int, str]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="greenkd-waits", daemon=True)
        self._thread.start()

    def path(self, index: int, stem: str) -> Path:
        """The notes file of notebook ``stem``, watched from now on."""
        path = self._folder / f"{stem}.jsonl"
        with self._lock:
            self._watched[path] = (index, stem)
        return path

    def done(self, path: Path) -> None:
        """The notebook finished: a wait it noted since the last look is still said, then no more."""
        self._look(path)
        with self._lock:
            self._watched.pop(path, None)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(self._every):
            with self._lock:
                paths = list(self._watched)
            for path in paths:
                self._look(path)

    def _look(self, path: Path) -> None:
        with self._lock:  # held while saying it: a notebook's wait is said before its end
            if path not in self._watched:
                return
            try:
                first = path.read_text(encoding="utf-8").splitlines()[0]
            except (OSError, IndexError):
                return  # no wait yet
            index, stem = self._watched.pop(path)  # said once: later waits add nothing
            try:
                note = json.loads(first)
                detail = f" ({note['what']}, locked by {note['owner']})"
            except (ValueError, KeyError, TypeError):
                detail = ""
            self._progress.say(index, stem, f"waits for a run another notebook or process is training{detail}")
