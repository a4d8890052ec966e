"""greenkd: reproducible, carbon-aware knowledge distillation.

A companion library to Rafat et al., "Mitigating carbon footprint for knowledge distillation
based deep learning model compression", PLOS ONE 18(5): e0285668, 2023.

The house, from the ground up (each package's docstring says what it owns and what it may import):

- ground: ``paths``, ``devices``, ``data`` (data sets and the paper's published values),
  ``models``, ``carbon`` (energy, CO2, FLOPs), ``runs`` (the run store), ``config`` (profiles, run configs);
- ``methods``: distillation methods, temperature policies, data-free synthesizers, quantizers;
- ``engine``: configs built for a method, the training loops, evaluation, executors, ``get_or_run``;
- ``paper``: ``Lab`` and one module per figure or table of the paper;
- ``batch``: ``greenkd reproduce``, the report and the command line.

The names below are the public API; each is loaded on first use, so ``import greenkd_lib`` stays cheap
and the package's face imports nothing of the wings (no import runs back up to it).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# name -> the module that defines it
_API: dict[str, str] = {
    "Lab": "paper.lab", "summarize": "paper.rows", "tune": "paper.rows",
    "get_profile": "config.profiles", "Profile": "config.profiles", "PROFILES": "config.profiles",
    "RunConfig": "config.run", "CarbonSettings": "config.run",
    "method_config": "engine.configs", "teacher_config": "engine.configs", "student_config": "engine.configs",
    "run_label": "engine.configs",
    "get_or_run": "engine.train", "load_model": "engine.train",
    "RunStore": "runs.store",
    "kd_loss": "methods.kd",
    "TemperaturePolicy": "methods.temperature", "FixedTemperature": "methods.temperature",
    "StochasticTemperature": "methods.temperature", "TUNED_GRID": "methods.temperature",
    "DistillationMethod": "methods.base", "METHODS": "methods", "get_method": "methods",
    "CarbonMeter": "carbon.meter",
    "pick_device": "devices",
}
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(importlib.import_module(f"{__name__}.{_API[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
