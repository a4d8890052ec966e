"""What every answer returns (:class:`Answer`: a sentence and the table behind it), and the checks and
phrasing the answers share."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd


@dataclass
class Answer:
    """An answer: ``text`` in words, and the ``table`` it was read from (or None)."""

    text: str
    table: pd.DataFrame | None = None

    def _repr_html_(self) -> str:
        # Closed until clicked: JupyterLab shows a cell's outputs once it runs, whatever its "collapsed" metadata.
        table = (self.table.to_html(index=False, float_format=lambda v: f"{v:.4g}") if self.table is not None
                 else "")
        return (f"<details><summary><b>Answer</b> (click to open)</summary><p>{html.escape(self.text)}</p>{table}"
                "</details>")

    def __repr__(self) -> str:
        return f"Answer. {self.text}" + (f"\n{self.table.to_string(index=False)}" if self.table is not None else "")


def _need(rows: pd.DataFrame, name: str, columns: Sequence[str]) -> None:
    if not isinstance(rows, pd.DataFrame) or rows.empty:
        raise ValueError(f"{name} is empty; run the notebook's cells above this answer first")
    missing = [c for c in columns if c not in rows.columns]
    if missing:
        raise ValueError(f"{name} lacks the columns {missing}; pass the table the notebook computed above")


def _points(a: float, b: float) -> str:
    return f"{a - b:+.2f} points"
