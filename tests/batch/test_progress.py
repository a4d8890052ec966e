"""``greenkd reproduce``'s progress: the batch's elapsed time and time left, one line per notebook that
waits for another's training, and no error-level line in a batch that succeeds."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from greenkd_lib.batch.progress import Eta, previous_times, Progress
from greenkd_lib.batch.reproduce import reproduce
from greenkd_lib.batch.schedule import kernel_manager_class
from greenkd_lib.paths import notebooks_dir
from greenkd_lib.runs import RunStore
from greenkd_lib.runs.locking import holding

STEMS = ["01_a", "02_b", "03_c"]


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _summary(root: Path, seconds: dict[str, float], total: float) -> None:
    root.mkdir(parents=True, exist_ok=True)
    rows = [{"notebook": stem, "status": "ok", "seconds": s, "error": None, "executed": None, "html": None,
             "finished_at": "2026-01-01T10:05:00+00:00"} for stem, s in seconds.items()]
    (root / "summary.json").write_text(json.dumps({"started_at": "2026-01-01T10:00:00+00:00", "total_s": total,
                                                   "notebooks": rows}))


def test_each_start_and_end_says_the_time_elapsed_and_left_from_the_previous_summary(tmp_path, capsys) -> None:
    # Last time: 60 + 600 + 300 + 5 notebook-seconds in 660 s of batch (two side by side, partly).
    _summary(tmp_path, {"01_a": 60.0, "02_b": 600.0, "03_c": 300.0, "99_gone": 5.0}, total=660.0)
    previous, parallel = previous_times(tmp_path, STEMS, jobs=2)
    assert previous == {"01_a": 60.0, "02_b": 600.0, "03_c": 300.0} and parallel == pytest.approx(965 / 660)
    clock = _Clock()
    progress = Progress(3, Eta(previous, parallel, STEMS), clock=clock)

    progress.started(1, "01_a")
    clock.now += 30
    progress.started(2, "02_b")
    clock.now += 30
    progress.finished(1, "01_a", 60.0, "ok (60.0 s)")  # as fast as last time
    clock.now += 372
    progress.finished(2, "02_b", 60.0, "ok (60.0 s)")  # ten times faster: its runs were stored
    clock.now += 10
    progress.finished(3, "03_c", 10.0, "ok (10.0 s)")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "[1/3] 01_a ... started | 0.0 s elapsed, about 11 min left"  # (960 s) / 1.46
    # 02_b: 600 s less the 30 s it ran, 03_c: 300 s; over 1.46 notebooks at a time.
    assert lines[2] == "[1/3] 01_a ... ok (60.0 s) | 1 min 00 s elapsed, about 10 min left"
    # Finished in 120 s what took 660 s last time: 03_c's 300 s become about 55 s, 38 s side by side.
    assert lines[3] == "[2/3] 02_b ... ok (60.0 s) | 7 min 12 s elapsed, under a minute left"
    assert lines[4] == "[3/3] 03_c ... ok (10.0 s) | 7 min 22 s elapsed"  # all done: nothing left to guess
    line = re.compile(r"^\[ ?\d+/\d+\] \S+ \.\.\. .+ \| (\d+ min \d\d s|\d+\.\d s) elapsed"
                      r"(, (about \d+ min left|under a minute left|ETA unknown \(first run\)).*)?$")
    assert all(line.match(text) for text in lines), lines


def test_without_a_previous_summary_the_time_left_is_unknown(tmp_path, capsys) -> None:
    progress = Progress(12, Eta(*previous_times(tmp_path, STEMS, jobs=2), STEMS), clock=_Clock())
    progress.started(3, "03_c")
    assert capsys.readouterr().out == "[ 3/12] 03_c ... started | 0.0 s elapsed, ETA unknown (first run)\n"
    (tmp_path / "summary.json").write_text("{damaged")
    assert previous_times(tmp_path, STEMS, jobs=2) == ({}, 1.0)


def test_a_notebook_not_run_before_is_named_in_the_estimate(tmp_path, capsys) -> None:
    _summary(tmp_path, {"01_a": 120.0}, total=120.0)
    progress = Progress(3, Eta(*previous_times(tmp_path, STEMS, jobs=2), STEMS), clock=_Clock())
    progress.started(1, "01_a")
    assert capsys.readouterr().out.endswith("about 2 min left (more for 2 notebook(s) not run before)\n")


def test_the_batch_shuts_a_kernel_down_without_interrupting_it() -> None:
    manager = kernel_manager_class(None)()
    with pytest.raises(RuntimeError, match="No kernel is running"):  # an interrupt otherwise: jupyter_client's
        asyncio.run(manager._async_interrupt_kernel())
    manager.shutting_down = True
    asyncio.run(manager._async_interrupt_kernel())  # no SIGINT for a kernel being shut down


WAITS = '''\
from greenkd_lib.runs import RunStore
from greenkd_lib.runs.locking import RunLockTimeout
store = RunStore(store_root)
for attempt in range(3):  # three waits, one line
    try:
        store.get_or_run({"busy": 1}, lambda run: {"x": 1}, timeout=0.5)
    except RunLockTimeout:
        pass
'''


@pytest.mark.slow
def test_a_notebook_that_waits_for_a_run_says_so_once(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    parameters = new_code_cell('profile = "smoke"\nstore_root = ""')
    parameters.metadata["tags"] = ["parameters"]
    nbformat.write(new_notebook(cells=[parameters, new_code_cell(WAITS)], metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}),
        folder / "01_waits.ipynb")
    store = RunStore(tmp_path / "runs")
    run = store.run({"busy": 1})
    with holding(run.lock(), "the test's run"):  # another process trains it all along
        assert reproduce(profile="smoke", output_root=tmp_path / "out", directory=folder,
                         extra_parameters={"store_root": str(store.root)}) == 0
    out = capsys.readouterr().out
    waits = [line for line in out.splitlines() if " waits for " in line]
    assert len(waits) == 1, out
    assert waits[0].startswith("[1/1] 01_waits ... waits for a run another notebook or process is training "
                               f"(run {run.hash}, locked by pid ")
    assert "waiting for run" not in out and "it is locked by" not in out


@pytest.mark.slow
def test_a_smoke_batch_that_succeeds_prints_no_error_line(tmp_path: Path, capfd) -> None:
    if not (notebooks_dir() / "05_table2_datasets.ipynb").is_file():
        pytest.skip("needs the project's notebooks")
    assert reproduce(profile="smoke", only="05_", output_root=tmp_path / "out") == 0
    out, err = capfd.readouterr()  # the kernels' own stderr too: they write to this process's
    assert "[1/1] 05_table2_datasets ... ok (" in out and " elapsed" in out
    assert not [line for line in (out + err).splitlines() if "ERROR" in line or "Traceback" in line], out + err
