"""Data-free knowledge distillation (Table 6): the student learns from synthetic inputs only.

Each synthesizer is a distillation method registered in ``greenkd_lib.distill.methods`` (so configs,
hashing, the Lab and the workers take it like any other): ``dafl``, ``zskt`` and ``dfq`` share the
generator of :mod:`.generative`, ``deepinv`` optimises pixels, ``cmi`` adds a
contrastive term over a memory bank; :mod:`.base` holds what every data-free method shares with the loop.
Faithful to zju-vipa/CMI's code (read, not copied).
"""

from .base import DataFreeMethod
# Importing registers the methods, in the paper's order.
from . import dafl, zskt, dfq, deepinv, cmi  # noqa: F401, E402

__all__ = ["DataFreeMethod"]
