"""One display vocabulary for every figure and table: what each arm of an experiment is called, and
its colour and marker.

The ``method`` column of :class:`~greenkd_lib.paper.lab.Lab` rows names the arm ("teacher",
"scratch", "kd" for one fixed tau, "kd-tuned", "ours"); distillation objectives are named by their
registry entry (``paper_name``: "HKD", "CMC", "DML").
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

__all__ = ["ARMS", "STUDENT_COLORS", "arm_name", "arm_style", "short_name", "student_colors", "objective_name",
           "arm_names", "number"]

# arm: (name in a table, short name on an axis, colour, marker)
ARMS: dict[str, tuple[str, str, str, str]] = {
    "teacher": ("Teacher", "teacher", "0.3", "s"),
    "scratch": ("Student alone", "alone", "0.65", "D"),
    "kd": ("KD, fixed tau", "KD, fixed", "tab:orange", "v"),
    "kd-tuned": ("KD, tuned tau", "KD, tuned", "tab:red", "o"),
    # The same grid's students trained together on one teacher pass (beyond the paper: engine/shared_grid.py).
    "kd-tuned-shared": ("KD, tuned tau, shared teacher", "KD, tuned, shared", "tab:purple", "P"),
    "ours": ("Ours, stochastic tau", "ours", "tab:green", "^"),
}

# Fig 1's convention: student 1 red, student 2 green; then blue, purple.
STUDENT_COLORS: tuple[str, ...] = ("tab:red", "tab:green", "tab:blue", "tab:purple")


def _entry(arm: str) -> tuple[str, str, str, str]:
    try:
        return ARMS[arm]
    except KeyError:
        raise KeyError(f"unknown arm {arm!r}; known: {', '.join(ARMS)}") from None


def arm_name(arm: str) -> str:
    """The arm's name in a table ("KD, tuned tau")."""
    return _entry(arm)[0]


def short_name(arm: str) -> str:
    """The arm's name on an axis or a legend ("KD, tuned")."""
    return _entry(arm)[1]


def arm_names(arms: Iterable[str], short: bool = False) -> list[str]:
    """:func:`arm_name` (or :func:`short_name`) of each arm, e.g. for a table's ``method`` column."""
    return [short_name(a) if short else arm_name(a) for a in arms]


def arm_style(arm: str) -> dict[str, Any]:
    """Matplotlib keywords for the arm: ``color``, ``marker`` and ``label`` (its short name)."""
    _, short, color, marker = _entry(arm)
    return {"color": color, "marker": marker, "label": short}


def student_colors(students: Sequence[str]) -> dict[str, str]:
    """One colour per student architecture, in the order given (Fig 1: student 1 red, student 2 green)."""
    return {s: STUDENT_COLORS[i % len(STUDENT_COLORS)] for i, s in enumerate(students)}


def objective_name(method: str) -> str:
    """The paper's name of a registered distillation method ("kd" -> "HKD", "dml" -> "DML")."""
    from ..methods import get_method

    return get_method(method).paper_name


def number(x: float, digits: int = 4, max_decimals: int = 8) -> str:
    """A float for a table cell: ``digits`` significant digits, positional, at most ``max_decimals`` decimals.

    For ``pd.set_option("display.float_format", number)``: ``0.0001866`` rather than ``1.866e-04``,
    whose '-' lets a narrow column wrap the number; floating-point dust (1e-14) reads 0.
    """
    import math

    import numpy as np

    if not math.isfinite(x):
        return str(x)
    # + 0.0 turns a rounded -0.0 into 0.0
    return np.format_float_positional(round(x, max_decimals) + 0.0, precision=digits, unique=False,
                                      fractional=False, trim="-")
