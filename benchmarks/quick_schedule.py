"""Choose the quick profile's schedule by the convergence rule of greenkd_lib.paper.schedule_study.

    .venv/bin/python benchmarks/quick_schedule.py                 # E = 4 (and 16); E = 3 short arm only
    .venv/bin/python benchmarks/quick_schedule.py --epochs 4 6     # other candidates

Trains, for each candidate E and for 4E: the teacher, each student alone and the first student by
KD at the grid's lowest and highest tau, over the quick profile's seeds (the profile's schedule is
replaced; everything else is the quick profile's). Runs go to a store of their own
(``outputs/schedule-study/runs``), so that the study never mixes with `make reproduce`'s runs.
Writes ``benchmarks/results/quick_schedule_study.csv`` (one row per trained model) and prints
the verdict per candidate.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from greenkd_lib import paths
from greenkd_lib.paper.schedule_study import RULE, STUDY_CSV, judge, run_study, shortest_passing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, nargs="+", default=[4], help="candidate E (short and long arm)")
    parser.add_argument("--short-only", type=int, nargs="*", default=[3],
                        help="candidates trained at E only (they can fail on the seed std, never pass)")
    parser.add_argument("--out", type=Path, default=paths.project_root() / STUDY_CSV)
    parser.add_argument("--runs-root", type=Path, default=paths.outputs_root() / "schedule-study" / "runs")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()

    study = run_study(args.epochs, "quick", runs_root=args.runs_root, workers=args.workers,
                      short_only=args.short_only)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    study.to_csv(args.out, index=False)
    verdict = judge(study)
    with pd.option_context("display.width", 140, "display.max_rows", 200):
        print(verdict.round(2).to_string(index=False))
    print(f"rule: every member within {RULE['tolerance']} points of its {RULE['factor']}E accuracy, "
          f"seed std < {RULE['max_std']}; shortest passing E: {shortest_passing(verdict)}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
