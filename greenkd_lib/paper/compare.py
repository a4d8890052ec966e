"""Ours beside the paper, and cost ratios between the arms of an experiment.

Every notebook that sets a number of ours beside the paper's goes through :func:`beside_paper`
(the paper's value per data set, the difference where the data set is the same, and
:data:`~greenkd_lib.data.published.NOT_PUBLISHED` where the paper has no such number); every ratio of one
arm's cost to another's ("tuned KD / ours", "KD / teacher") through :func:`cost_ratios` or
:func:`relative_to`.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..carbon.ratios import relative_to
from ..data import published

__all__ = ["PAPER_DATASETS", "INFERENCE_PAPER", "beside_paper", "cost_ratios", "relative_to", "paper_hkd_ratio",
           "inference_vs_paper", "beside_paper_figure", "beside_paper_note", "PAPER_MARKERS"]

PAPER_DATASETS: dict[str, str] = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "tinyimagenet": "Tiny ImageNet"}
"""The paper's classification data sets and their names in a column header."""

Lookup = Callable[[Mapping[str, Any], str], "float | None"]


def _or_not_published(value: float | None, digits: int | None) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return published.NOT_PUBLISHED
    return round(value, digits) if digits is not None else value


def beside_paper(ours: pd.DataFrame, lookup: Lookup, *, value: str = "ours", ours_label: str | None = None,
                 datasets: Mapping[str, str] | None = None, same_dataset: str | None = None,
                 delta: str | None = None, dataset_column: str = "dataset",
                 digits: int | None = None) -> pd.DataFrame:
    """Each row of ``ours`` (its number in column ``value``) beside the paper's value of the same quantity.

    ``lookup(row, paper_dataset)`` returns the paper's number for that row on that data set, or
    None where the paper does not publish it. Columns added, in order: ``"paper, <name>"`` for each
    of ``datasets`` (``{paper data set: name}``); ``same_dataset`` (if given), the paper's value on
    the row's own data set; ``delta`` (if given), ours - paper on the row's own data set, or a
    sentence saying why there is none. ``digits`` rounds the paper's values (ratios computed from
    its cells carry no more digits than the cells). ``value`` is renamed ``ours_label`` if given.
    """
    out = ours.copy()
    records = out.to_dict("records")
    for name_in_paper, label in (datasets or {}).items():
        out[f"paper, {label}"] = [_or_not_published(lookup(r, name_in_paper), digits) for r in records]
    if same_dataset is not None or delta is not None:
        same = [lookup(r, r[dataset_column]) if r[dataset_column] in PAPER_DATASETS else None for r in records]
        if same_dataset is not None:
            out[same_dataset] = [_or_not_published(v, digits) for v in same]
        if delta is not None:
            # Say why a difference is missing: our data set is not the paper's, or the paper lacks the cell.
            out[delta] = [r[value] - v if v is not None else
                          f"n/a: the paper has no {r[dataset_column]} value" if r[dataset_column] not in PAPER_DATASETS
                          else published.NOT_PUBLISHED for r, v in zip(records, same)]
    return out.rename(columns={value: ours_label}) if ours_label else out


def cost_ratios(rows: pd.DataFrame, by: Sequence[str], numerator: str, denominator: str,
                costs: Mapping[str, str], score: str | None = None, score_name: str | None = None,
                method: str = "method") -> pd.DataFrame:
    """Per group of ``by``: the ``numerator`` arm's cost over the ``denominator`` arm's, and the score gap.

    ``costs`` maps each cost column to the name of its ratio column; the score gap (``score_name``)
    is ``denominator`` - ``numerator`` in ``score`` (e.g. ours - tuned, in points). ``method`` is the
    column naming the arm of each row.
    """
    out = []
    # Other arms (a teacher, a student alone) may share the table: their groups are not compared.
    rows = rows[rows[method].isin([numerator, denominator])]
    for key, group in rows.groupby(list(by), sort=False):
        by_arm = group.set_index(method)
        if not {numerator, denominator} <= set(by_arm.index):
            where = ", ".join(map(str, key if isinstance(key, tuple) else (key,)))
            raise ValueError(f"{where}: need a row of each arm, {numerator!r} and {denominator!r}; "
                             f"got {sorted(by_arm.index)}")
        num, den = by_arm.loc[numerator], by_arm.loc[denominator]
        row = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        if score is not None:
            row[score_name or f"{score} {denominator} - {numerator}"] = den[score] - num[score]
        row.update({name: num[col] / den[col] for col, name in costs.items()})
        out.append(row)
    return pd.DataFrame(out)


def paper_hkd_ratio(dataset: str, column: str) -> float | None:
    """The paper's Table 4 HKD tuned / ours ratio of ``column`` on ``dataset`` (None if unpublished).

    For ``score_mean`` it is the difference ours - tuned (points), as every score gap here.
    """
    tuned, ours = (published.table4_value(dataset, "HKD", m, column) for m in ("tuned", "ours"))
    if tuned is None or ours is None:
        return None
    return ours - tuned if column == "score_mean" else tuned / ours


INFERENCE_PAPER = "CIFAR-100, RTX 3070 Ti"
"""Where the paper's only inference numbers (its Fig 1 caption, the teacher's) were measured."""


def inference_vs_paper(inference: pd.DataFrame, ours_label: str) -> pd.DataFrame:
    """Fig 1b-c's inference time and CO2 per model beside the paper's (it publishes the teacher's only).

    ``inference`` has columns method, model, time_s, co2_g (e.g. from ``repeated_inference``); each
    quantity gets a column ``"<quantity>, <ours_label>"`` and ``"<quantity>, paper, <where>"``.
    """
    headline = {"time_s": "teacher_inference_time", "co2_g": "teacher_inference_co2"}
    out = inference[["method", "model"]].copy()
    for quantity, name in headline.items():
        side = beside_paper(inference[["method", "model", quantity]],
                            lambda r, d: published.headline_value(name, d) if r["method"] == "teacher" else None,
                            value=quantity, datasets={"cifar100": INFERENCE_PAPER})
        out[f"{quantity}, {ours_label}"] = side[quantity]
        out[f"{quantity}, paper, {INFERENCE_PAPER}"] = side[f"paper, {INFERENCE_PAPER}"]
    return out


# -- figure: ours beside the paper, one panel per quantity, one column of markers per row ---------------
PAPER_MARKERS = ("D", "s", "^", "v")
PAPER_COLORS = ("tab:orange", "tab:purple", "tab:brown", "tab:pink")


def _numbers(values: Any) -> np.ndarray:
    """A column of numbers and :data:`~greenkd_lib.data.published.NOT_PUBLISHED` sentences as floats (NaN: none)."""
    return pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce").to_numpy(dtype=float)


def _error_bars(ax: Any, x: np.ndarray, y: np.ndarray, std: np.ndarray, colour: str, label: str) -> None:
    """± ``std`` around ``y`` where ``std`` is a number (none elsewhere, not a bar of zero length)."""
    has = ~np.isnan(std) & ~np.isnan(y)
    if has.any():
        ax.errorbar(x[has], y[has], yerr=std[has], fmt="none", ecolor=colour, capsize=3, lw=1, label=label)


def beside_paper_figure(points: pd.DataFrame, paper: Sequence[str], *, ours_label: str = "ours", title: str = "",
                        ncols: int = 2, linear: Sequence[str] = ()) -> "Any":
    """Ours beside the paper: one panel per ``points["panel"]`` (in order of appearance), one x position
    per row of that panel (``points["row"]``, its tick label).

    ``points`` columns: ``panel``, ``row``, ``ours`` and optionally ``ours_std`` (an error bar of
    ± std where it is a number); for each name in ``paper`` a column of the paper's value (a number,
    or NaN / :data:`~greenkd_lib.data.published.NOT_PUBLISHED`: no marker, never a made-up one) and
    optionally ``"<name> std"``. Ours: a blue circle; each paper series: its own hollow marker. A
    panel whose positive values span more than 50x is drawn on a log scale. The legend says which
    paper series have rows without a value.
    """
    import math

    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    panels = list(dict.fromkeys(points["panel"]))
    ncols = max(1, min(ncols, len(panels)))
    nrows = math.ceil(len(panels) / ncols)
    widest = max((points["panel"] == p).sum() for p in panels)
    fig, axes = plt.subplots(nrows, ncols, figsize=(max(4.2, 0.55 * widest + 1.8) * ncols, 3.3 * nrows + 0.9),
                             squeeze=False)
    spread = 0.5 / max(1, len(paper))
    missing = {name: 0 for name in paper}
    for ax, panel in zip(axes.flat, panels):
        part = points[points["panel"] == panel]
        x = np.arange(len(part))
        ours = _numbers(part["ours"])
        std = _numbers(part["ours_std"]) if "ours_std" in part else np.full(len(part), np.nan)
        ax.plot(x - 0.15, ours, "o", color="tab:blue", ms=6, label=ours_label, zorder=3)
        _error_bars(ax, x - 0.15, ours, std, "tab:blue", f"{ours_label} std")
        values = [ours[~np.isnan(ours)]]
        for k, name in enumerate(paper):
            theirs = _numbers(part[name])
            has = ~np.isnan(theirs)
            missing[name] += int((~has).sum())
            if not has.any():
                continue
            their_std = _numbers(part[f"{name} std"]) if f"{name} std" in part else np.full(len(part), np.nan)
            dx = 0.15 + k * spread / 2
            colour = PAPER_COLORS[k % len(PAPER_COLORS)]
            ax.plot(x[has] + dx, theirs[has], PAPER_MARKERS[k % len(PAPER_MARKERS)], mfc="none", mew=1.5, ms=6,
                    color=colour, label=name, zorder=2)
            _error_bars(ax, x[has] + dx, theirs[has], their_std[has], colour, f"{name} std")
            values.append(theirs[has])
        finite = np.concatenate(values)
        if panel not in linear and len(finite) and (finite > 0).all() and finite.max() / finite.min() > 50:
            ax.set_yscale("log")
        elif len(finite) and finite.min() < 0 < finite.max() or (len(finite) and (finite == 0).any()):
            ax.axhline(0, color="0.5", lw=0.8)
        ax.set_xticks(x, list(part["row"]), fontsize=7, rotation=30 if len(part) > 4 else 0,
                      ha="right" if len(part) > 4 else "center")
        ax.set_xlim(-0.6, len(part) - 0.4)
        ax.set_title(str(panel), fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    handles = [Line2D([], [], marker="o", color="tab:blue", ls="none", label=ours_label)]
    for k, name in enumerate(paper):
        total = len(points)
        note = ("no value for any row" if missing[name] == total else
                f"no marker where not published: {missing[name]} of {total} rows" if missing[name] else "")
        handles.append(Line2D([], [], marker=PAPER_MARKERS[k % len(PAPER_MARKERS)], mfc="none", mew=1.5,
                              color=PAPER_COLORS[k % len(PAPER_COLORS)], ls="none",
                              label=f"{name}{f' ({note})' if note else ''}"))
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 2), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    rows_of_legend = math.ceil(len(handles) / 2)
    fig.tight_layout(rect=(0, min(0.4, (0.25 + 0.22 * rows_of_legend) / fig.get_figheight()), 1, 1))
    return fig


def beside_paper_note() -> str:
    """What every :func:`beside_paper_figure` caption says about a missing paper value."""
    return (f"ours as blue circles (± std over seeds where there is one), the paper's as hollow markers; a row "
            f"with no paper marker is one the paper does not publish ({published.NOT_PUBLISHED})")
