"""Data-free knowledge distillation (Table 6): the student learns from synthetic inputs only.

``dafl``, ``zskt`` and ``dfq`` share the generator of :mod:`.generative`, ``deepinv`` optimises
pixels, ``cmi`` adds a contrastive term over a memory bank; :mod:`.base` holds what every data-free
method shares with the loop. Each is a line of the table in :mod:`greenkd_lib.methods`.
Faithful to zju-vipa/CMI's code (read, not copied).
"""

from .base import DataFreeMethod
from .cmi import CMI
from .dafl import DAFL
from .deepinv import DeepInversion
from .dfq import DFQ
from .zskt import ZSKT

__all__ = ["DataFreeMethod", "DAFL", "ZSKT", "DFQ", "DeepInversion", "CMI"]
