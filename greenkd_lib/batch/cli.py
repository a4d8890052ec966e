"""The ``greenkd`` command: ``info``, ``runs`` and ``reproduce``; ``greenkd --version``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["main"]


def _info(args: argparse.Namespace) -> int:
    from .info import collect, format_info
    from ..paths import data_root

    print(format_info(collect(data_root(args.data_root))))
    return 0


def _runs(args: argparse.Namespace) -> int:
    import pandas as pd

    from ..paths import runs_root
    from ..runs import RunStore

    root = runs_root() if args.root is None else Path(args.root)
    try:
        store = RunStore(root)
    except NotADirectoryError as err:
        print(f"greenkd runs: {err}", file=sys.stderr)
        return 2
    if args.action == "rm":
        if not args.hash:
            print("greenkd runs rm: give the hash (or a unique prefix) of the run to remove", file=sys.stderr)
            return 2
        try:
            path = store.remove(args.hash)
        except (KeyError, ValueError) as err:  # no such run, an ambiguous prefix, not a hash
            print(f"greenkd runs rm: {err.args[0] if err.args else err}", file=sys.stderr)
            return 2
        except RuntimeError as err:  # running
            print(f"greenkd runs rm: {err.args[0] if err.args else err}", file=sys.stderr)
            return 1
        print(f"removed {path}")
        return 0
    if args.action == "clean":
        paths = store.clean(dry_run=args.dry_run)
        if not paths:
            print(f"no unfinished runs to remove under {root.resolve()}")
        for path in paths:
            print(f"{'would remove' if args.dry_run else 'removed'} {path}")
        return 0
    table = store.list()
    if table.empty:
        print(f"no runs under {root.resolve()}")
        return 0
    cols = [c for c in ("hash", "state", "label", "epochs_done", "epochs", "wall_s", "energy_kwh", "co2_g", "pflops")
            if c in table.columns]
    with pd.option_context("display.max_rows", None, "display.width", 160, "display.max_colwidth", 60):
        print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    unfinished = table[table["state"].isin(["partial", "new", "damaged"])]
    if len(unfinished):
        print(f"\n{len(unfinished)} run(s) never finished or are damaged; `greenkd runs clean --dry-run` lists "
              "the unfinished ones `greenkd runs clean` would delete, `greenkd runs rm <hash>` deletes one")
    return 0


def _parameters(pairs: list[list[str]] | None) -> dict[str, object] | None:
    """``-p NAME VALUE`` pairs as a dict, each value read as YAML (a list, a number, null, true, a string)."""
    import yaml

    if not pairs:
        return None
    values = {}
    for name, text in pairs:
        try:
            values[name] = yaml.safe_load(text)
        except yaml.YAMLError as err:
            problem = getattr(err, "problem", None) or str(err).splitlines()[0]
            raise ValueError(f"-p {name} {text!r} is not a YAML value ({problem}); "
                             "e.g. -p synthesizers '[dafl, cmi]'") from None
    return values


def _reproduce(args: argparse.Namespace) -> int:
    from .reproduce import NoNotebooksError, reproduce

    try:
        return reproduce(profile=args.profile, only=args.only, jobs=args.jobs, output_root=args.output,
                         data_root=args.data_root, executor=args.executor, ray_address=args.ray_address,
                         extra_parameters=_parameters(args.parameter), mlflow=args.mlflow)
    except (ValueError, ImportError, NoNotebooksError) as err:  # a bad argument, no Ray or no notebook: nothing ran
        print(f"greenkd reproduce: error: {err}", file=sys.stderr)
        return 2


def _version() -> str:
    """The installed greenkd's version, from its package metadata (as the report states it)."""
    from importlib import metadata

    try:
        return metadata.version("greenkd")
    except metadata.PackageNotFoundError:  # imported from a checkout that was never installed
        return "unknown (not installed)"


def _jobs(text: str) -> int:
    """``--jobs``: a whole number >= 1, or argparse's usage error (exit code 2)."""
    try:
        jobs = int(text)
    except ValueError:
        jobs = 0
    if jobs < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1 (notebooks executed at once), got {text!r}; "
                                         "e.g. --jobs 2")
    return jobs


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="greenkd", description="Carbon-aware knowledge distillation (Rafat et al. 2023).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="versions, device, data sets found, carbon measurement mode")
    info.add_argument("--data-root", default=None, help="where the data sets live (default: the project's data/)")
    info.set_defaults(func=_info)

    runs = sub.add_parser("runs", help="list runs (finished, running, partial, damaged) with their cost; remove one "
                                       "(rm) or every run that never finished (clean)")
    runs.add_argument("action", nargs="?", choices=("list", "rm", "clean"), default="list")
    runs.add_argument("hash", nargs="?", help="with rm: the run's hash or a unique prefix")
    runs.add_argument("--dry-run", action="store_true", help="with clean: list what would be removed, remove nothing")
    runs.add_argument("--root", default=None, help="the run store (default: the project's outputs/runs)")
    runs.set_defaults(func=_runs)

    rep = sub.add_parser("reproduce", help="execute every notebook with papermill and build the HTML report")
    rep.add_argument("--profile", default="quick", choices=("smoke", "quick", "paper"))
    rep.add_argument("--only", default=None, help="run only notebooks whose file name contains this pattern")
    rep.add_argument("--jobs", type=_jobs, default=None,
                     help="notebooks executed at once (default 2 on 2 or more cores; trainings still take "
                          "one of the machine's training slots each, and notebooks that time inference run their timing "
                          "cells alone, after the rest)")
    rep.add_argument("--output", default=None, help="output root (default: the project's outputs/)")
    rep.add_argument("--data-root", default=None, help="where the data sets live (default: the project's data/)")
    rep.add_argument("--executor", default=None, choices=("serial", "processes", "ray"),
                     help="how each notebook trains its grids' runs (default: processes on a CPU with 2 or more "
                          "cores or several GPUs, else serial); ray: a local Ray shared by the notebooks, or "
                          "--ray-address's cluster")
    rep.add_argument("--ray-address", default=None,
                     help="with --executor ray: the cluster to join, e.g. auto or ray://head:10001")
    rep.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                     help="a parameter for every notebook whose parameters cell declares it, the value read as YAML "
                          "(repeatable), e.g. -p synthesizers '[dafl, zskt, dfq, deepinv, cmi]'")
    rep.add_argument("--mlflow", action="store_true",
                     help="also log every run (config, per-epoch metrics) and each notebook's figures to MLflow, in "
                          "<output>/mlruns/ (or where GREENKD_MLFLOW names); needs pip install \"greenkd[mlflow]\"")
    rep.set_defaults(func=_reproduce)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
