"""DAFL, ZSKT and DFQ: each moves its synthetic batches the way its terms say (the issue's "Done when")."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from greenkd_lib.engine.configs import method_config, teacher_config
from greenkd_lib.engine.loops import optimizer_factory
from greenkd_lib.methods import FixedTemperature, get_method, Setup, StochasticTemperature
from greenkd_lib.methods.datafree.flops import counted
from tests.helpers.datafree import bn_distance, CLASSES, confidence, PROFILE, SIZE, tiny

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _method(name: str, teacher: nn.Module, mean=None, std=None, temperature=None, **params):
    cfg = method_config(PROFILE, name, "wrn_16_1", "digits", 0, teacher=teacher_config(PROFILE, "resnet18", "digits", 0),
                        temperature=temperature or FixedTemperature(4).config(), params=params)
    torch.manual_seed(1)
    student = tiny(width=8)
    return get_method(name)(cfg, Setup(student=student, teacher=teacher, teacher_feature_dim=None,
                                       num_classes=CLASSES, image_size=SIZE, train_size=100,
                                       device=torch.device("cpu"), make_optimizer=optimizer_factory(cfg, 4),
                                       mean=mean, std=std))


def _fixed_batch(method, n: int = 64) -> torch.Tensor:
    """Normalised images of a fixed latent through a copy of the generator in training mode (as a g-step sees them)."""
    z = torch.randn(n, method.params["nz"], generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        return method.normalize(copy.deepcopy(method.generator).train()(z))


def _kl(method, x: torch.Tensor) -> float:
    with torch.no_grad():
        return float(F.kl_div(method.student.eval()(x).log_softmax(1), method.teacher(x).log_softmax(1),
                              reduction="batchmean", log_target=True))


STEPS = dict(synthesis_batch_size=32, g_steps=15, lr_g=0.01, ngf=16)


def test_dfq_moves_the_bn_statistics_of_its_batches_towards_the_running_ones(digits_teacher):
    teacher, mean, std = digits_teacher
    method = _method("dfq", teacher, mean, std, **STEPS)
    before = bn_distance(teacher, _fixed_batch(method))
    method.new_epoch()
    method.synthesize()
    after = bn_distance(teacher, _fixed_batch(method))
    assert after < 0.8 * before, (before, after)
    log = method.epoch_log()
    assert log["syn_steps"] == STEPS["g_steps"] and set(method.log_terms) == {"bn", "oh", "adv", "balance"}


def test_dafl_raises_the_teachers_confidence_and_spreads_its_classes(digits_teacher):
    teacher, mean, std = digits_teacher
    # The one-hot term raises the teacher's confidence on the batches (an untrained generator draws
    # near-constant images the tiny teacher already calls one class with 0.97).
    method = _method("dafl", teacher, mean, std, **{**STEPS, "balance": 0.0})
    before = confidence(teacher, _fixed_batch(method))
    method.synthesize()
    assert 1 - confidence(teacher, _fixed_batch(method)) < 0.1 * (1 - before)
    # With CMI's weights the balance term (20) spreads the batch over the classes, the teacher staying confident.
    method = _method("dafl", teacher, mean, std, **STEPS)
    assert _classes(teacher, _fixed_batch(method)) == 1
    method.synthesize()
    x = _fixed_batch(method)
    assert _classes(teacher, x) >= 7 and confidence(teacher, x) > 0.5  # chance: 0.1


def _classes(teacher: nn.Module, x: torch.Tensor) -> int:
    with torch.no_grad():
        return int(teacher(x).argmax(1).unique().numel())


def test_zskt_raises_the_teacher_student_kl_with_the_student_fixed(digits_teacher):
    teacher, mean, std = digits_teacher
    method = _method("zskt", teacher, mean, std, **{**STEPS, "g_steps": 30})
    student = copy.deepcopy(method.student.state_dict())
    before = _kl(method, _fixed_batch(method))
    method.new_epoch()
    method.synthesize()
    after = _kl(method, _fixed_batch(method))
    assert after > before + 0.1, (before, after)  # from 2.38 (a random student) to 2.54
    assert all(torch.equal(a, b) for a, b in zip(student.values(), method.student.state_dict().values()))
    assert all(p.requires_grad for p in method.student.parameters())  # trainable again after synthesis


def test_dfq_with_a_teacher_without_batchnorm_names_the_method():
    with pytest.raises(ValueError, match="dfq matches the teacher's BatchNorm statistics, but resnet18 has no"):
        _method("dfq", tiny(bn=False).eval().requires_grad_(False))
    _method("dafl", tiny(bn=False).eval().requires_grad_(False))  # DAFL and ZSKT need no BN statistics
    _method("zskt", tiny(bn=False).eval().requires_grad_(False))


def test_cmis_weights_and_ratios_are_the_defaults():
    dafl, zskt, dfq = (get_method(n).defaults for n in ("dafl", "zskt", "dfq"))
    assert (dafl["nz"], dafl["oh"], dafl["act"], dafl["balance"], dafl["adv"], dafl["bn"], dafl["kd_steps"]) == (
        512, 1, 0.001, 20, 0, 0, 5)
    assert (zskt["nz"], zskt["adv"], zskt["oh"], zskt["bn"], zskt["kd_steps"]) == (256, 1, 0, 0, 5)
    assert (dfq["nz"], dfq["adv"], dfq["bn"], dfq["oh"], dfq["balance"], dfq["kd_steps"]) == (256, 1, 1, 1, 20, 10)
    for p in (dafl, zskt, dfq):
        assert (p["lr_g"], p["g_steps"], p["ep_steps"], p["synthesis_batch_size"], p["adv_T"]) == (1e-3, 1, 400, 256, 1)


def test_the_temperature_policy_does_not_reach_synthesis(digits_teacher):
    teacher, mean, std = digits_teacher
    fixed = _method("dfq", teacher, mean, std, **{**STEPS, "g_steps": 2})
    stochastic = _method("dfq", teacher, mean, std, temperature=StochasticTemperature(2, 20, seed=0).config(),
                         **{**STEPS, "g_steps": 2})
    for method in (fixed, stochastic):
        method.new_epoch()
        method.synthesize()
    assert fixed.epoch_log() == stochastic.epoch_log()
    assert torch.equal(fixed.sample(4), stochastic.sample(4))


def test_synthesis_flops_equal_what_the_counter_counts(digits_teacher):
    teacher, mean, std = digits_teacher
    for name in ("dafl", "dfq"):  # without and with the student's adversarial pass
        method = _method(name, teacher, mean, std, **{**STEPS, "g_steps": 1, "synthesis_batch_size": 4})
        method.new_epoch()
        assert counted(method.synthesize) == method.synthesis_flops == method.step_flops()
        with torch.no_grad():
            assert counted(lambda: method.sample(4)) == 4 * method.sample_flops_per_image()


def test_bad_parameters_name_themselves():
    cfg_args = (PROFILE, "dfq", "wrn_16_1", "digits", 0)
    kw = dict(teacher=teacher_config(PROFILE, "resnet18", "digits", 0), temperature=FixedTemperature(4).config())
    for params, match in [({"kd_steps": 0}, "kd_steps"), ({"bn": -1}, "bn"), ({"lr_g": 0}, "lr_g"),
                          ({"ep_steps": 2, "kd_steps": 3}, "ep_steps"), ({"nz": 2.5}, "nz")]:
        with pytest.raises(ValueError, match=match):
            method_config(*cfg_args, params=params, **kw)


def test_a_data_free_run_records_the_reduction_it_computes_with():
    from greenkd_lib.engine.configs import method_config, teacher_config
    from greenkd_lib.config.profiles import get_profile

    profile = get_profile("smoke")
    assert profile.kd_reduction == "mean"  # the authors' Hinton KD, not CMI's student step
    teacher = teacher_config(profile, "resnet18", "digits", 0)
    for name in ("dafl", "zskt", "dfq"):
        cfg = method_config(profile, name, "mobilenetv2", "digits", 0, teacher=teacher,
                            temperature={"type": "fixed", "tau": 4.0})
        assert cfg.kd_reduction == "batchmean"
    kd = method_config(profile, "kd", "mobilenetv2", "digits", 0, teacher=teacher, temperature={"type": "fixed", "tau": 4.0})
    assert kd.kd_reduction == "mean"
