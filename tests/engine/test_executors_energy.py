"""Energy belongs to the run: trainings side by side (as the executors run them) are each charged about
what they cost alone."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def _train_smoke_teacher(root: str, seed: int) -> dict:
    import torch

    from greenkd_lib.engine.configs import teacher_config
    from greenkd_lib.config.profiles import get_profile
    from greenkd_lib.runs import RunStore
    from greenkd_lib.engine.train import get_or_run

    torch.set_num_threads(1)  # as a worker of the processes executor on 2 cores
    cfg = teacher_config(get_profile("smoke", max_batches=6), "resnet18", "digits", seed)
    return get_or_run(cfg, store=RunStore(root), device="cpu", progress=False)["footprint"]


def test_two_trainings_at_once_are_each_charged_about_what_one_costs_alone(tmp_path):
    """Energy belongs to the run: the same training costs about the same beside another one."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        pool.apply(_train_smoke_teacher, (str(tmp_path / "warm"), 9))  # imports and codecarbon's first probe
        alone = pool.apply(_train_smoke_teacher, (str(tmp_path / "alone"), 0))
        pair = pool.starmap(_train_smoke_teacher, [(str(tmp_path / "a"), 0), (str(tmp_path / "b"), 0)])
    assert alone["mode"] != "unavailable", alone["detail"]
    ratios = [fp["energy_kwh"] / alone["energy_kwh"] for fp in pair]
    print(f"\nalone {alone['energy_kwh'] * 3.6e6:.1f} J in {alone['duration_s']:.1f} s; at once "
          + ", ".join(f"{fp['energy_kwh'] * 3.6e6:.1f} J in {fp['duration_s']:.1f} s" for fp in pair)
          + f"; ratios {[round(r, 2) for r in ratios]}")
    assert all(0.6 < r < 1.6 for r in ratios), ratios
