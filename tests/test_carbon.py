"""Carbon accounting: codecarbon really runs (offline tracker) around a little CPU work."""

from __future__ import annotations

import math
import multiprocessing
import os
import socket
import time

import pytest

from greenkd_lib.carbon import (PAPER_CARBON_INTENSITY, CarbonMeter, Footprint, measure_inference,
                                measurement_mode, to_paper_units, training_flops)
from greenkd_lib.carbon import meter as meter_module


def busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < end:
        x += sum(i * i for i in range(1000))


@pytest.fixture
def offline(monkeypatch):
    """Any attempt to open a network connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


# -- CarbonMeter with the real codecarbon --------------------------------------------------------

def test_forced_intensity_gives_co2_equal_energy_times_intensity(offline):
    with CarbonMeter(carbon_intensity=100.0, measure_power_secs=0.1) as meter:
        busy(0.3)
    fp = meter.stop()
    assert fp.energy_kwh is not None and math.isfinite(fp.energy_kwh) and fp.energy_kwh > 0
    assert fp.co2_g == pytest.approx(fp.energy_kwh * 100.0, rel=1e-12)
    assert fp.carbon_intensity == 100.0
    assert 0.25 < fp.duration_s < 5
    mode, detail = measurement_mode()
    assert fp.mode == mode and fp.mode in ("measured", "estimate")
    assert fp.detail == detail and fp.detail
    assert meter.stop() is fp  # stop is idempotent


def test_default_intensity_is_the_papers():
    meter = CarbonMeter()
    assert meter.carbon_intensity == PAPER_CARBON_INTENSITY == 294.21
    with meter:
        busy(0.05)
    fp = meter.stop()
    assert fp.co2_g == pytest.approx(fp.energy_kwh * 294.21, rel=1e-12)


@pytest.mark.parametrize("country", ["FRA", "usa"])
def test_country_mode_works_offline(offline, country):
    meter = CarbonMeter(country_iso_code=country)
    assert meter.country_iso_code == country.upper()
    with meter:
        busy(0.1)
    fp = meter.stop()
    assert fp.mode != "unavailable", fp.detail
    assert fp.energy_kwh > 0 and fp.co2_g > 0
    assert fp.co2_g == pytest.approx(fp.energy_kwh * meter.carbon_intensity, rel=1e-6)


def test_country_intensities_come_from_codecarbons_grid_data():
    france, usa = CarbonMeter(country_iso_code="FRA"), CarbonMeter(country_iso_code="USA")
    assert 10 < france.carbon_intensity < usa.carbon_intensity < 1000


def test_read_is_cumulative_and_monotone():
    meter = CarbonMeter(measure_power_secs=0.1)
    meter.start()
    busy(0.1)
    first = meter.read()
    busy(0.1)
    second = meter.read()
    final = meter.stop()
    assert 0 < first.energy_kwh < second.energy_kwh <= final.energy_kwh
    assert first.co2_g < second.co2_g <= final.co2_g
    assert first.duration_s < second.duration_s <= final.duration_s
    assert meter.read() is final  # after stop, read returns the final figures


def test_several_meters_at_once_in_one_process_and_no_lock_file():
    from codecarbon.lock import LOCKFILE

    outer = CarbonMeter(measure_power_secs=0.1)
    outer.start()
    with CarbonMeter(measure_power_secs=0.1) as inner:
        busy(0.1)
    assert not os.path.exists(LOCKFILE)
    busy(0.05)
    a, b = outer.stop(), inner.stop()
    assert a.mode != "unavailable" and b.mode != "unavailable", (a.detail, b.detail)
    assert a.energy_kwh > b.energy_kwh > 0


def _measure_in_child(seconds: float) -> tuple[str, float | None]:
    with CarbonMeter(measure_power_secs=0.1) as meter:
        busy(seconds)
    fp = meter.stop()
    return fp.mode, fp.energy_kwh


def test_meters_in_parallel_processes():
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.map(_measure_in_child, [0.3, 0.3])
    for mode, energy in results:
        assert mode != "unavailable" and energy > 0


def test_meter_misuse_raises():
    meter = CarbonMeter()
    with pytest.raises(RuntimeError, match="start"):
        meter.read()
    meter.start()
    with pytest.raises(RuntimeError, match="already started"):
        meter.start()
    meter.stop()


# -- a failing tracker never kills the run -------------------------------------------------------

class _Tracker:
    """Stands in for OfflineEmissionsTracker; fails at one stage."""

    fail_at = "init"

    def __init__(self, **kwargs):
        self._maybe_fail("init")

    def _maybe_fail(self, stage):
        if self.fail_at == stage:
            raise PermissionError(f"simulated {stage} failure: /sys/class/powercap denied")

    def get_detected_hardware(self):
        self._maybe_fail("init")

    def start(self):
        self._maybe_fail("start")

    def flush(self):
        self._maybe_fail("flush")

    def stop(self):
        self._maybe_fail("stop")


@pytest.mark.parametrize("stage", ["init", "start", "flush", "stop"])
def test_failing_tracker_gives_unavailable_with_reason(monkeypatch, stage):
    monkeypatch.setattr(meter_module, "OfflineEmissionsTracker", type("T", (_Tracker,), {"fail_at": stage}))
    meter = CarbonMeter()
    meter.start()
    busy(0.02)
    fp = meter.read() if stage != "stop" else meter.stop()
    final = meter.stop()
    for f in (fp, final):
        assert f.mode == "unavailable"
        assert f.energy_kwh is None and f.co2_g is None
        assert "simulated" in f.detail and "PermissionError" in f.detail and stage in f.detail
        assert f.duration_s > 0.015


def test_error_swallowed_by_codecarbon_still_reaches_detail(monkeypatch):
    # codecarbon's own flush() catches and logs every exception; the meter must still see it.
    from codecarbon.emissions_tracker import BaseEmissionsTracker

    def broken(self, *args, **kwargs):
        raise OSError("energy counter vanished")

    meter = CarbonMeter()
    meter.start()
    monkeypatch.setattr(BaseEmissionsTracker, "_prepare_emissions_data", broken)
    fp = meter.read()
    assert fp.mode == "unavailable" and "energy counter vanished" in fp.detail
    monkeypatch.undo()
    assert meter.stop().mode == "unavailable"


def test_measurement_mode_reports_failure(monkeypatch):
    monkeypatch.setattr(meter_module, "OfflineEmissionsTracker", _Tracker)
    mode, detail = measurement_mode()
    assert mode == "unavailable" and "simulated init failure" in detail


# -- bad input ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    (dict(country_iso_code="FRA", carbon_intensity=294.21), "not both"),
    (dict(carbon_intensity=-1.0), ">= 0"),
    (dict(carbon_intensity=float("nan")), "finite"),
    (dict(carbon_intensity="294"), "number"),
    (dict(country_iso_code="XYZ"), "unknown country_iso_code 'XYZ'"),
    (dict(country_iso_code="FR"), "'FRA' \\(France\\)"),
    (dict(country_iso_code="Germany"), "'DEU'"),
    (dict(measure_power_secs=0), "measure_power_secs"),
])
def test_invalid_meter_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CarbonMeter(**kwargs)


# -- Footprint ------------------------------------------------------------------------------------

def test_footprint_addition():
    a = Footprint(1.0, 294.21, 10.0, "measured", "RAPL", 294.21)
    b = Footprint(0.5, 147.105, 5.0, "estimate", "CPU TDP x load", 294.21)
    s = a + b
    assert (s.energy_kwh, s.duration_s, s.mode) == (1.5, 15.0, "estimate")
    assert s.co2_g == pytest.approx(441.315)
    assert s.carbon_intensity == 294.21 and s.detail == "RAPL; CPU TDP x load"
    gone = Footprint(None, None, 2.0, "unavailable", "no tracker", 294.21)
    u = s + gone
    assert u.energy_kwh is None and u.co2_g is None and u.mode == "unavailable" and u.duration_s == 17.0
    assert Footprint.zero() + a == a and a + Footprint.zero(294.21) == a
    assert (Footprint.zero(50.0) + Footprint(1.0, 2.0, 1.0, "estimate")).carbon_intensity == 50.0
    mixed = a + Footprint(1.0, 56.0, 1.0, "measured", "RAPL", 56.0)
    assert mixed.carbon_intensity == pytest.approx((294.21 + 56.0) / 2)
    assert sum([a, b], Footprint.zero()) == s


def test_footprint_dict_round_trip_and_validation():
    fp = Footprint(1.0, 294.21, 10.0, "estimate", "CPU TDP x load + RAM model", 294.21)
    d = fp.to_dict()
    assert set(d) == {"energy_kwh", "co2_g", "duration_s", "mode", "detail", "carbon_intensity"}
    assert Footprint.from_dict(d) == fp
    with pytest.raises(ValueError, match="missing keys \\['mode'\\]"):
        Footprint.from_dict({k: v for k, v in d.items() if k != "mode"})
    with pytest.raises(ValueError, match="mode must be one of"):
        Footprint(1.0, 1.0, 1.0, "guessed")
    with pytest.raises(ValueError, match="unavailable"):
        Footprint(1.0, 1.0, 1.0, "unavailable")
    with pytest.raises(ValueError, match="energy_kwh"):
        Footprint(-1.0, 1.0, 1.0, "measured")


# -- FLOPs ------------------------------------------------------------------------------------------

def test_training_flops_arithmetic():
    assert training_flops(10, 100) == 3 * 10 * 100  # forward + backward (2x forward)
    assert training_flops(10, 100, teacher_forward=40) == 3000 + 4000
    assert training_flops(10, 100, eval_samples=20) == 3000 + 200
    assert training_flops(10, 100, teacher_forward=40, eval_samples=20, eval_forward=7) == 3000 + 4000 + 140
    assert training_flops(0, 0) == 0
    big = training_flops(556_000_000, 200 * 50_000)  # exact, no float rounding
    assert big == 3 * 556_000_000 * 10_000_000 and isinstance(big, int)


@pytest.mark.parametrize("kwargs, message", [
    (dict(student_forward=-1, train_samples=1), "student_forward must be >= 0"),
    (dict(student_forward=1.5, train_samples=1), "non-negative integer"),
    (dict(student_forward=1, train_samples=True), "train_samples"),
    (dict(student_forward=1, train_samples=1, eval_forward=-3), "eval_forward"),
])
def test_training_flops_rejects_bad_counts(kwargs, message):
    with pytest.raises(ValueError, match=message):
        training_flops(**kwargs)


def test_to_paper_units():
    assert to_paper_units(6.42e15) == pytest.approx(6.42)
    assert to_paper_units(training_flops(10**9, 10**6)) == pytest.approx(3.0)
    for bad in (-1.0, float("inf"), "1e15"):
        with pytest.raises(ValueError):
            to_paper_units(bad)


# -- inference -------------------------------------------------------------------------------------

def test_measure_inference_on_a_tiny_model():
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    data = TensorDataset(torch.randn(200, 3, 4, 4), torch.randint(0, 10, (200,)))
    loader = DataLoader(data, batch_size=32)
    model.train()
    out = measure_inference(model, loader, "cpu", carbon_intensity=100.0)
    assert set(out) == {"time_s", "images", "energy_kwh", "co2_g", "mode", "detail"}
    assert out["images"] == 200 and out["time_s"] > 0
    assert out["mode"] in ("measured", "estimate") and out["energy_kwh"] > 0
    assert out["co2_g"] == pytest.approx(out["energy_kwh"] * 100.0)
    assert model.training  # mode restored
    assert all(p.grad is None for p in model.parameters())

    tensors_only = [torch.randn(8, 3, 4, 4) for _ in range(3)]
    assert measure_inference(model, tensors_only, warmup_batches=0)["images"] == 24
    with pytest.raises(ValueError, match="one-shot iterator"):
        measure_inference(model, iter(tensors_only))
    with pytest.raises(TypeError, match="first item is a tensor"):
        measure_inference(model, [{"x": 1}], warmup_batches=0)
    with pytest.raises(ValueError, match="no batches"):
        measure_inference(model, [], warmup_batches=0)
    with pytest.raises(ValueError, match="not both"):
        measure_inference(model, loader, country_iso_code="FRA", carbon_intensity=1.0)
