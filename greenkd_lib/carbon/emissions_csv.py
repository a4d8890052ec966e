"""codecarbon's own ``emissions.csv``: one row per finished run, in codecarbon's columns and units.

The row carries a run's own :class:`~.footprint.Footprint` (the energy attributed to the run's
process, see ``meter.py``), not a second measurement, converted to codecarbon's units: kWh, kg
CO2eq, seconds, kg/s, percent. It is built as codecarbon's ``EmissionsData`` and written by its
``FileOutput``, so codecarbon's tools read the file as one of theirs. Columns for figures a Footprint
does not keep (the CPU/GPU/RAM split of the energy, power per component, location) are left empty
rather than guessed.

Several processes may finish runs at once: every append holds a file lock beside the file.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from codecarbon.output_methods.emissions_data import EmissionsData
from codecarbon.output_methods.file import FileOutput
from filelock import FileLock

from .footprint import Footprint
from .intensity import country_name
from .meter import detected_machine

__all__ = ["EMISSIONS_FILE", "COLUMNS", "emissions_data", "append_emissions"]

EMISSIONS_FILE = "emissions.csv"
"""codecarbon's default file name (``output_file``); ``.gitignore`` lists it."""

COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(EmissionsData))
"""The file's columns, in the order codecarbon's ``FileOutput`` writes a new file's header."""

_NAN = float("nan")  # codecarbon's "no figure": pandas writes an empty cell


def _or_nan(value: float | None, scale: float = 1.0) -> float:
    return _NAN if value is None else value * scale


def emissions_data(footprint: Footprint, *, project_name: str, run_id: str, timestamp: str,
                   experiment_id: str = "", country_iso_code: str | None = None) -> EmissionsData:
    """``footprint`` as codecarbon's record of a run: one row of its emissions.csv.

    ``country_iso_code``: the grid the CO2 was charged at (None: a forced intensity, and the country
    columns stay empty). The machine columns are codecarbon's detection of this machine.
    """
    machine = detected_machine()
    kg = _NAN if footprint.co2_g is None else footprint.co2_g / 1000  # codecarbon's emissions are kg CO2eq, ours g
    kwh = _or_nan(footprint.energy_kwh)
    duration = footprint.duration_s
    return EmissionsData(
        timestamp=timestamp,
        project_name=project_name,
        run_id=run_id,
        experiment_id=experiment_id,
        duration=duration,
        emissions=kg,
        emissions_rate=kg / duration if duration > 0 else (_NAN if math.isnan(kg) else 0.0),  # kg/s
        # The Footprint keeps the total only: the split and the power per component are unknown.
        cpu_power=_NAN, gpu_power=_NAN, ram_power=_NAN,
        cpu_energy=_NAN, gpu_energy=_NAN, ram_energy=_NAN,
        energy_consumed=kwh,
        water_consumed=_NAN if math.isnan(kwh) else 0.0,  # wue 0 (the meter's tracker's default): no water
        country_name=country_name(country_iso_code) if country_iso_code else "",
        country_iso_code=country_iso_code or "",
        region="",
        cloud_provider="", cloud_region="", on_cloud="N",
        os=machine.get("os") or "",
        python_version=machine.get("python_version") or "",
        codecarbon_version=machine.get("codecarbon_version") or "",
        cpu_count=_or_nan(machine.get("cpu_count")),
        cpu_model=machine.get("cpu_model") or "",
        gpu_count=_or_nan(machine.get("gpu_count")),
        gpu_model=machine.get("gpu_model") or "",
        longitude=_NAN, latitude=_NAN,  # the offline tracker never locates the machine
        ram_total_size=_or_nan(machine.get("ram_total_size")),
        tracking_mode=footprint.attribution,  # "process" (codecarbon's name too), or "machine" for old results
        cpu_utilization_percent=_or_nan(footprint.machine_load, 100.0),
        gpu_utilization_percent=_NAN, ram_utilization_percent=_NAN, ram_used_gb=_NAN,
        pue=1.0,  # the meter's tracker runs with pue=1.0
        wue=0.0,
    )


def append_emissions(path: str | Path, data: EmissionsData, *, timeout: float = 120.0) -> Path:
    """Append ``data`` to the emissions.csv at ``path`` with codecarbon's ``FileOutput`` (created with
    its header when missing; codecarbon backs up a file whose columns differ and starts a new one).

    A lock file ``.<name>.lock`` beside it serialises concurrent appends; ``timeout``: seconds to wait
    for it (``filelock.Timeout`` after that).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path.with_name(f".{path.name}.lock"), timeout=timeout):
        FileOutput(path.name, str(path.parent), on_csv_write="append").out(data, None)
    return path

