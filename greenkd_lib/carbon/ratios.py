"""Cost ratios between the arms of an experiment: each row's cost over a reference arm's."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

__all__ = ["relative_to"]


def relative_to(rows: pd.DataFrame, column: str, reference: str = "teacher", by: Sequence[str] = (),
                method: str = "method") -> pd.Series:
    """Each row's ``column`` over the ``reference`` arm's (within its ``by`` group, e.g. its data set)."""
    if not by:
        ref = rows.loc[rows[method] == reference, column]
        if ref.empty:
            raise ValueError(f"no {reference!r} row to divide by; arms: {sorted(rows[method].unique())}")
        return rows[column] / ref.iloc[0]
    refs = rows[rows[method] == reference].drop_duplicates(list(by)).set_index(list(by))[column]
    keys = pd.MultiIndex.from_frame(rows[list(by)]) if len(by) > 1 else pd.Index(rows[by[0]])
    missing = set(keys) - set(refs.index)
    if missing:
        raise ValueError(f"no {reference!r} row for {sorted(missing)}")
    return pd.Series(rows[column].to_numpy() / refs.reindex(keys).to_numpy(), index=rows.index, name=column)
