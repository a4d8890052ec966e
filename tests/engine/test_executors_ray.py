"""The ray executor on a local Ray cluster started by the test (this machine's cores): a smoke tau grid
gives exactly the serial executor's numbers and about the same energy per run; a failed or killed run
loses no other, and a re-run completes the grid."""

from __future__ import annotations

import os

import pytest

from greenkd_lib.engine.configs import run_label
from greenkd_lib.engine.executors import RayExecutor
from greenkd_lib.paper.lab import Lab
from tests.helpers.executors import kill_during, numbers, tau_grid

ray = pytest.importorskip("ray", reason='Ray is an optional extra: pip install -e ".[ray]" (make test installs it)')

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_cluster():
    """A local Ray with 2 CPUs, shut down after the module's tests."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_a_ray_grid_equals_the_serial_grid_and_charges_each_run_about_the_same(tmp_path, local_cluster):
    serial = Lab("smoke", runs_root=tmp_path / "serial", progress=False, executor="serial", max_batches=6)
    report = serial.executor.run(tau_grid(serial, seeds=(0,)), serial.store, device="cpu", progress=False)
    assert report.ok and len(report.trained) == 3

    lab = Lab("smoke", runs_root=tmp_path / "ray", progress=False, executor="ray", max_batches=6)
    report = lab.executor.run(tau_grid(lab, seeds=(0,)), lab.store, device="cpu", progress=False)
    assert report.ok and len(report.trained) == 3, report
    ratios = []
    for cfg in [lab.teacher_config(), *tau_grid(lab, seeds=(0,))]:
        assert numbers(lab.store, cfg) == numbers(serial.store, cfg), run_label(cfg)
        ours, theirs = lab.store.run(cfg.to_dict()).result(), serial.store.run(cfg.to_dict()).result()
        ratios.append(ours["footprint"]["energy_kwh"] / theirs["footprint"]["energy_kwh"])
    ratios.sort()
    print(f"\nenergy per run, ray / serial: {[round(r, 2) for r in ratios]}")
    assert 0.5 < ratios[len(ratios) // 2] < 2.0, ratios  # the median run: about what it cost alone
    assert lab.kd_grid()["test_acc"].tolist() == serial.kd_grid()["test_acc"].tolist()  # read back, not trained


def test_a_failed_teacher_blocks_only_its_students_and_a_rerun_completes(tmp_path, local_cluster):

    from tests.helpers import datagen

    lab = Lab("smoke", runs_root=tmp_path / "runs", data_root=tmp_path / "data", progress=False, executor="ray")
    cifar = lab.across("cifar10")[0]
    grid = tau_grid(lab, seeds=(0,)) + [cifar.kd_config({"type": "fixed", "tau": 4.0})]
    report = lab.executor.run(grid, lab.store, data_root=lab.data_root, device="cpu", progress=False)
    assert len(report.trained) == 3
    reasons = {failure.label: failure.reason for failure in report.failed}
    assert "DatasetNotFoundError" in reasons[run_label(cifar.teacher_config())], reasons
    assert reasons[run_label(grid[-1])].startswith("not trained: its teacher"), reasons
    datagen.write_cifar10(tmp_path / "data")
    again = lab.executor.run(grid, lab.store, data_root=lab.data_root, device="cpu", progress=False)
    assert again.ok and again.stored == 2 and len(again.trained) == 2, again


def test_a_killed_ray_worker_loses_no_finished_run_and_the_rerun_completes_the_grid(tmp_path, local_cluster):
    lab = Lab("smoke", runs_root=tmp_path / "runs", progress=False, seeds=[0, 1], epochs=2, max_batches=6)
    lab.run(lab.teacher_config())
    configs = tau_grid(lab)
    executor = RayExecutor(retries=0)  # the kill shows as a failure here (the default retries it at once)
    report, killed = kill_during(executor, lab, configs)
    assert len(killed) == 1, "the test never saw a run finish while another trained"
    assert [failure.hash for failure in report.failed] == killed
    assert "WorkerCrashedError" in report.failed[0].reason or "died" in report.failed[0].reason
    assert len(report.trained) == 3
    again = executor.run(configs, lab.store, device="cpu", progress=False)
    assert again.ok and again.stored == 3 and len(again.trained) == 1


def test_a_killed_worker_is_retried_by_ray_by_default(tmp_path, local_cluster):
    lab = Lab("smoke", runs_root=tmp_path / "runs", progress=False, seeds=[0, 1], epochs=2, max_batches=6)
    lab.run(lab.teacher_config())
    configs = tau_grid(lab)
    report, killed = kill_during(RayExecutor(), lab, configs)
    assert len(killed) == 1 and report.ok and len(report.trained) == 4, report


def test_the_batch_gives_its_kernels_the_address_of_its_ray(local_cluster, monkeypatch):
    from greenkd_lib.batch.reproduce import _ray_for_kernels

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with _ray_for_kernels("ray", None):  # kernels started now join this process's Ray
        assert os.environ["RAY_ADDRESS"] == ray.get_runtime_context().gcs_address
    assert "RAY_ADDRESS" not in os.environ and ray.is_initialized()  # not ours to stop
    with _ray_for_kernels("ray", "ray://head:10001"):
        assert os.environ["RAY_ADDRESS"] == "ray://head:10001"
    with _ray_for_kernels("processes", None):
        assert "RAY_ADDRESS" not in os.environ
