"""A smoke tau grid, what a run computed, and a killer of a training mid-grid: for the executors' tests
(tests/engine/test_executors.py and its Ray twin, test_executors_ray.py)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

from greenkd_lib.paper.lab import Lab
from greenkd_lib.runs.locking import owner_path


def tau_grid(lab: Lab, taus=(2.0, 8.0), seeds=(0, 1)):
    return [lab.kd_config({"type": "fixed", "tau": t}, seed=s) for t in taus for s in seeds]


def numbers(store, cfg) -> dict:
    """What a run computed (its metrics without throughput, its loss per epoch, its threads)."""
    run = store.run(cfg.to_dict())
    result = run.result()
    metrics = {k: v for k, v in result["metrics"].items() if k != "images_per_s"}
    return {"metrics": metrics, "loss": run.history()["train_loss"].tolist(), "threads": result["torch_threads"]}


def _kill_a_training_after_one_finished(store, grid_configs, killed: list, stop: threading.Event) -> None:
    """Wait until one run of the grid is stored and another is training, then SIGKILL its process."""
    while not stop.is_set():
        runs = [store.run(cfg.to_dict()) for cfg in grid_configs]
        if any(run.result() is not None for run in runs):
            for run in runs:
                note = owner_path(run.lock_path)
                if run.result() is None and note.exists():
                    pid = json.loads(note.read_text())["pid"]
                    if pid != os.getpid():
                        os.kill(pid, signal.SIGKILL)
                        killed.append(run.hash)
                        return
        time.sleep(0.05)


def kill_during(executor, lab: Lab, configs) -> tuple:
    """Run ``configs`` with ``executor`` while a thread kills one training's process; (report, killed)."""
    killed: list[str] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_a_training_after_one_finished, args=(lab.store, configs, killed, stop))
    killer.start()
    try:
        report = executor.run(configs, lab.store, device="cpu", progress=False)
    finally:
        stop.set()
        killer.join()
    return report, killed
