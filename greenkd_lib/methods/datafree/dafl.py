"""DAFL (Chen et al. 2019) as CMI's scripts run it: one-hot, activation and class-balance terms on the teacher."""

from __future__ import annotations

from .generative import GenerativeMethod

__all__ = ["DAFL"]


class DAFL(GenerativeMethod):
    """Generator (latent 512) rewarded for confident, strongly activating, class-balanced teacher outputs; 1:5."""

    name = "dafl"
    paper_name = "DAFL"
    # scripts/dafl/dafl_cifar10_wrn402_wrn161.sh: oh 1, act 0.001, balance 20, nz 512, lr_g 1e-3, 1 g-step : 5 kd steps.
    defaults = {**GenerativeMethod.defaults, "nz": 512, "oh": 1.0, "act": 0.001, "balance": 20.0}
