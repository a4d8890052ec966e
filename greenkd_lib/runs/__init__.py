"""The run store: configs hashed to directories, atomic files, verified checkpoints, train-once results."""

from .atomic import atomic_torch_save, atomic_write_json, atomic_write_text
from .hashing import config_hash
from .integrity import CheckpointCorruptError, RunIntegrityError, UnsafeCheckpointError, WeightsMismatchError
from .run import Run
from .store import RunStore

__all__ = [
    "RunStore",
    "Run",
    "config_hash",
    "atomic_write_text",
    "atomic_write_json",
    "atomic_torch_save",
    "CheckpointCorruptError",
    "UnsafeCheckpointError",
    "RunIntegrityError",
    "WeightsMismatchError",
]
