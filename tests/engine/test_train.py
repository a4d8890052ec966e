"""End-to-end training through the run store: teacher, KD students, resume after SIGKILL."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from greenkd_lib.config.profiles import get_profile
from greenkd_lib.engine.configs import student_config, teacher_config
from greenkd_lib.engine.epochs import TrainingDivergedError
from greenkd_lib.engine.train import get_or_run
from greenkd_lib.methods import FixedTemperature, StochasticTemperature
from greenkd_lib.runs import RunStore

pytestmark = pytest.mark.slow

SMOKE = get_profile("smoke")
HISTORY_COLUMNS = {"epoch", "train_loss", "val_acc", "test_acc", "lr", "tau_mean", "tau_min", "tau_max",
                   "wall_s", "energy_kwh", "co2_g", "flops"}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> RunStore:
    return RunStore(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def teacher(store):
    cfg = teacher_config(SMOKE, "resnet18", "digits", seed=0)
    return cfg, get_or_run(cfg, store=store, device="cpu", progress=False)


def _check_result(result: dict, epochs: int) -> None:
    metrics = result["metrics"]
    for key in ("test_acc", "best_val_acc", "best_test_acc", "final_test_acc"):
        assert 0.0 <= metrics[key] <= 100.0, key
    assert metrics["best_test_acc"] >= metrics["test_acc"]  # best over epochs >= at best-val epoch
    assert 1 <= metrics["best_epoch"] <= epochs
    fp = result["footprint"]
    assert fp["mode"] in ("measured", "estimate", "unavailable")
    if fp["mode"] != "unavailable":
        assert fp["energy_kwh"] > 0 and math.isfinite(fp["energy_kwh"])
        assert fp["co2_g"] == pytest.approx(fp["energy_kwh"] * fp["carbon_intensity"], rel=1e-6)
    assert fp["duration_s"] > 0
    assert result["flops"]["total"] > 0
    assert result["flops"]["gflops_millions"] == pytest.approx(result["flops"]["total"] / 1e15)
    assert result["epochs"] == epochs
    assert result["versions"]["torch"]


def test_teacher_history_and_result(store, teacher):
    cfg, result = teacher
    _check_result(result, SMOKE.epochs)
    run = store.run(cfg.to_dict())
    history = run.history()
    assert HISTORY_COLUMNS <= set(history.columns)
    assert list(history["epoch"]) == list(range(1, SMOKE.epochs + 1))
    # cumulative columns never go down
    for col in ("wall_s", "flops", "energy_kwh"):
        assert history[col].is_monotonic_increasing, col
    saved = json.loads((run.dir / "result.json").read_text())
    assert saved["metrics"] == result["metrics"] and saved["config"] == cfg.to_dict()
    assert result["flops"]["teacher_forward"] == 0


def test_students_with_both_policies(store, teacher):
    teacher_cfg, _ = teacher
    fixed = student_config(SMOKE, "mobilenetv2", teacher_cfg, FixedTemperature(4).config(), seed=0)
    stochastic = student_config(SMOKE, "shufflenetv2", teacher_cfg,
                                StochasticTemperature(2, 20, seed=0).config(), seed=0)
    for cfg in (fixed, stochastic):
        result = get_or_run(cfg, store=store, device="cpu", progress=False)
        _check_result(result, SMOKE.epochs)
        assert result["flops"]["teacher_forward"] > 0
    h_fixed = store.run(fixed.to_dict()).history()
    assert (h_fixed["tau_min"] == 4).all() and (h_fixed["tau_max"] == 4).all()
    h_stoch = store.run(stochastic.to_dict()).history()
    assert ((h_stoch["tau_min"] >= 2) & (h_stoch["tau_max"] <= 20)).all()
    assert (h_stoch["tau_distinct"] > 1).any()  # a fresh draw per batch


@pytest.mark.parametrize("reduction", ["mean", "batchmean"])
def test_the_configs_reduction_reaches_the_kd_loss(store, teacher, monkeypatch, reduction):
    import greenkd_lib.methods.hinton as hinton

    seen = []
    real = hinton.kd_terms

    def spy(*args, **kwargs):
        seen.append(kwargs.get("reduction"))
        return real(*args, **kwargs)

    monkeypatch.setattr(hinton, "kd_terms", spy)
    cfg = student_config(SMOKE.replace(kd_reduction=reduction), "mobilenetv2", teacher[0],
                         FixedTemperature(3).config(), seed=0)
    assert cfg.kd_reduction == reduction
    get_or_run(cfg, store=store, device="cpu", progress=False)
    assert seen and set(seen) == {reduction}


def test_second_call_reads_the_store(store, teacher):
    cfg, first = teacher
    start = time.perf_counter()
    again = get_or_run(cfg, store=store, device="cpu", progress=False)
    assert time.perf_counter() - start < 1.0
    assert again["metrics"] == first["metrics"]


def test_diverging_loss_names_epoch_and_batch(tmp_path):
    cfg = teacher_config(get_profile("smoke", lr=1e30, warmup_epochs=0), "shufflenetv2", "digits", seed=0)
    with pytest.raises(TrainingDivergedError, match=r"epoch 1, batch \d+"):
        get_or_run(cfg, store=RunStore(tmp_path), device="cpu", progress=False)


CHILD = textwrap.dedent("""
    import json, sys, torch
    torch.set_num_threads(1)
    from greenkd_lib.config.run import RunConfig
    from greenkd_lib.runs import RunStore
    from greenkd_lib.engine.train import get_or_run
    cfg = RunConfig.from_dict(json.loads(sys.argv[2]))
    result = get_or_run(cfg, store=RunStore(sys.argv[1]), device="cpu", progress=False)
    print(json.dumps(result["metrics"]))
""")


def _child(store_root: Path, cfg_json: str) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-c", CHILD, str(store_root), cfg_json], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigkill_then_resume_matches_uninterrupted(tmp_path, store, teacher):
    teacher_cfg, _ = teacher
    profile = get_profile("smoke", epochs=5, max_batches=6, subset=200)
    cfg = student_config(profile, "mobilenetv2", teacher_cfg, StochasticTemperature(2, 20, seed=3).config(), seed=3)
    cfg_json = json.dumps(cfg.to_dict())
    # Both stores hold the same finished teacher; the student is trained in separate processes.
    killed_root, clean_root = tmp_path / "killed", tmp_path / "clean"
    for root in (killed_root, clean_root):
        root.mkdir()
        os.symlink(store.run(teacher_cfg.to_dict()).dir, root / store.run(teacher_cfg.to_dict()).hash)

    proc = _child(killed_root, cfg_json)
    run_dir = killed_root / RunStore(killed_root).run(cfg.to_dict()).hash
    deadline = time.time() + 120
    # history.csv is written right after the first epoch's checkpoint
    while time.time() < deadline and proc.poll() is None and not (run_dir / "history.csv").exists():
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed: make it longer"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_run = RunStore(killed_root).run(cfg.to_dict())
    assert killed_run.state == "partial"
    done_before = len(killed_run.history())
    assert 1 <= done_before < profile.epochs

    resumed = _child(killed_root, cfg_json)
    clean = _child(clean_root, cfg_json)
    out_resumed, err_r = resumed.communicate(timeout=300)
    out_clean, err_c = clean.communicate(timeout=300)
    assert resumed.returncode == 0, err_r
    assert clean.returncode == 0, err_c
    assert json.loads(out_resumed.splitlines()[-1])["test_acc"] == json.loads(out_clean.splitlines()[-1])["test_acc"]
    h_resumed = RunStore(killed_root).run(cfg.to_dict()).history()
    h_clean = RunStore(clean_root).run(cfg.to_dict()).history()
    cols = ["epoch", "train_loss", "val_acc", "test_acc", "lr", "tau_mean", "tau_min", "tau_max", "flops"]
    pd.testing.assert_frame_equal(h_resumed[cols], h_clean[cols])
    # the footprint of the resumed run is the sum of its parts: it kept the first part's energy
    assert h_resumed["energy_kwh"].iloc[done_before - 1] > 0 or h_resumed["energy_kwh"].isna().all()


def test_a_runs_numbers_do_not_depend_on_what_its_process_trained_before(store, teacher):
    """Workers train many runs in one process (frozen teacher cached): the order must not matter."""
    import torch

    from greenkd_lib.engine.loops import classification

    teacher_cfg, _ = teacher
    a = student_config(SMOKE, "mobilenetv2", teacher_cfg, FixedTemperature(2).config(), seed=1)
    b = student_config(SMOKE, "mobilenetv2", teacher_cfg, FixedTemperature(8).config(), seed=1)
    classification._FROZEN.clear()
    first = get_or_run(b, store=store, device="cpu", progress=False)  # b with a cold cache
    weights = store.run(b.to_dict()).load_weights("final")
    store.remove(store.run(b.to_dict()).hash)
    get_or_run(a, store=store, device="cpu", progress=False)  # a first: the teacher is now cached
    again = get_or_run(b, store=store, device="cpu", progress=False)
    timing = {"images_per_s"}
    assert {k: v for k, v in again["metrics"].items() if k not in timing} == \
        {k: v for k, v in first["metrics"].items() if k not in timing}
    after = store.run(b.to_dict()).load_weights("final")
    assert all(torch.equal(weights[k], after[k]) for k in weights)
