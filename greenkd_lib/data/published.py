"""The paper's published numbers (``data/paper/*.csv``), and nothing else.

Where the paper does not publish a number, these functions return ``None`` and notebooks print
:data:`NOT_PUBLISHED`: a paper value is never invented.
"""

from __future__ import annotations

from functools import lru_cache

import pandas as pd

from ..paths import paper_dir

__all__ = ["NOT_PUBLISHED", "headline", "headline_value", "table4", "table4_value", "compare"]

NOT_PUBLISHED = "not published here"


@lru_cache(maxsize=None)
def headline() -> pd.DataFrame:
    """Abstract and Fig 1 caption numbers: quantity, dataset, value, unit, source."""
    return pd.read_csv(paper_dir() / "headline.csv")


@lru_cache(maxsize=None)
def table4() -> pd.DataFrame:
    """Every cell of Table 4: dataset, task, loss, method, metric, score_mean, score_std,
    gflops_millions, energy_kwh, co2_g."""
    return pd.read_csv(paper_dir() / "table4.csv")


def headline_value(quantity: str, dataset: str) -> float | None:
    """A headline number, or ``None`` when the paper does not publish it."""
    df = headline()
    hit = df[(df["quantity"] == quantity) & (df["dataset"] == dataset)]
    return float(hit["value"].iloc[0]) if len(hit) else None


def table4_value(dataset: str, loss: str, method: str, column: str) -> float | None:
    """One Table 4 cell (method: "tuned" or "ours"), or ``None`` when there is none."""
    df = table4()
    hit = df[(df["dataset"] == dataset) & (df["loss"] == loss) & (df["method"] == method)]
    return float(hit[column].iloc[0]) if len(hit) else None


def compare(ours: float | None, paper: float | None, digits: int = 2) -> str:
    """``"ours (paper P, diff +D)"`` or ``"ours (paper: not published here)"``."""
    if ours is None:
        return "n/a"
    if paper is None:
        return f"{ours:.{digits}f} (paper: {NOT_PUBLISHED})"
    return f"{ours:.{digits}f} (paper {paper:.{digits}f}, diff {ours - paper:+.{digits}f})"
