"""Distillation methods as plug-ins: the contract every registered method keeps, bad input, the registry."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

import greenkd_lib.engine.loops.base as loop_module
from greenkd_lib import models
from greenkd_lib.config.profiles import get_profile
from greenkd_lib.config.run import RunConfig
from greenkd_lib.engine.configs import check_config, method_config, teacher_config
from greenkd_lib.engine.train import get_or_run
from greenkd_lib.methods import (DETECTION_METHODS, DistillationMethod, FixedTemperature, get_method, kd_loss,
                                 method_names, METHODS, register, Setup, StochasticTemperature, UnknownMethodError)
from greenkd_lib.methods.kd import kd_terms, sum_terms
from greenkd_lib.runs import RunStore
from tests.helpers.contract import equal, is_equal, saved_and_loaded

PROFILE = get_profile("smoke", epochs=3, max_batches=4, subset=120)
STUDENT, TEACHER = "wrn_16_1", "shufflenetv2"  # small, and of different feature widths
# A small peer keeps the DML runs short (the default peer is the paper's ResNet18). The data-free
# synthesizers (dafl, zskt, dfq) run at the smoke profile's sizes (tiny generator, 8 images, 2 steps).
FAST_PARAMS = {"dml": {"peer": "shufflenetv2"}}
# Everything a resumed run must repeat exactly (the loss_* columns are added per method).
COMPARED = ["epoch", "train_loss", "val_acc", "test_acc", "lr", "tau_mean", "tau_min", "tau_max", "tau_distinct",
            "flops"]
IMAGE_SIZE, NUM_CLASSES = 12, 10

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _config(name: str, profile=PROFILE, params: dict | None = None, seed: int = 0) -> RunConfig:
    spec = get_method(name)
    teacher = teacher_config(profile, TEACHER, "digits", seed=0) if spec.needs_teacher else None
    temperature = StochasticTemperature(2, 20, seed=0).config() if spec.uses_temperature else None
    return method_config(profile, name, STUDENT, "digits", seed, teacher=teacher, temperature=temperature,
                         params={**FAST_PARAMS.get(name, {}), **(params or {})})



@pytest.fixture(scope="module")
def teacher(store):
    cfg = teacher_config(PROFILE, TEACHER, "digits", seed=0)
    return cfg, get_or_run(cfg, store=store, device="cpu", progress=False)


def _store_beside(root, store: RunStore, teacher_cfg) -> RunStore:
    """A new store at ``root`` that holds ``store``'s finished teacher (a symlink), nothing else."""
    root.mkdir()
    run = store.run(teacher_cfg.to_dict())
    os.symlink(run.dir, root / run.hash)
    return RunStore(root)


# -- the contract of every registered method ---------------------------------------------------------

class _Interrupted(Exception):
    pass


@pytest.mark.slow
@pytest.mark.parametrize("name", method_names())
def test_every_method_trains_logs_its_terms_and_resumes_exactly(name, store, teacher, tmp_path, monkeypatch):
    spec = get_method(name)
    cfg = _config(name)
    result = get_or_run(cfg, store=store, device="cpu", progress=False)
    assert result["method"] == name and result["epochs"] == PROFILE.epochs

    # One row per epoch, every named term present and finite, the terms adding up to the loss.
    history = store.run(cfg.to_dict()).history()
    assert list(history["epoch"]) == list(range(1, PROFILE.epochs + 1))
    terms = [c for c in history.columns if c.startswith("loss_")]
    assert terms, f"{name} logs no loss_<term> column"
    assert history[terms].notna().all().all() and np.isfinite(history[terms].to_numpy()).all()
    assert np.isfinite(history["train_loss"]).all()
    np.testing.assert_allclose(history[terms].sum(axis=1), history["train_loss"], rtol=1e-5, atol=1e-6)
    if spec.uses_temperature:
        assert ((history["tau_min"] >= 2) & (history["tau_max"] <= 20)).all()
    else:
        assert history["tau_mean"].isna().all() and (history["tau_distinct"] == 0).all()

    # Cost: at least a student forward and backward per training sample, plus the teacher's forward.
    flops = result["flops"]
    assert flops["total"] > 0
    assert flops["student_forward"] > 0
    assert flops["train_per_sample"] >= 3 * flops["student_forward"]
    if spec.needs_teacher:
        assert flops["teacher_forward"] > 0
        assert flops["train_per_sample"] >= 3 * flops["student_forward"] + flops["teacher_forward"]
    else:
        assert flops["teacher_forward"] == 0
    # A data-free method adds its synthesis (generator and teacher passes); the others synthesise nothing.
    assert ("synthesis" in flops) == spec.data_free and flops.get("synthesis", 0) >= 0
    assert flops["total"] == (flops["train_per_sample"] * flops["samples_seen"] + flops.get("synthesis", 0)
                              + flops["student_forward"] * flops["eval_samples"])
    if spec.data_free:
        assert flops["synthesis"] > 0 and (history["syn_steps"] > 0).all()
        assert not [c for c in history.columns if c.startswith("loss_") and c != "loss_kd"]

    # Interrupted after epoch 1 (epoch 2 trained, its checkpoint never written), then resumed.
    resumable = _store_beside(tmp_path / "interrupted", store, teacher[0])
    real_epoch = loop_module.train_epoch
    epochs_run: list[int] = []

    def recorded_epoch(cfg_, epoch, *args, **kwargs):
        epochs_run.append(epoch)
        return real_epoch(cfg_, epoch, *args, **kwargs)

    def interrupt_in_epoch_2(cfg_, epoch, *args, **kwargs):
        out = recorded_epoch(cfg_, epoch, *args, **kwargs)
        if epoch == 1:
            raise _Interrupted
        return out

    with monkeypatch.context() as m:
        m.setattr(loop_module, "train_epoch", interrupt_in_epoch_2)
        with pytest.raises(_Interrupted):
            get_or_run(cfg, store=resumable, device="cpu", progress=False)
        assert epochs_run == [0, 1]
        partial = resumable.run(cfg.to_dict())
        assert partial.state == "partial" and partial.result() is None and partial.epochs_done() == 1

        epochs_run.clear()
        m.setattr(loop_module, "train_epoch", recorded_epoch)
        resumed = get_or_run(cfg, store=resumable, device="cpu", progress=False)
    assert epochs_run == [1, 2], "the second call did not resume from the epoch-1 checkpoint"

    # ... and a data-free method's generator terms and synthesis statistics.
    columns = COMPARED[:2] + terms + COMPARED[2:] + [c for c in history.columns if c.startswith(("gen_", "syn_"))]
    h_resumed = resumable.run(cfg.to_dict()).history()
    assert set(h_resumed.columns) == set(history.columns)
    pd.testing.assert_frame_equal(h_resumed[columns], history[columns], check_exact=True)
    timing = {"images_per_s"}
    assert ({k: v for k, v in resumed["metrics"].items() if k not in timing}
            == {k: v for k, v in result["metrics"].items() if k not in timing})
    assert resumed["flops"] == result["flops"]
    for weights in ("final", "best"):
        equal(resumable.run(cfg.to_dict()).load_weights(weights), store.run(cfg.to_dict()).load_weights(weights),
              f"{weights} weights")
    # The method's own state (policy, heads, memory bank, negative-sampling RNG, peer and its optimizer)
    # ends the same too.
    last_resumed = resumable.run(cfg.to_dict()).load_checkpoint()
    last_clean = store.run(cfg.to_dict()).load_checkpoint()
    for key in ("method", "model", "optimizer", "scheduler"):
        equal(last_resumed[key], last_clean[key], key)


# -- a method built by hand, as the loop builds it --------------------------------------------------

def _build(cfg: RunConfig, seed: int, train_size: int = 40, steps_per_epoch: int = 4):
    """The method of ``cfg`` with a fresh student (and teacher), its optimizer and scheduler."""
    spec = get_method(cfg.method)
    teacher = teacher_dim = None
    if spec.needs_teacher:  # the same pre-trained teacher for every build, as the loop loads it from the store
        torch.manual_seed(1234)
        teacher = models.build(cfg.teacher.model, NUM_CLASSES, IMAGE_SIZE).eval().requires_grad_(False)
        if spec.teacher_features:
            teacher_dim = models.feature_dim(teacher)
            teacher = models.WithFeatures(teacher)
    torch.manual_seed(seed)
    student = models.build(cfg.model, NUM_CLASSES, IMAGE_SIZE)
    make_optimizer = loop_module.optimizer_factory(cfg, steps_per_epoch)
    method = spec(cfg, Setup(student=student, teacher=teacher, teacher_feature_dim=teacher_dim,
                             num_classes=NUM_CLASSES, image_size=IMAGE_SIZE,
                             train_size=train_size, device=torch.device("cpu"), make_optimizer=make_optimizer,
                             train_labels=torch.arange(train_size) % NUM_CLASSES))
    optimizer, scheduler = make_optimizer([*student.parameters(), *method.trainable()])
    return method, optimizer, scheduler


def _batch(seed: int, size: int = 8, train_size: int = 40):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(size, 3, IMAGE_SIZE, IMAGE_SIZE, generator=g)
    y = torch.randint(0, NUM_CLASSES, (size,), generator=g)
    index = torch.randperm(train_size, generator=g)[:size]
    return x, y, index


def _step(method: DistillationMethod, optimizer, scheduler, seed: int) -> dict[str, torch.Tensor]:
    x, y, index = _batch(seed)
    torch.manual_seed(100 + seed)  # dropout
    terms = {k: v.detach() for k, v in method.train_step(x, y, index if method.needs_indices else None,
                                                         optimizer).items()}
    scheduler.step()
    return terms


@pytest.mark.parametrize("name", method_names())
def test_method_state_round_trips_through_torch_save(name):
    cfg = _config(name)
    trained, optimizer, scheduler = _build(cfg, seed=0)
    trained.new_epoch()
    for seed in range(3):
        _step(trained, optimizer, scheduler, seed)
    state = trained.state_dict()
    loaded = saved_and_loaded(state)

    fresh, fresh_optimizer, fresh_scheduler = _build(cfg, seed=1)
    if any(v is not None for v in state.values()):  # the state says something a fresh method does not know
        assert not is_equal(fresh.state_dict(), state)
    fresh.load_state_dict(loaded)
    equal(fresh.state_dict(), state, f"{name} state")

    # What the loop restores beside it (student, optimizer, scheduler) plus this state is enough to
    # continue exactly: the next steps give the same terms and the same states.
    # (Through torch.save: Optimizer.load_state_dict would share the momentum buffers of a live one.)
    fresh.student.load_state_dict(saved_and_loaded(trained.student.state_dict()))
    fresh_optimizer.load_state_dict(saved_and_loaded(optimizer.state_dict()))
    fresh_scheduler.load_state_dict(saved_and_loaded(scheduler.state_dict()))
    for seed in (10, 11):
        equal(_step(fresh, fresh_optimizer, fresh_scheduler, seed), _step(trained, optimizer, scheduler, seed),
              f"{name} terms after loading")
    equal(fresh.state_dict(), trained.state_dict(), f"{name} state after more steps")
    equal(fresh.student.state_dict(), trained.student.state_dict(), f"{name} student after more steps")


# -- bad input -----------------------------------------------------------------------------------------

def test_unknown_method_lists_the_registered_ones():
    with pytest.raises(UnknownMethodError) as err:
        get_method("nope")
    assert isinstance(err.value, ValueError)
    assert "'nope'" in str(err.value) and "registered: " + ", ".join(method_names()) in str(err.value)
    with pytest.raises(UnknownMethodError, match="did you mean 'cmc'"):
        get_method("cmcx")  # not "cmd": that is as close to "cmi"
    with pytest.raises(UnknownMethodError):
        get_method(None)


def test_paper_spellings_find_the_method():
    kd = get_method("kd")
    assert get_method("HKD") is kd and get_method(" hkd ") is kd
    assert get_method("CMC") is get_method("cmc") and get_method("DML") is get_method("dml")
    assert kd.name == "kd" and kd.paper_name == "HKD"
    assert set(method_names()) >= {"ce", "kd", "cmc", "dml"}


def test_a_parameter_the_method_does_not_take_names_those_it_takes():
    teacher_cfg = teacher_config(PROFILE, TEACHER, "digits", seed=0)
    with pytest.raises(ValueError, match="'bogus'") as err:
        method_config(PROFILE, "cmc", STUDENT, "digits", 0, teacher=teacher_cfg,
                      temperature=FixedTemperature(4).config(), params={"bogus": 1})
    for key in get_method("cmc").defaults:
        assert key in str(err.value)
    with pytest.raises(ValueError, match="does not take 'peer'.*no parameters"):
        method_config(PROFILE, "kd", STUDENT, "digits", 0, teacher=teacher_cfg,
                      temperature=FixedTemperature(4).config(), params={"peer": "resnet18"})


@pytest.mark.parametrize("params, match", [
    ({"nce_k": 0}, "nce_k"), ({"nce_k": 2.5}, "nce_k"), ({"feat_dim": True}, "feat_dim"),
    ({"nce_t": 0}, "nce_t"), ({"nce_m": 1.0}, "nce_m"), ({"nce_mode": "other"}, "nce_mode"),
])
def test_cmc_rejects_parameters_that_cannot_work(params, match):
    with pytest.raises(ValueError, match=match):
        _config("cmc", params=params)


def test_cmc_and_dml_compute_their_kl_as_their_references_while_hkd_keeps_the_profiles():
    # The quick and paper profiles carry the authors' 'mean' (their HKD code); CMC follows
    # RepDistiller's DistillKL and DML Zhang et al.: 'batchmean', recorded in the run config.
    for name in ("quick", "paper"):
        profile = get_profile(name)
        assert profile.kd_reduction == "mean"
        teacher_cfg = teacher_config(profile, TEACHER, "digits", seed=0)
        tau = FixedTemperature(4).config()
        assert method_config(profile, "kd", STUDENT, "digits", 0, teacher=teacher_cfg,
                             temperature=tau).kd_reduction == "mean"
        assert method_config(profile, "cmc", STUDENT, "digits", 0, teacher=teacher_cfg,
                             temperature=tau).kd_reduction == "batchmean"
        assert method_config(profile, "dml", STUDENT, "digits", 0, temperature=tau).kd_reduction == "batchmean"
    with pytest.raises(ValueError, match="reduction 'batchmean'.*says 'mean'"):
        check_config(dataclasses.replace(_config("cmc"), kd_reduction="mean"))


def test_cmc_uses_exact_negatives_by_default_and_detection_refuses_them():
    assert _config("cmc").method_params["nce_mode"] == "exact"  # RepDistiller's default
    method, _, _ = _build(_config("cmc"), seed=0)
    assert method.negative_labels is not None
    relaxed, _, _ = _build(_config("cmc", params={"nce_mode": "relax"}), seed=0)
    assert relaxed.negative_labels is None
    for profile in ("smoke", "quick", "paper"):  # an image holds several classes: other images
        assert get_profile(profile).detection["method_params"]["cmc"]["nce_mode"] == "relax"


def test_dml_with_an_unknown_peer_fails_with_the_model_registrys_error():
    with pytest.raises(models.UnknownModelError, match="notamodel") as err:
        _config("dml", params={"peer": "notamodel"})
    assert "resnet18" in str(err.value)  # it lists the known architectures
    assert _config("dml", params={"peer": "ShuffleNetV2"}).method_params["peer"] == "shufflenetv2"
    with pytest.raises(ValueError, match="kl_weight"):
        _config("dml", params={"kl_weight": -1})


@pytest.mark.slow
def test_cmc_with_more_negatives_than_samples_says_to_lower_nce_k(store, teacher):
    cfg = _config("cmc", params={"nce_k": 100000})
    train_size = 120  # the profile's subset
    with pytest.raises(ValueError, match="nce_k") as err:
        get_or_run(cfg, store=store, device="cpu", progress=False)
    assert str(train_size - 1) in str(err.value)
    run = store.run(cfg.to_dict())
    assert run.result() is None and run.epochs_done() == 0


def test_cmc_needs_sample_indices():
    method, _, _ = _build(_config("cmc"), seed=0)
    method.new_epoch()
    x, y, _ = _batch(0)
    with pytest.raises(ValueError, match="index"):
        method.loss_terms(x, y, None)


def test_run_config_wants_the_registered_spelling():
    cfg = _config("kd")
    with pytest.raises(ValueError, match="registered name 'kd'"):
        check_config(dataclasses.replace(cfg, method="HKD"))
    with pytest.raises(UnknownMethodError):
        check_config(dataclasses.replace(cfg, method="nope"))
    # method_config accepts the paper's spelling and stores the registered one
    assert method_config(PROFILE, "HKD", STUDENT, "digits", 0, teacher=cfg.teacher,
                         temperature=cfg.temperature) == cfg


@pytest.mark.parametrize("method, fix, match", [
    ("kd", dict(teacher=None), "needs a teacher"),
    ("dml", dict(teacher=teacher_config(PROFILE, TEACHER, "digits", seed=0)), "drop teacher="),
    ("ce", dict(temperature=FixedTemperature(4).config()), "drop temperature="),
    ("dml", dict(temperature=None), "needs a temperature"),
    ("cmc", dict(method_params={"nce_k": 16}), "must be complete"),  # the defaults not filled in
    ("kd", dict(method_params={"weight": 1}), "does not take 'weight'"),
])
def test_run_config_checks_what_the_method_needs(method, fix, match):
    cfg = _config(method)
    with pytest.raises(ValueError, match=match):
        check_config(dataclasses.replace(cfg, **fix))


def test_get_or_run_checks_the_config_before_the_store_makes_its_run(tmp_path):
    bad = dataclasses.replace(_config("kd"), teacher=None)  # a plain dataclass: only the method's check sees it
    store = RunStore(tmp_path / "runs")
    with pytest.raises(ValueError, match="needs a teacher"):
        get_or_run(bad, store=store, device="cpu", progress=False)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_every_detection_counterpart_takes_its_methods_config():
    # One config, two tasks: a counterpart checks and resolves a config exactly as its method does.
    assert set(DETECTION_METHODS) <= set(METHODS)
    for name, counterpart in DETECTION_METHODS.items():
        spec = METHODS[name]
        assert counterpart.name == spec.name
        for attr in ("needs_teacher", "uses_temperature", "uses_alpha", "defaults"):
            assert getattr(counterpart, attr) == getattr(spec, attr), (name, attr)


# -- Hinton KD's terms are kd_loss ---------------------------------------------------------------------

@pytest.mark.parametrize("policy", [FixedTemperature(4), StochasticTemperature(2, 20, seed=0)],
                         ids=["fixed", "stochastic"])
@pytest.mark.parametrize("reduction", ["mean", "batchmean"])
def test_kd_method_terms_are_kd_loss(reduction, policy):
    profile = PROFILE.replace(kd_reduction=reduction, alpha=0.7)
    cfg = method_config(profile, "kd", STUDENT, "digits", 0, teacher=teacher_config(profile, TEACHER, "digits", 0),
                        temperature=policy.config())
    assert cfg.kd_reduction == reduction and cfg.alpha == 0.7
    method, _, _ = _build(cfg, seed=0)
    method.student.eval()
    method.new_epoch()
    x, y, _ = _batch(0)
    for _ in range(3):
        terms = method.loss_terms(x, y, None)
        tau = method.taus[-1]
        assert set(terms) == {"ce", "kd"}
        with torch.no_grad():
            s, t = method.student(x), method.teacher(x)
        expected = kd_loss(s, t, y, tau, alpha=0.7, reduction=reduction)
        assert torch.equal(sum_terms(terms), expected)
        direct = kd_terms(s, t, y, tau, alpha=0.7, reduction=reduction)
        assert torch.equal(sum_terms(direct), expected)
        assert torch.equal(terms["ce"], direct["ce"]) and torch.equal(terms["kd"], direct["kd"])
        torch.testing.assert_close(terms["ce"], 0.3 * F.cross_entropy(s, y))


# -- the registry: a new method is one subclass ------------------------------------------------------

@pytest.fixture
def l2_method():
    @register
    class L2Test(DistillationMethod):
        """CE plus a weighted L2 penalty on the student's logits."""

        name = "l2test"
        paper_name = "L2TEST"
        defaults = {"weight": 0.01}

        def loss_terms(self, x, y, index):
            logits = self.student(x)
            return {"ce": F.cross_entropy(logits, y), "l2": self.params["weight"] * logits.pow(2).mean()}

    yield L2Test
    METHODS.pop("l2test", None)


def test_register_refuses_a_clash_or_a_nameless_class(l2_method):
    with pytest.raises(ValueError, match="already registered"):
        register(type("Other", (DistillationMethod,), {"name": "l2test", "paper_name": "X"}))
    with pytest.raises(TypeError, match="'name'"):
        register(type("Nameless", (DistillationMethod,), {"paper_name": "X"}))
    assert register(l2_method) is l2_method  # registering the same class again is harmless
    assert METHODS["l2test"] is l2_method


@pytest.mark.slow
def test_a_registered_method_trains_through_get_or_run(l2_method, tmp_path):
    assert "l2test" in method_names() and get_method("L2TEST") is l2_method
    cfg = method_config(PROFILE, "l2test", STUDENT, "digits", 0, params={"weight": 0.5})
    assert cfg.method_params == {"weight": 0.5}
    store = RunStore(tmp_path)
    result = get_or_run(cfg, store=store, device="cpu", progress=False)
    assert result["method"] == "l2test" and result["epochs"] == PROFILE.epochs
    assert "L2TEST" in result["label"]
    history = store.run(cfg.to_dict()).history()
    assert {"loss_ce", "loss_l2"} <= set(history.columns)
    assert (history["loss_l2"] > 0).all()
    np.testing.assert_allclose(history["loss_ce"] + history["loss_l2"], history["train_loss"], rtol=1e-5)
    assert result["flops"]["train_per_sample"] == 3 * result["flops"]["student_forward"]
    assert get_or_run(cfg, store=store, device="cpu", progress=False)["metrics"] == result["metrics"]
