"""Where things live: the project root, the data root, the outputs root.

Notebooks run from ``notebooks/`` (JupyterLab), from the repository root (plain papermill) or
anywhere else (``greenkd reproduce``); resolving paths here makes all three agree.

The project is, in this order: the folder named by the environment variable ``GREENKD_HOME``;
the greenkd checkout that holds the working directory (so a second clone sharing one virtualenv
writes its own ``data/`` and ``outputs/``, not the first's); the checkout the package was installed
from (editable install); the working directory.

The files a checkout ships (``notebooks/``, ``data/paper/``, ``benchmarks/results/``) come from the
project folder, else from the checkout the package was installed from, else from the copies a wheel carries in
``greenkd_lib/_shipped/`` (setup.py puts them there): an installed wheel reproduces from any folder.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["HOME_VARIABLE", "project_root", "is_checkout", "data_root", "outputs_root", "runs_root", "paper_dir",
           "notebooks_dir", "benchmark_results_dir"]

HOME_VARIABLE = "GREENKD_HOME"
"""The environment variable that names the project folder (its ``data/`` and ``outputs/``)."""

# The wheel's copies of notebooks/, data/paper/ and benchmarks/results/ (setup.py writes them at build time; absent in a checkout).
_PACKAGED = Path(__file__).resolve().parent / "_shipped"

# pyproject.toml's [project] name line; a regex, as tomllib is not in Python 3.10.
_NAME = re.compile(r'^\s*name\s*=\s*["\']greenkd["\']\s*$', re.MULTILINE)


def is_checkout(folder: str | Path) -> bool:
    """True when ``folder`` is a greenkd checkout: a ``notebooks/`` folder and a pyproject.toml naming greenkd."""
    folder = Path(folder)
    try:
        return (folder / "notebooks").is_dir() and bool(_NAME.search((folder / "pyproject.toml").read_text()))
    except (OSError, UnicodeDecodeError):  # no pyproject.toml, or not a readable text file
        return False


def _installed_root() -> Path | None:
    """The checkout this package was installed from (editable install), else None."""
    here = Path(__file__).resolve().parents[1]
    return here if (here / "pyproject.toml").is_file() and (here / "greenkd_lib").is_dir() else None


def project_root() -> Path:
    """The project folder: $GREENKD_HOME, else the checkout holding the cwd, else the installed one, else the cwd."""
    home = os.environ.get(HOME_VARIABLE, "").strip()
    if home:
        root = Path(home).expanduser().resolve()
        if not root.is_dir():
            raise NotADirectoryError(f"{HOME_VARIABLE}={home!r} is not a folder: point it at a greenkd checkout "
                                     f"(or a folder for data/ and outputs/), or unset it")
        return root
    cwd = Path.cwd().resolve()
    for parent in (cwd, *cwd.parents):
        if is_checkout(parent):
            return parent
    return _installed_root() or cwd


def _shipped(relative: str) -> Path:
    """``<project>/<relative>``; files the checkout ships fall back to the installed checkout's, so
    that a GREENKD_HOME holding only data and outputs still finds them, else to the wheel's copies
    (an installed wheel run from any folder)."""
    path = project_root() / relative
    if path.exists():
        return path
    installed = _installed_root()
    for fallback in (installed / relative if installed is not None else None, _PACKAGED / relative):
        if fallback is not None and fallback.exists():
            return fallback
    return path


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
    """The paper's published numbers as CSV (``data/paper``; outside a checkout, an installed wheel's copy)."""
    return _shipped("data/paper")


def notebooks_dir() -> Path:
    """The numbered notebooks (``notebooks/``; outside a checkout, an installed wheel's copy)."""
    return _shipped("notebooks")


def benchmark_results_dir() -> Path:
    """The committed studies the notebooks read (``benchmarks/results``: the quick profile's schedule
    study; outside a checkout, an installed wheel's copy)."""
    return _shipped("benchmarks/results")
