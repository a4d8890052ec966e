"""How large the KD gradient is against the cross-entropy gradient, as a function of tau.

The KD loss is ``(1 - alpha) * CE + alpha * tau^2 * KL_tau``. Its gradient with respect to the
student's logits is, per sample, ``(1 - alpha) * (softmax(s) - onehot(y)) / B`` for the CE term
and ``alpha * tau * (softmax(s / tau) - softmax(t / tau)) / B`` for the KD term with
``reduction="batchmean"`` (``/ C`` more with ``"mean"``): the ``tau^2`` factor only undoes the
``1 / tau^2`` that softening puts into the gradient to first order, and for large tau the KD
gradient tends to ``alpha * (centred s - centred t) / (C * B)`` (Hinton's logit-matching limit).
:func:`gradient_sizes` measures both terms on real batches, for the logits and for the student's
parameters; :func:`policy_weights` and :func:`policy_average` average them over the distribution
a stochastic policy draws tau from, and :func:`equivalent_tau` finds the fixed tau that matches.
"""

from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from .kd import kd_loss, REDUCTIONS
from .temperature import policy_from_config, StochasticTemperature

__all__ = ["gradient_sizes", "policy_weights", "policy_average", "equivalent_tau", "GRADIENT_COLUMNS"]

# The per-tau measurements: gradient norms (batch-averaged) and KD/CE ratios.
GRADIENT_COLUMNS: tuple[str, ...] = ("kd_logit_norm", "ce_logit_norm", "logit_ratio",
                                     "kd_param_norm", "ce_param_norm", "param_ratio")


def _norm(grads: Sequence[torch.Tensor | None]) -> float:
    """The L2 norm of several tensors taken together (``None``: a parameter the loss does not reach)."""
    total = sum(float(g.detach().double().pow(2).sum()) for g in grads if g is not None)
    return math.sqrt(total)


def _taus(taus: Iterable[float]) -> list[float]:
    out = []
    for t in taus:
        if isinstance(t, bool) or not isinstance(t, numbers.Real) or not math.isfinite(t) or t <= 0:
            raise ValueError(f"every tau must be a finite number > 0, got {t!r}")
        out.append(float(t))
    if not out:
        raise ValueError("taus is empty; give at least one temperature, e.g. taus=range(1, 21)")
    if len(set(out)) != len(out):
        raise ValueError(f"taus has repeated values: {out}")
    return out


def _reductions(reduction: str | Sequence[str]) -> list[str]:
    out = [reduction] if isinstance(reduction, str) else list(reduction)
    bad = [r for r in out if r not in REDUCTIONS]
    if bad or not out or len(set(out)) != len(out):
        raise ValueError(f"reduction must be one of {REDUCTIONS} or a list of distinct ones, got {reduction!r}")
    return out


def gradient_sizes(student: nn.Module, teacher: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
                   taus: Iterable[float], alpha: float = 0.95, reduction: str | Sequence[str] = "batchmean", *,
                   student_mode: str = "train", device: str | torch.device | None = None) -> pd.DataFrame:
    """Norms of the KD and CE gradients of ``student`` for each tau, averaged over ``batches``.

    For every batch ``(x, y)`` and every tau: the L2 norm of the gradient of the KD term
    ``alpha * tau^2 * KL_tau`` (with ``reduction``, exactly as :func:`kd_loss` computes it) and of
    the CE term ``(1 - alpha) * CE`` with respect to the student's logits (the whole ``(B, C)``
    tensor) and with respect to its parameters (all of them together). The teacher is frozen (no
    gradient, eval mode, as in training). ``student_mode="train"`` (default) runs the student as
    training does (BatchNorm on batch statistics) on a deep copy, so neither its weights nor its
    BatchNorm running statistics change; ``"eval"`` uses the running statistics.

    ``reduction`` may be a list (e.g. ``["batchmean", "mean"]``): one set of rows per reduction,
    from the same forward passes. The parameter gradient is the logit gradient pulled back
    through the network, which is linear; where a reduction's logit gradient is a multiple of one
    already pulled back (``"mean"`` is ``"batchmean"`` divided by the number of classes), its
    parameter-gradient norm is that multiple of the other's instead of a second backward pass.

    Returns one row per (reduction, tau), in the order given: ``reduction``, ``tau``, the
    batch-averaged norms ``kd_logit_norm``, ``ce_logit_norm``, ``kd_param_norm``,
    ``ce_param_norm``, the ratios ``logit_ratio = kd_logit_norm / ce_logit_norm`` and
    ``param_ratio`` likewise (ratios of the averages), ``alpha`` and ``batches`` (how many were
    averaged). The CE columns do not depend on tau; each row repeats them to stand on its own.
    """
    reductions = _reductions(reduction)
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha (the KD weight) must be a number in [0, 1], got {alpha!r}")
    if student_mode not in ("train", "eval"):
        raise ValueError(f"student_mode must be 'train' or 'eval', got {student_mode!r}")
    taus = _taus(taus)
    dev = torch.device(device) if device is not None else next(student.parameters()).device

    # A private copy: train-mode forwards update BatchNorm running statistics, and the caller's
    # model (e.g. a trained student read from the run store) must come back untouched.
    model = copy.deepcopy(student).to(dev)
    model.train(student_mode == "train")
    params = list(model.parameters())
    for p in params:
        p.requires_grad_(True)
    was_training = teacher.training
    teacher.eval()

    # (reduction, tau) -> running sums of kd_logit, ce_logit, kd_param, ce_param
    sums = {(r, tau): np.zeros(4) for r in reductions for tau in taus}
    n = 0
    try:
        for batch in batches:
            x, y = batch[0].to(dev), batch[1].to(dev)
            logits = model(x)
            with torch.no_grad():
                teacher_logits = teacher(x).to(logits.dtype)

            def pull_back(logit_grad: torch.Tensor) -> float:
                grads = torch.autograd.grad(logits, params, grad_outputs=logit_grad, retain_graph=True,
                                            allow_unused=True)
                return _norm(grads)

            ce = (1 - alpha) * kd_loss(logits, teacher_logits, y, 1.0, alpha=0.0)
            ce_logit = torch.autograd.grad(ce, logits, retain_graph=True)[0]
            ce_sizes = (_norm([ce_logit]), pull_back(ce_logit))
            for tau in taus:
                done: list[tuple[torch.Tensor, float]] = []  # (logit gradient, its parameter-gradient norm)
                for r in reductions:
                    kd = alpha * kd_loss(logits, teacher_logits, y, tau, alpha=1.0, reduction=r)
                    kd_logit = torch.autograd.grad(kd, logits, retain_graph=True)[0]
                    kd_param = _multiple(kd_logit, done)
                    if kd_param is None:
                        kd_param = pull_back(kd_logit)
                        done.append((kd_logit, kd_param))
                    sums[(r, tau)] += (_norm([kd_logit]), ce_sizes[0], kd_param, ce_sizes[1])
            n += 1
    finally:
        teacher.train(was_training)
    if n == 0:
        raise ValueError("batches is empty; give at least one (x, y) batch")

    rows = []
    for (r, tau), total in sums.items():
        kd_logit, ce_logit, kd_param, ce_param = total / n
        rows.append({"reduction": r, "tau": tau, "kd_logit_norm": kd_logit, "ce_logit_norm": ce_logit,
                     "logit_ratio": kd_logit / ce_logit if ce_logit > 0 else math.inf,
                     "kd_param_norm": kd_param, "ce_param_norm": ce_param,
                     "param_ratio": kd_param / ce_param if ce_param > 0 else math.inf,
                     "alpha": float(alpha), "batches": n})
    return pd.DataFrame(rows)


def _multiple(grad: torch.Tensor, done: list[tuple[torch.Tensor, float]]) -> float | None:
    """``c * norm`` if ``grad == c * g`` for some ``(g, norm)`` of ``done`` (c >= 0), else None."""
    for g, param_norm in done:
        scale = float(g.double().pow(2).sum())
        if scale == 0.0:
            continue
        c = float((grad.double() * g.double()).sum()) / scale
        if c >= 0 and torch.allclose(grad.double(), c * g.double(), rtol=1e-5, atol=1e-12):
            return c * param_norm
    return None


def _policy(policy: StochasticTemperature | Mapping[str, Any]) -> StochasticTemperature:
    if isinstance(policy, Mapping):
        policy = policy_from_config(dict(policy))
    if not isinstance(policy, StochasticTemperature):
        raise ValueError(f"a stochastic temperature policy is needed, got {policy!r}")
    return policy


def policy_weights(policy: StochasticTemperature | Mapping[str, Any], taus: Iterable[float]) -> pd.Series:
    """Weights on ``taus`` (summing to 1) such that ``sum(w * f(tau))`` is the mean of ``f`` over
    the temperatures ``policy`` draws: a Series indexed by tau.

    Integer policies draw from a finite set, so the weights are its exact probabilities
    (uniform: equal; log-uniform: proportional to ``log((k + 1/2) / (k - 1/2))``) and every integer
    of the range must be among ``taus``. Continuous policies have a density on [low, high]; the
    weights integrate ``f`` interpolated linearly between the given taus against it (exact for an
    ``f`` linear between them), so ``low`` and ``high`` must both be among ``taus``. Taus outside
    the policy's range get weight 0.
    """
    policy = _policy(policy)
    grid = sorted(_taus(taus))
    weights = pd.Series(0.0, index=pd.Index(grid, name="tau"))
    log_uniform = policy.distribution == "log-uniform"
    if policy.integer:
        support = list(range(policy._lo, policy._hi + 1))
        missing = [k for k in support if not any(math.isclose(k, t) for t in grid)]
        if missing:
            raise ValueError(f"{policy.label()} draws the integers {support[0]}..{support[-1]}; taus lacks {missing}")
        for k in support:
            tau = next(t for t in grid if math.isclose(k, t))
            weights[tau] = math.log((k + 0.5) / (k - 0.5)) if log_uniform else 1.0
        return weights / weights.sum()

    lo, hi = policy.low, policy.high
    if lo == hi:
        inside = [t for t in grid if math.isclose(t, lo)]
        if not inside:
            raise ValueError(f"{policy.label()} always draws tau={lo:g}; taus lacks it")
        weights[inside[0]] = 1.0
        return weights
    nodes = [t for t in grid if lo <= t <= hi or math.isclose(t, lo) or math.isclose(t, hi)]
    if not nodes or not math.isclose(nodes[0], lo) or not math.isclose(nodes[-1], hi):
        raise ValueError(f"{policy.label()} draws continuous taus in [{lo:g}, {hi:g}]; taus must include both ends "
                         f"(got {grid})")
    for a, b in zip(nodes[:-1], nodes[1:]):
        if log_uniform:  # density 1 / (tau * log(hi / lo)); integrals of the two hat functions
            up = 1.0 - a * math.log(b / a) / (b - a)  # of (tau - a) / (b - a)
            down = b * math.log(b / a) / (b - a) - 1.0  # of (b - tau) / (b - a)
            scale = math.log(hi / lo)
        else:  # density 1 / (hi - lo): the trapezoid rule
            up = down = (b - a) / 2
            scale = hi - lo
        weights[a] += down / scale
        weights[b] += up / scale
    return weights / weights.sum()  # already 1 up to rounding


def policy_average(sizes: pd.DataFrame, policy: StochasticTemperature | Mapping[str, Any]) -> pd.DataFrame:
    """The mean of each measurement of :func:`gradient_sizes` over the taus ``policy`` draws, one
    row per reduction of ``sizes``.

    The norm columns are averaged with :func:`policy_weights`; the ratios are the ratios of the
    averaged norms (the CE norms do not depend on tau, so this is also the mean ratio). Each row
    also carries ``policy`` (its label) and ``mean_tau`` (the mean tau drawn).
    """
    if sizes.empty or "tau" not in sizes:
        raise ValueError("sizes must be a non-empty table from gradient_sizes (with a 'tau' column)")
    policy = _policy(policy)
    rows = []
    for reduction, group in _by_reduction(sizes):
        w = policy_weights(policy, group["tau"])
        by_tau = group.set_index("tau")
        out = {"reduction": reduction, "policy": policy.label(), "mean_tau": float((w * w.index.to_numpy()).sum())}
        for col in ("kd_logit_norm", "ce_logit_norm", "kd_param_norm", "ce_param_norm"):
            out[col] = float((w * by_tau[col].reindex(w.index)).sum())
        out["logit_ratio"] = out["kd_logit_norm"] / out["ce_logit_norm"] if out["ce_logit_norm"] > 0 else math.inf
        out["param_ratio"] = out["kd_param_norm"] / out["ce_param_norm"] if out["ce_param_norm"] > 0 else math.inf
        rows.append(out)
    return pd.DataFrame(rows)


def _by_reduction(sizes: pd.DataFrame):
    if "reduction" not in sizes:
        return [(None, sizes)]
    return list(sizes.groupby("reduction", sort=False))


def equivalent_tau(sizes: pd.DataFrame, value: float, column: str = "param_ratio") -> float:
    """The smallest tau at which ``column`` of ``sizes`` reaches ``value`` (linear interpolation
    between the measured taus), or NaN when no measured interval contains ``value``.

    ``sizes`` holds one reduction's rows of :func:`gradient_sizes`. E.g.
    ``equivalent_tau(sizes, policy_average(sizes, policy)["param_ratio"].iloc[0])``: the fixed tau
    whose KD/CE gradient ratio equals the random tau's average.
    """
    if column not in sizes or "tau" not in sizes:
        raise ValueError(f"sizes needs the columns 'tau' and {column!r}; it has {list(sizes.columns)}")
    if "reduction" in sizes and sizes["reduction"].nunique() > 1:
        raise ValueError(f"sizes holds several reductions {sorted(sizes['reduction'].unique())}; pass one's rows")
    df = sizes.sort_values("tau")
    t, v = df["tau"].to_numpy(float), df[column].to_numpy(float)
    for i in range(len(t)):
        if math.isclose(v[i], value, rel_tol=1e-12, abs_tol=0.0):
            return float(t[i])
        if i + 1 < len(t) and (v[i] - value) * (v[i + 1] - value) < 0:
            return float(t[i] + (value - v[i]) * (t[i + 1] - t[i]) / (v[i + 1] - v[i]))
    return math.nan
