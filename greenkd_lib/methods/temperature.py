"""Temperature policies: a fixed tau (tuned KD) or a random tau per batch/epoch/sample (the paper's method)."""

from __future__ import annotations

import abc
import copy
import math
import numbers
from typing import Any

import numpy as np
import torch

__all__ = ["TemperaturePolicy", "FixedTemperature", "StochasticTemperature", "policy_from_config",
           "TUNED_GRID", "PERS", "DISTRIBUTIONS"]

TUNED_GRID: tuple[int, ...] = tuple(range(1, 21))  # tuned KD: one full training per value
PERS: tuple[str, ...] = ("batch", "epoch", "sample")
DISTRIBUTIONS: tuple[str, ...] = ("uniform", "log-uniform")


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _fmt(x: float) -> str:
    return f"{x:g}"


class TemperaturePolicy(abc.ABC):
    """Where the KD temperature comes from. ``per``: how often tau changes ("batch", "epoch", "sample")."""

    per: str = "batch"

    @abc.abstractmethod
    def sample(self, batch_size: int | None = None) -> float | torch.Tensor:
        """tau for the next batch; a ``(batch_size,)`` float tensor when ``per == "sample"``."""

    def new_epoch(self) -> None:
        """Called at the start of every epoch."""

    @abc.abstractmethod
    def config(self) -> dict[str, Any]:
        """A complete JSON-able description; ``policy_from_config`` inverts it."""

    @abc.abstractmethod
    def label(self) -> str:
        """A short human label, e.g. ``tau=4`` or ``tau~U{2..20}/batch``."""

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs to continue the same sequence of taus."""
        return {"config": self.config()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict()``; the policy must have the same config."""
        if not isinstance(state, dict) or state.get("config") != self.config():
            saved = state.get("config") if isinstance(state, dict) else state
            raise ValueError(f"this state belongs to a different temperature policy ({saved!r}); "
                             f"this policy is {self.config()!r}. Rebuild it with policy_from_config")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label()})"


class FixedTemperature(TemperaturePolicy):
    """The same tau for every batch (classic KD, one training per tau when tuning)."""

    per = "batch"

    def __init__(self, tau: float) -> None:
        self.tau = _positive("tau", tau)

    def sample(self, batch_size: int | None = None) -> float:
        return self.tau

    def config(self) -> dict[str, Any]:
        return {"type": "fixed", "tau": self.tau}

    def label(self) -> str:
        return f"tau={_fmt(self.tau)}"


class StochasticTemperature(TemperaturePolicy):
    """A random tau from [low, high] (inclusive), drawn anew per batch, per epoch or per sample.

    The paper's method is the default: a uniform integer in 2..20 for every batch. With
    ``integer=False`` draws are continuous. ``distribution="log-uniform"`` draws log(tau)
    uniformly; with ``integer=True`` it draws log-uniformly on [lo - 1/2, hi + 1/2] (lo, hi the
    smallest and largest integers in range) and rounds, so integer k has probability
    proportional to log((k + 1/2) / (k - 1/2)). The generator is ``numpy.random.default_rng(seed)``,
    owned by the policy; ``seed=None`` takes fresh OS entropy (not reproducible).
    """

    def __init__(self, low: float = 2, high: float = 20, integer: bool = True, per: str = "batch",
                 distribution: str = "uniform", seed: int | None = None) -> None:
        self.low, self.high = _positive("low", low), _positive("high", high)
        if self.low > self.high:
            raise ValueError(f"low must be <= high, got low={low!r}, high={high!r}")
        if per not in PERS:
            raise ValueError(f"per must be one of {PERS}, got {per!r}")
        if distribution not in DISTRIBUTIONS:
            raise ValueError(f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")
        if not isinstance(integer, bool):
            raise ValueError(f"integer must be True or False, got {integer!r}")
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
                raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
            seed = int(seed)  # a plain int keeps config() JSON-able
        self.integer, self.per, self.distribution, self.seed = integer, per, distribution, seed
        self._lo, self._hi = math.ceil(self.low), math.floor(self.high)
        if integer and self._lo > self._hi:
            raise ValueError(f"no integer lies in [{low}, {high}]; widen the range or pass integer=False")
        self._rng = np.random.default_rng(seed)
        self._epoch_tau: float | None = None

    def _draw(self, n: int | None) -> np.ndarray | float:
        rng, log_uniform = self._rng, self.distribution == "log-uniform"
        if self.integer and not log_uniform:
            return rng.integers(self._lo, self._hi, size=n, endpoint=True).astype(np.float64)
        a, b = (self._lo - 0.5, self._hi + 0.5) if self.integer else (self.low, self.high)
        x = np.exp(rng.uniform(math.log(a), math.log(b), size=n)) if log_uniform else rng.uniform(a, b, size=n)
        return np.clip(np.rint(x), self._lo, self._hi) if self.integer else x

    def new_epoch(self) -> None:
        if self.per == "epoch":
            self._epoch_tau = float(self._draw(None))

    def sample(self, batch_size: int | None = None) -> float | torch.Tensor:
        if self.per == "sample":
            if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
                raise ValueError(f"a per-sample policy needs batch_size, a positive integer; got {batch_size!r}")
            return torch.from_numpy(np.asarray(self._draw(int(batch_size)), dtype=np.float32))
        if self.per == "epoch":
            if self._epoch_tau is None:  # sampled before the first new_epoch(): that starts epoch 0
                self.new_epoch()
            return self._epoch_tau
        return float(self._draw(None))

    def config(self) -> dict[str, Any]:
        return {"type": "stochastic", "low": self.low, "high": self.high, "integer": self.integer,
                "per": self.per, "distribution": self.distribution, "seed": self.seed}

    def label(self) -> str:
        dist = "logU" if self.distribution == "log-uniform" else "U"
        span = f"{{{self._lo}..{self._hi}}}" if self.integer else f"[{_fmt(self.low)},{_fmt(self.high)}]"
        return f"tau~{dist}{span}/{self.per}"

    def state_dict(self) -> dict[str, Any]:
        # Plain Python ints/strs/floats only, so torch.load(weights_only=True) accepts it.
        return {"config": self.config(), "rng": copy.deepcopy(self._rng.bit_generator.state),
                "epoch_tau": self._epoch_tau}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        try:
            self._rng.bit_generator.state = copy.deepcopy(state["rng"])
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"the saved temperature-policy state has no valid RNG state ({err})") from err
        self._epoch_tau = state.get("epoch_tau")


_TYPES: dict[str, type[TemperaturePolicy]] = {"fixed": FixedTemperature, "stochastic": StochasticTemperature}


def policy_from_config(config: dict[str, Any]) -> TemperaturePolicy:
    """The policy that ``config`` (a ``TemperaturePolicy.config()``) describes."""
    if not isinstance(config, dict) or config.get("type") not in _TYPES:
        got = config.get("type") if isinstance(config, dict) else config
        raise ValueError(f"a temperature config is a dict with 'type' one of {tuple(_TYPES)}, got {got!r}; "
                         "e.g. {'type': 'fixed', 'tau': 4} or {'type': 'stochastic', 'low': 2, 'high': 20}")
    kwargs = {k: v for k, v in config.items() if k != "type"}
    cls = _TYPES[config["type"]]
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise ValueError(f"bad {config['type']!r} temperature config {config!r}: {err}") from err
