"""Fault suite: every damaged, missing, planted or interrupted file of a run ends in recovery with the
same numbers, or in a clear error naming the file and the fix. Nothing from the store is executed.

Each ``test_fault_*`` id is one fault tried; ``FAULTS`` says which end each must reach.
"""

from __future__ import annotations

import errno
import json
import logging
import multiprocessing
import os
import pickle
import shutil
import time
import warnings
from pathlib import Path

import pytest
import torch

import greenkd_lib.engine.loops.base as loop_module
import greenkd_lib.engine.tally as energy_tally
from greenkd_lib import models
from greenkd_lib.batch.cli import main as cli_main
from greenkd_lib.config.profiles import get_profile
from greenkd_lib.config.run import RunConfig
from greenkd_lib.engine.configs import teacher_config
from greenkd_lib.engine.train import get_or_run, load_model
from greenkd_lib.runs import atomic as atomic_module, RunIntegrityError, RunStore, WeightsMismatchError
from greenkd_lib.runs.integrity import sidecar, torch_bytes, write_verified
from greenkd_lib.runs.locking import holding, RunLockTimeout

pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.slow]

PROFILE = get_profile("smoke", epochs=3, max_batches=3, subset=120)
TIMING = {"images_per_s"}
SURVIVED, CLEAR = "survived", "clear error"




@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A finished tiny run (config, result, history, final weights) to damage copies of."""
    store = RunStore(tmp_path_factory.mktemp("reference"))
    cfg = teacher_config(PROFILE, "shufflenetv2", "digits", seed=0)
    result = get_or_run(cfg, store=store, device="cpu", progress=False)
    run = store.run(cfg.to_dict())
    return cfg, store, result, run.history(), run.load_weights("final"), run.load_weights("best")


@pytest.fixture
def copy(reference, tmp_path):
    """A store holding a copy of the reference run: (cfg, store, run)."""
    cfg, store, *_ = reference
    run = store.run(cfg.to_dict())
    shutil.copytree(run.dir, tmp_path / "runs" / run.hash)
    fresh = RunStore(tmp_path / "runs")
    return cfg, fresh, fresh.run(cfg.to_dict())


def _same_numbers(reference, result: dict, run) -> None:
    _, _, ref, history, final, best = reference
    assert {k: v for k, v in result["metrics"].items() if k not in TIMING} == \
        {k: v for k, v in ref["metrics"].items() if k not in TIMING}
    assert result["flops"] == ref["flops"] and result["epochs"] == ref["epochs"]
    cols = [c for c in history.columns if c not in ("wall_s", "energy_kwh", "co2_g")]
    assert run.history()[cols].equals(history[cols])
    for name, weights in (("final", final), ("best", best)):
        loaded = run.load_weights(name)
        assert all(torch.equal(loaded[k], weights[k]) for k in weights), name


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


class _Payload:
    """Unpickling this runs ``open(marker, "w")``: the sign that a file from the store was executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _plant(path: Path, marker: Path) -> None:
    """A torch-format file whose pickle executes code, with a matching checksum (so only the loader can refuse)."""
    import io

    buffer = io.BytesIO()
    torch.save({"model": _Payload(marker)}, buffer, pickle_protocol=pickle.DEFAULT_PROTOCOL)
    write_verified(path, buffer.getvalue())


# -- result.json ------------------------------------------------------------------------------------

RESULT_FAULTS = {
    "edited_test_acc": CLEAR,  # the checksum catches a hand edit
    "truncated": CLEAR,
    "empty_object_legacy": CLEAR,  # no checksum (stored before checksums): shape is checked
    "list_legacy": CLEAR,
    "string_legacy": CLEAR,
    "garbage_bytes_legacy": CLEAR,
    "no_footprint_legacy": CLEAR,
    "legacy_without_checksum": SURVIVED,  # it agrees with history.csv: accepted (one warning), gets its checksum
    "edited_test_acc_checksum_removed": CLEAR,  # no checksum, and its accuracy is not history's: never sealed
    "legacy_history_missing": CLEAR,  # no checksum and no history to confirm it: never sealed
    "missing": SURVIVED,  # the run resumes from its last checkpoint: the same numbers
}


@pytest.mark.parametrize("fault", RESULT_FAULTS)
def test_fault_result_json(fault, copy, reference):
    cfg, store, run = copy
    path = run.result_path
    saved = json.loads(path.read_text())
    if fault == "edited_test_acc":
        path.write_text(json.dumps({**saved, "metrics": {**saved["metrics"], "test_acc": 99.9}}, indent=2))
    elif fault == "truncated":
        _truncate(path)
    elif fault == "missing":
        path.unlink()
        sidecar(path).unlink()
    elif fault == "edited_test_acc_checksum_removed":
        path.write_text(json.dumps({**saved, "metrics": {**saved["metrics"], "test_acc": 99.9}}, indent=2))
        sidecar(path).unlink()
    elif fault == "legacy_history_missing":
        sidecar(path).unlink()
        run.history_path.unlink()
    else:
        sidecar(path).unlink()
        if fault != "legacy_without_checksum":
            path.write_bytes({"empty_object_legacy": b"{}", "list_legacy": b"[]", "string_legacy": b'"x"',
                              "garbage_bytes_legacy": b"\x80\x04\x95garbage\xff",
                              "no_footprint_legacy": json.dumps({k: v for k, v in saved.items()
                                                                 if k != "footprint"}).encode()}[fault])
    if RESULT_FAULTS[fault] == CLEAR:
        with pytest.raises(RunIntegrityError, match=f"result.json.*greenkd runs rm {run.hash}|"
                                                    f"{run.hash}.*result.json.*greenkd runs rm {run.hash}"):
            get_or_run(cfg, store=store, device="cpu", progress=False)
        if fault != "no_footprint_legacy":  # the store's own checks pass that one: a training result's fail
            assert store.list().set_index("hash").loc[run.hash, "state"] == "damaged"
        if fault in ("edited_test_acc_checksum_removed", "legacy_history_missing"):
            assert not sidecar(path).exists()  # what history does not confirm is never sealed
        return
    if fault == "legacy_without_checksum":
        with pytest.warns(UserWarning, match=f"{run.hash}.*result.json has no checksum.*agree with history.csv"):
            result = get_or_run(cfg, store=store, device="cpu", progress=False)
        with warnings.catch_warnings():  # sealed now: once
            warnings.simplefilter("error")
            assert get_or_run(cfg, store=store, device="cpu", progress=False) == result
    else:
        result = get_or_run(cfg, store=store, device="cpu", progress=False)
    _same_numbers(reference, result, run)
    assert sidecar(path).exists()


# -- config.json ------------------------------------------------------------------------------------

CONFIG_FAULTS = {"garbage_bytes": SURVIVED, "empty_object": SURVIVED, "list": SURVIVED, "string": SURVIVED,
                 "edited_lr": SURVIVED, "missing": SURVIVED, "garbage_without_result": CLEAR,
                 "garbage_partial_run": SURVIVED}


@pytest.mark.parametrize("fault", CONFIG_FAULTS)
def test_fault_config_json(fault, copy, reference):
    cfg, store, run = copy
    path = run.dir / "config.json"
    original = json.loads(path.read_text())
    content = {"garbage_bytes": b"\xff\x00{not json", "empty_object": b"{}", "list": b"[]", "string": b'"x"',
               "edited_lr": json.dumps({**original, "lr": 0.5}).encode(), "missing": None,
               "garbage_without_result": b"{oops", "garbage_partial_run": b"{oops"}[fault]
    if content is None:
        path.unlink()
    else:
        path.write_bytes(content)
    if fault == "garbage_partial_run":  # a run still training: get_or_run knows its config and rewrites it
        run.result_path.unlink()
        with pytest.warns(UserWarning, match="config.json .* rewrote it"):
            result = get_or_run(cfg, store=store, device="cpu", progress=False)
        _same_numbers(reference, result, run)
        return
    if fault == "garbage_without_result":
        run.result_path.unlink()
        assert store.list().set_index("hash").loc[run.hash, "state"] == "damaged"
        with pytest.raises(RunIntegrityError, match=f"config.json.*greenkd runs rm {run.hash}"):
            store.run_by_hash(run.hash).read_config()
        return
    # As Lab.model(hash) does: the run's config is found by its hash, restored from result.json.
    found = store.run_by_hash(run.hash[:6])
    assert found.config == original and json.loads(path.read_text()) == original
    model = load_model(RunConfig.from_dict(found.config), store, "final")
    _, _, _, _, final, _ = reference
    assert all(torch.equal(model.state_dict()[k], final[k]) for k in final)


# -- history.csv, best.pt, final.pt -------------------------------------------------------------------

FILE_FAULTS = {
    ("history.csv", "missing"): SURVIVED, ("history.csv", "truncated"): SURVIVED,
    ("history.csv", "garbage"): SURVIVED, ("history.csv", "missing_no_checkpoints"): CLEAR,
    ("weights/best.pt", "truncated"): SURVIVED, ("weights/best.pt", "flipped"): SURVIVED,
    ("weights/best.pt", "missing"): SURVIVED, ("weights/best.pt", "no_checksum"): SURVIVED,
    ("weights/best.pt", "flipped_checkpoint_gone"): SURVIVED,  # reopened and trained again
    ("weights/final.pt", "truncated"): SURVIVED, ("weights/final.pt", "missing"): SURVIVED,
    ("weights/final.pt", "missing_checkpoints_gone"): SURVIVED,  # reopened and trained again
}


@pytest.mark.parametrize("name, fault", FILE_FAULTS, ids=[f"{n}-{f}" for n, f in FILE_FAULTS])
def test_fault_finished_run_file(name, fault, copy, reference, caplog):
    cfg, store, run = copy
    path = run.dir / name
    if fault.startswith("missing"):
        path.unlink()
    elif fault == "truncated":
        _truncate(path)
    elif fault.startswith("flipped"):
        _flip(path)
    elif fault == "garbage":
        path.write_bytes(b"\xff\xfe garbage")
    elif fault == "no_checksum":
        sidecar(path).unlink()
    if fault.endswith("gone") or fault.endswith("no_checkpoints"):
        best_epoch = reference[2]["metrics"]["best_epoch"]
        for epoch in range(1, PROFILE.epochs + 1):
            if name != "weights/best.pt" or epoch == best_epoch:
                (run.checkpoint_dir / f"epoch_{epoch:04d}.pt").unlink(missing_ok=True)
    if FILE_FAULTS[(name, fault)] == CLEAR:
        with pytest.raises(RunIntegrityError, match=f"{run.hash}.*history.*greenkd runs rm {run.hash}"):
            get_or_run(cfg, store=store, device="cpu", progress=False)
        with pytest.raises(RunIntegrityError, match=f"{run.hash}.*history.csv"):
            run.history()
        return
    kept = name != "weights/best.pt" or reference[2]["metrics"]["best_epoch"] >= PROFILE.epochs - 1
    what = "reopened the run" if fault.endswith("gone") or not kept else f"re-derived {name}"
    with pytest.warns(UserWarning, match=f"{run.hash}.*{what}"):
        result = get_or_run(cfg, store=store, device="cpu", progress=False)
    _same_numbers(reference, result, run)
    if what == "reopened the run":
        assert (run.dir / "result.json.reopened").exists()  # the old result is kept, not lost


def test_fault_damaged_best_weights_found_by_load_model(copy, reference):
    """The teacher is loaded for a student without passing get_or_run: load_model repairs it too."""
    cfg, store, run = copy
    _flip(run.weights_dir / "best.pt")
    if reference[2]["metrics"]["best_epoch"] < PROFILE.epochs - 1:  # its checkpoint is gone: a clear error
        with pytest.warns(UserWarning, match="reopened the run"), \
                pytest.raises(RunIntegrityError, match="best.pt .*reopened: train it again with get_or_run"):
            load_model(cfg, store, "best")
        get_or_run(cfg, store=store, device="cpu", progress=False)
        model = load_model(cfg, store, "best")
    else:
        with pytest.warns(UserWarning, match="re-derived weights/best.pt"):
            model = load_model(cfg, store, "best")
    best = reference[5]
    assert all(torch.equal(model.state_dict()[k], best[k]) for k in best)


# -- another model's weights, with a valid checksum ------------------------------------------------

def _foreign_weights() -> dict:
    """The weights of another model (their checksum is valid: only loading them into the run's model fails)."""
    return models.build("wrn_16_1", 10, 8).state_dict()


def _plant_foreign_checkpoint(run, epoch: int) -> None:
    """Checkpoint ``epoch`` of ``run`` with another model's weights in it, and a matching checksum."""
    state = run.load_checkpoint(epoch)
    write_verified(run.checkpoint_dir / f"epoch_{epoch:04d}.pt", torch_bytes({**state, "model": _foreign_weights()}))


def test_fault_another_models_best_weights_found_by_load_model(copy, reference):
    """best.pt replaced by another model's weights: re-derived from a checkpoint, or the run reopened."""
    cfg, store, run = copy
    write_verified(run.weights_dir / "best.pt", torch_bytes(_foreign_weights()))
    fits = f"{run.weights_dir / 'best.pt'} passed its checksum but does not fit run {run.hash}"
    if reference[2]["metrics"]["best_epoch"] < PROFILE.epochs - 1:  # its checkpoint is gone: a clear error
        with pytest.warns(UserWarning, match="reopened the run"), \
                pytest.raises(RunIntegrityError, match=f"{fits}.*reopened: train it again with get_or_run"):
            load_model(cfg, store, "best")
        get_or_run(cfg, store=store, device="cpu", progress=False)
        model = load_model(cfg, store, "best")
    else:
        with pytest.warns(UserWarning, match=f"{fits}.*re-derived weights/best.pt"):
            model = load_model(cfg, store, "best")
        assert (run.weights_dir / "best.pt.corrupt").exists()  # the stranger is kept aside, not deleted
    best = reference[5]
    assert all(torch.equal(model.state_dict()[k], best[k]) for k in best)


def test_fault_another_models_weights_in_best_and_its_checkpoint(copy, reference):
    """Nothing the run holds fits its model: the error names the file, the run and the fix."""
    cfg, store, run = copy
    best_epoch = reference[2]["metrics"]["best_epoch"]
    if run.load_checkpoint(best_epoch) is None:  # a checkpoint of the best epoch, as a run keeping it has
        for suffix in (".pt", ".pt.sha256"):
            shutil.copy(run.checkpoint_dir / f"epoch_{PROFILE.epochs:04d}{suffix}",
                        run.checkpoint_dir / f"epoch_{best_epoch:04d}{suffix}")
    _plant_foreign_checkpoint(run, best_epoch)
    write_verified(run.weights_dir / "best.pt", torch_bytes(_foreign_weights()))
    with pytest.warns(UserWarning, match="re-derived weights/best.pt"), \
            pytest.raises(RunIntegrityError, match=f"best.pt passed its checksum but does not fit run {run.hash} "
                                                   f".*greenkd runs rm {run.hash}"):
        load_model(cfg, store, "best")


def test_a_model_of_another_shape_asked_for_touches_nothing(copy, reference):
    """Weights that do not fit a model the caller shaped otherwise are not the run's damage: nothing is moved."""
    cfg, store, run = copy
    before = sorted(p.name for p in run.dir.rglob("*"))
    with pytest.raises(WeightsMismatchError, match=f"best.pt .*does not fit run {run.hash} .*leave num_classes"):
        load_model(cfg, store, "best", num_classes=3)
    assert sorted(p.name for p in run.dir.rglob("*")) == before


def test_fault_another_models_checkpoint_on_resume_falls_back(copy, reference):
    cfg, store, run = copy
    run.result_path.unlink()
    newest = run.checkpoint_dir / f"epoch_{PROFILE.epochs:04d}.pt"
    _plant_foreign_checkpoint(run, PROFILE.epochs)
    with pytest.warns(UserWarning, match=f"run {run.hash} .*{newest} passed its checksum but does not fit .*"
                                         "Moved it aside .*resuming from an older checkpoint"):
        result = get_or_run(cfg, store=store, device="cpu", progress=False)
    assert (run.checkpoint_dir / f"{newest.name}.corrupt").exists()
    _same_numbers(reference, result, run)


def test_fault_no_checkpoint_fits_on_resume_starts_over(copy, reference):
    cfg, store, run = copy
    run.result_path.unlink()
    for path in run.checkpoint_dir.glob("epoch_*.pt"):
        _plant_foreign_checkpoint(run, int(path.stem.split("_")[1]))
    with pytest.warns(UserWarning, match=f"run {run.hash} .*no checkpoint fits its model: training it from the start"):
        result = get_or_run(cfg, store=store, device="cpu", progress=False)
    _same_numbers(reference, result, run)


# -- nothing executed from the store --------------------------------------------------------------

PAYLOAD_FAULTS = {"newest_checkpoint": SURVIVED, "best_weights": SURVIVED, "old_numpy_checkpoint": SURVIVED}


@pytest.mark.parametrize("where", PAYLOAD_FAULTS)
def test_fault_planted_pickle_is_not_executed(where, copy, reference, tmp_path):
    cfg, store, run = copy
    marker = tmp_path / "EXECUTED"
    newest = run.checkpoint_dir / f"epoch_{PROFILE.epochs:04d}.pt"
    if where == "best_weights":
        _plant(run.weights_dir / "best.pt", marker)  # its checksum matches: the loader must refuse it
        with pytest.warns(UserWarning, match="best.pt holds objects .*nothing in it was run.*reopened the run"), \
                pytest.raises(RunIntegrityError, match="reopened: train it again"):
            load_model(cfg, store, "best")
        assert not marker.exists()
        result = get_or_run(cfg, store=store, device="cpu", progress=False)
    else:
        run.result_path.unlink()
        if where == "newest_checkpoint":
            _plant(newest, marker)
        else:  # a checkpoint as greenkd wrote them before: numpy arrays need a full unpickle
            state = run.load_checkpoint(PROFILE.epochs)
            import numpy as np

            state["numpy_rng"] = np.random.get_state()
            import io

            buffer = io.BytesIO()
            torch.save(state, buffer)
            write_verified(newest, buffer.getvalue())
        with pytest.warns(UserWarning, match="epoch_0003.pt is unusable .*nothing in it was run"):
            result = get_or_run(cfg, store=store, device="cpu", progress=False)
        assert (run.checkpoint_dir / "epoch_0003.pt.corrupt").exists()
    assert not marker.exists()
    _same_numbers(reference, result, run)


# -- disk full ------------------------------------------------------------------------------------------

def _disk_full_for(monkeypatch, name_part: str) -> None:
    """Writes of files whose name contains ``name_part`` fail as on a full disk."""
    real = atomic_module.os.fdopen

    class Full:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.f, name)

    def fdopen(fd, *args, **kwargs):
        f = real(fd, *args, **kwargs)
        return Full(f) if name_part in os.readlink(f"/proc/self/fd/{fd}") else f

    monkeypatch.setattr(atomic_module.os, "fdopen", fdopen)


DISK_FAULTS = {"while_saving_a_checkpoint": SURVIVED, "while_rewriting_best_weights": SURVIVED}


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name the file being written")
@pytest.mark.parametrize("when", DISK_FAULTS)
def test_fault_disk_full(when, copy, reference, monkeypatch):
    cfg, store, run = copy
    run.result_path.unlink()
    shutil.rmtree(run.checkpoint_dir)  # train from the start
    before = (run.weights_dir / "best.pt").read_bytes()
    target = "epoch_0002.pt" if when == "while_saving_a_checkpoint" else "best.pt"
    with monkeypatch.context() as m:
        _disk_full_for(m, target)
        with pytest.raises(OSError, match=f"disk full: could not write .*{target}.*Free space on") as err:
            get_or_run(cfg, store=store, device="cpu", progress=False)
        assert err.value.errno == errno.ENOSPC and target in err.value.filename
    if target == "best.pt":  # the failed rewrite left the old file and its checksum intact
        assert (run.weights_dir / "best.pt").read_bytes() == before
        run.load_weights("best")
    assert not list(run.dir.rglob(f".*{atomic_module.TEMP_SUFFIX}"))
    result = get_or_run(cfg, store=store, device="cpu", progress=False)
    _same_numbers(reference, result, run)


# -- leftovers of killed runs --------------------------------------------------------------------------

def test_fault_stale_temp_files(copy, reference):
    cfg, store, run = copy
    run.result_path.unlink()
    stale = [run.weights_dir / f".best.pt.abc123{atomic_module.TEMP_SUFFIX}",
             run.checkpoint_dir / f".epoch_0004.pt.x9{atomic_module.TEMP_SUFFIX}"]
    for path in stale:
        path.write_bytes(b"half a file")
    result = get_or_run(cfg, store=store, device="cpu", progress=False)
    assert not any(p.exists() for p in stale)
    _same_numbers(reference, result, run)


def _hold_lock(lock_path: str, ready, release) -> None:
    from filelock import FileLock

    with holding(FileLock(lock_path), "the test's run"):
        ready.set()
        release.wait(30)


def test_fault_lock_held_by_another_process(copy, caplog):
    cfg, store, run = copy
    run.result_path.unlink()
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(run.lock_path), ready, release))
    holder.start()
    try:
        assert ready.wait(60)
        caplog.set_level(logging.WARNING)
        start = time.monotonic()
        with pytest.raises(RunLockTimeout, match=f"pid {holder.pid} on host .* since .*{run.lock_path.name}"):
            get_or_run(cfg, store=store, device="cpu", progress=False, lock_timeout=0.5)
        assert time.monotonic() - start < 10
        assert any(r.levelno == logging.WARNING and f"pid {holder.pid}" in r.getMessage() for r in caplog.records)
        assert store.clean(dry_run=True) == []  # a locked run is never cleaned
    finally:
        release.set()
        holder.join(30)


class _Killed(Exception):
    pass


def test_fault_killed_partial_epoch_energy_is_kept(copy, reference, monkeypatch):
    cfg, store, run = copy
    run.result_path.unlink()
    shutil.rmtree(run.checkpoint_dir)
    monkeypatch.setattr(energy_tally, "TALLY_EVERY_S", 0.0)  # a tally after every batch
    real = loop_module.train_epoch

    def killed_in_epoch_2(cfg_, epoch, *args, **kwargs):
        out = real(cfg_, epoch, *args, **kwargs)
        if epoch == 1:  # its batches ran (and were tallied), then the process "died"
            raise _Killed
        return out

    with monkeypatch.context() as m:
        m.setattr(loop_module, "train_epoch", killed_in_epoch_2)
        with pytest.raises(_Killed):
            get_or_run(cfg, store=store, device="cpu", progress=False)
    tally = json.loads((run.dir / energy_tally.TALLY_NAME).read_text())
    assert tally["after_epoch"] == 1 and tally["lost"]["duration_s"] > 0
    result = get_or_run(cfg, store=store, device="cpu", progress=False)
    lost = result["lost_partial_epochs"]
    assert lost["duration_s"] >= tally["lost"]["duration_s"] > 0
    if lost["energy_kwh"] is not None:
        assert lost["energy_kwh"] > 0 and result["footprint"]["energy_kwh"] > lost["energy_kwh"]
    assert result["footprint"]["duration_s"] > lost["duration_s"]
    assert not (run.dir / energy_tally.TALLY_NAME).exists()
    _same_numbers(reference, result, run)


def test_fault_killed_after_the_first_batch_past_a_checkpoint_keeps_its_energy(copy, reference, monkeypatch):
    """Killed seconds after a checkpoint (before the tally's period): the first batch's tally counts it."""
    cfg, store, run = copy
    run.result_path.unlink()
    shutil.rmtree(run.checkpoint_dir)
    real = loop_module.train_epoch

    def killed_after_first_batch_of_epoch_2(cfg_, epoch, *args, tick=None, **kwargs):
        def tick_then_die():
            tick()
            if epoch == 1:  # one batch past the checkpoint of epoch 1, then the process "died"
                raise _Killed

        return real(cfg_, epoch, *args, tick=tick_then_die, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(loop_module, "train_epoch", killed_after_first_batch_of_epoch_2)
        with pytest.raises(_Killed):
            get_or_run(cfg, store=store, device="cpu", progress=False)
    tally = json.loads((run.dir / energy_tally.TALLY_NAME).read_text())
    assert tally["after_epoch"] == 1 and tally["lost"]["duration_s"] > 0
    result = get_or_run(cfg, store=store, device="cpu", progress=False)
    assert result["lost_partial_epochs"] is not None
    assert result["lost_partial_epochs"]["duration_s"] >= tally["lost"]["duration_s"] > 0
    _same_numbers(reference, result, run)


# -- the command line -----------------------------------------------------------------------------------

def test_cli_runs_rm_unknown_prefix_and_clean(copy, capsys):
    cfg, store, run = copy
    root = str(store.root)
    assert cli_main(["runs", "rm", "0" * 12 if not run.hash.startswith("0") else "f" * 12, "--root", root]) == 2
    assert "no run in" in capsys.readouterr().err
    assert cli_main(["runs", "rm", "not-hex", "--root", root]) == 2
    partial = store.run({"model": "x", "epochs": 2})
    partial.write_history([{"epoch": 1, "wall_s": 1.0}])
    assert cli_main(["runs", "--root", root]) == 0
    out = capsys.readouterr().out
    assert "partial" in out and "finished" in out and "runs clean" in out
    assert cli_main(["runs", "clean", "--dry-run", "--root", root]) == 0
    assert f"would remove {partial.dir}" in capsys.readouterr().out and partial.dir.exists()
    assert cli_main(["runs", "clean", "--root", root]) == 0
    assert not partial.dir.exists() and run.dir.exists()


def test_fault_count():
    """The suite's tally, for the record: faults tried, survived with the same numbers, clear errors."""
    groups = [RESULT_FAULTS, CONFIG_FAULTS, FILE_FAULTS, PAYLOAD_FAULTS, DISK_FAULTS,
              {"best_via_load_model": SURVIVED, "stale_temp": SURVIVED, "lock_timeout": CLEAR,
               "killed_epoch_energy": SURVIVED, "killed_first_batch_energy": SURVIVED,
               "foreign_best_via_load_model": SURVIVED, "foreign_best_and_checkpoint": CLEAR,
               "foreign_newest_checkpoint": SURVIVED, "foreign_every_checkpoint": SURVIVED}]
    outcomes = [o for g in groups for o in g.values()]
    print(f"faults tried {len(outcomes)}, survived {outcomes.count(SURVIVED)}, clear error {outcomes.count(CLEAR)}")
    assert set(outcomes) == {SURVIVED, CLEAR}
