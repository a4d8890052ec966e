"""ZSKT (Micaelli and Storkey 2019) as CMI's scripts run it: a generator that maximises the teacher-student KL."""

from __future__ import annotations

from .generative import GenerativeMethod

__all__ = ["ZSKT"]


class ZSKT(GenerativeMethod):
    """Generator trained adversarially: minimises ``-KL(t || s)`` at ``adv_T`` (no attention term, as CMI); 1:5."""

    name = "zskt"
    paper_name = "ZSKT"
    # scripts/zskt/zskt_cifar10_wrn402_wrn161.sh: adv 1, nz 256, lr_g 1e-3, 1 g-step : 5 kd steps.
    defaults = {**GenerativeMethod.defaults, "adv": 1.0}
