"""Canonical JSON of a run configuration and the short hash that names the run."""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from collections.abc import Mapping
from typing import Any

__all__ = ["HASH_LENGTH", "to_json_value", "canonical_json", "config_hash"]

HASH_LENGTH = 12


def to_json_value(obj: Any, where: str = "config", allow_nan: bool = False) -> Any:
    """A plain-JSON copy of ``obj`` (dicts, lists, str, int, float, bool, None).

    Tuples become lists, numpy scalars Python numbers; anything else raises ``TypeError`` naming
    where it sits (``where`` is the name of the root, e.g. "config").
    """
    if obj is None or isinstance(obj, (str, bool)):
        return obj
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        value = float(obj)
        if not allow_nan and not math.isfinite(value):
            raise ValueError(f"{where} is {value}, which has no JSON form; use a finite number or None")
        return value
    if isinstance(obj, Mapping):
        out = {}
        for key, value in obj.items():
            if not isinstance(key, str):
                raise TypeError(f"{where} has a key {key!r} of type {type(key).__name__}; JSON keys must be str")
            out[key] = to_json_value(value, f"{where}[{key!r}]", allow_nan)
        return out
    if isinstance(obj, (list, tuple)):
        return [to_json_value(v, f"{where}[{i}]", allow_nan) for i, v in enumerate(obj)]
    hint = " (call its .to_dict())" if hasattr(obj, "to_dict") else ""
    raise TypeError(f"{where} is a {type(obj).__name__}, which is not JSON{hint}; "
                    "use numbers, strings, lists and dicts")


def canonical_json(config: Mapping) -> str:
    """Sorted keys, no whitespace: equal configs give equal text whatever their key order."""
    if not isinstance(config, Mapping):
        hint = " (for a RunConfig, pass config.to_dict())" if hasattr(config, "to_dict") else ""
        raise TypeError(f"a run config must be a Mapping, got {type(config).__name__}{hint}")
    return json.dumps(to_json_value(config), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def config_hash(config: Mapping) -> str:
    """sha256 of the canonical JSON of ``config``, first 12 hex digits.

    Note that 1 and 1.0 are different JSON and so different configs.
    """
    return hashlib.sha256(canonical_json(config).encode("utf-8")).hexdigest()[:HASH_LENGTH]
