"""CPU-time attribution (greenkd_lib.carbon.attribution): shares and loads from two fabricated samples."""

from __future__ import annotations

import psutil
import pytest

from greenkd_lib.carbon.attribution import busy_share, capacity_share, cpu_times, CpuTimes, loads


def test_shares_and_loads_of_a_window():
    start = CpuTimes(at=0.0, process_s=0.0, busy_s=0.0, total_s=0.0)
    # 10 s on 2 cores: the machine busy 10 of its 20 CPU seconds, 5 of them this process's
    now = CpuTimes(at=10.0, process_s=5.0, busy_s=10.0, total_s=20.0)
    assert busy_share(start, now) == 0.5
    assert capacity_share(start, now, cores=2) == 0.25
    assert loads(start, now) == {"machine_load": 0.5, "other_load": 0.25, "sibling_load": None}
    # A window shorter than the kernel's tick: no load figures, and nothing to share with.
    assert loads(start, start) == {"machine_load": None, "other_load": None, "sibling_load": None}
    assert busy_share(start, start) == 1.0 and capacity_share(start, start, 2) == 0.0


def test_declared_siblings_move_load_from_other_to_sibling(monkeypatch):
    from greenkd_lib.carbon import attribution

    monkeypatch.setattr(attribution, "_SIBLINGS", lambda: [])
    start = CpuTimes(0.0, 0.0, 0.0, 0.0, {7: 1.0})
    now = CpuTimes(10.0, 5.0, 10.0, 20.0, {7: 3.0, 8: 1.0})  # 8 started inside the window: counted from 0
    assert loads(start, now) == {"machine_load": 0.5, "other_load": pytest.approx(0.1),
                                 "sibling_load": pytest.approx(0.15)}


def test_cpu_times_of_this_process():
    first = cpu_times(psutil.Process())
    sum(i * i for i in range(200_000))
    second = cpu_times(psutil.Process())
    assert second.at > first.at and second.process_s > first.process_s
    assert 0 <= busy_share(first, second) <= 1
