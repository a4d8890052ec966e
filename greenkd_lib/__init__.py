"""greenkd: reproducible, carbon-aware knowledge distillation.

A companion library to Rafat et al., "Mitigating carbon footprint for knowledge distillation
based deep learning model compression", PLOS ONE 18(5): e0285668, 2023.
"""

__version__ = "0.1.0"
