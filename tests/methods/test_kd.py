"""KD loss against a hand-written reference, and the temperature policies."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from greenkd_lib.methods import (FixedTemperature, kd_loss, policy_from_config, StochasticTemperature,
                                 TemperaturePolicy, TUNED_GRID)

B, C = 6, 5


@pytest.fixture
def logits():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(B, C, generator=g, dtype=torch.float64) * 3
    t = torch.randn(B, C, generator=g, dtype=torch.float64) * 3
    y = torch.randint(0, C, (B,), generator=g)
    return s, t, y


def _reference(s, t, y, tau, alpha, reduction):
    """Plain tensor ops: explicit softmax, log-softmax and sums."""
    tau = torch.as_tensor(tau, dtype=s.dtype).reshape(-1, 1).expand(B, 1)
    log_ps = s / tau - torch.logsumexp(s / tau, dim=1, keepdim=True)
    log_pt = t / tau - torch.logsumexp(t / tau, dim=1, keepdim=True)
    kl = (log_pt.exp() * (log_pt - log_ps)).sum(dim=1) * tau[:, 0] ** 2
    kd = kl.sum() / B if reduction == "batchmean" else kl.sum() / (B * C)
    log_p = s - torch.logsumexp(s, dim=1, keepdim=True)
    ce = -log_p[torch.arange(B), y].sum() / B
    return (1 - alpha) * ce + alpha * kd


@pytest.mark.parametrize("reduction", ["batchmean", "mean"])
@pytest.mark.parametrize("tau", [4.0, 1, "per-sample"])
def test_kd_loss_matches_reference(logits, reduction, tau):
    s, t, y = logits
    if tau == "per-sample":
        tau = torch.tensor([1.0, 2.0, 3.5, 7.0, 12.0, 20.0], dtype=torch.float64)
    got = kd_loss(s, t, y, tau, alpha=0.7, reduction=reduction)
    assert got.dim() == 0
    assert torch.allclose(got, _reference(s, t, y, tau, 0.7, reduction), rtol=1e-10, atol=1e-12)


def test_mean_reduction_is_batchmean_over_classes(logits):
    s, t, y = logits
    a = kd_loss(s, t, y, 3.0, alpha=1.0, reduction="batchmean")
    assert torch.allclose(kd_loss(s, t, y, 3.0, alpha=1.0, reduction="mean"), a / C)
    # The authors' form: tau^2 * nn.KLDivLoss() with its 'mean' default, a mean over every element.
    authors = 9.0 * F.kl_div(F.log_softmax(s / 3, 1), F.softmax(t / 3, 1), reduction="none").mean()
    assert torch.allclose(kd_loss(s, t, y, 3.0, alpha=1.0, reduction="mean"), authors)


@pytest.mark.parametrize("tau", [1.0, 8.0, 50.0])
def test_gradient_is_tau_times_probability_gap(logits, tau):
    s, t, y = logits
    s = s.clone().requires_grad_(True)
    t = t.clone().requires_grad_(True)
    kd_loss(s, t, y, tau, alpha=1.0).backward()
    expected = tau * (torch.softmax(s / tau, 1) - torch.softmax(t / tau, 1)) / B
    assert torch.allclose(s.grad, expected, rtol=1e-9, atol=1e-14)
    assert t.grad is None  # the teacher is detached


def test_tau_squared_keeps_the_gradient_finite_at_large_tau(logits):
    # Hinton's limit: with the tau^2 factor the gradient tends to centred logit matching,
    # ((s - mean s) - (t - mean t)) / (C * B), instead of vanishing like 1/tau.
    s, t, y = logits
    s = s.clone().requires_grad_(True)
    kd_loss(s, t, y, 1e4, alpha=1.0).backward()
    centred = (s - s.mean(1, keepdim=True)) - (t - t.mean(1, keepdim=True))
    assert torch.allclose(s.grad, centred.detach() / (C * B), rtol=1e-2, atol=1e-5)


def test_per_sample_gradient_uses_each_samples_tau(logits):
    s, t, y = logits
    taus = torch.tensor([1.0, 2.0, 4.0, 8.0, 16.0, 32.0], dtype=torch.float64)
    s = s.clone().requires_grad_(True)
    kd_loss(s, t, y, taus, alpha=1.0, reduction="mean").backward()
    k = taus[:, None]
    expected = k * (torch.softmax(s / k, 1) - torch.softmax(t / k, 1)) / (B * C)
    assert torch.allclose(s.grad, expected, rtol=1e-9, atol=1e-14)


def test_alpha_zero_is_cross_entropy_and_identical_logits_give_zero(logits):
    s, t, y = logits
    assert torch.equal(kd_loss(s, t, y, 4.0, alpha=0.0), F.cross_entropy(s, y))
    assert torch.equal(kd_loss(s, t, y, np.int64(4), alpha=np.float64(0.5)), kd_loss(s, t, y, 4.0, alpha=0.5))
    assert kd_loss(s, s.clone(), y, 4.0, alpha=1.0).abs().item() < 1e-12
    assert kd_loss(s, s.clone(), y, torch.full((B,), 3.0), alpha=1.0).abs().item() < 1e-12


def test_kd_loss_accepts_soft_targets_and_low_precision(logits):
    s, t, y = logits
    soft = F.one_hot(y, C).double()
    assert torch.allclose(kd_loss(s, t, soft, 2.0), kd_loss(s, t, y, 2.0))
    half = kd_loss(s.half(), t.half(), y, 2.0)
    assert half.dtype == torch.float32 and torch.allclose(half.double(), kd_loss(s, t, y, 2.0), rtol=1e-2)


def test_kd_loss_handles_extreme_logits():
    s = torch.tensor([[100.0, -100.0, 0.0]])
    t = torch.tensor([[-100.0, 100.0, 0.0]])
    loss = kd_loss(s, t, torch.tensor([0]), 1.0, alpha=1.0)
    assert torch.isfinite(loss) and loss.item() == pytest.approx(200.0, rel=1e-4)


@pytest.mark.parametrize("kwargs, match", [
    (dict(tau=0.0), "tau"),
    (dict(tau=-1), "tau"),
    (dict(tau=float("nan")), "tau"),
    (dict(tau=True), "tau"),
    (dict(tau=torch.tensor([1.0, 2.0, 0.0, 1.0, 1.0, 1.0])), "tau"),
    (dict(tau=torch.ones(3)), r"shape \(6,\)"),
    (dict(alpha=1.5), "alpha"),
    (dict(alpha=-0.1), "alpha"),
    (dict(reduction="sum"), "reduction must be one of"),
])
def test_kd_loss_rejects_bad_arguments(logits, kwargs, match):
    s, t, y = logits
    args = dict(tau=2.0) | kwargs
    with pytest.raises(ValueError, match=match):
        kd_loss(s, t, y, **args)


def test_kd_loss_rejects_shape_mismatches(logits):
    s, t, y = logits
    with pytest.raises(ValueError, match="teacher_logits shape"):
        kd_loss(s, t[:, :3], y, 2.0)
    with pytest.raises(ValueError, match="targets"):
        kd_loss(s, t, y[:3], 2.0)
    with pytest.raises(ValueError, match="student_logits must be"):
        kd_loss(s[0], t[0], y, 2.0)


# ---- temperature policies --------------------------------------------------------------------

def test_tuned_grid():
    assert TUNED_GRID == tuple(range(1, 21))


def test_fixed_temperature():
    p = FixedTemperature(4)
    assert isinstance(p, TemperaturePolicy) and p.per == "batch"
    assert p.sample() == 4.0 and p.sample(32) == 4.0
    p.new_epoch()
    assert p.sample() == 4.0 and p.label() == "tau=4" and FixedTemperature(2.5).label() == "tau=2.5"
    assert p.config() == {"type": "fixed", "tau": 4.0}


def test_default_stochastic_policy_is_the_papers():
    p = StochasticTemperature(seed=0)
    assert p.per == "batch" and p.label() == "tau~U{2..20}/batch"
    draws = [p.sample(128) for _ in range(2000)]
    assert all(isinstance(d, float) and d == int(d) and 2 <= d <= 20 for d in draws)
    assert set(draws) == set(float(k) for k in range(2, 21))
    # Roughly uniform: each of the 19 values about 2000/19 = 105 times.
    counts = np.unique(draws, return_counts=True)[1]
    assert counts.min() > 60 and counts.max() < 160


def test_continuous_and_log_uniform_draws():
    cont = StochasticTemperature(1.5, 3.0, integer=False, seed=1)
    x = np.array([cont.sample() for _ in range(500)])
    assert ((x >= 1.5) & (x <= 3.0)).all() and len(set(x)) == 500
    assert cont.label() == "tau~U[1.5,3]/batch"
    logu = StochasticTemperature(1, 100, integer=False, distribution="log-uniform", seed=2)
    z = np.log10([logu.sample() for _ in range(4000)])
    assert ((z >= 0) & (z <= 2)).all() and abs(np.mean(z < 1) - 0.5) < 0.05  # median at sqrt(1*100) = 10
    logi = StochasticTemperature(2, 20, distribution="log-uniform", seed=3)
    k = np.array([logi.sample() for _ in range(4000)])
    assert set(k) == set(float(v) for v in range(2, 21)) and np.mean(k == 2) > 3 * np.mean(k == 20)
    assert logi.label() == "tau~logU{2..20}/batch"
    # Non-integer bounds: only the integers inside.
    inner = StochasticTemperature(1.5, 3.5, seed=4)
    assert {inner.sample() for _ in range(200)} == {2.0, 3.0} and inner.label() == "tau~U{2..3}/batch"


def test_per_epoch_is_constant_within_an_epoch_and_changes_across():
    p = StochasticTemperature(per="epoch", seed=5)
    per_epoch = []
    for _ in range(10):
        p.new_epoch()
        taus = {p.sample(64) for _ in range(20)}
        assert len(taus) == 1
        per_epoch.append(taus.pop())
    assert len(set(per_epoch)) > 3
    lazy = StochasticTemperature(per="epoch", seed=5)
    assert lazy.sample() == lazy.sample()  # a sample before new_epoch() starts the first epoch


def test_per_sample_returns_a_tensor_per_sample():
    p = StochasticTemperature(per="sample", seed=6)
    tau = p.sample(64)
    assert isinstance(tau, torch.Tensor) and tau.shape == (64,) and tau.dtype == torch.float32
    assert ((tau >= 2) & (tau <= 20)).all() and torch.equal(tau, tau.round()) and len(set(tau.tolist())) > 5
    with pytest.raises(ValueError, match="batch_size"):
        p.sample()
    s, t = torch.randn(64, 10), torch.randn(64, 10)
    assert torch.isfinite(kd_loss(s, t, torch.zeros(64, dtype=torch.long), tau))


@pytest.mark.parametrize("per", ["batch", "epoch", "sample"])
def test_seeded_policies_repeat_and_differ_by_seed(per):
    def run(seed):
        p = StochasticTemperature(per=per, seed=seed)
        out = []
        for _ in range(3):
            p.new_epoch()
            out += [torch.as_tensor(p.sample(8)).tolist() for _ in range(5)]
        return out

    assert run(11) == run(11)
    assert run(11) != run(12)


@pytest.mark.parametrize("per", ["batch", "epoch", "sample"])
def test_state_dict_round_trip_repeats_the_sequence(per):
    p = StochasticTemperature(per=per, seed=7)
    for _ in range(5):
        p.new_epoch()
        p.sample(4)
    state = p.state_dict()
    json.dumps(state)  # plain Python values only (also safe for torch.load(weights_only=True))

    def draw(policy):
        out = []
        for _ in range(3):
            out += [torch.as_tensor(policy.sample(4)).tolist() for _ in range(4)]
            policy.new_epoch()
        return out

    first = draw(p)
    p.load_state_dict(state)
    assert draw(p) == first
    fresh = policy_from_config(p.config())  # a resumed run rebuilds the policy from its config
    fresh.load_state_dict(state)
    assert draw(fresh) == first


def test_state_dict_round_trip_through_torch_save(tmp_path):
    p = StochasticTemperature(seed=8)
    p.sample()
    torch.save({"policy": p.state_dict()}, tmp_path / "ckpt.pt")
    state = torch.load(tmp_path / "ckpt.pt", weights_only=True)["policy"]
    expected = [p.sample() for _ in range(5)]
    p.load_state_dict(state)
    assert [p.sample() for _ in range(5)] == expected


def test_load_state_dict_rejects_another_policys_state():
    state = StochasticTemperature(seed=1).state_dict()
    with pytest.raises(ValueError, match="different temperature policy"):
        StochasticTemperature(seed=2).load_state_dict(state)
    with pytest.raises(ValueError, match="different temperature policy"):
        FixedTemperature(4).load_state_dict(state)
    fixed = FixedTemperature(4)
    fixed.load_state_dict(fixed.state_dict())
    broken = dict(state, rng={"bit_generator": "nope"})
    with pytest.raises(ValueError, match="RNG state"):
        StochasticTemperature(seed=1).load_state_dict(broken)


@pytest.mark.parametrize("policy", [
    FixedTemperature(4),
    FixedTemperature(0.5),
    StochasticTemperature(),
    StochasticTemperature(1, 10, integer=False, per="sample", distribution="log-uniform", seed=3),
    StochasticTemperature(2.5, 7, per="epoch", seed=0),
])
def test_config_round_trip(policy):
    config = json.loads(json.dumps(policy.config()))
    again = policy_from_config(config)
    assert type(again) is type(policy) and again.config() == policy.config() and again.label() == policy.label()
    assert again.per == policy.per


def test_config_is_normalised_for_hashing():
    assert StochasticTemperature(2, 20).config() == StochasticTemperature(2.0, 20.0).config()
    assert FixedTemperature(4).config() == FixedTemperature(4.0).config() == FixedTemperature(np.int64(4)).config()
    numpy_made = StochasticTemperature(np.float32(2), np.int64(20), seed=np.int64(3)).config()
    assert json.loads(json.dumps(numpy_made)) == StochasticTemperature(2, 20, seed=3).config()


@pytest.mark.parametrize("make, match", [
    (lambda: FixedTemperature(0), "tau must be"),
    (lambda: FixedTemperature(-2), "tau must be"),
    (lambda: FixedTemperature(float("inf")), "tau must be"),
    (lambda: StochasticTemperature(0, 20), "low must be"),
    (lambda: StochasticTemperature(-1, 20), "low must be"),
    (lambda: StochasticTemperature(10, 2), "low must be <= high"),
    (lambda: StochasticTemperature(2.2, 2.8), "no integer"),
    (lambda: StochasticTemperature(per="step"), "per must be one of"),
    (lambda: StochasticTemperature(distribution="normal"), "distribution must be one of"),
    (lambda: StochasticTemperature(integer="yes"), "integer must be"),
    (lambda: StochasticTemperature(seed=-1), "seed"),
    (lambda: policy_from_config({"type": "cosine"}), "'type' one of"),
    (lambda: policy_from_config({"tau": 4}), "'type' one of"),
    (lambda: policy_from_config({"type": "fixed", "tau": 4, "per": "epoch"}), "bad 'fixed'"),
    (lambda: policy_from_config({"type": "fixed"}), "bad 'fixed'"),
])
def test_policy_validation(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_degenerate_range_is_allowed():
    assert StochasticTemperature(4, 4).sample() == 4.0
    assert StochasticTemperature(2.2, 2.8, integer=False, seed=0).sample() == pytest.approx(2.5, abs=0.3)
