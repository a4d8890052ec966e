"""Gradient sizes of the KD and CE terms: against closed forms and against a plain autograd route."""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from greenkd_lib.methods import (equivalent_tau, gradient_sizes, policy_average, policy_weights,
                                 StochasticTemperature)

B, C, D = 8, 5, 6


def _linear(seed: int, classes: int = C) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(D, classes).double()


def _convnet(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, C)).double()


def _batches(n: int, shape=(D,), classes: int = C, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(B, *shape, generator=g, dtype=torch.float64) * 2, torch.randint(0, classes, (B,), generator=g))
            for _ in range(n)]


def _kd_logit_grad(s, t, tau, alpha, reduction):
    """The closed form: alpha * tau * (softmax(s/tau) - softmax(t/tau)) / B, / C more for 'mean'."""
    g = alpha * tau * (F.softmax(s / tau, dim=1) - F.softmax(t / tau, dim=1)) / len(s)
    return g / s.shape[1] if reduction == "mean" else g


def _ce_logit_grad(s, y, alpha):
    return (1 - alpha) * (F.softmax(s, dim=1) - F.one_hot(y, s.shape[1]).to(s)) / len(s)


@pytest.mark.parametrize("reduction", ["batchmean", "mean"])
@pytest.mark.parametrize("alpha", [0.95, 0.5])
def test_logit_and_parameter_gradients_match_the_closed_forms_for_a_linear_student(reduction, alpha):
    student, teacher = _linear(0), _linear(1)
    batches = _batches(3)
    taus = [1.0, 2.0, 4.0, 7.5, 20.0]
    got = gradient_sizes(student, teacher, batches, taus, alpha, reduction).set_index("tau")
    for tau in taus:
        kd_logit, ce_logit, kd_param, ce_param = [], [], [], []
        for x, y in batches:
            with torch.no_grad():
                s, t = student(x), teacher(x)
            for grads, out in ((_kd_logit_grad(s, t, tau, alpha, reduction), (kd_logit, kd_param)),
                               (_ce_logit_grad(s, y, alpha), (ce_logit, ce_param))):
                # logits = x W^T + b: dL/dW = g^T x, dL/db = sum over the batch of g
                out[0].append(float(grads.norm()))
                out[1].append(math.sqrt(float((grads.T @ x).pow(2).sum() + grads.sum(0).pow(2).sum())))
        row = got.loc[tau]
        assert row["kd_logit_norm"] == pytest.approx(np.mean(kd_logit), rel=1e-9)
        assert row["ce_logit_norm"] == pytest.approx(np.mean(ce_logit), rel=1e-9)
        assert row["kd_param_norm"] == pytest.approx(np.mean(kd_param), rel=1e-9)
        assert row["ce_param_norm"] == pytest.approx(np.mean(ce_param), rel=1e-9)
        assert row["logit_ratio"] == pytest.approx(row["kd_logit_norm"] / row["ce_logit_norm"])
        assert row["param_ratio"] == pytest.approx(row["kd_param_norm"] / row["ce_param_norm"])
    assert (got["batches"] == 3).all() and (got["reduction"] == reduction).all() and (got["alpha"] == alpha).all()


def _direct_parameter_norms(student, teacher, batches, tau, alpha, reduction):
    """Another route: write the loss out by hand, call .backward() on a train-mode copy, read p.grad."""
    kd_norms, ce_norms = [], []
    for x, y in batches:
        for term in ("kd", "ce"):
            model = copy.deepcopy(student).train()
            s = model(x)
            with torch.no_grad():
                t = teacher.eval()(x)
            if term == "kd":
                log_ps, log_pt = torch.log_softmax(s / tau, 1), torch.log_softmax(t / tau, 1)
                kl = (log_pt.exp() * (log_pt - log_ps)).sum() / len(x)
                loss = alpha * tau ** 2 * (kl / s.shape[1] if reduction == "mean" else kl)
            else:
                loss = (1 - alpha) * -torch.log_softmax(s, 1)[torch.arange(len(y)), y].mean()
            loss.backward()
            norm = math.sqrt(sum(float(p.grad.pow(2).sum()) for p in model.parameters() if p.grad is not None))
            (kd_norms if term == "kd" else ce_norms).append(norm)
    return np.mean(kd_norms), np.mean(ce_norms)


@pytest.mark.parametrize("reduction", ["batchmean", "mean"])
def test_parameter_gradients_of_a_batchnorm_network_match_plain_backward(reduction):
    student, teacher = _convnet(0), _convnet(1)
    batches = _batches(2, shape=(3, 6, 6))
    got = gradient_sizes(student, teacher, batches, [1.0, 3.0, 12.0], 0.9, reduction).set_index("tau")
    for tau in (1.0, 3.0, 12.0):
        kd, ce = _direct_parameter_norms(student, teacher, batches, tau, 0.9, reduction)
        assert got.loc[tau, "kd_param_norm"] == pytest.approx(kd, rel=1e-8)
        assert got.loc[tau, "ce_param_norm"] == pytest.approx(ce, rel=1e-8)


def test_several_reductions_at_once_equal_each_measured_alone():
    student, teacher = _convnet(2), _convnet(3)
    batches = _batches(2, shape=(3, 6, 6), seed=4)
    taus = [1.0, 2.0, 9.0]
    both = gradient_sizes(student, teacher, batches, taus, 0.95, ["batchmean", "mean"])
    assert list(both["reduction"]) == ["batchmean"] * 3 + ["mean"] * 3
    for reduction in ("batchmean", "mean"):
        alone = gradient_sizes(student, teacher, batches, taus, 0.95, reduction)
        mine = both[both["reduction"] == reduction].reset_index(drop=True)
        cols = ["tau", "kd_logit_norm", "ce_logit_norm", "kd_param_norm", "ce_param_norm", "param_ratio"]
        pd.testing.assert_frame_equal(mine[cols], alone[cols], rtol=1e-9)


def test_mean_reduction_divides_the_kd_gradient_by_the_number_of_classes_and_leaves_ce_alone():
    student, teacher = _convnet(5), _convnet(6)
    batches = _batches(2, shape=(3, 6, 6), seed=7)
    bm = gradient_sizes(student, teacher, batches, [1.0, 5.0], 0.95, "batchmean")
    mean = gradient_sizes(student, teacher, batches, [1.0, 5.0], 0.95, "mean")
    for col in ("kd_logit_norm", "kd_param_norm", "logit_ratio", "param_ratio"):
        np.testing.assert_allclose(mean[col], bm[col] / C, rtol=1e-9)
    for col in ("ce_logit_norm", "ce_param_norm"):
        np.testing.assert_allclose(mean[col], bm[col], rtol=1e-12)


def test_at_large_tau_the_kd_gradient_tends_to_logit_matching():
    """Hinton's limit: alpha * (centred s - centred t) / (C * B), whatever the size of tau."""
    student, teacher = _linear(0), _linear(1)
    batches = _batches(1)
    x, _ = batches[0]
    with torch.no_grad():
        s, t = student(x), teacher(x)
    diff = (s - s.mean(1, keepdim=True)) - (t - t.mean(1, keepdim=True))
    limit = float((0.95 * diff / (C * B)).norm())
    got = gradient_sizes(student, teacher, batches, [1e3, 1e4], 0.95, "batchmean")
    assert got["kd_logit_norm"].iloc[-1] == pytest.approx(limit, rel=1e-4)
    assert got["kd_logit_norm"].iloc[0] == pytest.approx(limit, rel=1e-2)


def test_with_two_classes_the_kd_to_ce_ratio_grows_with_tau():
    """tau * |sigmoid(a/tau) - sigmoid(b/tau)| increases with tau (sigmoid' falls away from 0)."""
    student, teacher = _linear(0, classes=2), _linear(1, classes=2)
    batches = _batches(3, classes=2)
    taus = [0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0]
    got = gradient_sizes(student, teacher, batches, taus, 0.95, "batchmean")
    assert got["kd_logit_norm"].is_monotonic_increasing and got["logit_ratio"].is_monotonic_increasing
    # With a single sample per batch the parameter gradient is that of the logits times a fixed map.
    one = [(x[:1], y[:1]) for x, y in batches]
    got1 = gradient_sizes(student, teacher, one, taus, 0.95, "batchmean")
    assert got1["param_ratio"].is_monotonic_increasing


def test_ratio_scales_with_alpha_over_one_minus_alpha():
    student, teacher = _linear(3), _linear(4)
    batches = _batches(2, seed=1)
    a = gradient_sizes(student, teacher, batches, [2.0, 6.0], 0.5, "batchmean")
    b = gradient_sizes(student, teacher, batches, [2.0, 6.0], 0.9, "batchmean")
    np.testing.assert_allclose(b["param_ratio"] / a["param_ratio"], 9.0, rtol=1e-9)
    zero = gradient_sizes(student, teacher, batches, [2.0], 0.0, "batchmean")
    assert zero["kd_param_norm"].iloc[0] == 0.0 and zero["param_ratio"].iloc[0] == 0.0


def test_the_models_come_back_untouched():
    student, teacher = _convnet(0), _convnet(1)
    student.eval()
    teacher.train()
    before_s = copy.deepcopy(student.state_dict())
    before_t = copy.deepcopy(teacher.state_dict())
    gradient_sizes(student, teacher, _batches(2, shape=(3, 6, 6)), [1.0, 4.0], 0.95, "batchmean")
    for key, value in student.state_dict().items():
        assert torch.equal(value, before_s[key]), f"student {key} changed"
    for key, value in teacher.state_dict().items():
        assert torch.equal(value, before_t[key]), f"teacher {key} changed"
    assert not student.training and teacher.training
    assert all(p.grad is None for p in student.parameters()) and all(p.grad is None for p in teacher.parameters())


def test_eval_mode_differs_from_train_mode_with_batchnorm():
    student, teacher = _convnet(0), _convnet(1)
    batches = _batches(1, shape=(3, 6, 6))
    train = gradient_sizes(student, teacher, batches, [2.0], 0.95, "batchmean", student_mode="train")
    evald = gradient_sizes(student, teacher, batches, [2.0], 0.95, "batchmean", student_mode="eval")
    assert train["kd_param_norm"].iloc[0] != pytest.approx(evald["kd_param_norm"].iloc[0], rel=1e-3)


@pytest.mark.parametrize("kwargs, message", [
    ({"taus": []}, "taus is empty"),
    ({"taus": [1.0, 0.0]}, "finite number > 0"),
    ({"taus": [2.0, 2.0]}, "repeated"),
    ({"batches": []}, "batches is empty"),
    ({"reduction": "sum"}, "reduction must be"),
    ({"reduction": []}, "reduction must be"),
    ({"alpha": 1.5}, "alpha"),
    ({"student_mode": "test"}, "student_mode"),
])
def test_bad_arguments_are_refused(kwargs, message):
    args = {"student": _linear(0), "teacher": _linear(1), "batches": _batches(1), "taus": [1.0],
            "alpha": 0.95, "reduction": "batchmean"}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        gradient_sizes(**args)


# -- averaging over a stochastic policy ------------------------------------------------------------

def test_integer_uniform_weights_are_equal_on_the_range_and_zero_outside():
    w = policy_weights(StochasticTemperature(2, 20), range(1, 21))
    assert w.loc[1.0] == 0.0
    np.testing.assert_allclose(w.loc[2.0:20.0], 1 / 19)
    assert w.sum() == pytest.approx(1.0)


def test_integer_weights_match_what_the_policy_draws():
    for policy in (StochasticTemperature(2, 20, distribution="log-uniform", seed=0),
                   StochasticTemperature(3, 6, seed=1)):
        w = policy_weights(policy, range(1, 21))
        draws = np.array([policy.sample() for _ in range(100_000)])
        freq = pd.Series(draws).value_counts(normalize=True).reindex(w.index, fill_value=0.0)
        np.testing.assert_allclose(freq.to_numpy(), w.to_numpy(), atol=0.006)
    w = policy_weights(StochasticTemperature(2, 20, distribution="log-uniform"), range(1, 21))
    assert w.loc[2.0] / w.loc[20.0] == pytest.approx(math.log(2.5 / 1.5) / math.log(20.5 / 19.5))


@pytest.mark.parametrize("distribution, mean, mean_square", [
    ("uniform", 11.0, (20 ** 3 - 2 ** 3) / (3 * 18)),
    ("log-uniform", 18 / math.log(10), (20 ** 2 - 2 ** 2) / (2 * math.log(10))),
])
def test_continuous_weights_integrate_against_the_density(distribution, mean, mean_square):
    policy = StochasticTemperature(2, 20, integer=False, distribution=distribution)
    w = policy_weights(policy, range(1, 21))
    assert w.loc[1.0] == 0.0 and w.sum() == pytest.approx(1.0)
    taus = w.index.to_numpy()
    assert (w * taus).sum() == pytest.approx(mean, rel=1e-12)  # exact for a function linear between nodes
    fine = policy_weights(policy, np.linspace(2, 20, 2001))
    assert (fine * fine.index.to_numpy() ** 2).sum() == pytest.approx(mean_square, rel=1e-5)
    draws = np.array([policy.sample() for _ in range(50_000)])
    assert draws.mean() == pytest.approx(mean, rel=0.01)


def test_weights_need_the_taus_the_policy_draws():
    with pytest.raises(ValueError, match="lacks"):
        policy_weights(StochasticTemperature(2, 20), [1, 2, 4, 8, 16, 20])
    with pytest.raises(ValueError, match="both ends"):
        policy_weights(StochasticTemperature(2, 20, integer=False), range(1, 20))
    with pytest.raises(ValueError, match="stochastic"):
        policy_weights({"type": "fixed", "tau": 4}, [4])


def test_policy_average_and_equivalent_tau():
    taus = np.arange(1.0, 21.0)
    sizes = pd.concat([pd.DataFrame({"reduction": r, "tau": taus, "kd_logit_norm": taus * k, "ce_logit_norm": 2.0,
                                     "kd_param_norm": np.sqrt(taus) * k, "ce_param_norm": 1.0})
                       for r, k in (("batchmean", 1.0), ("mean", 0.1))], ignore_index=True)
    sizes["logit_ratio"] = sizes["kd_logit_norm"] / 2.0
    sizes["param_ratio"] = sizes["kd_param_norm"]
    avg = policy_average(sizes, StochasticTemperature(2, 20).config()).set_index("reduction")
    assert list(avg.index) == ["batchmean", "mean"]
    assert avg.loc["batchmean", "mean_tau"] == pytest.approx(11.0)
    assert avg.loc["batchmean", "kd_logit_norm"] == pytest.approx(11.0)
    assert avg.loc["mean", "logit_ratio"] == pytest.approx(0.55)
    expected = np.sqrt(np.arange(2, 21)).mean()
    assert avg.loc["batchmean", "param_ratio"] == pytest.approx(expected)
    assert avg.loc["batchmean", "policy"] == "tau~U{2..20}/batch"
    # sqrt is concave: the average of sqrt(tau) sits below sqrt(mean tau), so the equivalent tau is < 11
    one = sizes[sizes["reduction"] == "batchmean"]
    eq = equivalent_tau(one, expected)
    assert eq == pytest.approx(expected ** 2, rel=0.01) and eq < 11
    assert equivalent_tau(one, 3.0) == pytest.approx(9.0)  # on a node
    assert math.isnan(equivalent_tau(one, 100.0))
    with pytest.raises(ValueError, match="several reductions"):
        equivalent_tau(sizes, 1.0)
