"""greenkd_lib.batch.schedule: notebooks side by side, and the quiet part of those that time things."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from greenkd_lib.batch.reproduce import reproduce
from greenkd_lib.batch.schedule import BatchAborted, kernel_threads, QUIET_TAG, run_batch, Seats


@dataclass
class _Job:
    index: int
    alone: str | None = None


def test_quiet_parts_run_after_everything_else_one_at_a_time_in_order() -> None:
    plan = [_Job(i, "times" if i in (2, 5) else None) for i in range(1, 7)]
    lock, busy, log = threading.Lock(), set(), []  # busy: the jobs computing now (not waiting)

    def work(name, seconds=0.15):
        with lock:
            busy.add(name)
            log.append((name, frozenset(busy)))
        time.sleep(seconds)
        with lock:
            busy.discard(name)

    def run_one(job, hush):
        work(job.index)  # a timing job's trainings and compiling: beside the others
        if job.alone:
            hush()
            work(f"{job.index} quiet")
        return job.index

    assert run_batch(plan, 2, run_one) == [1, 2, 3, 4, 5, 6]  # results in the plan's order
    started = [name for name, _ in log]
    assert set(started[:4]) == {1, 3, 4, 6} and set(started[4:6]) == {2, 5}  # the timing jobs start last
    assert started[6:] == ["2 quiet", "5 quiet"]  # their quiet parts last, in order
    beside = dict(log)
    assert beside["2 quiet"] == {"2 quiet"} and beside["5 quiet"] == {"5 quiet"}  # nothing else computes
    assert max(len(seen) for seen in beside.values()) == 2  # the rest two at a time
    assert len(beside[2] | beside[5]) >= 2  # their first parts computed beside other jobs, not alone


def test_a_timing_job_that_fails_before_its_quiet_part_frees_its_seat() -> None:
    def run_one(job, hush):
        if job.index == 1:
            return "FAILED"  # before its quiet cell (_run_job makes a notebook's error its result)
        if job.alone:
            hush()
        return job.index

    plan = [_Job(1, "times"), _Job(2, "times"), _Job(3)]
    assert run_batch(plan, 1, run_one) == ["FAILED", 2, 3]


def test_an_interrupted_batch_wakes_the_waiting_notebooks() -> None:
    seats = Seats([1, 2], jobs=1)
    seats.take(1)
    errors = []

    def second():
        try:
            seats.take(2)
        except BatchAborted as err:
            errors.append(err)

    thread = threading.Thread(target=second)
    thread.start()
    time.sleep(0.1)
    seats.abort()
    thread.join(5)
    assert not thread.is_alive() and "stopped before this notebook's turn" in str(errors[0])

    def run_one(job, hush):
        if job.index == 1:
            raise KeyboardInterrupt
        time.sleep(0.2)
        return job.index

    with pytest.raises(KeyboardInterrupt):
        run_batch([_Job(1), _Job(2), _Job(3, "times")], 1, run_one)


def test_kernel_threads() -> None:
    cores = os.cpu_count() or 1
    assert kernel_threads(2, alone=False) == max(1, cores // 2)
    assert kernel_threads(2, alone=True) is None and kernel_threads(1, alone=False) is None


_PROBE = '''\
import json, os, time
with open(os.path.join(output_root, f"{name}-{part}.json"), "w") as f:
    json.dump({"start": time.time(), "omp": os.environ.get("OMP_NUM_THREADS")}, f)
time.sleep(seconds)
with open(os.path.join(output_root, f"{name}-{part}.json")) as f:
    times = json.load(f)
with open(os.path.join(output_root, f"{name}-{part}.json"), "w") as f:
    json.dump({**times, "end": time.time()}, f)
'''


def _notebook(path: Path, name: str, seconds: float, alone: bool) -> None:
    parameters = new_code_cell(f'profile = "quick"\noutput_root = None\nname = "{name}"\nseconds = {seconds}')
    parameters.metadata["tags"] = ["parameters"]
    cells = [parameters, new_code_cell('part = "before"\n' + _PROBE)]
    if alone:
        quiet = new_code_cell('part = "quiet"\n' + _PROBE)
        quiet.metadata["tags"] = [QUIET_TAG]
        cells.append(quiet)
    metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    if alone:
        metadata["greenkd"] = {"runs_alone": "it times something"}
    nbformat.write(new_notebook(cells=cells, metadata=metadata), path)


@pytest.mark.slow
def test_reproduce_runs_a_timing_notebooks_quiet_cells_alone_and_the_rest_beside_the_others(tmp_path: Path,
                                                                                          monkeypatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    nb_dir, out = tmp_path / "notebooks", tmp_path / "out"
    nb_dir.mkdir()
    _notebook(nb_dir / "01_times.ipynb", "times", 1.0, alone=True)
    _notebook(nb_dir / "02_trains.ipynb", "trains", 8.0, alone=False)
    assert reproduce("quick", jobs=2, output_root=out, directory=nb_dir) == 0
    probe = {p.stem: json.loads(p.read_text()) for p in out.glob("*-*.json")}
    before, quiet, other = probe["times-before"], probe["times-quiet"], probe["trains-before"]
    assert before["start"] < other["end"]  # the part before the quiet cell ran beside the other notebook
    assert quiet["start"] >= other["end"]  # the quiet cell waited for it
    assert other["omp"] == str(kernel_threads(2, alone=False))  # kernels side by side share the cores
    assert before["omp"] is None and quiet["omp"] is None  # the timing kernel keeps the caller's setting
    assert os.environ.get("OMP_NUM_THREADS") is None  # and the caller's environment is untouched
    summary = json.loads((out / "quick" / "summary.json").read_text())
    seconds = {n["notebook"]: n["seconds"] for n in summary["notebooks"]}
    assert seconds["01_times"] < 6.0  # its own time; not the ~6 s it waited for a quiet machine
