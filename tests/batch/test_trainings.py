"""The batch's trainings (greenkd_lib.batch.trainings): counted in the run store, expected from the previous
full batch or the shipped reference, and the time left at the batch's own pace."""

from __future__ import annotations

import json
from pathlib import Path

from greenkd_lib.batch.progress import Progress
from greenkd_lib.batch.reproduce import _write_summary, NotebookResult
from greenkd_lib.batch.trainings import Expected, expected_trainings, record, Trainings


class _Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def _finish(runs: Path, n: int, profile: str = "quick", start: int = 0, result: bool = True) -> None:
    for i in range(start, start + n):
        folder = runs / f"{i:012x}"
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps({"profile": profile}))
        if result:
            (folder / "result.json").write_text("{}")


def test_only_finished_runs_of_the_profile_count_and_the_store_s_own_are_not_needed_again(tmp_path):
    runs = tmp_path / "runs"
    _finish(runs, 4)  # done by an earlier batch
    _finish(runs, 3, profile="smoke", start=100)  # another profile's: not this batch's work
    _finish(runs, 2, start=200, result=False)  # training now: not finished
    (runs / ".locks").mkdir()
    trainings = Trainings(runs, "quick", Expected(10, 30.0, "test"))
    assert (trainings.at_start, trainings.needed, trainings.done()) == (4, 6, 0)
    _finish(runs, 2, start=300)
    for i in (200, 201):
        (runs / f"{i:012x}" / "result.json").write_text("{}")
    assert trainings.done() == 4 and trainings.describe() == "4/6 trainings"
    assert Trainings(runs, "quick", None).describe() == "0 trainings"  # no expected count: no "of"


def test_the_time_left_is_the_trainings_to_do_at_this_batch_s_pace_plus_the_tail(tmp_path):
    runs, clock = tmp_path / "runs", _Clock()
    trainings = Trainings(runs, "quick", Expected(10, 45.0, "test"), clock=clock)
    clock.now += 20
    _finish(runs, 2)
    assert trainings.done() == 2 and trainings.left() is None  # two are too few for a pace
    clock.now += 10
    _finish(runs, 1, start=2)
    assert trainings.done() == 3  # 3 in 30 s: 10 s each
    clock.now += 4  # the fourth is 4 s under way
    assert trainings.left() == 7 * 10 - 4 + 45
    _finish(runs, 7, start=3)
    assert trainings.left() is None  # all done: the progress line says the tail


def test_the_progress_line_says_trainings_done_and_the_time_left_by_them(tmp_path, capsys):
    runs, clock = tmp_path / "runs", _Clock()
    trainings = Trainings(runs, "quick", Expected(8, 60.0, "test"), clock=clock)
    progress = Progress(3, None, clock=clock, trainings=trainings)
    progress.started(1, "01_a")
    assert "0/8 trainings, 0.0 s elapsed, time left once 3 trainings are done" in capsys.readouterr().out
    clock.now += 120
    _finish(runs, 4)  # 30 s a training: 4 more take 120 s, and the tail 60 s
    progress.finished(1, "01_a", 120.0, "ok (120.0 s)")
    assert "4/8 trainings, 2 min 00 s elapsed, about 3 min left" in capsys.readouterr().out
    clock.now += 60
    _finish(runs, 4, start=4)
    progress.tick(every=60)  # trainings finished, and 60 s since the last line: an overall line
    line = capsys.readouterr().out
    assert line.startswith("[-/3] 8/8 trainings") and line.rstrip().endswith("about 1 min left"), line
    clock.now += 10
    progress.tick(every=60)  # nothing new finished: no line
    assert capsys.readouterr().out == ""


def test_the_next_batch_expects_the_last_full_batch_s_count_with_the_same_parameters(tmp_path, monkeypatch):
    root, runs, clock = tmp_path / "quick", tmp_path / "runs", _Clock()
    _finish(runs, 2)
    trainings = Trainings(runs, "quick", None, clock=clock)
    clock.now += 100
    _finish(runs, 5, start=2)
    trainings.done()
    clock.now += 40
    block = record(trainings, 140.0, {"seeds": [0]})
    assert block == {"total": 7, "done": 5, "tail_s": 40.0, "parameters": {"seeds": [0]}}
    row = NotebookResult("01_a", "ok", 1.0, None, None, None, "2026-01-01T00:00:00+00:00")
    (tmp_path / "nb").mkdir()
    _write_summary(root, [row], tmp_path / "nb", {"trainings": block})
    assert expected_trainings(root, "quick", {"seeds": [0]}) == Expected(7, 40.0, "previous batch")
    assert expected_trainings(root, "quick", {"overrides": {"epochs": 8}}) is None  # other runs: no count
    shipped = expected_trainings(root, "quick", None)  # default parameters: greenkd's reference batch
    assert shipped is not None and shipped.total > 0 and shipped.source.startswith("reference batch (")
    (root / "summary.json").write_text("{not json")
    assert expected_trainings(root, "quick", None) == shipped
