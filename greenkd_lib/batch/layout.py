"""How the report fits its tables and figures to its column (``templates/report.html.j2``).

Tables: each cell's characters estimate a table's width, so that a table wider than the column gets a
scroll hint and columns that do not squeeze to a word a line. Figures: a PNG's pixels and resolution,
and the size of its smallest text (which :class:`greenkd_lib.paper.outputs.NotebookOutputs` records),
give the width at which the page shows it so that its text stays readable.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from markupsafe import escape, Markup

__all__ = ["PAGE_PX", "COLUMN_PX", "CHAR_EM", "LONG_CELL", "MIN_TEXT_PX", "MIN_FIGURE_SCALE", "WINDOW_PX",
           "Table", "read_table", "nobreak", "png_size", "png_dpi", "figure_width"]

PAGE_PX = 1180  # the page's max width; what is left after its padding is the column tables must fit
COLUMN_PX = PAGE_PX - 48
CHAR_EM = 0.56  # the mean width of a character of table text, in em (measured in Chromium, system-ui)
LONG_CELL = 32  # text cells longer than this may wrap (between words); shorter ones never do
_BREAKABLE = re.compile(r"(\S*[-‐–—/>]\S*)")  # a word a browser could break inside (after a hyphen or slash)
# Figures: the page shows a PNG at no less than MIN_FIGURE_SCALE of its pixels, and large enough that
# its smallest text (recorded by NotebookOutputs) is at least MIN_TEXT_PX CSS pixels; a figure the
# column cannot hold so grows past the column, up to the window, and scrolls beyond it.
MIN_TEXT_PX = 9.0
MIN_FIGURE_SCALE = 0.6
WINDOW_PX = 1440 - 48  # a common window (the browser checks'), less a wide figure's margins (3rem)


@dataclass
class Table:
    """A CSV as the page shows it: formatted cells, and how wide it probably is."""

    columns: list[tuple[str, bool]]  # (header, numeric)
    rows: list[list[str]]
    min_chars: list[int] = field(default_factory=list)  # per column, a floor for wide tables (_min_chars)
    wide: bool = False  # probably wider than the page's column: the page says it scrolls


def _fmt(value: Any, whole: bool) -> str:
    """A number as a reader wants it: whole numbers whole, others with 2 decimals or 3 digits."""
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        if whole:
            return str(int(value))
        return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3g}"
    return str(value)


def png_size(path: Path) -> tuple[int, int] | None:
    """A PNG's (width, height) in pixels from its header; ``None`` if it is not a readable PNG."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError:
        return None
    # The 8-byte signature, then the IHDR chunk: length, b"IHDR", width and height (big-endian).
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    return (width, height) if width and height else None


def png_dpi(path: Path) -> float | None:
    """A PNG's resolution in dots per inch (its ``pHYs`` chunk, as matplotlib writes it); ``None`` if unknown."""
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 16)  # pHYs comes before the image data, near the start
    except OSError:
        return None
    at = 8
    while at + 8 <= len(data):
        length, kind = int.from_bytes(data[at:at + 4], "big"), data[at + 4:at + 8]
        if kind == b"pHYs" and length == 9 and at + 17 <= len(data):
            per_x, unit = int.from_bytes(data[at + 8:at + 12], "big"), data[at + 16]
            return round(per_x * 0.0254, 1) if unit == 1 and per_x else None  # unit 1: pixels per metre
        if kind in (b"IDAT", b"IEND"):
            return None
        at += 12 + length
    return None


def figure_width(size: tuple[int, int], dpi: float | None, text_pt: float | None,
                 column_px: int = COLUMN_PX) -> int:
    """The width in CSS px at which the page shows a PNG of ``size`` pixels: the column's (never
    more than the PNG's own), unless that shrinks it below :data:`MIN_FIGURE_SCALE` or its smallest
    text (``text_pt`` points at ``dpi``) below :data:`MIN_TEXT_PX`; then as wide as those need."""
    width = size[0]
    floor = MIN_FIGURE_SCALE
    if dpi and text_pt:
        # A point is dpi/72 of the PNG's pixels; the page never enlarges a PNG past its own pixels.
        floor = min(1.0, max(floor, MIN_TEXT_PX / (text_pt * dpi / 72)))
    return round(width * max(floor, min(1.0, column_px / width)))


def nobreak(text: Any) -> Markup:
    """Escaped text that breaks between words only, never inside ``kd-tuned`` or ``->``."""
    parts = _BREAKABLE.split(str(text))
    return Markup("").join(
        Markup('<span class="nb">{}</span>').format(p) if i % 2 and len(p) > 1 else escape(p)
        for i, p in enumerate(parts))


def _min_chars(header: str, cells: list[str], header_lines: int | None = None) -> int:
    """The narrowest a column gets, in characters: a short cell or a number on one line, a long text
    cell within 18 to 42, the header at its longest word (or in ``header_lines`` lines at most)."""
    widths = [max((len(w) for w in header.split()), default=1)]
    if header_lines:
        widths.append(math.ceil(len(header) / header_lines))
    widths += [len(c) if len(c) <= LONG_CELL else min(max(math.ceil(len(c) / 2), 18), 42) for c in cells]
    return max(widths)


def _table_px(min_chars: list[int]) -> int:
    """A rough width of a table whose columns are this many characters wide, as the page lays it out."""
    char_px, pad_px = CHAR_EM * 14.72, 23  # table text is .92rem = 14.72 px; .7rem of padding each side
    return int(sum(chars * char_px + pad_px for chars in min_chars))


def read_table(csv: Path) -> Table:
    """A table's CSV with its numbers formatted for reading, measured against the column."""
    df = pd.read_csv(csv)
    columns, formatters = [], []
    for name in df.columns:
        col = df[name]
        numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
        finite = col[col.notna()] if numeric else col.iloc[:0]
        # A float column that only holds whole numbers (counts that gained a NaN) prints as integers.
        whole = numeric and bool(len(finite)) and bool(((finite % 1) == 0).all()) and bool((finite.abs() < 1e15).all())
        columns.append((str(name), numeric))
        formatters.append(whole)
    rows = [[_fmt(v, w) for v, w in zip(row, formatters)] for row in df.astype(object).itertuples(index=False)]
    table = Table(columns=columns, rows=rows)
    columns_cells = [(name, [row[j] for row in rows]) for j, (name, _) in enumerate(columns)]
    # Measured in Chromium (the quick report): tables estimated at 0.98 and 0.99 of the column overflowed
    # by 5 and 42 px, one at 0.95 fitted; a table marked wide that fits only shows a hint it did not need.
    table.wide = _table_px([_min_chars(h, c) for h, c in columns_cells]) > 0.97 * COLUMN_PX
    if table.wide:
        # A table that scrolls anyway would squeeze each column to its longest word (headers one word
        # a line, long cells a word or two a line): a floor keeps headers to two lines.
        table.min_chars = [_min_chars(h, c, header_lines=2) for h, c in columns_cells]
    return table
