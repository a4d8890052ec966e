"""Which columns of two ``outputs/<profile>/tables`` folders differ: the check that a change left the numbers alone.

    .venv/bin/python benchmarks/compare_outputs.py OLD/outputs/quick/tables NEW/outputs/quick/tables

Measured time, energy, CO2 and latency columns differ between any two runs; accuracy, FLOP, tau and
hash columns should not. NaN equals NaN here.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def compare(old: Path, new: Path) -> tuple[list[str], list[str]]:
    """The tables that are the same, and a line per table that differs (its differing columns)."""
    same, differ = [], []
    for path in sorted(old.glob("*.csv")):
        other = new / path.name
        if not other.exists():
            differ.append(f"{path.name}: missing in {new}")
            continue
        a, b = pd.read_csv(path), pd.read_csv(other)
        if list(a.columns) != list(b.columns) or len(a) != len(b):
            differ.append(f"{path.name}: columns or rows differ ({a.shape} against {b.shape})")
            continue
        columns = [c for c in a.columns if not a[c].equals(b[c])]
        (differ if columns else same).append(f"{path.name}: {columns}" if columns else path.name)
    differ += [f"{p.name}: only in {new}" for p in sorted(new.glob("*.csv")) if not (old / p.name).exists()]
    return same, differ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    args = parser.parse_args()
    same, differ = compare(args.old, args.new)
    print(f"identical tables: {len(same)}\n  " + " ".join(same))
    print(f"tables with differing columns: {len(differ)}")
    for line in differ:
        print("  " + line)


if __name__ == "__main__":
    main()
