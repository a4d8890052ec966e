"""Errors raised by :mod:`greenkd_lib.data`; each message says what is wrong and how to fix it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


class UnknownDatasetError(ValueError):
    """A data set name that :func:`greenkd_lib.data.load` does not know."""


class DatasetNotFoundError(FileNotFoundError):
    """A data set whose files are not where :func:`greenkd_lib.data.load` looked for them."""


class DatasetCorruptError(RuntimeError):
    """A data set whose files are present but cannot be read (truncated, wrong format, bad labels)."""


def unknown_dataset(name: object, known: Iterable[str]) -> UnknownDatasetError:
    known = tuple(known)
    close = difflib.get_close_matches(str(name).lower(), known, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return UnknownDatasetError(f"unknown data set {name!r}; known data sets: {', '.join(known)}.{hint}")


def dataset_not_found(name: str, directory: Path, layout: str, how_to_get: str) -> DatasetNotFoundError:
    directory = Path(directory).expanduser().absolute()
    err = DatasetNotFoundError(
        f"data set {name!r} not found: searched {directory}\n"
        f"expected layout:\n{layout.rstrip()}\n"
        f"how to get it: {how_to_get}"
    )
    err.dataset, err.directory = name, directory
    return err
