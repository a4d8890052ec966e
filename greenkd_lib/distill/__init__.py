"""Knowledge distillation: the Hinton KD loss and temperature policies (fixed or stochastic tau)."""

from .kd import REDUCTIONS, kd_loss
from .temperature import (DISTRIBUTIONS, PERS, TUNED_GRID, FixedTemperature, StochasticTemperature,
                          TemperaturePolicy, policy_from_config)

__all__ = ["kd_loss", "REDUCTIONS", "TemperaturePolicy", "FixedTemperature", "StochasticTemperature",
           "policy_from_config", "TUNED_GRID", "PERS", "DISTRIBUTIONS"]
