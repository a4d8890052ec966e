"""CMI: its synthetic batches match the teacher's BN statistics and classes, its cost is counted, it resumes exactly."""

from __future__ import annotations

import pytest
import torch

from greenkd_lib.config.profiles import get_profile
from greenkd_lib.data.augment import BatchAugment
from greenkd_lib.engine.configs import method_config, teacher_config
from greenkd_lib.engine.loops import optimizer_factory
from greenkd_lib.methods import FixedTemperature, get_method, Setup, StochasticTemperature
from greenkd_lib.methods.datafree.cmi import contrastive_loss, masked_adversarial_kl
from greenkd_lib.methods.datafree.flops import counted
from greenkd_lib.methods.datafree.hooks import InstanceMeans
from tests.helpers.contract import equal, saved_and_loaded
from tests.helpers.datafree import bn_distance, CLASSES, PROFILE, SIZE, tiny

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

# The smoke profile's CMI (the contract test's teacher is ShuffleNetV2, whose BN inputs add up to
# thousands of channels: the head's hidden layer is small there).
SMOKE = dict(get_profile("smoke").method_params["cmi"])
STEPS = dict(synthesis_batch_size=32, g_steps=15, lr_g=0.01, ngf=16, bank_size=64, n_neg=32, head_hidden=32)


def _method(teacher, mean=None, std=None, temperature=None, augment=None, **params):
    teacher_cfg = teacher_config(PROFILE, "resnet18", "digits", 0)
    cfg = method_config(PROFILE, "cmi", "wrn_16_1", "digits", 0, teacher=teacher_cfg,
                        temperature=temperature or FixedTemperature(4).config(), params=params)
    torch.manual_seed(1)
    student = tiny(width=8)
    return get_method("cmi")(cfg, Setup(student=student, teacher=teacher, teacher_feature_dim=None,
                                        num_classes=CLASSES, image_size=SIZE, train_size=100,
                                        device=torch.device("cpu"), make_optimizer=optimizer_factory(cfg, 4),
                                        mean=mean, std=std, augment=augment))


def _pool_images(method) -> torch.Tensor:
    return method.pool.to_float(method.pool.images)


def test_the_defaults_are_cmis_scratch_script():
    p = get_method("cmi").defaults
    assert (p["bn"], p["oh"], p["adv"], p["cr"], p["cr_T"], p["adv_T"], p["lr_g"]) == (1, 1, 0.5, 0.8, 0.1, 1, 1e-3)
    assert (p["g_steps"], p["kd_steps"], p["ep_steps"], p["synthesis_batch_size"]) == (200, 400, 400, 256)
    assert (p["bank_size"], p["n_neg"], p["head_dim"], p["nz"], p["ngf"], p["head_hidden"]) == (
        40960, 4096, 256, 256, 64, None)
    assert get_method("CMI").needs_bn and get_method("cmi").data_free


@pytest.mark.parametrize("params, match", [
    ({"bn": -1}, "cmi's bn"), ({"cr_T": 0}, "cmi's cr_T"), ({"lr_g": float("nan")}, "cmi's lr_g"),
    ({"g_steps": 0}, "cmi's g_steps"), ({"n_neg": -1}, "cmi's n_neg"), ({"head_hidden": 0}, "cmi's head_hidden"),
    ({"bank_size": 64, "n_neg": 65, "synthesis_batch_size": 8}, "n_neg \\(65\\) must be <= bank_size"),
    ({"bank_size": 8, "n_neg": 8, "synthesis_batch_size": 16}, "bank_size \\(8\\) must hold one synthesis batch"),
    ({"bn": 0, "oh": 0, "adv": 0, "cr": 0}, "cmi needs a loss term"), ({"nce_k": 4}, "does not take 'nce_k'")])
def test_bad_parameters_name_themselves(params, match):
    with pytest.raises(ValueError, match=match):
        method_config(PROFILE, "cmi", "wrn_16_1", "digits", 0, teacher=teacher_config(PROFILE, "resnet18", "digits", 0),
                      temperature=FixedTemperature(4).config(), params=params)


def test_a_teacher_without_batchnorm_names_the_method():
    with pytest.raises(ValueError, match="cmi matches the teacher's BatchNorm statistics, but resnet18 has no"):
        _method(tiny(bn=False).eval().requires_grad_(False), **SMOKE)


def test_pieces_on_hand_made_inputs():
    net = tiny().eval()
    x = torch.randn(4, 3, SIZE, SIZE)
    with InstanceMeans(net) as means:
        net(x)
        f = means.take()
    first = net[0](x)
    assert f.shape == (4, 16 + 32) and torch.allclose(f[:, :16], first.mean((2, 3)), atol=1e-6)
    # The mask keeps only the samples the student gets right; the gradient reaches both logits.
    s = torch.tensor([[2.0, 0.0], [0.0, 2.0]], requires_grad=True)
    t = torch.tensor([[1.0, 0.0], [1.0, 0.0]], requires_grad=True)
    loss = masked_adversarial_kl(s, t)
    p_t, log_s = t.softmax(1)[0], s.log_softmax(1)[0]
    assert torch.allclose(loss, -(p_t * (p_t.log() - log_s)).sum() / 2)
    loss.backward()
    assert s.grad[0].abs().sum() > 0 and t.grad[0].abs().sum() > 0 and s.grad[1].abs().sum() == 0
    # Perfectly matched views give the lowest loss; with negatives the two parts are averaged apart.
    e = torch.eye(4)
    assert contrastive_loss(e, e, 0.1, 4) < contrastive_loss(e, e.roll(1, 0), 0.1, 4)
    assert torch.allclose(contrastive_loss(e, e, 0.1, 2), 2 * contrastive_loss(e, e, 0.1, 4))


def test_synthesis_moves_bn_statistics_and_classes_towards_the_teacher(digits_teacher):
    teacher, mean, std = digits_teacher
    # The same seed draws the same reset generator, latent and targets: one iteration keeps the
    # images the round starts from, fifteen keep the best (lowest-loss) iteration's.
    start = _method(teacher, mean, std, **{**STEPS, "g_steps": 1})
    start.synthesize()
    method = _method(teacher, mean, std, **STEPS)
    method.new_epoch()
    method.synthesize()
    assert torch.equal(start.targets, method.targets)
    before, after = bn_distance(teacher, _pool_images(start)), bn_distance(teacher, _pool_images(method))
    assert after < 0.8 * before, (before, after)
    log = method.epoch_log()
    assert log["syn_steps"] == STEPS["g_steps"] and set(method.log_terms) == {"bn", "oh", "adv", "cr"}
    assert all(f"gen_{t}" in log for t in ("bn", "oh", "adv", "cr", "loss")) and "syn_agree" in log
    assert len(method.pool) == len(method.bank) == STEPS["synthesis_batch_size"]
    assert method.preview().dtype == torch.uint8 and len(method.preview()) == STEPS["synthesis_batch_size"]


def _target_probability(teacher, method) -> float:
    with torch.no_grad():
        p = teacher(_pool_images(method)).softmax(1)
    return float(p.gather(1, method.targets.view(-1, 1)).mean())


def test_the_one_hot_term_raises_the_teachers_confidence_in_the_targets(digits_teacher):
    teacher, mean, std = digits_teacher
    only_oh = {**STEPS, "bn": 0.0, "adv": 0.0, "cr": 0.0}
    start = _method(teacher, mean, std, **{**only_oh, "g_steps": 1})
    start.synthesize()
    method = _method(teacher, mean, std, **only_oh)
    method.synthesize()
    before, after = _target_probability(teacher, start), _target_probability(teacher, method)
    assert after > 0.5 and after > before + 0.3, (before, after)  # chance: 0.1


def test_the_student_and_teacher_are_left_as_they_were(digits_teacher):
    teacher, mean, std = digits_teacher
    method = _method(teacher, mean, std, **{**STEPS, "g_steps": 2})
    student = {k: v.clone() for k, v in method.student.state_dict().items()}
    teacher_state = {k: v.clone() for k, v in teacher.state_dict().items()}
    head = [p.clone() for p in method.head.parameters()]
    method.synthesize()
    assert all(torch.equal(v, method.student.state_dict()[k]) for k, v in student.items())
    assert all(torch.equal(v, teacher.state_dict()[k]) for k, v in teacher_state.items())
    assert all(p.requires_grad for p in method.student.parameters())
    assert not all(torch.equal(a, b) for a, b in zip(head, method.head.parameters()))  # the head trains
    assert not method.trainable()  # the head has its own Adam, not the student's optimizer


def test_the_temperature_policy_does_not_reach_synthesis(digits_teacher):
    teacher, mean, std = digits_teacher
    small = {**STEPS, "g_steps": 2, "synthesis_batch_size": 8, "bank_size": 16, "n_neg": 8}
    fixed = _method(teacher, mean, std, **small)
    stochastic = _method(teacher, mean, std, temperature=StochasticTemperature(2, 20, seed=0).config(), **small)
    for method in (fixed, stochastic):
        method.new_epoch()
        method.synthesize()
        method.synthesize()  # the second round draws negatives from the bank
    assert fixed.epoch_log() == stochastic.epoch_log()
    assert torch.equal(fixed.sample(4), stochastic.sample(4))


def test_synthesis_flops_equal_what_the_counter_counts(digits_teacher):
    teacher, mean, std = digits_teacher
    method = _method(teacher, mean, std, **{**STEPS, "g_steps": 2, "synthesis_batch_size": 4, "bank_size": 8,
                                            "n_neg": 8})
    first = counted(method.synthesize)
    assert first == method.synthesis_flops > 0
    second = counted(method.synthesize)  # now with 4 negatives from the bank: a wider contrastive matrix
    assert second == method.synthesis_flops - first and second > first
    assert method.sample_flops_per_image() == 0  # the student reads the pool


def test_views_and_pool_flip_only_where_the_data_set_flips(digits_teacher):
    teacher, mean, std = digits_teacher
    assert not _method(teacher, mean, std, **SMOKE).allow_flip  # digits: no augmentation at all
    flipping = _method(teacher, mean, std, augment=BatchAugment(padding=2, flip=True), **SMOKE)
    assert flipping.allow_flip
    flipping.synthesize()
    x = flipping.sample(8)
    assert x.shape == (8, 3, SIZE, SIZE) and not torch.equal(x, flipping.pool.to_float(flipping.pool.images[:8]))


def test_state_round_trip_draws_the_same_next_batches(digits_teacher):
    teacher, mean, std = digits_teacher
    small = {**STEPS, "g_steps": 2, "synthesis_batch_size": 8, "bank_size": 16, "n_neg": 8}
    trained = _method(teacher, mean, std, **small)
    trained.synthesize()
    trained.sample(3)  # mid-pass
    trained.synthesize()
    trained.sample(5)
    state = saved_and_loaded(trained.state_dict())
    fresh = _method(teacher, mean, std, **small)
    fresh.load_state_dict(state)
    equal(fresh.state_dict(), trained.state_dict(), "cmi state")
    for _ in range(3):
        assert torch.equal(fresh.sample(5), trained.sample(5))
    for method in (fresh, trained):
        method.new_epoch()
        method.synthesize()
    assert fresh.epoch_log() == trained.epoch_log()
    equal(fresh.state_dict(), trained.state_dict(), "cmi state after a round")
