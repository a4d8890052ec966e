"""The ``greenkd`` command: ``info``, ``runs`` and ``reproduce``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["main"]


def _info(args: argparse.Namespace) -> int:
    from .info import collect, format_info
    from .paths import data_root

    print(format_info(collect(data_root(args.data_root))))
    return 0


def _runs(args: argparse.Namespace) -> int:
    import pandas as pd

    from .paths import runs_root
    from .runs import RunStore

    root = runs_root() if args.root is None else Path(args.root)
    store = RunStore(root)
    if args.action == "rm":
        if not args.hash:
            print("greenkd runs rm: give the hash (or a unique prefix) of the run to remove", file=sys.stderr)
            return 2
        try:
            path = store.remove(args.hash)
        except (KeyError, RuntimeError) as err:
            print(f"greenkd runs rm: {err.args[0] if err.args else err}", file=sys.stderr)
            return 1
        print(f"removed {path}")
        return 0
    table = store.list()
    if table.empty:
        print(f"no runs under {root.resolve()}")
        return 0
    cols = [c for c in ("hash", "state", "label", "epochs_done", "epochs", "wall_s", "energy_kwh", "co2_g", "pflops")
            if c in table.columns]
    with pd.option_context("display.max_rows", None, "display.width", 160, "display.max_colwidth", 60):
        print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from .reproduce import reproduce

    return reproduce(profile=args.profile, only=args.only, jobs=args.jobs, output_root=args.output,
                     data_root=args.data_root)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="greenkd", description="Carbon-aware knowledge distillation (Rafat et al. 2023).")
    sub = parser.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="versions, device, data sets found, carbon measurement mode")
    info.add_argument("--data-root", default=None, help="where the data sets live (default: the project's data/)")
    info.set_defaults(func=_info)

    runs = sub.add_parser("runs", help="list finished and partial runs with their cost, or remove one")
    runs.add_argument("action", nargs="?", choices=("list", "rm"), default="list")
    runs.add_argument("hash", nargs="?", help="with rm: the run's hash or a unique prefix")
    runs.add_argument("--root", default=None, help="the run store (default: the project's outputs/runs)")
    runs.set_defaults(func=_runs)

    rep = sub.add_parser("reproduce", help="execute every notebook with papermill and build the HTML report")
    rep.add_argument("--profile", default="quick", choices=("smoke", "quick", "paper"))
    rep.add_argument("--only", default=None, help="run only notebooks whose file name contains this pattern")
    rep.add_argument("--jobs", type=int, default=1, help="notebooks executed at once (default 1)")
    rep.add_argument("--output", default=None, help="output root (default: the project's outputs/)")
    rep.add_argument("--data-root", default=None, help="where the data sets live (default: the project's data/)")
    rep.set_defaults(func=_reproduce)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
