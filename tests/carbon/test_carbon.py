"""Carbon accounting: codecarbon really runs (offline tracker) around a little CPU work."""

from __future__ import annotations

import math
import multiprocessing
import os
import socket
import time

import pytest

from greenkd_lib.carbon import (CarbonMeter, DISTURBED_OTHER_LOAD, Footprint, measure_inference, measurement_mode,
                                meter as meter_module, PAPER_CARBON_INTENSITY, set_sibling_processes,
                                to_gflops_millions, training_flops)
from greenkd_lib.carbon.attribution import CpuTimes


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


def test_footprint_records_the_machine_load(offline):
    with CarbonMeter(measure_power_secs=0.1) as meter:
        busy(0.3)
        first = meter.read()
        busy(0.1)
    fp = meter.stop()
    for f in (first, fp):
        assert f.attribution == "process"
        assert 0 <= f.other_load <= f.machine_load <= 1
        assert f.machine_load > 0.2 / os.cpu_count()  # this process was busy on one core
        assert f.disturbed is (f.other_load > DISTURBED_OTHER_LOAD)
    assert Footprint.from_dict(fp.to_dict()) == fp
    assert "process CPU time" in fp.detail or "CPU-time share" in fp.detail


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


# -- per-process attribution -------------------------------------------------------------------

_PAIR = None  # a Barrier shared by the two workers of a pool


def _join_pair(barrier) -> None:
    global _PAIR
    _PAIR = barrier
    measurement_mode()  # codecarbon's one-off hardware probe, before anything is measured


def _wait_for_the_other(_=None) -> None:
    _PAIR.wait(timeout=60)


def _fixed_work(iterations: int) -> int:
    x = 0
    for i in range(iterations):
        x += i * i % 7
    return x


def _charge(iterations: int, together: bool) -> dict:
    """The meter's charge for a fixed amount of work, and what codecarbon's machine mode charged."""
    if together:
        _wait_for_the_other()
    capture = meter_module._Capture()
    machine = meter_module._make_tracker(PAPER_CARBON_INTENSITY, None, 0.5, [capture], tracking_mode="machine")
    meter_module._unsuppressed(machine, "start")()
    with CarbonMeter(measure_power_secs=0.5) as meter:
        _fixed_work(iterations)
    meter_module._unsuppressed(machine, "stop")()
    return {"footprint": meter.stop().to_dict(), "machine_kwh": float(capture.total.energy_consumed)}


def test_two_runs_at_once_are_each_charged_about_what_they_cost_alone():
    import psutil

    t0 = time.perf_counter()
    _fixed_work(200_000)
    iterations = int(200_000 * 1.2 / (time.perf_counter() - t0))  # about 1.2 s of one core
    background = psutil.cpu_percent(interval=0.5) / 100  # other people's load before we start
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2, initializer=_join_pair, initargs=(ctx.Barrier(2),)) as pool:
        pool.map(_wait_for_the_other, [0, 1], chunksize=1)  # both workers started, probed, and idle
        alone = pool.apply(_charge, (iterations, False))
        pair = pool.starmap(_charge, [(iterations, True)] * 2, chunksize=1)
    alone_fp = Footprint.from_dict(alone["footprint"])
    pair_fp = [Footprint.from_dict(r["footprint"]) for r in pair]
    ratios = [fp.energy_kwh / alone_fp.energy_kwh for fp in pair_fp]
    machine_ratios = [r["machine_kwh"] / alone["machine_kwh"] for r in pair]
    print(f"\nalone: {alone_fp.energy_kwh * 3.6e6:.2f} J in {alone_fp.duration_s:.2f} s, other_load "
          f"{alone_fp.other_load:.2f} (background before: {background:.2f}); at once: "
          + ", ".join(f"{fp.energy_kwh * 3.6e6:.2f} J in {fp.duration_s:.2f} s, other_load {fp.other_load:.2f}"
                      for fp in pair_fp)
          + f"\nconcurrent/alone: process {[round(r, 2) for r in ratios]}, "
          f"codecarbon machine mode {[round(r, 2) for r in machine_ratios]}")
    for fp, ratio in zip(pair_fp, ratios):
        assert fp.mode == alone_fp.mode != "unavailable", fp.detail
        assert 0.6 < ratio < 1.6, ratio
    # The machine may be shared: the load comparisons hold only where the alone run had it to itself.
    if background < 0.05 and alone_fp.other_load is not None and alone_fp.other_load < 0.1:
        for fp in pair_fp:
            assert fp.other_load > alone_fp.other_load  # the other copy is "other" load
            assert fp.other_load > 0.5 / os.cpu_count()  # ... about one busy core of the machine
            if os.cpu_count() <= 4:
                assert fp.disturbed
        assert alone_fp.other_load < min(fp.other_load for fp in pair_fp) / 2


def test_whole_machine_figures_are_split_window_by_window():
    from types import SimpleNamespace

    T = CpuTimes

    def data(cpu_j, ram_j, gpu_j):
        return SimpleNamespace(cpu_energy=cpu_j / 3.6e6, ram_energy=ram_j / 3.6e6, gpu_energy=gpu_j / 3.6e6)

    # As with RAPL: the CPU figure is the package's; RAM modelled at 36 W for the machine (2 cores).
    meter = CarbonMeter(carbon_intensity=100.0)
    meter.mode, meter.detail = "measured", "RAPL x CPU-time share"
    meter._scale_cpu, meter._ram_power_w, meter._cores = True, 36.0, 2
    meter._first = meter._last = T(at=0.0, process_s=0.0, busy_s=0.0, total_s=0.0)
    # 10 s: the machine was busy 10 of 20 CPU seconds, 5 of them this process's
    first = meter._footprint(data(100.0, 999.0, 50.0), T(10.0, 5.0, 10.0, 20.0), 10.0)
    # CPU 100 J x 5/10 + RAM 36 W x 10 s x 5/20 + the GPU's 50 J (the whole device's)
    assert first.energy_kwh * 3.6e6 == pytest.approx(50 + 90 + 50)
    assert first.co2_g == pytest.approx(first.energy_kwh * 100.0)
    assert (first.machine_load, first.other_load, first.disturbed) == (0.5, 0.25, True)
    # 10 s more: 400 J of package energy, all 20 busy CPU seconds this process's
    second = meter._footprint(data(500.0, 999.0, 80.0), T(20.0, 25.0, 30.0, 40.0), 20.0)
    assert second.energy_kwh * 3.6e6 == pytest.approx((50 + 400) + (90 + 360) + 80)  # not 500 x 25/30
    assert (second.machine_load, second.other_load) == (0.75, 0.125)

    # A CPU estimated by codecarbon's process mode is already the process's; measured RAM is split.
    meter = CarbonMeter(carbon_intensity=100.0)
    meter.mode, meter.detail = "estimate", "CPU TDP x process CPU time"
    meter._scale_cpu, meter._ram_power_w = False, None
    meter._first = meter._last = T(0.0, 0.0, 0.0, 0.0)
    fp = meter._footprint(data(100.0, 40.0, 0.0), T(10.0, 5.0, 10.0, 20.0), 10.0)
    assert fp.energy_kwh * 3.6e6 == pytest.approx(100 + 40 * 5 / 10)


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
        assert 0 <= f.other_load <= f.machine_load <= 1  # psutil still works: the load is still known


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


def test_to_gflops_millions():
    assert to_gflops_millions(6.42e15) == pytest.approx(6.42)
    assert to_gflops_millions(training_flops(10**9, 10**6)) == pytest.approx(3.0)
    for bad in (-1.0, float("inf"), "1e15"):
        with pytest.raises(ValueError):
            to_gflops_millions(bad)


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
    assert set(out) == {"time_s", "images", "energy_kwh", "co2_g", "mode", "detail", "machine_load", "other_load",
                        "disturbed"}
    if out["machine_load"] is not None:  # None: the pass was shorter than the kernel's 10 ms CPU-time tick
        assert 0 <= out["other_load"] <= out["machine_load"] <= 1
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


def _spin(seconds: float, started=None) -> None:
    if started is not None:
        started.set()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def _spin_until(stop, started) -> None:
    started.set()
    while not stop.is_set():
        pass


def _measure_beside(sibling_pid: int, queue) -> None:
    import psutil

    set_sibling_processes(lambda: [psutil.Process(sibling_pid)])
    with CarbonMeter(measure_power_secs=0.5) as meter:
        _spin(1.5)
    queue.put(meter.stop().to_dict())


def test_declared_sibling_workers_are_not_a_disturbance():
    """executors/processes.py's workers declare each other: their load is sibling_load, not other_load."""
    ctx = multiprocessing.get_context("spawn")
    started, stop, queue = ctx.Event(), ctx.Event(), ctx.Queue()
    # Two processes side by side, as two workers of a pool are (siblings, not parent and child). The
    # sibling spins until the measurement is in: on a loaded machine the measurer's start (spawn
    # imports this module, torch included) has taken longer than any fixed spin.
    sibling = ctx.Process(target=_spin_until, args=(stop, started))
    sibling.start()
    try:
        assert started.wait(60), "the sibling process did not start"  # spawn imports this module first
        measurer = ctx.Process(target=_measure_beside, args=(sibling.pid, queue))
        measurer.start()
        fp = Footprint.from_dict(queue.get(timeout=120))
        measurer.join()
    finally:
        stop.set()
        sibling.join()
    # Up to one core of two on a quiet machine; a loaded one (seen: 0.09 beside other test runs) gives the
    # spinning sibling less: what is checked is that its time is seen and named as a sibling's.
    assert fp.sibling_load is not None and fp.sibling_load > 0.02, fp
    # The sibling's time is taken out of other_load, not added beside it (other work may also run).
    assert fp.other_load + fp.sibling_load <= fp.machine_load + 1e-6


def test_training_flops_takes_a_methods_own_cost_per_sample():
    # DML trains two networks: its per-sample cost replaces 3 x student + teacher.
    assert training_flops(10, 4, teacher_forward=5, eval_samples=2, train_per_sample=66) == 66 * 4 + 10 * 2
    assert training_flops(10, 4, teacher_forward=5) == training_flops(10, 4, train_per_sample=35)
    with pytest.raises(ValueError, match="train_per_sample"):
        training_flops(10, 4, train_per_sample=-1)
