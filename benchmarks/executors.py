"""Serial, worker processes and Ray on the quick profile's tuned-KD grids (one seed), wall time each.

    .venv/bin/python benchmarks/executors.py            # about 12 minutes on 2 cores
    .venv/bin/python benchmarks/executors.py --students mobilenetv2   # one grid of 3 runs

The grid is Table 1's tuned KD for the profile's students at its tau grid (quick: 2 students x
{1, 4, 16} = 6 runs), one seed, from one teacher trained first and copied into a fresh run store
per case, so that every case trains the same 6 runs from scratch. Cases:

- ``serial``: one run after another in this process with the machine's per-training thread count
  (1 on 2 cores: the count every executor uses, so that all give the same numbers);
- ``serial, all cores``: the same with ``GREENKD_TRAINING_SLOTS=1`` (one training on both cores: the
  fair one-at-a-time baseline; its numbers differ, oneDNN's results depend on the thread count);
- ``processes``: 2 worker processes, 1 thread each;
- ``ray``: a local Ray on this machine's cores, 1 CPU per task (its start is timed separately).

Measured, not asserted: nothing here runs in ``make test``. Writes ``benchmarks/results/executors.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

from greenkd_lib.engine.executors import make_executor
from greenkd_lib.paper.lab import Lab
from greenkd_lib.engine.slots import SLOTS_ENV

CASES = ("serial", "serial, all cores", "processes", "ray")


def _grid(lab: Lab, students) -> list:
    return [lab.kd_config({"type": "fixed", "tau": t}, student=s) for s in students for t in lab.profile.tau_grid]


def _case(name: str, base: Path, work: Path, students) -> dict:
    root = work / name.replace(", ", "-").replace(" ", "-")
    shutil.copytree(base, root)  # the teacher only
    lab = Lab("quick", runs_root=root, seeds=[0], progress=False, executor="serial")
    configs = _grid(lab, students)
    started = 0.0
    if name == "ray":
        ray = __import__("ray")
        start = time.perf_counter()
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
        started = time.perf_counter() - start
    if name == "serial, all cores":
        os.environ[SLOTS_ENV] = "1"
    try:
        executor = make_executor({"serial, all cores": "serial"}.get(name, name), device="cpu")
        start = time.perf_counter()
        report = executor.run(configs, lab.store, device="cpu", progress=False)
        wall = time.perf_counter() - start
    finally:
        os.environ.pop(SLOTS_ENV, None)
        if name == "ray":
            __import__("ray").shutdown()
    report.raise_failures()
    energy = sum(lab.store.run(c.to_dict()).result()["footprint"]["energy_kwh"] for c in configs)
    return {"case": name, "runs": len(report.trained), "wall_s": round(wall, 1), "ray_start_s": round(started, 1),
            "energy_kwh": energy, "threads": sorted({lab.store.run(c.to_dict()).result()["torch_threads"]
                                                     for c in configs})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", nargs="+", default=None, help="default: the quick profile's two")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "executors.json"))
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    with tempfile.TemporaryDirectory(prefix="greenkd-executors-") as tmp:
        work = Path(tmp)
        teacher_lab = Lab("quick", runs_root=work / "base", seeds=[0], progress=False, executor="serial")
        students = args.students or list(teacher_lab.profile.students)
        start = time.perf_counter()
        teacher_lab.run(teacher_lab.teacher_config())
        print(f"teacher trained in {time.perf_counter() - start:.1f} s; grid: {len(_grid(teacher_lab, students))} runs "
              f"({', '.join(students)} x tau {list(teacher_lab.profile.tau_grid)})", flush=True)
        rows = []
        for name in args.cases:
            rows.append(_case(name, work / "base", work, students))
            print(json.dumps(rows[-1]), flush=True)
    base = {r["case"]: r["wall_s"] for r in rows}
    print("\n| case | runs | wall (s) | vs serial | vs serial, all cores | energy (kWh) |\n|---|---|---|---|---|---|")
    for r in rows:
        ratios = [f"{base[b] / r['wall_s']:.2f}x" if b in base else "-" for b in ("serial", "serial, all cores")]
        extra = f" (+{r['ray_start_s']} s start)" if r["ray_start_s"] else ""
        print(f"| {r['case']} | {r['runs']} | {r['wall_s']}{extra} | {ratios[0]} | {ratios[1]} | {r['energy_kwh']:.3g} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"cpu_count": os.cpu_count(), "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
