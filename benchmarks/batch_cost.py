"""Where a `make reproduce` first run spends its training time, from the run store it left.

    .venv/bin/python benchmarks/batch_cost.py                 # the project's outputs/runs
    .venv/bin/python benchmarks/batch_cost.py /tmp/clone/outputs/runs

Reads each finished run's ``result.json`` (its ``footprint.duration_s`` and ``finished_at``), groups
the trainings by what the series trains them for, and prints a Markdown table, the total, and how
many trainings ran at once over the span from the first to the last (the machine's two training
slots busy, one, or none). Measured, not asserted: nothing here runs in ``make test``.
"""

from __future__ import annotations

import argparse
import collections
import json
from datetime import datetime
from pathlib import Path

# What a training is for, by its result (first match wins).
GROUPS: list[tuple[str, object]] = [
    ("Table 8: quantizing (post-training calibration, quantization-aware training)", lambda r: r["label"] is None),
    ("Table 4: detection rows on digit scenes (the teacher and each objective's grid and ours)", lambda r: r.get("task") == "detection"),
    ("Table 6: data-free synthesizers (tuned and ours, one seed)",
     lambda r: r["method"] in ("dafl", "zskt", "dfq", "deepinv", "cmi")),
    ("Table 6 / 7: the WRN-40-2 teacher, KD grid and ours", lambda r: "wrn" in r["label"]),
    ("Table 4: CMC and DML rows (tuned and ours, one seed)", lambda r: r["method"] in ("cmc", "dml")),
    ("notebook 13: the 'batchmean' grid and ours", lambda r: r["reduction"] == "batchmean" and "->" in r["label"]),
    ("notebook 13: per-epoch, per-sample, narrow and log-uniform tau",
     lambda r: any(p in r["label"] for p in ("/epoch", "/sample", "logU", "{3..6}"))),
    ("Fig 3b: ours at batch 16 and 64", lambda r: r["batch_size"] in (16, 64)),
    ("Table 1, Fig 1: teachers and the student alone", lambda r: "->" not in r["label"]),
    ("Table 1, Fig 1: KD over the tau grid and ours, two students", lambda r: True),
]


def trainings(runs_root: Path) -> list[dict]:
    """One dict per finished training in the store: label, method, start and end (epoch seconds)."""
    out = []
    for path in sorted(runs_root.glob("*/result.json")):
        result = json.loads(path.read_text(encoding="utf-8"))
        if "footprint" not in result or "finished_at" not in result:
            continue  # a derived record without a training (an export)
        config = result.get("config", {})
        end = datetime.fromisoformat(result["finished_at"]).timestamp()
        duration = float(result["footprint"]["duration_s"])
        out.append({"label": result.get("label"), "method": config.get("method"), "task": result.get("task"),
                    "reduction": config.get("kd_reduction"), "batch_size": config.get("batch_size"),
                    "start": end - duration, "end": end, "duration": duration})
    return out


def group_of(run: dict) -> str:
    return next(name for name, belongs in GROUPS if belongs(run))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs_root", nargs="?", default="outputs/runs", type=Path)
    args = parser.parse_args()
    runs = trainings(args.runs_root)
    if not runs:
        raise SystemExit(f"no finished training under {args.runs_root}; run `make reproduce` first")
    totals: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0])
    for run in runs:
        totals[group_of(run)][0] += 1
        totals[group_of(run)][1] += run["duration"]
    print("| trainings | runs | training (s, one thread each) |\n|---|---|---|")
    for name, _ in GROUPS:
        if name in totals:
            print(f"| {name} | {totals[name][0]:.0f} | {totals[name][1]:.0f} |")
    first, last = min(r["start"] for r in runs), max(r["end"] for r in runs)
    busy = collections.Counter(sum(r["start"] <= t < r["end"] for r in runs) for t in range(int(first), int(last)))
    print(f"\n{len(runs)} trainings, {sum(r['duration'] for r in runs):.0f} s of training; from the first to the "
          f"last, {last - first:.0f} s, of which seconds with k trainings at once: {dict(sorted(busy.items()))}")


if __name__ == "__main__":
    main()
