"""Energy and CO2 of a piece of work, measured with codecarbon's offline tracker.

The meter never stops a run: whatever goes wrong inside codecarbon, it keeps timing and reports
``mode="unavailable"`` with the reason instead of energy figures.
"""

from __future__ import annotations

import difflib
import logging
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Callable

# Before codecarbon is imported: its logger reads this once, at import, and prints INFO lines otherwise.
os.environ.setdefault("CODECARBON_LOG_LEVEL", "error")

from codecarbon import OfflineEmissionsTracker  # noqa: E402
from codecarbon.output_methods.base_output import BaseOutput  # noqa: E402

__all__ = [
    "PAPER_CARBON_INTENSITY",
    "MODES",
    "Footprint",
    "CarbonMeter",
    "measurement_mode",
]

logging.getLogger("codecarbon").setLevel(logging.ERROR)

PAPER_CARBON_INTENSITY: float = 294.21
"""g CO2/kWh: carbontracker's EU-28 fallback, which every CO2/kWh pair of the paper's Table 4 implies."""

MODES = ("measured", "estimate", "unavailable")
_RANK = {mode: i for i, mode in enumerate(reversed(MODES))}  # unavailable < estimate < measured


def _weakest(a: str, b: str) -> str:
    return a if _RANK[a] <= _RANK[b] else b


def _sum_or_none(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


@dataclass(frozen=True)
class Footprint:
    """Energy and CO2 of one measured stretch of work (cumulative since its meter started)."""

    energy_kwh: float | None  # None when unavailable
    co2_g: float | None
    duration_s: float
    mode: str  # "measured" | "estimate" | "unavailable"
    detail: str = ""  # what codecarbon used, or why nothing was measured
    carbon_intensity: float | None = None  # g CO2/kWh behind co2_g

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"Footprint mode must be one of {MODES}, got {self.mode!r}")
        if self.mode == "unavailable" and (self.energy_kwh is not None or self.co2_g is not None):
            raise ValueError("an 'unavailable' Footprint carries no figures: set energy_kwh and co2_g to None")
        for name in ("energy_kwh", "co2_g", "duration_s", "carbon_intensity"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"Footprint.{name} must be a finite number >= 0, got {value!r}")

    @property
    def is_empty(self) -> bool:
        """True for :meth:`zero`: nothing was spent, so it does not weaken a sum."""
        return self.duration_s == 0 and self.energy_kwh == 0 and self.co2_g == 0

    def __add__(self, other: "Footprint") -> "Footprint":
        """Sum the parts of a resumed run.

        A figure is None when either part lacks it (a partial total would understate the run); the
        mode is the weakest of the two; an empty part (:meth:`zero`) is the identity.
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
        return Footprint(
            energy_kwh=energy,
            co2_g=co2,
            duration_s=self.duration_s + other.duration_s,
            mode=_weakest(self.mode, other.mode),
            detail="; ".join(details),
            carbon_intensity=intensity,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (the ``footprint`` entry of a run's result.json)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Footprint":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        missing = sorted({"energy_kwh", "co2_g", "duration_s", "mode"} - set(d))
        if unknown or missing:
            raise ValueError(
                f"not a Footprint dict: missing keys {missing}, unknown keys {unknown}; "
                f"expected keys {sorted(known)} (as written by Footprint.to_dict())"
            )
        return cls(**d)

    @classmethod
    def zero(cls, carbon_intensity: float | None = None) -> "Footprint":
        """The empty footprint: a start value for summing parts."""
        return cls(0.0, 0.0, 0.0, "measured", "", carbon_intensity)


def _check_intensity(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"carbon_intensity must be a number of g CO2/kWh, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(
            f"carbon_intensity must be a finite number >= 0 (g CO2/kWh), got {value!r}; "
            f"the paper's value is PAPER_CARBON_INTENSITY = {PAPER_CARBON_INTENSITY}"
        )
    return value


def _energy_mix() -> dict[str, dict]:
    from codecarbon.input import DataSource

    return DataSource().get_global_energy_mix_data()


def _check_country(code: str) -> str:
    if not isinstance(code, str) or not code.strip():
        raise ValueError(f"country_iso_code must be a 3-letter ISO code such as 'FRA' or 'USA', got {code!r}")
    code = code.strip().upper()
    mix = _energy_mix()
    if code in mix:
        return code
    names = {v.get("country_name", k): k for k, v in mix.items()}
    close = difflib.get_close_matches(code, mix, n=3, cutoff=0.6)
    close += [names[n] for n in names if n.upper().startswith(code) or code in n.upper().split()]
    close += [names[n] for n in difflib.get_close_matches(code.title(), names, n=3)]
    hint = ", ".join(f"{c!r} ({mix[c].get('country_name', c)})" for c in dict.fromkeys(close))
    raise ValueError(
        f"unknown country_iso_code {code!r}: codecarbon's offline data uses 3-letter ISO 3166 codes "
        f"such as 'FRA' or 'USA'" + (f"; did you mean {hint}?" if hint else "")
        + " (or pass carbon_intensity=<g CO2/kWh> instead)"
    )


def _country_intensity(code: str) -> float:
    """The g CO2/kWh codecarbon charges for ``code`` (its own computation, on 1 kWh)."""
    from codecarbon.core.emissions import Emissions
    from codecarbon.core.units import Energy
    from codecarbon.external.geography import GeoMetadata
    from codecarbon.input import DataSource

    kg = Emissions(DataSource()).get_private_infra_emissions(
        Energy.from_energy(kWh=1.0), GeoMetadata(country_iso_code=code)
    )
    return float(kg) * 1000.0


def _describe(hardware: list) -> tuple[str, str]:
    """("measured" | "estimate", what codecarbon reads) for a tracker's hardware list.

    "measured" when at least one energy counter (RAPL, NVML, powermetrics, ...) is read; the parts
    that are modelled (always RAM, often the CPU on VMs) are named after "estimated:".
    """
    from codecarbon.external.hardware import CPU, GPU, AppleSiliconChip, Raspberry
    from codecarbon.external.ram import RAM

    measured: list[tuple[int, str]] = []  # (display order, text): GPU, CPU, RAM
    estimated: list[tuple[int, str]] = []
    for hw in hardware:
        if isinstance(hw, GPU):
            from codecarbon.core import gpu

            measured.append((0, "NVML GPU" if gpu.is_nvidia_system() else "AMD SMI GPU"))
        elif isinstance(hw, CPU):
            mode = getattr(hw, "_mode", "")
            counters = {"intel_rapl": "RAPL", "windows_emi": "Windows EMI (RAPL)",
                        "intel_power_gadget": "Intel Power Gadget"}
            if mode in counters:
                measured.append((1, counters[mode]))
            elif mode == "cpu_load":
                estimated.append((1, f"CPU TDP x load ({getattr(hw, '_tdp', '?')} W TDP)"))
            else:
                estimated.append((1, f"CPU TDP constant ({getattr(hw, '_tdp', '?')} W)"))
        elif isinstance(hw, AppleSiliconChip):
            measured.append((1, f"powermetrics (Apple {hw.chip_part})"))
        elif isinstance(hw, Raspberry):
            measured.append((1, f"Raspberry Pi PMIC ({hw.chip_part})"))
        elif isinstance(hw, RAM):
            forced = getattr(hw, "_force_ram_power", None)
            estimated.append((2, f"RAM forced {forced} W" if forced is not None else "RAM model"))
        else:
            estimated.append((3, type(hw).__name__))
    got = " + ".join(text for _, text in sorted(measured))
    guessed = " + ".join(text for _, text in sorted(estimated))
    if measured:
        return "measured", got + (f"; estimated: {guessed}" if estimated else "")
    if estimated:
        return "estimate", guessed
    return "estimate", "codecarbon found no hardware to read"


class _Capture(BaseOutput):
    """codecarbon output handler that keeps the latest cumulative EmissionsData in memory."""

    def __init__(self) -> None:
        self.total = None
        self.count = 0

    def out(self, total, delta) -> None:
        self.total = total
        self.count += 1


def _unsuppressed(tracker: Any, name: str) -> Callable[[], Any]:
    # codecarbon wraps start/flush/stop in util.suppress, which logs and swallows every exception;
    # the undecorated function lets the reason reach Footprint.detail.
    method = getattr(type(tracker), name)
    inner = getattr(method, "__wrapped__", None)
    return (lambda: inner(tracker)) if inner is not None else getattr(tracker, name)


def _make_tracker(carbon_intensity: float | None, country: str | None, measure_power_secs: float,
                  output_handlers: list) -> OfflineEmissionsTracker:
    # Every network- or file-related option is passed explicitly: an explicit value beats
    # codecarbon's config files and CODECARBON_* variables, so none of those can switch them on.
    kwargs: dict[str, Any] = dict(
        log_level="error",
        output_methods=[],
        output_handlers=output_handlers,
        output_dir=tempfile.gettempdir(),  # never written (no CSV output), but must exist
        emissions_endpoint=None,
        electricitymaps_api_token="",
        api_call_interval=-1,
        allow_multiple_runs=True,  # no global lock file: several meters may run at once
        tracking_mode="machine",
        pue=1.0,
        measure_power_secs=measure_power_secs,
        cloud_provider=None,
        cloud_region=None,
        region=None,
        country_iso_code=country,
    )
    if carbon_intensity is not None:
        kwargs["force_carbon_intensity_g_co2e_kwh"] = carbon_intensity
    return _construct(OfflineEmissionsTracker, kwargs)


def _construct(cls: type, kwargs: dict[str, Any]) -> Any:
    # OfflineEmissionsTracker.__init__ is wrapped in util.suppress too: a failure would leave a
    # half-built tracker and a cryptic error later, so call the undecorated initializer.
    init = getattr(cls.__init__, "__wrapped__", None)
    if init is None:
        return cls(**kwargs)
    tracker = cls.__new__(cls)
    init(tracker, **kwargs)
    return tracker


def measurement_mode() -> tuple[str, str]:
    """How codecarbon measures on this machine: ("measured" | "estimate" | "unavailable", detail)."""
    try:
        tracker = _make_tracker(PAPER_CARBON_INTENSITY, None, 1.0, [])
        tracker.get_detected_hardware()  # runs codecarbon's hardware detection without starting threads
        return _describe(tracker._hardware)
    except Exception as exc:  # noqa: BLE001 - any failure means "unavailable", with its reason
        return "unavailable", f"codecarbon failed: {type(exc).__name__}: {exc}"


class CarbonMeter:
    """codecarbon's OfflineEmissionsTracker only (the online one assumes a location when offline).

    Give at most one of ``country_iso_code`` (codecarbon's offline grid data for that country) and
    ``carbon_intensity`` (g CO2/kWh; CO2 = energy x intensity). Neither: the paper's 294.21 g/kWh.
    The first meter of a process takes about a second longer to start (codecarbon probes the hardware
    once per process). Use one meter per measurement::

        with CarbonMeter() as meter:
            train()
            per_epoch = meter.read()
        total = meter.stop()
    """

    def __init__(self, country_iso_code: str | None = None, carbon_intensity: float | None = None,
                 measure_power_secs: float = 1.0) -> None:
        if country_iso_code is not None and carbon_intensity is not None:
            raise ValueError(
                "give either country_iso_code (codecarbon's grid data for a country) or carbon_intensity "
                f"(g CO2/kWh), not both; got {country_iso_code!r} and {carbon_intensity!r}"
            )
        if isinstance(measure_power_secs, bool) or not isinstance(measure_power_secs, (int, float)) \
                or not (math.isfinite(measure_power_secs) and measure_power_secs > 0):
            raise ValueError(f"measure_power_secs must be a number of seconds > 0, got {measure_power_secs!r}")
        self.measure_power_secs = float(measure_power_secs)
        if country_iso_code is not None:
            self.country_iso_code: str | None = _check_country(country_iso_code)
            self.carbon_intensity = _country_intensity(self.country_iso_code)
            self._forced = False
        else:
            self.country_iso_code = None
            self.carbon_intensity = _check_intensity(
                PAPER_CARBON_INTENSITY if carbon_intensity is None else carbon_intensity)
            self._forced = True
        self._tracker: OfflineEmissionsTracker | None = None
        self._capture = _Capture()
        self._t0: float | None = None
        self._failure: str | None = None
        self._final: Footprint | None = None
        self.mode, self.detail = "unavailable", "not started"

    def __repr__(self) -> str:
        where = self.country_iso_code or f"{self.carbon_intensity} g/kWh"
        return f"CarbonMeter({where}, mode={self.mode!r}, detail={self.detail!r})"

    def start(self) -> None:
        """Start measuring. A failing tracker is reported by read()/stop(), never raised."""
        if self._t0 is not None:
            raise RuntimeError("this CarbonMeter was already started; use a new CarbonMeter per measurement")
        t0 = time.perf_counter()
        try:
            self._tracker = _make_tracker(
                self.carbon_intensity if self._forced else None, self.country_iso_code,
                self.measure_power_secs, [self._capture])
            _unsuppressed(self._tracker, "start")()
            start_time = getattr(self._tracker, "_start_time", t0)
            if start_time is None:
                raise RuntimeError("codecarbon's tracker did not start")
            # Time from codecarbon's own start (same perf_counter clock), after its hardware probe,
            # so that duration_s covers exactly the energy window.
            t0 = start_time if isinstance(start_time, float) else t0
            self.mode, self.detail = _describe(getattr(self._tracker, "_hardware", []))
        except Exception as exc:  # noqa: BLE001 - never let the tracker kill a run
            self._fail("start", exc)
        self._t0 = t0

    def read(self) -> Footprint:
        """Cumulative footprint since start(); cheap enough to call once per epoch."""
        return self._measure("flush")

    def stop(self) -> Footprint:
        """Stop the tracker and return the final cumulative footprint (the same on later calls)."""
        if self._final is None:
            self._final = self._measure("stop")
        return self._final

    def __enter__(self) -> "CarbonMeter":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _measure(self, how: str) -> Footprint:
        if self._t0 is None:
            raise RuntimeError("call CarbonMeter.start() (or use it as a context manager) before reading it")
        if self._final is not None:
            return self._final
        duration = time.perf_counter() - self._t0
        if self._failure is None:
            try:
                before = self._capture.count
                _unsuppressed(self._tracker, how)()
                if self._capture.count == before or self._capture.total is None:
                    raise RuntimeError(f"codecarbon's {how}() returned no emissions data")
                return self._footprint(self._capture.total, duration)
            except Exception as exc:  # noqa: BLE001 - never let the tracker kill a run
                self._fail(how, exc)
        return Footprint(None, None, duration, "unavailable", self._failure, self.carbon_intensity)

    def _footprint(self, data: Any, duration: float) -> Footprint:
        energy = float(data.energy_consumed)
        if not (math.isfinite(energy) and energy >= 0):
            raise ValueError(f"codecarbon reported an energy of {energy!r} kWh")
        co2 = energy * self.carbon_intensity if self._forced else float(data.emissions) * 1000.0
        return Footprint(energy, co2, duration, self.mode, self.detail, self.carbon_intensity)

    def _fail(self, stage: str, exc: BaseException) -> None:
        self._failure = f"codecarbon {stage} failed: {type(exc).__name__}: {exc}"
        self.mode, self.detail = "unavailable", self._failure
        tracker, self._tracker = self._tracker, None
        if tracker is not None and stage != "stop":
            try:  # stop its background threads; the decorated stop() swallows its own errors
                tracker.stop()
            except Exception:  # noqa: BLE001
                pass
