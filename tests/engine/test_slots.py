"""Training slots: a machine-wide cap on concurrent trainings and one thread count for all of them."""

import subprocess
import sys
import textwrap
import time

import pytest
import torch

from greenkd_lib.engine import slots


@pytest.fixture
def slot_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # a private slot folder, away from real trainings
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_the_slot_count_comes_from_the_environment_or_the_machine(monkeypatch):
    monkeypatch.setenv(slots.SLOTS_ENV, "3")
    assert slots.slot_count("cpu") == 3
    monkeypatch.delenv(slots.SLOTS_ENV)
    assert slots.slot_count("cpu") in (1, 2)
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(slots.SLOTS_ENV, bad)
        with pytest.raises(ValueError, match="GREENKD_TRAINING_SLOTS=.*whole number >= 1"):
            slots.slot_count("cpu")


def test_a_training_computes_with_the_machines_thread_count_and_gives_the_old_one_back(slot_dir, monkeypatch):
    monkeypatch.setenv(slots.SLOTS_ENV, "1")
    before = torch.get_num_threads()
    with slots.training_slot("cpu") as slot:
        assert slot == 0
        assert torch.get_num_threads() == slots.training_threads("cpu")
    assert torch.get_num_threads() == before


_HOLD = textwrap.dedent("""
    import sys, time, tempfile
    tempfile.tempdir = sys.argv[1]
    from greenkd_lib.engine import slots
    with slots.training_slot("cpu"):
        print("holding", flush=True)
        time.sleep(float(sys.argv[2]))
""")


def test_a_second_process_waits_for_the_slot_and_sees_the_holder(slot_dir, monkeypatch):
    monkeypatch.setenv(slots.SLOTS_ENV, "1")
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(slot_dir), "3"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        assert slots.holders("cpu") == [holder.pid]
        start = time.monotonic()
        with slots.training_slot("cpu"):
            waited = time.monotonic() - start
        assert waited > 1.0  # it waited for the holder to finish
    finally:
        holder.wait(timeout=30)
    assert slots.holders("cpu") == []


def test_a_killed_holder_frees_its_slot(slot_dir, monkeypatch):
    monkeypatch.setenv(slots.SLOTS_ENV, "1")
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(slot_dir), "60"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "holding"
    holder.kill()
    holder.wait(timeout=30)
    start = time.monotonic()
    with slots.training_slot("cpu"):
        assert time.monotonic() - start < 5


def test_while_training_the_other_slot_holders_are_the_meters_siblings(slot_dir, monkeypatch):
    from greenkd_lib.carbon import attribution

    monkeypatch.setenv(slots.SLOTS_ENV, "2")
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(slot_dir), "20"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        before = attribution.set_sibling_processes(None)
        with slots.training_slot("cpu"):
            assert [p.pid for p in attribution._SIBLINGS()] == [holder.pid]
        assert attribution.set_sibling_processes(before) is None  # restored
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_a_cpu_training_keeps_its_device_and_gpu_slots_are_per_visible_set(monkeypatch):
    assert slots.slot_device("cpu", 1) == "cpu"
    assert slots.slot_device(None, 0) is None or not torch.cuda.is_available()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2")
    two = slots._folder("cuda")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    assert slots._folder("cuda") != two and two.name == "cuda-2"  # two Ray tasks on two GPUs do not wait for each other
