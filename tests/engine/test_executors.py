"""Executors: a grid's runs trained serially or in worker processes, teachers first, each once; a failed
run is reported while the others finish, and a re-run trains only what is missing."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

from greenkd_lib.engine.configs import run_label
from greenkd_lib.engine.epochs import short_label
from greenkd_lib.engine.executors import (check_workers, EXECUTORS, GridError, make_executor, ProcessExecutor,
                                          RayExecutor, SerialExecutor)
from greenkd_lib.engine.executors.base import Grid, missing_runs, stages
from greenkd_lib.paper.lab import Lab
from greenkd_lib.runs.atomic import atomic_write_json
from greenkd_lib.runs.locking import holding, owner_path
from tests.helpers import datagen
from tests.helpers.executors import kill_during, numbers, tau_grid


# -- choosing an executor ------------------------------------------------------------------------
def test_the_executors_are_registered_by_name():
    assert set(EXECUTORS) == {"serial", "processes", "ray"}
    assert isinstance(make_executor("serial"), SerialExecutor)
    assert make_executor("processes", workers=3).workers == 3
    assert isinstance(make_executor(None, workers=1), SerialExecutor)  # one at a time: nothing to spawn
    assert isinstance(make_executor(None, workers=2), ProcessExecutor)
    assert make_executor("ray", ray_address="auto").address == "auto"
    mine = ProcessExecutor(2)
    assert make_executor(mine) is mine


@pytest.mark.parametrize("kwargs, message", [
    ({"executor": "threads"}, "unknown executor 'threads'; use one of 'serial', 'processes', 'ray'"),
    ({"executor": "serial", "workers": 2}, "serial executor trains one run at a time"),
    ({"executor": "processes", "ray_address": "auto"}, "is for executor='ray'"),
    ({"executor": "ray", "workers": 2}, "leave workers unset with executor='ray'"),
    ({"executor": "ray", "ray_address": ""}, "ray_address must be a Ray address"),
    ({"executor": ProcessExecutor(2), "workers": 2}, "give workers and ray_address to the executor you pass"),
    ({"executor": "processes", "workers": 0}, "workers must be a whole number >= 1"),
])
def test_a_bad_executor_choice_is_refused_before_any_run(kwargs, message, tmp_path):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_executor(**kwargs)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Lab("smoke", runs_root=tmp_path / "runs", **kwargs)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_workers_must_be_a_whole_number(bad):
    with pytest.raises(ValueError, match="workers must be a whole number >= 1"):
        check_workers(bad)
    with pytest.raises(ValueError, match="workers must be a whole number >= 1"):
        Lab("smoke", workers=bad)


def test_ray_retries_must_be_a_whole_number():
    with pytest.raises(ValueError, match="retries must be a whole number >= 0"):
        RayExecutor(retries=-1)


def test_the_lab_names_its_executor(tmp_path):
    assert Lab("smoke", runs_root=tmp_path, executor="serial").executor.name == "serial"
    assert Lab("smoke", runs_root=tmp_path, workers=2).executor.name == "processes"
    assert "executor=" in repr(Lab("smoke", runs_root=tmp_path, executor="serial"))


_FROM_STDIN = """
from greenkd_lib.engine.executors import make_executor
try:
    make_executor("processes", workers=2)
except RuntimeError as err:
    print("REFUSED:", err)
else:
    print("ACCEPTED")
print("DEFAULT:", make_executor(None, device="cpu").name)
"""


def test_a_script_read_from_stdin_is_told_why_workers_cannot_start(tmp_path):
    """``python - <<EOF``: spawned workers cannot re-import such a script; say so, not "a worker died"."""
    done = subprocess.run([sys.executable, "-"], input=_FROM_STDIN, capture_output=True, text=True, cwd=tmp_path,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "REFUSED:" in done.stdout, done.stdout
    assert "read from standard input" in done.stdout and "run it from a file" in done.stdout
    assert "executor='serial'" in done.stdout
    assert "DEFAULT: serial" in done.stdout  # with no executor named, one that can start is chosen


@pytest.mark.parametrize("main_file, problem", [
    ("<stdin>", True), (None, False), (__file__, False), ("/no/such/script.py", True)])
def test_which_main_scripts_spawned_workers_cannot_import(main_file, problem, monkeypatch):
    from greenkd_lib.engine.executors.processes import check_spawnable, spawn_problem

    main = types.ModuleType("__main__")
    main.__spec__ = None
    if main_file is not None:
        main.__file__ = main_file
    monkeypatch.setitem(sys.modules, "__main__", main)
    assert (spawn_problem() is not None) == problem
    if problem:
        with pytest.raises(RuntimeError, match=f"{main_file}.*executor='serial'"):
            check_spawnable()
    main.__spec__ = types.SimpleNamespace(name="pytest.__main__")  # run as a module (python -m): found by name
    assert spawn_problem() is None


# -- the order and the store -----------------------------------------------------------------------
def test_teachers_come_first_and_a_run_asked_for_twice_is_planned_once(tmp_path):
    lab = Lab("smoke", runs_root=tmp_path / "runs", progress=False)
    grid = tau_grid(lab) + tau_grid(lab)[:1]
    missing = missing_runs(grid, lab.store)
    assert len(missing) == 4
    ordered = stages(missing, lab.store)
    assert [len(stage) for stage in ordered] == [1, 4]
    assert ordered[0][0] == lab.teacher_config()


def test_a_run_counts_as_running_while_its_lock_is_held_not_while_a_dead_owner_note_remains(tmp_path):
    lab = Lab("smoke", runs_root=tmp_path / "runs", progress=False)
    grid = Grid.of(lab.store, None, "cpu", False)
    cfg = tau_grid(lab)[0]
    run = lab.store.run(cfg.to_dict())
    run.dir.mkdir(parents=True, exist_ok=True)
    assert grid.running([cfg]) == []
    with holding(run.lock(), "the test's run"):
        assert grid.running([cfg]) == [cfg]
    # What a SIGKILLed training leaves: its note, but no held lock (the system released it).
    atomic_write_json(owner_path(run.lock_path), {"pid": 2**22 + 1, "host": "here", "since": "then"})
    assert grid.running([cfg]) == []


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_a_failed_run_is_reported_the_others_finish_and_a_rerun_trains_only_it(tmp_path):
    """A grid over two data sets where one is not there yet: the digits runs finish; CIFAR-10's teacher
    fails with the loader's message and its student is not tried; once the files exist, the same grid
    trains only those two."""
    lab = Lab("smoke", runs_root=tmp_path / "runs", data_root=tmp_path / "data", progress=False, executor="serial")
    cifar = lab.across("cifar10")[0]
    grid = tau_grid(lab, seeds=(0,)) + [cifar.kd_config({"type": "fixed", "tau": 4.0})]
    report = lab.executor.run(grid, lab.store, data_root=lab.data_root, device="cpu", progress=False)
    assert report.asked == 3 and report.stored == 0
    assert len(report.trained) == 3  # the digits teacher and its two students
    reasons = {failure.label: failure.reason for failure in report.failed}
    assert len(reasons) == 2, reasons
    assert "DatasetNotFoundError" in reasons[run_label(cifar.teacher_config())]
    assert reasons[run_label(cifar.kd_config({"type": "fixed", "tau": 4.0}))].startswith("not trained: its teacher")
    with pytest.raises(GridError, match=r"(?s)2 run\(s\) failed; the 3 trained now .*only the failed runs are trained again"):
        report.raise_failures()

    datagen.write_cifar10(tmp_path / "data")
    again = lab.executor.run(grid, lab.store, data_root=lab.data_root, device="cpu", progress=False)
    assert again.ok and again.stored == 2 and len(again.trained) == 2, again


@pytest.mark.slow
def test_two_workers_train_a_grid_teacher_first_with_the_serial_numbers(tmp_path):
    serial = Lab("smoke", runs_root=tmp_path / "serial", progress=False, executor="serial", seeds=[0, 1])
    report = serial.executor.run(tau_grid(serial, taus=(2.0,)), serial.store, device="cpu", progress=False)
    assert report.ok and len(report.trained) == 3  # every student learns from the first seed's teacher

    lab = Lab("smoke", runs_root=tmp_path / "processes", progress=False, executor="processes", workers=2, seeds=[0, 1])
    report = lab.executor.run(tau_grid(lab), lab.store, device="cpu", progress=False)
    assert report.ok and len(report.trained) == 5, report
    assert report.trained[0] == run_label(lab.teacher_config())  # alone, before its students
    for cfg in [lab.teacher_config(), *tau_grid(lab, taus=(2.0,))]:
        ours = numbers(lab.store, cfg)
        assert ours["threads"] == 1  # 2 cores shared by 2 workers
        assert ours == numbers(serial.store, cfg), run_label(cfg)
    assert lab.executor.run(tau_grid(lab), lab.store, progress=False).trained == []  # all stored: nothing again
    grid = lab.kd_grid()  # the Lab reads the same runs back
    assert len(grid) == 4 and set(grid["tau"]) == {2.0, 8.0}


@pytest.mark.slow
def test_a_killed_worker_loses_no_finished_run_and_the_rerun_completes_the_grid(tmp_path):
    lab = Lab("smoke", runs_root=tmp_path / "runs", progress=False, executor="processes", workers=2,
              seeds=[0, 1], epochs=2, max_batches=6)
    lab.run(lab.teacher_config())
    configs = tau_grid(lab)
    report, killed = kill_during(lab.executor, lab, configs)
    assert len(killed) == 1, "the test never saw a run finish while another trained"
    failed = {failure.hash for failure in report.failed}
    assert killed[0] in failed and all("worker process died" in f.reason for f in report.failed)
    assert len(report.trained) + len(report.failed) == 4
    for label in report.trained:  # every run that finished is stored
        assert any(lab.store.run(c.to_dict()).result() is not None for c in configs if run_label(c) == label)
    again = lab.executor.run(configs, lab.store, device="cpu", progress=False)
    assert again.ok and again.stored == len(report.trained) and len(again.trained) == len(report.failed)


def test_the_grid_bar_counts_the_running_runs_epochs_and_names_none_once_closed(tmp_path):
    import io

    from greenkd_lib.engine.executors.bar import GridBar

    lab = Lab("smoke", runs_root=tmp_path / "runs", progress=False)
    grid = Grid.of(lab.store, None, "cpu", True)
    first, second = tau_grid(lab)[:2]
    bar = GridBar(grid, [first, second], "2 processes")
    bar.bar.fp = io.StringIO()  # outside a notebook tqdm.auto is the text bar
    assert bar.bar.total == first.epochs + second.epochs and bar.bar.unit == "epoch"
    run = lab.store.run(first.to_dict())
    run.write_config()
    run.write_history([{"epoch": 1, "train_loss": 1.0}])  # what a worker writes after its first epoch
    with holding(run.lock(), "a worker's training"):
        bar.show([first, second])
        assert bar.bar.n == 1
        assert f"0/2 runs done; {short_label(run_label(first), 24)} 1/{first.epochs} ep" in bar.bar.postfix
    bar.finished(first)
    bar.show([second])
    assert bar.bar.n == first.epochs and bar.bar.postfix.endswith("1/2 runs done; waiting")
    bar.finished(second)
    bar.close()
    assert bar.bar.n == bar.bar.total and bar.bar.postfix == "2/2 runs done"
