"""CarbonMeter: energy and CO2 of a piece of work, measured with codecarbon's offline tracker.

Energy is the measuring process's (with its children), not the machine's, so other work on the machine
does not inflate it. Modelled power is charged per CPU second of the process: the CPU's TDP
(codecarbon's ``tracking_mode="process"``) and the machine's RAM model, each x process CPU time /
(wall time x cores). Measured whole-machine energy (RAPL's package, a Raspberry Pi's PMIC) is split
by the process's share of the machine's busy CPU time. A GPU's energy is the whole device's. Beside
the energy, every Footprint records the machine's load over its window and whether other processes
disturbed it.

The meter never stops a run: whatever goes wrong inside codecarbon, it keeps timing and reports
``mode="unavailable"`` with the reason instead of energy figures.

This module holds the meter and its codecarbon glue (building the tracker with every network and
file option off, and reaching past codecarbon's exception-swallowing decorators); the value type is
in ``footprint.py``, intensities in ``intensity.py``, the hardware description in ``hardware.py`` and
the CPU-time attribution in ``attribution.py``.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import time
from typing import Any, Callable

import psutil

# Before codecarbon is imported: its logger reads this once, at import, and prints INFO lines otherwise.
os.environ.setdefault("CODECARBON_LOG_LEVEL", "error")

from codecarbon import OfflineEmissionsTracker  # noqa: E402
from codecarbon.output_methods.base_output import BaseOutput  # noqa: E402

from .attribution import CpuTimes, busy_share, capacity_share, cpu_times, loads  # noqa: E402
from .footprint import Footprint  # noqa: E402
from .hardware import attribution_plan, cpu_load_tdp, describe  # noqa: E402
from .intensity import PAPER_CARBON_INTENSITY, check_country, check_intensity, country_intensity  # noqa: E402

__all__ = ["CarbonMeter", "measurement_mode", "detected_machine", "MACHINE_FIELDS"]

logging.getLogger("codecarbon").setLevel(logging.ERROR)


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


MACHINE_FIELDS = ("os", "python_version", "codecarbon_version", "cpu_count", "cpu_model", "gpu_count", "gpu_model",
                  "ram_total_size")
"""The machine columns of codecarbon's emissions.csv, as its tracker detects them."""


_machine: dict[str, Any] | None = None  # detected_machine()'s answer, kept once codecarbon gave one


def detected_machine() -> dict[str, Any]:
    """codecarbon's description of this machine (:data:`MACHINE_FIELDS`), detected once per process;
    empty when codecarbon fails (and tried again on the next call)."""
    global _machine
    if _machine is None:
        try:
            tracker = _make_tracker(PAPER_CARBON_INTENSITY, None, 1.0, [])
            tracker.get_detected_hardware()  # fills the tracker's _conf, which its own emissions.csv rows read
            _machine = {name: tracker._conf.get(name) for name in MACHINE_FIELDS}
        except Exception:  # noqa: BLE001 - the columns stay empty; never an error
            return {}
    return dict(_machine)


def measurement_mode() -> tuple[str, str]:
    """How codecarbon measures on this machine: ("measured" | "estimate" | "unavailable", detail)."""
    try:
        tracker = _make_tracker(PAPER_CARBON_INTENSITY, None, 1.0, [])
        tracker.get_detected_hardware()  # runs codecarbon's hardware detection without starting threads
        return describe(tracker._hardware)
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
            self.country_iso_code: str | None = check_country(country_iso_code)
            self.carbon_intensity = country_intensity(self.country_iso_code)
            self._forced = False
        else:
            self.country_iso_code = None
            self.carbon_intensity = check_intensity(
                PAPER_CARBON_INTENSITY if carbon_intensity is None else carbon_intensity)
            self._forced = True
        self._tracker: OfflineEmissionsTracker | None = None
        self._capture = _Capture()
        self._process: psutil.Process | None = None
        self._cores = 1
        self._first: CpuTimes | None = None  # CPU times at start: the load figures' window
        self._last: CpuTimes | None = None  # ... and at the last read: the current attribution window
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
            self.mode, self.detail = describe(hardware)
            self._scale_cpu, self._ram_power_w = attribution_plan(hardware)
            self._cpu_tdp_w = cpu_load_tdp(hardware)
        except Exception as exc:  # noqa: BLE001 - never let the tracker kill a run
            self._fail("codecarbon start", exc)
        try:
            self._process = psutil.Process()
            self._cores = psutil.cpu_count() or 1  # as codecarbon's process mode divides by
            self._first = self._last = cpu_times(self._process)
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
                now = cpu_times(self._process)
                stage = f"attributing codecarbon's {how}() figures"
                return self._footprint(self._capture.total, now, duration)
            except Exception as exc:  # noqa: BLE001 - never let the tracker kill a run
                self._fail(stage, exc, tracker_stopped=how == "stop")
        return Footprint(None, None, duration, "unavailable", self._failure, self.carbon_intensity,
                         **self._loads_if_known())

    def _footprint(self, data: Any, now: CpuTimes, duration: float) -> Footprint:
        """This process's part of codecarbon's cumulative figures, attributed window by window.

        Each read() closes a window; whole-machine figures of that window are split by the
        process's CPU time in that same window (a cumulative share would smear a busy epoch over
        quiet ones).
        """
        figures = {"cpu": float(data.cpu_energy), "ram": float(data.ram_energy), "gpu": float(data.gpu_energy)}
        for name, value in figures.items():
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"codecarbon reported a {name} energy of {value!r} kWh")
        share = busy_share(self._last, now)
        cpu = max(figures["cpu"] - self._seen_kwh["cpu"], 0.0)  # codecarbon's totals only grow
        if self._cpu_tdp_w is not None:
            # codecarbon's process-mode formula (TDP x CPU time / (wall x cores)) on this window's exact
            # CPU times: its own sampling, in 10 ms ticks from a baseline shared between trackers,
            # sometimes charged a short first window for CPU time spent before it (3x, seen here).
            share_of_capacity = capacity_share(self._last, now, self._cores)
            self._kwh["cpu"] += self._cpu_tdp_w * (now.at - self._last.at) * share_of_capacity / 3.6e6
        else:
            self._kwh["cpu"] += cpu * share if self._scale_cpu else cpu  # cpu_load mode: already the process's
        if self._ram_power_w is None:  # measured RAM: the machine's
            self._kwh["ram"] += max(figures["ram"] - self._seen_kwh["ram"], 0.0) * share
        else:  # modelled RAM: the machine's RAM power per CPU second of the process
            share_of_capacity = capacity_share(self._last, now, self._cores)
            self._kwh["ram"] += self._ram_power_w * (now.at - self._last.at) * share_of_capacity / 3.6e6
        self._seen_kwh = {"cpu": figures["cpu"], "ram": figures["ram"]}
        self._last = now
        energy = self._kwh["cpu"] + self._kwh["ram"] + figures["gpu"]  # GPU: the whole device's
        co2 = energy * self.carbon_intensity  # the country's intensity is codecarbon's own, per kWh
        return Footprint(energy, co2, duration, self.mode, self.detail, self.carbon_intensity,
                         **loads(self._first, now))

    def _loads_if_known(self) -> dict[str, float | None]:
        """The load figures for an unavailable Footprint, when psutil still works."""
        try:
            if self._first is not None and self._process is not None:
                return loads(self._first, cpu_times(self._process))
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
