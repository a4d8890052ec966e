"""A tau grid with a shared teacher (engine/shared_grid.py, engine/loops/lockstep.py): the naive grid's
students bit for bit, one teacher forward per batch, costs measured once and shared, resume after a kill."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pandas as pd
import pytest
import torch

import greenkd_lib.engine.loops.lockstep as lockstep
from greenkd_lib.config.profiles import get_profile
from greenkd_lib.config.run import RunConfig
from greenkd_lib.engine.configs import student_config, teacher_config
from greenkd_lib.engine.shared_grid import get_or_run_grid, shared_member, SharedGridError, siblings
from greenkd_lib.engine.train import get_or_run, load_model, train
from greenkd_lib.methods import FixedTemperature
from greenkd_lib.runs import RunStore

SMOKE = get_profile("smoke")
TAUS = (2.0, 8.0, 16.0)
# What the run's numbers are: every history column but the costs (wall time, energy, CO2, FLOPs).
NUMBERS = ["epoch", "train_loss", "loss_ce", "loss_kd", "val_acc", "test_acc", "lr", "tau_mean", "tau_min", "tau_max",
           "tau_distinct"]
METRICS = ["test_acc", "best_val_acc", "best_epoch", "best_test_acc", "best_test_epoch", "final_test_acc",
           "final_val_acc"]


@pytest.fixture(scope="module")
def teacher(store, one_thread):
    cfg = teacher_config(SMOKE, "resnet18", "digits", seed=0)
    get_or_run(cfg, store=store, device="cpu", progress=False)
    return cfg


def _naive(teacher: RunConfig, tau: float) -> RunConfig:
    return student_config(SMOKE, "mobilenetv2", teacher, FixedTemperature(tau).config(), seed=0)


@pytest.fixture(scope="module")
def naive(store, teacher):
    """The naive grid: one complete training per tau."""
    return {t: get_or_run(_naive(teacher, t), store=store, device="cpu", progress=False) for t in TAUS}


@pytest.fixture(scope="module")
def shared(store, teacher):
    """The same grid trained together: asking for one member trains all three."""
    members = [shared_member(_naive(teacher, t), TAUS) for t in TAUS]
    calls = []
    real = lockstep.train_lockstep

    def counted(locked, **kwargs):
        calls.append(len(locked))
        return real(locked, **kwargs)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(lockstep, "train_lockstep", counted)
        first = get_or_run(members[1], store=store, device="cpu", progress=False)
    assert calls == [3], "one request trains the whole grid, once"
    results = {t: get_or_run(cfg, store=store, device="cpu", progress=False) for t, cfg in zip(TAUS, members)}
    assert results[TAUS[1]] == first
    return members, results


def _history(store: RunStore, cfg: RunConfig) -> pd.DataFrame:
    return store.run(cfg.to_dict()).history()


def _same_numbers(store: RunStore, a: RunConfig, ra: dict, b: RunConfig, rb: dict) -> None:
    for key in METRICS:
        assert ra["metrics"][key] == rb["metrics"][key], key  # bit for bit, not approximately
    ha, hb = _history(store, a), _history(store, b)
    pd.testing.assert_frame_equal(ha[NUMBERS], hb[NUMBERS], check_exact=True)
    for weights in ("best", "final"):
        wa, wb = load_model(a, store, weights).state_dict(), load_model(b, store, weights).state_dict()
        assert all(torch.equal(wa[k], wb[k]) for k in wa), weights


def test_the_shared_grids_students_are_the_naive_grids_bit_for_bit(store, naive, shared):
    members, results = shared
    for tau, cfg in zip(TAUS, members):
        _same_numbers(store, _naive(cfg.teacher, tau), naive[tau], cfg, results[tau])
    # ... so the tuned tau (best validation) is the same choice.
    pick = lambda rs: max(TAUS, key=lambda t: (rs[t]["metrics"]["best_val_acc"], -t))  # noqa: E731
    assert pick(naive) == pick(results)


def test_the_teacher_runs_once_per_batch_and_its_flops_are_split_evenly(store, naive, shared):
    members, results = shared
    n = len(TAUS)
    for tau in TAUS:
        alone, part = naive[tau]["flops"], results[tau]["flops"]
        grid = results[tau]["shared_grid"]
        assert grid["taus"] == list(TAUS) and grid["trained_together"] == n == grid["teacher_forward_split"]
        steps = SMOKE.epochs * SMOKE.max_batches
        assert grid["teacher_forwards"] == steps, "one teacher forward per batch, for all the students"
        assert part["samples_seen"] == alone["samples_seen"] and part["teacher_forward"] == alone["teacher_forward"]
        assert grid["train_per_sample_alone"] == alone["train_per_sample"]
        assert part["train_per_sample"] == round(alone["train_per_sample"] - alone["teacher_forward"] * (n - 1) / n)
        assert part["total"] == part["train_per_sample"] * part["samples_seen"] + \
            part["student_forward"] * part["eval_samples"]
    shared_total = sum(r["flops"]["total"] for r in results.values())
    naive_total = sum(r["flops"]["total"] for r in naive.values())
    teacher_saved = (n - 1) * naive[TAUS[0]]["flops"]["teacher_forward"] * naive[TAUS[0]]["flops"]["samples_seen"]
    assert shared_total == pytest.approx(naive_total - teacher_saved, abs=n * naive[TAUS[0]]["flops"]["samples_seen"])
    assert all(r["shared_grid"]["grid_flops"] == shared_total for r in results.values())


def test_the_grids_energy_is_measured_once_and_shared_by_flops(store, shared):
    members, results = shared
    shares = [r["shared_grid"]["share"] for r in results.values()]
    assert sum(shares) == pytest.approx(1.0) and all(s == pytest.approx(1 / len(TAUS)) for s in shares)
    grid = results[TAUS[0]]["shared_grid"]["grid_footprint"]
    assert sum(r["footprint"]["duration_s"] for r in results.values()) == pytest.approx(grid["duration_s"])
    if grid["energy_kwh"] is not None:
        assert grid["energy_kwh"] > 0
        for r in results.values():
            assert r["footprint"]["energy_kwh"] == pytest.approx(grid["energy_kwh"] * r["shared_grid"]["share"])
    # Every member is a run of its own, with its row in the store's emissions.csv.
    emissions = pd.read_csv(store.root / "emissions.csv")
    assert {r["hash"] for r in results.values()} <= set(emissions["run_id"])


def test_a_member_is_keyed_apart_from_the_naive_run_and_old_hashes_do_not_change(teacher):
    cfg = _naive(teacher, 2.0)
    assert "shared_grid" not in cfg.to_dict()  # every stored run keeps its hash
    member = shared_member(cfg, [16, 2, 8])
    assert member.shared_grid == TAUS and member.to_dict()["shared_grid"] == list(TAUS)
    assert RunConfig.from_dict(json.loads(json.dumps(member.to_dict()))) == member
    assert [c.temperature["tau"] for c in siblings(member)] == list(TAUS)
    with pytest.raises(ValueError, match="fixed tau of that grid"):
        shared_member(cfg, [4.0, 8.0])
    with pytest.raises(ValueError, match="must not repeat"):
        shared_member(cfg, [2.0, 2, 8.0])
    with pytest.raises(ValueError, match="needs a teacher"):
        dataclasses.replace(teacher, shared_grid=(1.0,), temperature=FixedTemperature(1).config())
    with pytest.raises(ValueError, match="list of taus"):
        shared_member(cfg, "2, 8")
    with pytest.raises(ValueError, match="trains with its grid"):
        train(member, None, store=None)


def test_a_killed_grid_resumes_to_the_same_numbers(store, teacher, shared, tmp_path):
    """Killed at epoch 2's end after one student's checkpoint (so the students stand at different epochs):
    the next call resumes each from its own checkpoint, and the numbers are the uninterrupted grid's."""
    members, results = shared
    resumable = RunStore(tmp_path / "runs")
    source = store.run(teacher.to_dict())
    shutil.copytree(source.dir, resumable.root / source.hash)
    real_end = lockstep.Loop.end_epoch
    ended: list[tuple[float, int]] = []

    class Killed(BaseException):  # not an Exception: like a SIGKILL, nothing catches it
        pass

    def end_then_die(self, p, epochs, epoch, *args):
        row = real_end(self, p, epochs, epoch, *args)
        ended.append((self.cfg.temperature["tau"], epoch))
        if epoch == 1:
            raise Killed
        return row

    with pytest.MonkeyPatch.context() as m:
        m.setattr(lockstep.Loop, "end_epoch", end_then_die)
        with pytest.raises(Killed):
            get_or_run(members[0], store=resumable, device="cpu", progress=False)
    assert sorted(resumable.run(c.to_dict()).epochs_done() for c in members) == [1, 1, 2]
    assert all(resumable.run(c.to_dict()).result() is None for c in members)

    ended.clear()
    with pytest.MonkeyPatch.context() as m:
        m.setattr(lockstep.Loop, "end_epoch", lambda self, p, epochs, epoch, *a: (
            ended.append((self.cfg.temperature["tau"], epoch)), real_end(self, p, epochs, epoch, *a))[1])
        again = {t: get_or_run(c, store=resumable, device="cpu", progress=False) for t, c in zip(TAUS, members)}
    assert len(ended) == 2 and {e for _, e in ended} == {1}, "only the two students behind trained epoch 2 again"
    for tau, cfg in zip(TAUS, members):
        for key in METRICS:
            assert again[tau]["metrics"][key] == results[tau]["metrics"][key], key
        pd.testing.assert_frame_equal(_history(resumable, cfg)[NUMBERS], _history(store, cfg)[NUMBERS],
                                      check_exact=True)


def test_a_diverged_student_fails_alone(store, teacher):
    """A tau so large that one student's loss is not finite fails that member alone; the other is stored."""
    taus = (2.0, 1e300)
    members = [shared_member(_naive(teacher, t), taus) for t in taus]
    with pytest.raises(SharedGridError, match="not finite") as err:
        get_or_run_grid(members[0], store=store, device="cpu", progress=False)
    assert len(err.value.errors) == 1
    assert store.run(members[0].to_dict()).result() is not None
    assert store.run(members[1].to_dict()).result() is None
