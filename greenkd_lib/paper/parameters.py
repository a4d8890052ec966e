"""Refuse a papermill parameter that a notebook does not declare (papermill itself only warns), and
check the ``overrides`` parameter (profile fields to change) before the Lab applies it.

Every notebook calls :func:`check_parameters` first in the cell after its ``parameters`` cell.
Under papermill the kernel's input history then ends with the ``parameters`` cell, papermill's
injected cell (which begins with ``# Parameters``) and the calling cell; the names the injected
cell assigns must be among those the ``parameters`` cell assigns. The same cell builds its ``Lab``
with ``**profile_overrides(overrides)``.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
from typing import Any, Mapping, Sequence

from ..config.profiles import Profile

__all__ = ["check_parameters", "profile_overrides", "OVERRIDES_HINT"]

OVERRIDES_HINT = '-y "overrides: {epochs: 8}"'
"""How a profile field is changed from the command line (papermill's YAML parameters)."""

# Lab arguments that are notebook parameters of their own (the Lab would get them twice), and the
# profile's name, which picks the profile rather than changing it.
_OWN_PARAMETERS = {"dataset": '-p dataset cifar10', "seeds": '-y "seeds: [0, 1]"', "name": "-p profile quick"}

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
            "not parameters of their own: pick a profile with -p profile smoke|quick|paper and change its fields with "
            f'{OVERRIDES_HINT}; pass a list as YAML, e.g. -y "seeds: [0, 1]"'
        )


def profile_overrides(overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """The notebook parameter ``overrides`` as keyword arguments for ``Lab(profile, ...)``.

    Its names must be :class:`~greenkd_lib.config.profiles.Profile` fields (a ``ValueError`` names an
    unknown one); the Lab checks the values (``Profile.replace``: a ``ValueError`` naming the field).
    ``None`` as a value is refused: the Lab reads None as "the profile's own value", so it would be
    dropped without a word.
    """
    if overrides is None:
        return {}
    if not isinstance(overrides, Mapping):
        raise ValueError(f"overrides must map profile fields to their values, e.g. {OVERRIDES_HINT}; "
                         f"got {overrides!r}")
    known = sorted(f.name for f in dataclasses.fields(Profile) if f.name not in _OWN_PARAMETERS)
    for name, value in overrides.items():
        if name in _OWN_PARAMETERS:
            raise ValueError(f"overrides: {name!r} is not changed through overrides; use {_OWN_PARAMETERS[name]}")
        if name not in known:
            hint = difflib.get_close_matches(str(name), known, n=1)
            raise ValueError(f"overrides: unknown profile field {name!r}"
                             + (f" (did you mean {hint[0]!r}?)" if hint else "")
                             + f"; known fields: {', '.join(known)}")
        if value is None:
            raise ValueError(f"overrides: {name}: None would be ignored (the Lab reads None as the profile's own "
                             f"value); give a value, e.g. {OVERRIDES_HINT}")
    return dict(overrides)
