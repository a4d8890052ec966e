"""What codecarbon reads on this machine, from its detected hardware list: whether the energy is
measured or modelled, how each part becomes the measuring process's, and the figures the meter
needs to charge modelled parts per CPU second.

codecarbon is imported inside the functions: :mod:`greenkd_lib.carbon.meter` quiets its logger
before the first import.
"""

from __future__ import annotations

__all__ = ["describe", "attribution_plan", "cpu_load_tdp"]

_SHARE = " x CPU-time share"  # a whole-machine figure split by the process's share of busy CPU time
_PER_CPU_S = " x process CPU time"  # a whole-machine power charged per CPU second of the process


def describe(hardware: list) -> tuple[str, str]:
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


def attribution_plan(hardware: list) -> tuple[bool, float | None]:
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


def cpu_load_tdp(hardware: list) -> float | None:
    """The TDP (W) of a CPU that codecarbon estimates from load, else None (a counter, or no CPU)."""
    from codecarbon.external.hardware import CPU

    for hw in hardware:
        if isinstance(hw, CPU) and getattr(hw, "_mode", "") == "cpu_load":
            tdp = getattr(hw, "_tdp", None)
            return float(tdp) if isinstance(tdp, (int, float)) and tdp > 0 else None
    return None
