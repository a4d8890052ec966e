"""Distillation methods as plug-ins: one module per method around a small base class and a registry.

``get_method("kd")`` returns the class registered under that name; ``method_names()`` lists them.
Importing this package registers the built-in methods: ``ce`` (cross-entropy alone), ``kd``
(Hinton KD, Table 4 "HKD"), ``cmc`` (contrastive, Table 4 "CMC") and ``dml`` (mutual learning,
Table 4 "DML"), then the data-free ones of ``greenkd_lib.datafree`` (Table 6).
"""

from .base import DistillationMethod, Setup, UnknownMethodError, get_method, method_names, register
# Importing the modules registers the built-in methods, in this order.
from . import ce  # noqa: F401, E402
from . import hinton  # noqa: F401, E402
from . import cmc  # noqa: F401, E402
from . import dml  # noqa: F401, E402
# The data-free methods (dafl, zskt, dfq) register last: they build on this package's base class.
from ... import datafree  # noqa: F401, E402

__all__ = ["DistillationMethod", "Setup", "UnknownMethodError", "get_method", "method_names", "register"]
