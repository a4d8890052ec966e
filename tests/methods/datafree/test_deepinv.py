"""DeepInversion: its pixels move towards the teacher's BN statistics and confidence; pool, cost, state.

The method contract (tests/methods/test_methods.py) runs on it like on every registered method."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from greenkd_lib.data.augment import BatchAugment
from greenkd_lib.engine.configs import method_config, teacher_config
from greenkd_lib.engine.loops import optimizer_factory
from greenkd_lib.methods import FixedTemperature, get_method, Setup, StochasticTemperature
from greenkd_lib.methods.datafree import deepinv
from greenkd_lib.methods.datafree.flops import counted
from tests.helpers.contract import equal, saved_and_loaded
from tests.helpers.datafree import bn_distance, CLASSES, PROFILE, SIZE, tiny

# What the smoke profile should give deepinv (the lead adds it there): one synthesis of 2 steps on 8 images per epoch.
STEPS = dict(synthesis_batch_size=32, g_steps=20, ep_steps=3, kd_steps=3)

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _method(teacher: nn.Module, mean=None, std=None, temperature=None, augment=None, **params):
    cfg = method_config(PROFILE, "deepinv", "wrn_16_1", "digits", 0,
                        teacher=teacher_config(PROFILE, "resnet18", "digits", 0),
                        temperature=temperature or FixedTemperature(4).config(), params={**STEPS, **params})
    torch.manual_seed(1)
    student = tiny(width=8)
    return get_method("deepinv")(cfg, Setup(student=student, teacher=teacher, teacher_feature_dim=None,
                                            num_classes=CLASSES, image_size=SIZE, train_size=100,
                                            device=torch.device("cpu"), make_optimizer=optimizer_factory(cfg, 4),
                                            mean=mean, std=std, augment=augment))


def test_cmis_weights_and_schedule_are_the_defaults():
    spec = get_method("deepinv")
    assert spec is get_method("DeepInv") and spec.paper_name == "DeepInv" and spec.needs_bn and spec.data_free
    p = spec.defaults
    assert (p["bn"], p["oh"], p["adv"], p["tv"], p["l2"], p["adv_T"]) == (10, 1, 1, 0.001, 0, 3)
    assert (p["lr_g"], p["g_steps"], p["kd_steps"], p["ep_steps"], p["synthesis_batch_size"]) == (
        0.1, 1000, 400, 400, 256)


@pytest.mark.parametrize("params, match", [
    ({"g_steps": 0}, "g_steps"), ({"g_steps": 2.5}, "g_steps"), ({"lr_g": 0}, "lr_g"), ({"bn": -1}, "bn"),
    ({"tv": float("nan")}, "tv"), ({"l2": "1"}, "l2"), ({"adv_T": 0}, "adv_T"), ({"oh": True}, "oh"),
    ({"synthesis_batch_size": 0}, "synthesis_batch_size"), ({"ep_steps": 2, "kd_steps": 3}, "ep_steps"),
    ({"nz": 256}, "does not take 'nz'")])
def test_bad_parameters_name_themselves(params, match):
    with pytest.raises(ValueError, match=match) as err:
        method_config(PROFILE, "deepinv", "wrn_16_1", "digits", 0,
                      teacher=teacher_config(PROFILE, "resnet18", "digits", 0),
                      temperature=FixedTemperature(4).config(), params=params)
    assert "deepinv" in str(err.value)


def test_a_teacher_without_batchnorm_names_the_method():
    with pytest.raises(ValueError, match="deepinv matches the teacher's BatchNorm statistics, but resnet18 has no"):
        _method(tiny(bn=False).eval().requires_grad_(False))


def _targets_probability(teacher: nn.Module, x: torch.Tensor, targets: torch.Tensor) -> float:
    with torch.no_grad():
        return float(teacher(x).softmax(1).gather(1, targets.view(-1, 1)).mean())


def _start(method) -> tuple[torch.Tensor, torch.Tensor]:
    """The pixels and sorted targets the next synthesis starts from (its first draws from the method's RNG)."""
    g = torch.Generator()
    g.set_state(method.rng.get_state())
    n = method.params["synthesis_batch_size"]
    pixels = torch.randn(n, 3, SIZE, SIZE, generator=g)
    return pixels, torch.randint(0, CLASSES, (n,), generator=g).sort().values


def test_pixels_move_towards_the_running_statistics_and_the_drawn_classes(digits_teacher):
    teacher, mean, std = digits_teacher
    method = _method(teacher, mean, std)
    start, targets = _start(method)
    method.new_epoch()
    method.synthesize()
    pooled = method.pool.to_float(method.pool.images)  # the final pixels, as the student reads them (uint8)
    assert len(method.pool) == STEPS["synthesis_batch_size"] and method.pool.images.dtype == torch.uint8
    before, after = bn_distance(teacher, start), bn_distance(teacher, pooled)
    assert after < 0.6 * before, (before, after)  # 4.51 -> 2.40 in 20 steps here
    # With CMI's weights (bn 10, oh 1) the teacher leans towards the drawn classes already: 0.15 -> 0.28.
    assert _targets_probability(teacher, pooled, targets) > 1.5 * _targets_probability(teacher, start, targets)
    # Every pixel in the valid range: [0, 1] before normalisation.
    low, high = method._valid_range()
    assert (pooled >= low - 1e-5).all() and (pooled <= high + 1e-5).all()
    log = method.epoch_log()
    assert log["syn_steps"] == STEPS["g_steps"] and log["pool_images"] == STEPS["synthesis_batch_size"]
    assert set(method.log_terms) == {"bn", "oh", "adv", "tv"} and not any(k.startswith("loss_") for k in log)
    assert method.preview().dtype == torch.uint8 and method.preview().shape == (32, 3, SIZE, SIZE)


def test_the_one_hot_term_raises_the_teachers_confidence_in_the_drawn_classes(digits_teacher):
    teacher, mean, std = digits_teacher
    # The one-hot term alone, 60 steps: the teacher calls most images the class drawn for them.
    method = _method(teacher, mean, std, bn=0.0, adv=0.0, tv=0.0, g_steps=60)
    start, targets = _start(method)
    method.synthesize()
    assert method.log_terms == ("oh",)
    pooled = method.pool.to_float(method.pool.images)
    p_start, p_end = _targets_probability(teacher, start, targets), _targets_probability(teacher, pooled, targets)
    assert p_end > 0.7 and p_start < 0.2, (p_start, p_end)  # 0.15 -> 0.78 here
    with torch.no_grad():
        assert float((teacher(pooled).argmax(1) == targets).float().mean()) > 0.7
    # Beside the BN term, the one-hot term is what makes the teacher see the drawn classes.
    without = _method(teacher, mean, std, oh=0.0)
    without.synthesize()
    assert without.log_terms == ("bn", "adv", "tv")
    with_oh = _method(teacher, mean, std)
    with_oh.synthesize()
    assert (_targets_probability(teacher, with_oh.pool.to_float(with_oh.pool.images), targets)
            > _targets_probability(teacher, without.pool.to_float(without.pool.images), targets) + 0.1)


def test_the_temperature_policy_does_not_reach_synthesis(digits_teacher):
    teacher, mean, std = digits_teacher
    fixed = _method(teacher, mean, std, g_steps=3)
    stochastic = _method(teacher, mean, std, g_steps=3, temperature=StochasticTemperature(2, 20, seed=0).config())
    for method in (fixed, stochastic):
        method.new_epoch()
        method.synthesize()
    assert fixed.epoch_log() == stochastic.epoch_log()
    assert torch.equal(fixed.pool.images, stochastic.pool.images)
    assert torch.equal(fixed.sample(8), stochastic.sample(8))


def test_synthesis_flops_equal_what_the_counter_counts(digits_teacher):
    teacher, mean, std = digits_teacher
    for adv in (0.0, 1.0):  # without and with the student's adversarial pass
        method = _method(teacher, mean, std, g_steps=2, synthesis_batch_size=4, adv=adv)
        assert counted(method.synthesize) == method.synthesis_flops == 2 * method.step_flops() > 0
        with torch.no_grad():
            assert counted(lambda: method.sample(4)) == 0 == method.sample_flops_per_image()  # a pool costs nothing


def test_flips_only_where_the_data_set_flips(digits_teacher, monkeypatch):
    teacher, mean, std = digits_teacher
    seen: list[bool] = []
    real = deepinv.random_flip

    def spy(x, generator, p=0.5, per_sample=True):
        seen.append(per_sample)
        return real(x, generator, p, per_sample)

    monkeypatch.setattr(deepinv, "random_flip", spy)
    _method(teacher, mean, std, g_steps=2, synthesis_batch_size=4).synthesize()  # digits: no augmentation
    assert seen == []
    _method(teacher, mean, std, g_steps=2, synthesis_batch_size=4, augment=BatchAugment(padding=0)).synthesize()
    assert seen == []
    _method(teacher, mean, std, g_steps=2, synthesis_batch_size=4, augment=BatchAugment(flip=True)).synthesize()
    assert seen == [False, False]  # one draw for the whole batch per step, as DeepInversion


def test_the_pool_is_augmented_as_the_training_split(digits_teacher):
    teacher, mean, std = digits_teacher
    plain = _method(teacher, mean, std, g_steps=1, synthesis_batch_size=6)
    cropped = _method(teacher, mean, std, g_steps=1, synthesis_batch_size=6, augment=BatchAugment(padding=2))
    for method in (plain, cropped):
        method.synthesize()
    assert torch.equal(plain.pool.images, cropped.pool.images)  # the crop never reaches synthesis
    x_plain, x_crop = plain.sample(6), cropped.sample(6)
    assert x_plain.shape == x_crop.shape == (6, 3, SIZE, SIZE) and not torch.equal(x_plain, x_crop)
    # Without augmentation a pass is the pool itself, shuffled.
    pooled = plain.pool.to_float(plain.pool.images)
    assert sorted(map(float, x_plain.sum((1, 2, 3)))) == sorted(map(float, pooled.sum((1, 2, 3))))


def test_state_round_trip_draws_the_same_next_batches(digits_teacher):
    teacher, mean, std = digits_teacher
    params = dict(g_steps=2, synthesis_batch_size=20, augment=BatchAugment(padding=1, flip=True))
    trained = _method(teacher, mean, std, **params)
    trained.new_epoch()
    for _ in trained.batches(torch.Generator(), 2):  # one synthesis, then a pass of 20 stopped after 16 + 4
        pass
    state = saved_and_loaded(trained.state_dict())
    fresh = _method(teacher, mean, std, **params)
    assert len(fresh.pool) == 0 and len(state["pool"]["images"]) == 20
    fresh.load_state_dict(state)
    equal(fresh.state_dict(), trained.state_dict())
    for _ in range(3):  # the rest of the pass, a new pass, then a synthesis and its first batch
        assert torch.equal(fresh.sample(16), trained.sample(16))
    fresh.synthesize()
    trained.synthesize()
    assert torch.equal(fresh.pool.images, trained.pool.images) and len(fresh.pool) == 40
    assert torch.equal(fresh.sample(16), trained.sample(16))
    equal(fresh.state_dict(), trained.state_dict())
