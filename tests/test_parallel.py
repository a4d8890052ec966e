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
