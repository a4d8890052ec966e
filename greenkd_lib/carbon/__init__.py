"""Carbon accounting: energy and CO2 with codecarbon, FLOPs of a training procedure, inference cost."""

from .flops import training_flops, to_gflops_millions
from .inference import measure_inference
from .meter import DISTURBED_OTHER_LOAD, PAPER_CARBON_INTENSITY, CarbonMeter, Footprint, measurement_mode

__all__ = [
    "PAPER_CARBON_INTENSITY",
    "DISTURBED_OTHER_LOAD",
    "Footprint",
    "CarbonMeter",
    "measurement_mode",
    "training_flops",
    "to_gflops_millions",
    "measure_inference",
]
