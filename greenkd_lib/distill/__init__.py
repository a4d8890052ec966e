"""Knowledge distillation: the Hinton KD loss, temperature policies (fixed or stochastic tau), and
the sizes of the KD and cross-entropy gradients across tau."""

from .gradients import GRADIENT_COLUMNS, equivalent_tau, gradient_sizes, policy_average, policy_weights
from .kd import REDUCTIONS, kd_loss
from .temperature import (DISTRIBUTIONS, PERS, TUNED_GRID, FixedTemperature, StochasticTemperature,
                          TemperaturePolicy, policy_from_config)

__all__ = ["kd_loss", "REDUCTIONS", "TemperaturePolicy", "FixedTemperature", "StochasticTemperature",
           "policy_from_config", "TUNED_GRID", "PERS", "DISTRIBUTIONS", "gradient_sizes", "policy_weights",
           "policy_average", "equivalent_tau", "GRADIENT_COLUMNS"]
