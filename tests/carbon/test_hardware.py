"""What codecarbon reads here (greenkd_lib.carbon.hardware): the attribution plan per hardware list."""

from __future__ import annotations

import pytest

from greenkd_lib.carbon.hardware import attribution_plan


def test_attribution_plan_follows_codecarbons_hardware():
    from codecarbon.external.hardware import CPU
    from codecarbon.external.ram import RAM

    load = CPU(output_dir=".", mode="cpu_load", model="x", tdp=8, tracking_mode="process")
    rapl_like = CPU(output_dir=".", mode="constant", model="x", tdp=8)  # whole-package, like RAPL
    ram = RAM(tracking_mode="process")
    machine_ram_w = RAM(tracking_mode="machine").total_power().W
    assert attribution_plan([load, ram]) == (False, pytest.approx(machine_ram_w))
    assert attribution_plan([rapl_like, ram]) == (True, pytest.approx(machine_ram_w))
    assert attribution_plan([load]) == (False, None)
    forced = RAM(tracking_mode="process", force_ram_power=7)
    assert attribution_plan([load, forced])[1] == 7


def test_describe_and_tdp_of_a_load_estimated_cpu():
    from codecarbon.external.hardware import CPU
    from codecarbon.external.ram import RAM

    from greenkd_lib.carbon.hardware import cpu_load_tdp, describe

    load = CPU(output_dir=".", mode="cpu_load", model="x", tdp=8, tracking_mode="process")
    constant = CPU(output_dir=".", mode="constant", model="x", tdp=8)
    mode, detail = describe([RAM(tracking_mode="process"), load])
    assert mode == "estimate"
    assert detail == "CPU TDP x process CPU time (8 W TDP) + RAM model x process CPU time"  # CPU first
    assert describe([]) == ("estimate", "codecarbon found no hardware to read")
    assert cpu_load_tdp([load]) == 8.0 and cpu_load_tdp([constant]) is None and cpu_load_tdp([]) is None
