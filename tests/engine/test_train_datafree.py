"""The training loop with a data-free method: synthetic batches only, synthesis cost counted, exact resume."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import torch

import greenkd_lib.engine.loops.base as loop_module
from greenkd_lib.config.profiles import get_profile
from greenkd_lib.engine.configs import method_config, teacher_config
from greenkd_lib.engine.inputs import Inputs
from greenkd_lib.engine.train import get_or_run
from greenkd_lib.methods import METHODS, register, StochasticTemperature
from greenkd_lib.methods.datafree import DataFreeMethod
from greenkd_lib.runs import RunStore

PROFILE = get_profile("smoke", epochs=3, max_batches=4, subset=120)
STUDENT, TEACHER = "wrn_16_1", "shufflenetv2"
FLOPS_PER_SYNTHESIS = 1_000_003  # what the noise method says one synthesis costs

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def noise_method():
    @register
    class NoiseTest(DataFreeMethod):
        """Gaussian images as 'synthesis': the loop's contract without a generator."""

        name = "noisetest"
        paper_name = "NOISE"
        defaults = {**DataFreeMethod.defaults, "ep_steps": 6, "kd_steps": 2, "synthesis_batch_size": 4}
        log_terms = ("noise",)

        def synthesize(self):
            x = torch.randn(self.params["synthesis_batch_size"], 3, 12, 12, generator=self.rng)
            logits = self.teacher_module(x)
            self.synthesis_flops += FLOPS_PER_SYNTHESIS
            self.log_step({"noise": x.abs().mean()}, torch.tensor(0.0), logits)
            self.keep_preview(x.clamp(0, 1))

        def sample(self, n):
            return torch.randn(n, 3, 12, 12, generator=self.rng)

    yield NoiseTest
    METHODS.pop("noisetest", None)  # register() adds it to the registry


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> RunStore:
    store = RunStore(tmp_path_factory.mktemp("runs"))
    get_or_run(teacher_config(PROFILE, TEACHER, "digits", 0), store=store, device="cpu", progress=False)
    return store


def _config():
    return method_config(PROFILE, "noisetest", STUDENT, "digits", 0,
                         teacher=teacher_config(PROFILE, TEACHER, "digits", 0),
                         temperature=StochasticTemperature(2, 20, seed=0).config())


class _Interrupted(Exception):
    pass


def _never_train(*args, **kwargs):
    raise AssertionError("a data-free run read the training split")


@pytest.mark.slow
def test_a_data_free_run_never_reads_a_training_image_counts_synthesis_and_resumes(noise_method, store, tmp_path,
                                                                                   monkeypatch):
    cfg = _config()
    monkeypatch.setattr(Inputs, "train", _never_train)
    result = get_or_run(cfg, store=store, device="cpu", progress=False)
    history = store.run(cfg.to_dict()).history()

    # 4 student steps per epoch (6 // 2 * 2 = 6, capped by max_batches), a synthesis every 2.
    steps = min(6, PROFILE.max_batches)
    assert result["flops"]["samples_seen"] == PROFILE.epochs * steps * cfg.batch_size
    syntheses = PROFILE.epochs * -(-steps // 2)
    flops = result["flops"]
    assert flops["synthesis"] == syntheses * FLOPS_PER_SYNTHESIS
    assert flops["total"] == (flops["train_per_sample"] * flops["samples_seen"] + flops["synthesis"]
                              + flops["student_forward"] * flops["eval_samples"])
    assert flops["eval_samples"] == PROFILE.epochs * 120  # the validation hold-out alone (subset 120)

    # The student's loss is the KD term alone; the synthesizer's columns are gen_*/syn_*, never loss_*.
    assert [c for c in history.columns if c.startswith("loss_")] == ["loss_kd"]
    np.testing.assert_allclose(history["loss_kd"], history["train_loss"], rtol=1e-6)
    assert {"gen_noise", "gen_loss", "syn_bn", "syn_teacher_conf", "syn_agree", "syn_steps",
            "synthesis_flops"} <= set(history.columns)
    assert list(history["syn_steps"]) == [2] * PROFILE.epochs
    assert list(history["synthesis_flops"]) == [2 * FLOPS_PER_SYNTHESIS * (e + 1) for e in range(PROFILE.epochs)]
    np.testing.assert_allclose(history["gen_noise"], history["gen_loss"])
    assert history["test_acc"].isna().all()  # no epoch reads the test split
    assert result["metrics"]["test_acc"] == result["metrics"]["best_test_acc"]  # no selection on test
    assert result["metrics"]["best_test_epoch"] == result["metrics"]["best_epoch"]
    assert 0 <= result["metrics"]["final_test_acc"] <= 100 and "once" in result["test_read"]

    # Interrupted in epoch 2, resumed: the same history, weights and method state.
    root = tmp_path / "interrupted"
    root.mkdir()
    teacher_run = store.run(cfg.teacher.to_dict())
    os.symlink(teacher_run.dir, root / teacher_run.hash)
    resumable = RunStore(root)
    real_epoch = loop_module.train_epoch

    def interrupt_in_epoch_2(cfg_, epoch, *args, **kwargs):
        out = real_epoch(cfg_, epoch, *args, **kwargs)
        if epoch == 1:
            raise _Interrupted
        return out

    monkeypatch.setattr(loop_module, "train_epoch", interrupt_in_epoch_2)
    with pytest.raises(_Interrupted):
        get_or_run(cfg, store=resumable, device="cpu", progress=False)
    monkeypatch.setattr(loop_module, "train_epoch", real_epoch)
    resumed = get_or_run(cfg, store=resumable, device="cpu", progress=False)
    columns = [c for c in history.columns if c not in ("wall_s", "energy_kwh", "co2_g")]
    pd.testing.assert_frame_equal(resumable.run(cfg.to_dict()).history()[columns], history[columns],
                                  check_exact=True)
    assert resumed["flops"] == result["flops"]
    clean, again = store.run(cfg.to_dict()).load_checkpoint(), resumable.run(cfg.to_dict()).load_checkpoint()
    for key in ("model", "method"):
        assert _same(clean[key], again[key]), key


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and set(a) == set(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(map(_same, a, b))
    return a == b


def test_a_data_free_method_is_told_the_training_splits_augmentation(tmp_path):
    """CIFAR's pool is cropped and flipped as its real images would be; digits' never (no augmentation)."""

    from tests.helpers import datagen

    from greenkd_lib import data
    from greenkd_lib.engine.loops.datafree import train_augment

    datagen.write_cifar10(tmp_path)
    cifar = train_augment(data.load("cifar10", tmp_path))
    assert cifar is not None and cifar.flip and cifar.padding == 4
    assert train_augment(data.load("digits", image_size=12)) is None


def test_a_data_free_run_reads_the_test_split_only_after_its_last_epoch(noise_method, store, tmp_path, monkeypatch):
    """Selection (the best epoch; a tuned tau across runs) sees the validation hold-out; test is read
    once the last epoch is checkpointed, for the best-validation and the final weights."""
    cfg = _config()
    fresh = RunStore(tmp_path / "runs")
    get_or_run(cfg.teacher, store=fresh, device="cpu", progress=False)
    reads, real_eval = [], Inputs.eval

    def spying(self, split, batch_size):
        reads.append((split, fresh.run(cfg.to_dict()).epochs_done()))
        return real_eval(self, split, batch_size)

    monkeypatch.setattr(Inputs, "eval", spying)
    result = get_or_run(cfg, store=fresh, device="cpu", progress=False)
    tests = [done for split, done in reads if split == "test"]
    assert [split for split, _ in reads if split != "test"] == ["val"] * PROFILE.epochs
    assert tests == [PROFILE.epochs, PROFILE.epochs], f"the test split was read before the last epoch: {reads}"
    history = fresh.run(cfg.to_dict()).history()
    assert result["metrics"]["best_val_acc"] == history["val_acc"].max()
