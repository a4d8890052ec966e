"""Energy and CO2 of a piece of work, measured with codecarbon's offline tracker.

Energy is the measuring process's (with its children), not the machine's, so other work on the machine
does not inflate it. Modelled power is charged per CPU second of the process: the CPU's TDP
(codecarbon's ``tracking_mode="process"``) and the machine's RAM model, each x process CPU time /
(wall time x cores). Measured whole-machine energy (RAPL's package, a Raspberry Pi's PMIC) is split
by the process's share of the machine's busy CPU time. A GPU's energy is the whole device's. Beside
the energy, every Footprint records the machine's load over its window and whether other processes
disturbed it.

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
from typing import Any, Callable, NamedTuple

import psutil

# Before codecarbon is imported: its logger reads this once, at import, and prints INFO lines otherwise.
os.environ.setdefault("CODECARBON_LOG_LEVEL", "error")

from codecarbon import OfflineEmissionsTracker  # noqa: E402
from codecarbon.output_methods.base_output import BaseOutput  # noqa: E402

__all__ = [
    "PAPER_CARBON_INTENSITY",
    "MODES",
    "ATTRIBUTIONS",
    "DISTURBED_OTHER_LOAD",
    "set_sibling_processes",
    "Footprint",
    "CarbonMeter",
    "measurement_mode",
]

logging.getLogger("codecarbon").setLevel(logging.ERROR)

PAPER_CARBON_INTENSITY: float = 294.21
"""g CO2/kWh: carbontracker's EU-28 fallback, which every CO2/kWh pair of the paper's Table 4 implies."""

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


_SHARE = " x CPU-time share"  # a whole-machine figure split by the process's share of busy CPU time
_PER_CPU_S = " x process CPU time"  # a whole-machine power charged per CPU second of the process


def _describe(hardware: list) -> tuple[str, str]:
    """("measured" | "estimate", what codecarbon reads and how it is attributed) for a hardware list.

    "measured" when at least one energy counter (RAPL, NVML, powermetrics, ...) is read; the parts
    that are modelled (always RAM, often the CPU on VMs) are named after "estimated:". Each part says
    how it becomes the process's: its own CPU time, its share of busy CPU time, or the whole device.
    """
    from codecarbon.external.hardware import CPU, GPU, AppleSiliconChip, Raspberry
    from codecarbon.external.ram import RAM

    measured: list[tuple[int, str]] = []  # (display order, text): GPU, CPU, RAM
    estimated: list[tuple[int, str]] = []
    for hw in hardware:
        if isinstance(hw, GPU):
            from codecarbon.core import gpu

            measured.append((0, ("NVML GPU" if gpu.is_nvidia_system() else "AMD SMI GPU") + " (whole device)"))
        elif isinstance(hw, CPU):
            mode = getattr(hw, "_mode", "")
            counters = {"intel_rapl": "RAPL", "windows_emi": "Windows EMI (RAPL)",
                        "intel_power_gadget": "Intel Power Gadget"}
            if mode in counters:
                measured.append((1, counters[mode] + _SHARE))
            elif mode == "cpu_load":
                estimated.append((1, f"CPU TDP{_PER_CPU_S} ({getattr(hw, '_tdp', '?')} W TDP)"))
            else:
                estimated.append((1, f"CPU TDP constant ({getattr(hw, '_tdp', '?')} W)" + _SHARE))
        elif isinstance(hw, AppleSiliconChip):
            gpu_part = hw.chip_part == "GPU"
            measured.append((0 if gpu_part else 1,
                             f"powermetrics (Apple {hw.chip_part})" + (" (whole device)" if gpu_part else _SHARE)))
        elif isinstance(hw, Raspberry):
            measured.append((1, f"Raspberry Pi PMIC ({hw.chip_part})" + _SHARE))
        elif isinstance(hw, RAM):
            forced = getattr(hw, "_force_ram_power", None)
            estimated.append((2, (f"RAM forced {forced} W" if forced is not None else "RAM model") + _PER_CPU_S))
        else:
            estimated.append((3, type(hw).__name__))
    got = " + ".join(text for _, text in sorted(measured))
    guessed = " + ".join(text for _, text in sorted(estimated))
    if measured:
        return "measured", got + (f"; estimated: {guessed}" if estimated else "")
    if estimated:
        return "estimate", guessed
    return "estimate", "codecarbon found no hardware to read"


def _attribution_plan(hardware: list) -> tuple[bool, float | None]:
    """(scale the CPU energy by the CPU-time share?, the machine's RAM power in W or None).

    codecarbon's process mode is per-process only for a CPU estimated from load; counters (RAPL,
    powermetrics, PMIC) and the constant model read the whole package. Its process-mode RAM models
    the process's resident memory with a 2-DIMM floor (10 W) per second of wall time, so a run
    slowed by others is charged more (2x measured beside another job on 2 cores); the machine's
    RAM model charged per CPU second, like the CPU's TDP, does not depend on other work. None: the
    RAM is measured (Raspberry Pi PMIC) and split by busy CPU-time share like the package.
    """
    from codecarbon.external.hardware import CPU
    from codecarbon.external.ram import RAM

    scale_cpu = not any(isinstance(hw, CPU) and getattr(hw, "_mode", "") == "cpu_load" for hw in hardware)
    ram = next((hw for hw in hardware if isinstance(hw, RAM)), None)
    if ram is None:
        return scale_cpu, None
    machine = RAM(tracking_mode="machine", force_ram_power=getattr(ram, "_force_ram_power", None))
    return scale_cpu, float(machine.total_power().W)


def _cpu_load_tdp(hardware: list) -> float | None:
    """The TDP (W) of a CPU that codecarbon estimates from load, else None (a counter, or no CPU)."""
    from codecarbon.external.hardware import CPU

    for hw in hardware:
        if isinstance(hw, CPU) and getattr(hw, "_mode", "") == "cpu_load":
            tdp = getattr(hw, "_tdp", None)
            return float(tdp) if isinstance(tdp, (int, float)) and tdp > 0 else None
    return None


_SIBLINGS: Callable[[], list[psutil.Process]] | None = None


def set_sibling_processes(siblings: Callable[[], list[psutil.Process]] | None) -> None:
    """Declare this process's sibling training workers (``parallel.py`` does, in each worker).

    Their CPU time is reported as ``sibling_load`` instead of ``other_load``: work that greenkd itself
    runs beside a training by choice does not flag it ``disturbed`` (its energy is per process either
    way; its wall time is shared).
    """
    global _SIBLINGS
    _SIBLINGS = siblings


class _CpuTimes(NamedTuple):
    at: float  # time.perf_counter()
    process_s: float  # CPU seconds of this process and its descendants (live and reaped)
    busy_s: float  # busy CPU seconds of the whole machine, all cores (in 10 ms kernel ticks)
    total_s: float  # the machine's CPU seconds, busy or idle: wall time x cores (in ticks)
    siblings: dict[int, float] = {}  # pid -> CPU seconds of each declared sibling worker


def _sibling_times() -> dict[int, float]:
    if _SIBLINGS is None:
        return {}
    times = {}
    try:
        for proc in _SIBLINGS():
            try:
                t = proc.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            times[proc.pid] = t.user + t.system
    except (psutil.Error, OSError):
        return {}
    return times


def _cpu_times(process: psutil.Process) -> _CpuTimes:
    """CPU times now; ``process`` is this process (psutil.Process())."""
    at = time.perf_counter()
    t = process.cpu_times()
    # Own time at nanosecond resolution (psutil's is in 10 ms ticks: a short pass would often read
    # 0); children_* hold the reaped descendants, live ones are read directly, as codecarbon does.
    own = time.process_time() + getattr(t, "children_user", 0.0) + getattr(t, "children_system", 0.0)
    for child in process.children(recursive=True):
        try:
            c = child.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):  # exited between listing and reading
            continue
        own += c.user + c.system + getattr(c, "children_user", 0.0) + getattr(c, "children_system", 0.0)
    m = psutil.cpu_times()
    # As codecarbon's SystemCPULoadMeter: guest time is already in user time; steal (other VMs on
    # the host) counts as busy, since it is load by others that slows this run.
    total = sum(m) - getattr(m, "guest", 0.0) - getattr(m, "guest_nice", 0.0)
    busy = total - m.idle - getattr(m, "iowait", 0.0)
    return _CpuTimes(at, own, busy, total, _sibling_times())


def _loads(start: _CpuTimes, now: _CpuTimes) -> dict[str, float | None]:
    """machine_load, other_load and sibling_load over [start, now] (None for a window shorter than a tick)."""
    capacity = now.total_s - start.total_s
    if capacity <= 0:
        return {"machine_load": None, "other_load": None, "sibling_load": None}
    busy = min(max(now.busy_s - start.busy_s, 0.0), capacity)
    own = max(now.process_s - start.process_s, 0.0)
    # A sibling that started inside the window counts from 0; one that exited is lost (rarely: a
    # worker lives as long as its pool).
    sibling = sum(max(t - start.siblings.get(pid, 0.0), 0.0) for pid, t in now.siblings.items())
    sibling = min(sibling, max(busy - own, 0.0))
    loads = {"machine_load": busy / capacity, "other_load": max(busy - own - sibling, 0.0) / capacity}
    loads["sibling_load"] = sibling / capacity if _SIBLINGS is not None else None
    return loads


def _capacity_share(start: _CpuTimes, now: _CpuTimes, cores: int) -> float:
    """The process's CPU time over [start, now] / (wall time x cores), 0..1."""
    capacity = (now.at - start.at) * cores  # not total_s: its ticks would leave a short window empty
    return min(max(now.process_s - start.process_s, 0.0) / capacity, 1.0) if capacity > 0 else 0.0


def _share(start: _CpuTimes, now: _CpuTimes) -> float:
    """The process's share of the machine's busy CPU time over [start, now], 0..1."""
    busy = now.busy_s - start.busy_s
    own = max(now.process_s - start.process_s, 0.0)
    if busy <= 0:
        return 1.0  # nothing ran, this process included: nobody to share with
    return min(own / busy, 1.0)  # min: the two counters are read a few microseconds apart


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
                  output_handlers: list, tracking_mode: str = "process") -> OfflineEmissionsTracker:
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
        tracking_mode=tracking_mode,  # "process": CPU load and RAM of this process and its children
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

    Energy is this process's and its children's (see the module docstring); the Footprints also
    record the machine's load over the window and flag the measurement ``disturbed`` when other
    processes used more than :data:`DISTURBED_OTHER_LOAD` of the CPU capacity.

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
        self._process: psutil.Process | None = None
        self._cores = 1
        self._first: _CpuTimes | None = None  # CPU times at start: the load figures' window
        self._last: _CpuTimes | None = None  # ... and at the last read: the current attribution window
        self._seen_kwh = {"cpu": 0.0, "ram": 0.0}  # codecarbon's cumulative figures at the last read
        self._kwh = {"cpu": 0.0, "ram": 0.0}  # this process's part of them so far
        self._scale_cpu = True
        self._ram_power_w: float | None = None
        self._cpu_tdp_w: float | None = None  # a load-estimated CPU: charged from our own CPU times
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
            hardware = getattr(self._tracker, "_hardware", [])
            self.mode, self.detail = _describe(hardware)
            self._scale_cpu, self._ram_power_w = _attribution_plan(hardware)
            self._cpu_tdp_w = _cpu_load_tdp(hardware)
        except Exception as exc:  # noqa: BLE001 - never let the tracker kill a run
            self._fail("codecarbon start", exc)
        try:
            self._process = psutil.Process()
            self._cores = psutil.cpu_count() or 1  # as codecarbon's process mode divides by
            self._first = self._last = _cpu_times(self._process)
        except Exception as exc:  # noqa: BLE001 - without CPU times there is no attribution
            self._first = None
            if self._failure is None:
                self._fail("CPU-time sampling (psutil) at start", exc)
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
            stage = f"codecarbon {how}"
            try:
                before = self._capture.count
                _unsuppressed(self._tracker, how)()
                if self._capture.count == before or self._capture.total is None:
                    raise RuntimeError(f"codecarbon's {how}() returned no emissions data")
                stage = f"CPU-time sampling (psutil) at {how}"
                now = _cpu_times(self._process)
                stage = f"attributing codecarbon's {how}() figures"
                return self._footprint(self._capture.total, now, duration)
            except Exception as exc:  # noqa: BLE001 - never let the tracker kill a run
                self._fail(stage, exc, tracker_stopped=how == "stop")
        return Footprint(None, None, duration, "unavailable", self._failure, self.carbon_intensity,
                         **self._loads_if_known())

    def _footprint(self, data: Any, now: _CpuTimes, duration: float) -> Footprint:
        """This process's part of codecarbon's cumulative figures, attributed window by window.

        Each read() closes a window; whole-machine figures of that window are split by the
        process's CPU time in that same window (a cumulative share would smear a busy epoch over
        quiet ones).
        """
        figures = {"cpu": float(data.cpu_energy), "ram": float(data.ram_energy), "gpu": float(data.gpu_energy)}
        for name, value in figures.items():
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"codecarbon reported a {name} energy of {value!r} kWh")
        share = _share(self._last, now)
        cpu = max(figures["cpu"] - self._seen_kwh["cpu"], 0.0)  # codecarbon's totals only grow
        if self._cpu_tdp_w is not None:
            # codecarbon's process-mode formula (TDP x CPU time / (wall x cores)) on this window's exact
            # CPU times: its own sampling, in 10 ms ticks from a baseline shared between trackers,
            # sometimes charged a short first window for CPU time spent before it (3x, seen here).
            share_of_capacity = _capacity_share(self._last, now, self._cores)
            self._kwh["cpu"] += self._cpu_tdp_w * (now.at - self._last.at) * share_of_capacity / 3.6e6
        else:
            self._kwh["cpu"] += cpu * share if self._scale_cpu else cpu  # cpu_load mode: already the process's
        if self._ram_power_w is None:  # measured RAM: the machine's
            self._kwh["ram"] += max(figures["ram"] - self._seen_kwh["ram"], 0.0) * share
        else:  # modelled RAM: the machine's RAM power per CPU second of the process
            share_of_capacity = _capacity_share(self._last, now, self._cores)
            self._kwh["ram"] += self._ram_power_w * (now.at - self._last.at) * share_of_capacity / 3.6e6
        self._seen_kwh = {"cpu": figures["cpu"], "ram": figures["ram"]}
        self._last = now
        energy = self._kwh["cpu"] + self._kwh["ram"] + figures["gpu"]  # GPU: the whole device's
        co2 = energy * self.carbon_intensity  # the country's intensity is codecarbon's own, per kWh
        return Footprint(energy, co2, duration, self.mode, self.detail, self.carbon_intensity,
                         **_loads(self._first, now))

    def _loads_if_known(self) -> dict[str, float | None]:
        """The load figures for an unavailable Footprint, when psutil still works."""
        try:
            if self._first is not None and self._process is not None:
                return _loads(self._first, _cpu_times(self._process))
        except Exception:  # noqa: BLE001 - no load figures, but never an error
            pass
        return {}

    def _fail(self, stage: str, exc: BaseException, tracker_stopped: bool = False) -> None:
        self._failure = f"{stage} failed: {type(exc).__name__}: {exc}"
        self.mode, self.detail = "unavailable", self._failure
        tracker, self._tracker = self._tracker, None
        if tracker is not None and not tracker_stopped:
            try:  # stop its background threads; the decorated stop() swallows its own errors
                tracker.stop()
            except Exception:  # noqa: BLE001
                pass
