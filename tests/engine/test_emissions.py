"""Every run a process trains leaves one row in its store's codecarbon emissions.csv, with the run's own figures."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from codecarbon.output_methods.emissions_data import EmissionsData

from greenkd_lib.carbon.emissions_csv import COLUMNS
from greenkd_lib.config.profiles import get_profile
from greenkd_lib.engine.configs import teacher_config
from greenkd_lib.engine.emissions import emissions_path
from greenkd_lib.engine.train import get_or_run
from greenkd_lib.runs import RunStore

pytestmark = pytest.mark.slow

TINY = get_profile("smoke", epochs=1, max_batches=2)


def _rows(store: RunStore) -> list[EmissionsData]:
    """The file as codecarbon's own records (run ids as text: a hash may be all digits)."""
    table = pd.read_csv(emissions_path(store), dtype={"run_id": str, "project_name": str, "experiment_id": str})
    assert list(table.columns) == list(COLUMNS)
    return [EmissionsData(**record) for record in table.to_dict("records")]


def test_a_trained_run_appends_its_own_footprint_once(tmp_path, one_thread):
    store = RunStore(tmp_path / "runs")
    first = get_or_run(teacher_config(TINY, "shufflenetv2", "digits", seed=0), store=store, device="cpu",
                       progress=False)
    assert emissions_path(store) == tmp_path / "runs" / "emissions.csv"
    (row,) = _rows(store)
    footprint = first["footprint"]
    assert (row.run_id, row.project_name, row.experiment_id) == (first["hash"], first["label"], "smoke")
    assert row.timestamp == first["finished_at"]
    assert row.duration == footprint["duration_s"]
    assert row.tracking_mode == footprint["attribution"] == "process"
    if footprint["mode"] == "unavailable":  # codecarbon failed here: no figures, and none made up
        assert math.isnan(row.energy_consumed) and math.isnan(row.emissions)
    else:
        assert row.energy_consumed == footprint["energy_kwh"]  # kWh: the run's own figure, not a second measurement
        assert row.emissions == pytest.approx(footprint["co2_g"] / 1000, rel=1e-15)  # codecarbon's kg CO2eq

    # Read back from the store: no second row. Another run: its own row.
    again = get_or_run(teacher_config(TINY, "shufflenetv2", "digits", seed=0), store=store, device="cpu",
                       progress=False)
    assert again["hash"] == first["hash"] and again["finished_at"] == first["finished_at"]
    assert len(_rows(store)) == 1
    second = get_or_run(teacher_config(TINY, "shufflenetv2", "digits", seed=1), store=store, device="cpu",
                        progress=False)
    assert [r.run_id for r in _rows(store)] == [first["hash"], second["hash"]]
    assert store.list()["hash"].tolist() == sorted([first["hash"], second["hash"]])  # the file is not a run
