"""Where things live: the project root, the data root, the outputs root.

Notebooks run from ``notebooks/`` (JupyterLab), from the repository root (plain papermill) or
anywhere else (``greenkd reproduce``); resolving paths here makes all three agree.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["project_root", "data_root", "outputs_root", "runs_root", "paper_dir", "notebooks_dir"]


def project_root() -> Path:
    """The repository root for an editable install (where pyproject.toml is), else the cwd."""
    here = Path(__file__).resolve().parents[1]
    if (here / "pyproject.toml").is_file() and (here / "greenkd_lib").is_dir():
        return here
    for parent in (Path.cwd(), *Path.cwd().parents):
        if (parent / "pyproject.toml").is_file() and (parent / "greenkd_lib").is_dir():
            return parent
    return Path.cwd()


def data_root(path: str | Path | None = None) -> Path:
    """``path`` if given, else ``<project>/data``."""
    return Path(path).expanduser() if path else project_root() / "data"


def outputs_root(path: str | Path | None = None) -> Path:
    """``path`` if given, else ``<project>/outputs``."""
    return Path(path).expanduser() if path else project_root() / "outputs"


def runs_root(output_root: str | Path | None = None) -> Path:
    """The run store: ``<outputs>/runs``."""
    return outputs_root(output_root) / "runs"


def paper_dir() -> Path:
    """The paper's published numbers as CSV (``data/paper``)."""
    return project_root() / "data" / "paper"


def notebooks_dir() -> Path:
    return project_root() / "notebooks"
