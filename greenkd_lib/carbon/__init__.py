"""Carbon accounting: energy and CO2 with codecarbon, FLOPs of a training procedure, inference cost.

One purpose per module: ``footprint`` (the Footprint value type), ``intensity`` (g CO2/kWh: the
paper's, a country's), ``hardware`` (what codecarbon reads here), ``attribution`` (CPU-time shares and
loads), ``meter`` (CarbonMeter and its codecarbon glue), ``emissions_csv`` (a footprint as a row of
codecarbon's emissions.csv), ``flops`` and ``inference``.
"""

from .attribution import set_sibling_processes
from .flops import training_flops, to_gflops_millions
from .footprint import ATTRIBUTIONS, DISTURBED_OTHER_LOAD, MODES, Footprint
from .inference import measure_inference
from .intensity import PAPER_CARBON_INTENSITY, check_country
from .meter import CarbonMeter, measurement_mode

__all__ = [
    "PAPER_CARBON_INTENSITY",
    "DISTURBED_OTHER_LOAD",
    "MODES",
    "ATTRIBUTIONS",
    "Footprint",
    "CarbonMeter",
    "measurement_mode",
    "check_country",
    "set_sibling_processes",
    "training_flops",
    "to_gflops_millions",
    "measure_inference",
]
