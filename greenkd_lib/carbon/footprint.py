"""The Footprint value type: energy and CO2 of one measured stretch of work, and how parts add up.

A Footprint is what a run's result.json stores (``to_dict`` / ``from_dict``); a resumed run's
footprint is the sum of its parts. The load figures (``machine_load``, ``other_load``,
``sibling_load``, ``disturbed``) describe the machine over the same window; see
:mod:`greenkd_lib.carbon.attribution` for how they are measured.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

__all__ = ["MODES", "ATTRIBUTIONS", "DISTURBED_OTHER_LOAD", "Footprint"]

MODES = ("measured", "estimate", "unavailable")
_RANK = {mode: i for i, mode in enumerate(reversed(MODES))}  # unavailable < estimate < measured

ATTRIBUTIONS = ("process", "machine", "mixed")
"""Whose energy a Footprint is: the measuring process's, the whole machine's (result files written
before per-process attribution), or a sum of both kinds."""

DISTURBED_OTHER_LOAD: float = 0.10
"""A measurement is ``disturbed`` when other processes used more than this share of the machine's
CPU capacity over its window (a fifth of a core on a 2-core machine; an idle machine's background
stays well below it). Its energy is still the process's, but contention slowed the run and can
inflate its CPU time (shared caches, thread pools spinning while oversubscribed): compare with care."""


def _weakest(a: str, b: str) -> str:
    return a if _RANK[a] <= _RANK[b] else b


def _sum_or_none(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


def _weighted_mean(a: float | None, wa: float, b: float | None, wb: float) -> float | None:
    if a is None or b is None:
        return None  # a mean over part of the run would pass for the whole run's
    if wa + wb <= 0:
        return (a + b) / 2
    return min(1.0, (a * wa + b * wb) / (wa + wb))  # min: rounding must not leave [0, 1]


def _any_disturbed(a: bool | None, b: bool | None) -> bool | None:
    if a or b:
        return True
    return None if a is None or b is None else False


@dataclass(frozen=True)
class Footprint:
    """Energy and CO2 of one measured stretch of work (cumulative since its meter started).

    The load figures are means over the same window; None where unknown (psutil failed, a window
    shorter than the kernel's 10 ms CPU-time tick, or a result file written before they were
    recorded). ``disturbed`` is None only where unknown.
    """

    energy_kwh: float | None  # None when unavailable
    co2_g: float | None
    duration_s: float
    mode: str  # "measured" | "estimate" | "unavailable"
    detail: str = ""  # what codecarbon used, or why nothing was measured
    carbon_intensity: float | None = None  # g CO2/kWh behind co2_g
    attribution: str = "process"  # one of ATTRIBUTIONS: whose energy this is
    machine_load: float | None = None  # mean utilisation of all cores, 0..1 (this process included)
    other_load: float | None = None  # share of the machine's CPU capacity used by other processes, 0..1
    sibling_load: float | None = None  # ... used by the run's sibling training workers (not in other_load)
    disturbed: bool | None = None  # other_load > DISTURBED_OTHER_LOAD (in any part of a sum); derived if None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"Footprint mode must be one of {MODES}, got {self.mode!r}")
        if self.mode == "unavailable" and (self.energy_kwh is not None or self.co2_g is not None):
            raise ValueError("an 'unavailable' Footprint carries no figures: set energy_kwh and co2_g to None")
        for name in ("energy_kwh", "co2_g", "duration_s", "carbon_intensity"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"Footprint.{name} must be a finite number >= 0, got {value!r}")
        if self.attribution not in ATTRIBUTIONS:
            raise ValueError(f"Footprint attribution must be one of {ATTRIBUTIONS}, got {self.attribution!r}")
        for name in ("machine_load", "other_load", "sibling_load"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not 0 <= value <= 1):
                raise ValueError(f"Footprint.{name} must be a share between 0 and 1, got {value!r}")
        if self.machine_load is not None and self.other_load is not None \
                and self.other_load > self.machine_load + 1e-9:
            raise ValueError(f"Footprint.other_load ({self.other_load}) cannot exceed machine_load "
                             f"({self.machine_load}): it is part of it")
        if self.disturbed is not None and not isinstance(self.disturbed, bool):
            raise ValueError(f"Footprint.disturbed must be True, False or None, got {self.disturbed!r}")
        over = self.other_load is not None and self.other_load > DISTURBED_OTHER_LOAD
        if self.disturbed is None and self.other_load is not None:
            object.__setattr__(self, "disturbed", over)  # frozen dataclass: the derived default
        elif self.disturbed is False and over:
            raise ValueError(f"Footprint.other_load {self.other_load} is above DISTURBED_OTHER_LOAD = "
                             f"{DISTURBED_OTHER_LOAD}, so disturbed cannot be False")

    @property
    def is_empty(self) -> bool:
        """True for :meth:`zero`: nothing was spent, so it does not weaken a sum."""
        return self.duration_s == 0 and self.energy_kwh == 0 and self.co2_g == 0

    def __add__(self, other: "Footprint") -> "Footprint":
        """Sum the parts of a resumed run.

        A figure is None when either part lacks it (a partial total would understate the run); the
        mode is the weakest of the two; the loads are duration-weighted means; the sum is disturbed
        if either part was; an empty part (:meth:`zero`) is the identity.
        """
        if not isinstance(other, Footprint):
            return NotImplemented
        if other.is_empty or self.is_empty:
            kept, empty = (self, other) if other.is_empty else (other, self)
            if kept.carbon_intensity is None and empty.carbon_intensity is not None:
                return replace(kept, carbon_intensity=empty.carbon_intensity)
            return kept
        energy = _sum_or_none(self.energy_kwh, other.energy_kwh)
        co2 = _sum_or_none(self.co2_g, other.co2_g)
        if self.carbon_intensity == other.carbon_intensity:
            intensity = self.carbon_intensity
        elif energy and co2 is not None:
            intensity = co2 / energy  # parts charged at different grids: the effective mean
        else:
            intensity = None
        details = [d for d in dict.fromkeys((self.detail, other.detail)) if d]
        da, db = self.duration_s, other.duration_s
        return Footprint(
            energy_kwh=energy,
            co2_g=co2,
            duration_s=da + db,
            mode=_weakest(self.mode, other.mode),
            detail="; ".join(details),
            carbon_intensity=intensity,
            attribution=self.attribution if self.attribution == other.attribution else "mixed",
            machine_load=_weighted_mean(self.machine_load, da, other.machine_load, db),
            other_load=_weighted_mean(self.other_load, da, other.other_load, db),
            sibling_load=_weighted_mean(self.sibling_load, da, other.sibling_load, db),
            disturbed=_any_disturbed(self.disturbed, other.disturbed),
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (the ``footprint`` entry of a run's result.json)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Footprint":
        """The inverse of :meth:`to_dict`; also reads result files older than the load fields."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        missing = sorted({"energy_kwh", "co2_g", "duration_s", "mode"} - set(d))
        if unknown or missing:
            raise ValueError(
                f"not a Footprint dict: missing keys {missing}, unknown keys {unknown}; "
                f"expected keys {sorted(known)} (as written by Footprint.to_dict())"
            )
        if "attribution" not in d:
            d = {**d, "attribution": "machine"}  # written before per-process attribution: the machine's
        return cls(**d)

    @classmethod
    def zero(cls, carbon_intensity: float | None = None) -> "Footprint":
        """The empty footprint: a start value for summing parts."""
        return cls(0.0, 0.0, 0.0, "measured", "", carbon_intensity)
