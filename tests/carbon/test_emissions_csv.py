"""codecarbon's emissions.csv: a Footprint in codecarbon's columns and units, appended safely by several processes."""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
from pathlib import Path

import pandas as pd
import pytest
from codecarbon.output_methods.emissions_data import EmissionsData
from codecarbon.output_methods.file import FileOutput

from greenkd_lib.carbon import Footprint
from greenkd_lib.carbon.emissions_csv import append_emissions, COLUMNS, emissions_data

FOOTPRINT = Footprint(energy_kwh=2.5e-4, co2_g=2.5e-4 * 294.21, duration_s=12.5, mode="estimate",
                      detail="test", carbon_intensity=294.21, machine_load=0.5, other_load=0.01)


# Run hashes are hex: read as text, or an all-digit one ("1234...") would come back as a number.
ID_COLUMNS = {"run_id": str, "project_name": str, "experiment_id": str}


def _row(run_id: str = "0123456789abcdef", footprint: Footprint = FOOTPRINT, **kw) -> EmissionsData:
    return emissions_data(footprint, project_name=f"resnet18 CE seed 0 ({run_id})", run_id=run_id,
                          timestamp="2026-12-07T22:00:00+00:00", experiment_id="smoke", **kw)


def _read(path: Path) -> list[EmissionsData]:
    """The file as codecarbon's own records: every column must be an EmissionsData field, and back."""
    table = pd.read_csv(path, dtype=ID_COLUMNS)
    assert list(table.columns) == list(COLUMNS)
    return [EmissionsData(**record) for record in table.to_dict("records")]


def test_the_row_is_the_footprint_in_codecarbons_units(tmp_path):
    path = append_emissions(tmp_path / "emissions.csv", _row())
    (row,) = _read(path)
    assert row.energy_consumed == FOOTPRINT.energy_kwh  # kWh, both
    assert row.emissions == pytest.approx(FOOTPRINT.co2_g / 1000, rel=1e-15)  # codecarbon: kg CO2eq
    assert row.emissions_rate == pytest.approx(row.emissions / FOOTPRINT.duration_s)  # kg/s
    assert row.duration == FOOTPRINT.duration_s
    assert row.cpu_utilization_percent == pytest.approx(50.0)
    assert (row.run_id, row.experiment_id, row.tracking_mode) == ("0123456789abcdef", "smoke", "process")
    assert row.codecarbon_version and row.os and row.cpu_count >= 1  # codecarbon's detection of this machine
    # Figures a Footprint does not keep stay empty rather than guessed.
    assert all(math.isnan(getattr(row, name)) for name in ("cpu_energy", "gpu_energy", "ram_energy", "cpu_power"))
    assert FileOutput(path.name, str(tmp_path)).has_valid_headers(_row())  # codecarbon appends to it as its own


def test_a_country_fills_codecarbons_country_columns(tmp_path):
    (row,) = _read(append_emissions(tmp_path / "emissions.csv", _row(country_iso_code="FRA")))
    assert row.country_iso_code == "FRA" and row.country_name == "France"


def test_an_unavailable_measurement_leaves_energy_and_emissions_empty(tmp_path):
    unavailable = Footprint(None, None, 3.0, "unavailable", "codecarbon failed", 294.21)
    (row,) = _read(append_emissions(tmp_path / "emissions.csv", _row(footprint=unavailable)))
    assert math.isnan(row.energy_consumed) and math.isnan(row.emissions) and math.isnan(row.emissions_rate)
    assert row.duration == 3.0


def _append_many(path: str, worker: int, n: int) -> None:
    for i in range(n):
        append_emissions(path, _row(run_id=f"{worker:08d}{i:08d}"))  # all digits: see ID_COLUMNS


def test_concurrent_appends_keep_every_row_whole(tmp_path):
    path = tmp_path / "emissions.csv"
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_append_many, args=(str(path), w, 15)) for w in range(2)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(120)
    assert [p.exitcode for p in workers] == [0, 0]
    rows = _read(path)
    assert sorted(r.run_id for r in rows) == sorted(f"{w:08d}{i:08d}" for w in range(2) for i in range(15))
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".csv"] == ["emissions.csv"]  # no backup: one header


def test_columns_are_codecarbons():
    assert COLUMNS == tuple(f.name for f in dataclasses.fields(EmissionsData))
