"""Independent runs trained side by side in worker processes, teachers first, each once."""

from __future__ import annotations

import pytest

from greenkd_lib.experiments import Lab
from greenkd_lib.parallel import check_workers, train_all

pytestmark = pytest.mark.slow


def test_a_grid_trains_in_two_workers_teacher_first(tmp_path):
    lab = Lab("smoke", runs_root=tmp_path / "runs", progress=False, workers=2, seeds=[0, 1])
    configs = [lab.kd_config({"type": "fixed", "tau": t}, seed=s) for t in (2.0, 8.0) for s in (0, 1)]
    trained = train_all(configs, lab.store, workers=2)
    # Every student of a teacher architecture learns from the first seed's teacher: 1 teacher + 4 students.
    assert trained == 5
    for cfg in configs:
        result = lab.store.run(cfg.to_dict()).result()
        assert result is not None and result["epochs"] == lab.profile.epochs
        assert result["torch_threads"] == 1  # 2 cores shared by 2 workers
    assert train_all(configs, lab.store, workers=2) == 0  # all stored: nothing trained again
    grid = lab.kd_grid()  # reads the same runs back
    assert len(grid) == 4 and set(grid["tau"]) == {2.0, 8.0}


def test_one_worker_or_one_run_trains_in_the_callers_process(tmp_path):
    lab = Lab("smoke", runs_root=tmp_path / "runs", progress=False, workers=1)
    assert train_all([lab.teacher_config()], lab.store, workers=2) == 0  # a single run: the caller trains it
    assert train_all([lab.teacher_config(seed=s) for s in (0, 1)], lab.store, workers=1) == 0
    assert lab.store.run(lab.teacher_config().to_dict()).result() is None


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_workers_must_be_a_whole_number(bad):
    with pytest.raises(ValueError, match="workers must be a whole number >= 1"):
        check_workers(bad)
    with pytest.raises(ValueError, match="workers must be a whole number >= 1"):
        Lab("smoke", workers=bad)


def _train_smoke_teacher(root: str, seed: int) -> dict:
    import torch

    from greenkd_lib.config import teacher_config
    from greenkd_lib.profiles import get_profile
    from greenkd_lib.runs import RunStore
    from greenkd_lib.train import get_or_run

    torch.set_num_threads(1)  # as a worker of Lab(workers=2)
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
