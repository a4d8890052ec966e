"""Saving a notebook's figures (PNG + SVG) and tables (CSV + Markdown) under ``outputs/<profile>/``.

Each saved item is also recorded, with its caption, in ``outputs/<profile>/manifest/<notebook>.json``
so that the HTML report can show every figure and table in the paper's order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from ..paths import outputs_root
from ..runs.atomic import atomic_write_bytes, atomic_write_text

__all__ = ["NotebookOutputs"]


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
        self._record("figure", name, caption, paths)
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

    def _record(self, kind: str, name: str, caption: str, paths: list[Path]) -> None:
        self._items = [i for i in self._items if not (i["kind"] == kind and i["name"] == name)]
        self._items.append({"kind": kind, "name": name, "caption": caption,
                            "files": [str(p.relative_to(self.root)) for p in paths]})
        manifest = {"notebook": self.notebook, "profile": self.profile, "items": self._items}
        atomic_write_text(self._manifest_path, json.dumps(manifest, indent=2))
