"""The full configuration of one training run: what names it in the run store."""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field
from typing import Any

from .profiles import check_fields, check_image_size, RUN_RULES, TrainingKnobs

__all__ = ["RunConfig", "CarbonSettings"]

@dataclass(frozen=True)
class CarbonSettings:
    """Where the CO2 of a run is charged: a country (codecarbon's offline data) or a forced intensity."""

    country: str | None = None
    carbon_intensity: float | None = None  # g CO2 / kWh

    def __post_init__(self) -> None:
        # The full country check (codecarbon's data) is Lab's: a stored config is only read here.
        if self.country is not None and not (isinstance(self.country, str) and len(self.country.strip()) == 3
                                             and self.country.strip().isalpha()):
            raise ValueError(f"country must be a 3-letter ISO 3166 code, got {self.country!r}; "
                             "e.g. country='FRA', or carbon_intensity=<g CO2/kWh> instead")
        if self.carbon_intensity is not None:
            c = self.carbon_intensity
            if isinstance(c, bool) or not isinstance(c, numbers.Real) or not math.isfinite(c) or c < 0:
                raise ValueError(f"carbon_intensity must be a finite number of g CO2/kWh >= 0, got {c!r}; "
                                 "e.g. carbon_intensity=294.21 (the paper's), or country='FRA' instead")
        if self.country is not None and self.carbon_intensity is not None:
            raise ValueError(f"give country or carbon_intensity, not both; got country={self.country!r} and "
                             f"carbon_intensity={self.carbon_intensity!r}")


@dataclass(frozen=True, kw_only=True)
class RunConfig(TrainingKnobs):
    """Everything that determines a run's numbers. Paths and the device are not part of it.

    ``method`` names a distillation method of ``greenkd_lib.methods.METHODS`` ("ce" for a
    teacher or a student from scratch, "kd", "cmc", "dml"); ``method_params`` its own parameters,
    complete (the method's defaults filled in), or None for a method that takes none.
    """

    model: str
    dataset: str
    method: str
    seed: int
    teacher: "RunConfig | None" = None
    temperature: dict[str, Any] | None = None  # TemperaturePolicy.config()
    alpha: float = 0.95
    kd_reduction: str = "batchmean"
    method_params: dict[str, Any] | None = None
    precision: str = "fp32"  # "bf16": autocast (Profile.precision)
    channels_last: bool = True
    backbone_weights: str | None = None  # the paper's VGG16 detector: ImageNet weights (Profile.backbone_weights)
    # The taus of the shared-teacher grid this run trains in (engine/shared_grid.py: the grid's students in
    # lockstep in one process, one teacher forward per batch); None: trained alone, the naive grid's way.
    # Its numbers are the naive run's; its key differs, since its cost is a share of the grid's.
    shared_grid: tuple[float, ...] | None = None
    carbon: CarbonSettings = field(default_factory=CarbonSettings)
    profile: str = "custom"

    def __post_init__(self) -> None:
        # The method's own check (teacher, temperature, parameters) is engine.configs.check_config's:
        # a config is plain data here, below the methods that read it.
        self.validate()
        check_fields(self, RUN_RULES)  # the training knobs are validate()'s
        check_image_size(self.image_size, [self.model])
        if self.shared_grid is not None:
            object.__setattr__(self, "shared_grid", _checked_shared_grid(self))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; the run store hashes it."""
        d = dataclasses.asdict(self)
        d["milestones"] = list(self.milestones)
        if self.shared_grid is not None:
            d["shared_grid"] = list(self.shared_grid)
        if self.teacher is not None:
            d["teacher"] = self.teacher.to_dict()
        if d["method_params"] is None:
            del d["method_params"]  # CE and KD runs stored before methods took parameters keep their hashes
        for name, default in _STORED_IF_NOT.items():  # likewise runs stored before these knobs existed
            if d[name] == default:
                del d[name]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        d = dict(d)
        if d.get("teacher") is not None:
            d["teacher"] = cls.from_dict(d["teacher"])
        d["carbon"] = CarbonSettings(**(d.get("carbon") or {}))
        d["milestones"] = tuple(d.get("milestones", ()))
        if d.get("shared_grid") is not None:
            d["shared_grid"] = tuple(d["shared_grid"])
        return cls(**d)


# Fields that a run's dict (and so its hash) holds only where they differ from these values.
_STORED_IF_NOT: dict[str, Any] = {"precision": "fp32", "channels_last": True, "optimizer": "sgd",
                                   "backbone_weights": None, "shared_grid": None}


def _checked_shared_grid(cfg: RunConfig) -> tuple[float, ...]:
    """``cfg.shared_grid`` as sorted distinct floats, or ``ValueError``: a grid of fixed taus > 0 that
    holds the run's own tau, of a run with a teacher."""
    grid = cfg.shared_grid
    fix = "e.g. shared_grid=(1.0, 4.0, 16.0) with temperature={'type': 'fixed', 'tau': 4.0}"
    if isinstance(grid, (str, bytes)) or not isinstance(grid, (tuple, list)) or not grid or not all(
            isinstance(t, numbers.Real) and not isinstance(t, bool) and math.isfinite(t) and t > 0 for t in grid):
        raise ValueError(f"shared_grid must be None or a non-empty list of taus > 0, got {grid!r}; {fix}")
    taus = tuple(sorted({float(t) for t in grid}))
    if len(taus) != len(grid):
        raise ValueError(f"shared_grid must not repeat a tau, got {grid!r}; {fix}")
    tau = (cfg.temperature or {}).get("tau") if (cfg.temperature or {}).get("type") == "fixed" else None
    if tau is None or float(tau) not in taus:
        raise ValueError(f"a run of a shared grid has a fixed tau of that grid; got temperature={cfg.temperature!r} "
                         f"and shared_grid={grid!r}; {fix}")
    if cfg.teacher is None:
        raise ValueError("a shared grid shares its teacher's forward pass: a run with shared_grid needs a teacher")
    return taus
