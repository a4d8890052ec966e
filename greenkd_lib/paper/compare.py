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
           "inference_vs_paper"]

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
