"""DFQ (Choi et al. 2020, adversarial data-free quantisation) as CMI names and runs it."""

from __future__ import annotations

from .generative import GenerativeMethod

__all__ = ["DFQ"]


class DFQ(GenerativeMethod):
    """Adversarial KL + BatchNorm-statistics matching + one-hot + class balance (weight 20); 1:10."""

    name = "dfq"
    paper_name = "DFQ"
    needs_bn = True
    # scripts/dfq/dfq_cifar10_wrn402_wrn161.sh: adv 1, bn 1, oh 1, balance 20, nz 256, 1 g-step : 10 kd steps.
    defaults = {**GenerativeMethod.defaults, "kd_steps": 10, "adv": 1.0, "bn": 1.0, "oh": 1.0, "balance": 20.0}
