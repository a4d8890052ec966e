"""Saving a notebook's figures (PNG + SVG) and tables (CSV + Markdown) under ``outputs/<profile>/``.

Each saved item is also recorded, with its caption, in ``outputs/<profile>/manifest/<notebook>.json``
so that the HTML report can show every figure and table in the paper's order (a figure with its
smallest text's size, ``text_pt``, by which the report sizes it). With ``GREENKD_MLFLOW``
on, each is also an artifact of the notebook's MLflow run (:mod:`.mlflow_notebook`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from ..paths import outputs_root
from ..runs.atomic import atomic_write_bytes, atomic_write_text
from .mlflow_notebook import NotebookRun

__all__ = ["NotebookOutputs", "smallest_text_pt"]


def smallest_text_pt(fig: Any) -> float | None:
    """The font size, in points, of the smallest text a matplotlib figure draws (``None``: no text).

    Hidden artists and the axis of an ``axis("off")`` Axes are skipped, as drawing skips them."""
    from matplotlib.axes import Axes
    from matplotlib.axis import Axis
    from matplotlib.text import Text

    sizes: list[float] = []
    stack = [fig]
    while stack:
        artist = stack.pop()
        if not artist.get_visible():
            continue
        if isinstance(artist, Text) and artist.get_text().strip():
            sizes.append(float(artist.get_fontsize()))
        children = artist.get_children()
        if isinstance(artist, Axes) and not artist.axison:
            children = [c for c in children if not isinstance(c, Axis)]
        stack.extend(children)
    return round(min(sizes), 2) if sizes else None


class NotebookOutputs:
    """Where notebook ``notebook`` (e.g. ``"03_fig3_tau_sensitivity"``) writes its results."""

    def __init__(self, notebook: str, profile: str, output_root: str | Path | None = None) -> None:
        self.notebook = notebook
        self.profile = profile
        self.root = outputs_root(output_root) / profile
        self.figures = self.root / "figures"
        self.tables = self.root / "tables"
        self._manifest_path = self.root / "manifest" / f"{notebook}.json"
        self._items: list[dict[str, Any]] = []
        # None unless GREENKD_MLFLOW asks for the export (then a missing mlflow fails here, before any training).
        self._mlflow = NotebookRun.from_environment(notebook, profile, outputs_root(output_root), self.root)

    def figure(self, fig: Any, name: str, caption: str) -> list[Path]:
        """Save a matplotlib figure as PNG and SVG; return the paths."""
        import io

        paths = []
        for ext, kwargs in (("png", {"dpi": 150}), ("svg", {})):
            buf = io.BytesIO()
            fig.savefig(buf, format=ext, bbox_inches="tight", **kwargs)
            path = self.figures / f"{name}.{ext}"
            atomic_write_bytes(path, buf.getvalue())
            paths.append(path)
        # The report sizes the figure so that this, its smallest text, stays readable on the page.
        self._record("figure", name, caption, paths, text_pt=smallest_text_pt(fig))
        return paths

    def table(self, df: pd.DataFrame, name: str, caption: str, float_format: str = ".4g") -> list[Path]:
        """Save a table as CSV and Markdown (caption on top); return the paths.

        ``float_format`` applies to the Markdown only (the CSV keeps full precision); the default
        ``.4g`` keeps both kWh (1e-4) and accuracies (95.28) readable.
        """
        csv_path, md_path = self.tables / f"{name}.csv", self.tables / f"{name}.md"
        atomic_write_text(csv_path, df.to_csv(index=False))
        markdown = f"**{caption}**\n\n{df.to_markdown(index=False, floatfmt=float_format)}\n"
        atomic_write_text(md_path, markdown)
        self._record("table", name, caption, [csv_path, md_path])
        return [csv_path, md_path]

    def _record(self, kind: str, name: str, caption: str, paths: list[Path], **extra: Any) -> None:
        self._items = [i for i in self._items if not (i["kind"] == kind and i["name"] == name)]
        self._items.append({"kind": kind, "name": name, "caption": caption,
                            "files": [str(p.relative_to(self.root)) for p in paths],
                            **{k: v for k, v in extra.items() if v is not None}})
        manifest = {"notebook": self.notebook, "profile": self.profile, "items": self._items}
        atomic_write_text(self._manifest_path, json.dumps(manifest, indent=2))
        if self._mlflow is not None:
            self._mlflow.log(paths, self._manifest_path)
