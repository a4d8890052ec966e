"""Refuse a papermill parameter that a notebook does not declare (papermill itself only warns).

Every notebook calls :func:`check_parameters` first in the cell after its ``parameters`` cell.
Under papermill the kernel's input history then ends with the ``parameters`` cell, papermill's
injected cell (which begins with ``# Parameters``) and the calling cell; the names the injected
cell assigns must be among those the ``parameters`` cell assigns.
"""

from __future__ import annotations

import ast
from typing import Sequence

__all__ = ["check_parameters"]

_INJECTED_MARK = "# Parameters"  # papermill's Python translator opens its injected cell with it


def _assigned(source: str) -> list[str]:
    """The names a cell assigns at top level (``name = ...``), in order."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def check_parameters(history: Sequence[str] | None = None) -> None:
    """Raise ``ValueError`` when papermill injected a parameter the ``parameters`` cell does not declare.

    ``history``: the cells executed so far, the calling one last (default: IPython's ``In``).
    Outside papermill (no injected cell just before this one) it does nothing.
    """
    if history is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return
        shell = get_ipython()
        history = shell.user_ns.get("In", []) if shell is not None else []
    if len(history) < 3 or not history[-2].lstrip().startswith(_INJECTED_MARK):
        return
    declared = _assigned(history[-3])
    unknown = [name for name in _assigned(history[-2]) if name not in declared]
    if unknown:
        raise ValueError(
            f"this notebook has no parameter {', '.join(map(repr, unknown))} (papermill only warns and would run "
            f"without it); its parameters cell declares: {', '.join(declared)}. Profile knobs such as epochs are "
            "not notebook parameters: pick a profile with -p profile smoke|quick|paper, and pass a list as YAML, "
            'e.g. -y "seeds: [0, 1]"'
        )
