"""Trust nothing read from a run's directory unchecked: checksummed files, shaped JSON, safe torch loads.

Every file a run keeps is written data first, then a ``<name>.sha256`` sidecar ("<sha256> <size>"),
each atomically; a reader compares the two. Torch files are loaded with ``weights_only=True`` only,
so a file planted in the store can hold tensors and plain values but never runs code.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from pathlib import Path
from typing import Any

from .atomic import atomic_write_bytes, atomic_write_text

__all__ = ["CheckpointCorruptError", "UnsafeCheckpointError", "WeightsMismatchError", "RunIntegrityError",
           "sidecar", "write_verified", "read_verified", "check_sidecar", "torch_bytes", "safe_torch_load", "read_json",
           "fix_hint", "summary", "misfit", "unconfirmed_by_history", "verified_rows"]


class CheckpointCorruptError(RuntimeError):
    """A checkpoint or weights file does not match its checksum (truncated, damaged, or unverified)."""


class UnsafeCheckpointError(CheckpointCorruptError):
    """A torch file holds objects that only a full unpickle would build (an old format, or a planted file)."""


class WeightsMismatchError(CheckpointCorruptError):
    """A weights or checkpoint file passed its checksum but does not fit the run's model (another model's file)."""


class RunIntegrityError(RuntimeError):
    """A file of a run is missing, damaged or of the wrong shape; the message names it and the fix."""


def summary(exc: BaseException, width: int = 200) -> str:
    """``exc``'s message on one line, cut to ``width`` characters (torch's load errors list every key)."""
    text = " ".join(str(exc).split())
    return text if len(text) <= width else text[:width - 1] + "…"


def misfit(exc: BaseException) -> str:
    """What a failed ``load_state_dict`` says, counted ("3 missing keys, 1 tensor of another shape")."""
    text = str(exc)
    if "Error(s) in loading state_dict" not in text:
        return summary(exc)
    lines = text.splitlines()
    counts = []
    for name, marker in (("missing key", "Missing key(s)"), ("unexpected key", "Unexpected key(s)")):
        line = next((line for line in lines if marker in line), "")
        n = line.count('"') // 2
        if n:
            counts.append(f"{n} {name}{'s' if n > 1 else ''}")
    shapes = text.count("size mismatch for")
    if shapes:
        counts.append(f"{shapes} tensor{'s' if shapes > 1 else ''} of another shape")
    return ", ".join(counts) or summary(exc)


def fix_hint(hash: str) -> str:
    """What to do about a damaged run: delete it and train it again."""
    return f"delete the run with `greenkd runs rm {hash}` (or RunStore.remove({hash!r})) and run it again"


def sidecar(path: Path) -> Path:
    """The checksum file beside ``path``."""
    return path.with_name(path.name + ".sha256")


def _checksum_line(data: bytes) -> str:
    return f"{hashlib.sha256(data).hexdigest()} {len(data)}\n"


def write_verified(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` and then its checksum sidecar, both atomically.

    Data first: a write that fails (disk full, killed) leaves the old file beside its old checksum,
    so a good file is never flagged as damaged. Only a crash in the instant between the two renames
    leaves a new file beside the old checksum, which readers then treat as damaged and recover from.
    """
    atomic_write_bytes(path, data)
    atomic_write_text(sidecar(path), _checksum_line(data))
    return path


def _expected(path: Path) -> tuple[str, int]:
    side = sidecar(path)
    if not side.exists():
        raise CheckpointCorruptError(f"{path} has no checksum file {side.name}")
    try:
        digest, size = side.read_text().split()
        return digest, int(size)
    except ValueError:
        raise CheckpointCorruptError(f"{side} is not a '<sha256> <size>' checksum file") from None


def check_sidecar(path: Path) -> None:
    """Cheap check (no hashing): ``path`` exists, has a checksum file, and has the size it records."""
    _, size = _expected(path)
    if not path.exists():
        raise CheckpointCorruptError(f"{path} is missing (its checksum file is there)")
    actual = path.stat().st_size
    if actual != size:
        raise CheckpointCorruptError(f"{path} has {actual} bytes, its checksum file says {size} (truncated?)")


def read_verified(path: Path) -> bytes:
    """The bytes of ``path`` after checking them against the sidecar (``CheckpointCorruptError`` if not)."""
    digest, size = _expected(path)
    data = path.read_bytes()
    if len(data) != size:
        raise CheckpointCorruptError(f"{path} has {len(data)} bytes, its checksum file says {size} (truncated?)")
    if hashlib.sha256(data).hexdigest() != digest:
        raise CheckpointCorruptError(f"{path} does not match its sha256 (damaged)")
    return data


def torch_bytes(obj: Any) -> bytes:
    """``torch.save(obj)`` in memory."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def safe_torch_load(data: bytes, path: Path) -> Any:
    """Load torch bytes with ``weights_only=True`` on the CPU.

    A file naming a global that weights-only loading refuses (a numpy array of an old checkpoint, or
    ``os.system`` in a planted one) or an opcode it does not run raises ``UnsafeCheckpointError``:
    nothing in it is executed.
    Other failures (not a torch file at all) propagate as they are.
    """
    import pickle

    import torch

    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch.save writes a zip ("PK"): one that weights-only loading refuses holds code to run, not
        # damage (a file that is no torch file at all fails the same way and is reported as it is).
        if data[:2] == b"PK" and "Weights only load failed" in str(exc):
            detail = str(exc).split("WeightsUnpickler error:")[-1].strip().splitlines()[0][:200]
            raise UnsafeCheckpointError(
                f"{path} holds objects that only an unrestricted unpickle would build ({detail}); it was "
                "not loaded and nothing in it was run (a checkpoint from an older greenkd, or a planted file)"
            ) from None
        raise


def read_json(path: Path, what: str, hash: str) -> Any:
    """The parsed JSON of ``path``; invalid JSON raises ``RunIntegrityError`` naming the file and the fix."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RunIntegrityError(f"{path} ({what} of run {hash}) is not UTF-8 text (damaged); "
                                f"{fix_hint(hash)}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RunIntegrityError(f"{path} ({what} of run {hash}) is not valid JSON ({exc}); "
                                f"{fix_hint(hash)}") from None


# (result's metric, history.csv's column, which row): what a run's own history confirms of its result.
_CONFIRMED_BY_HISTORY = (("test_acc", "test_acc", "best"), ("best_val_acc", "val_acc", "best"),
                         ("final_test_acc", "test_acc", "last"))


def _same_number(a: object, b: str) -> bool:
    try:
        x, y = float(a), float(b)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return (math.isnan(x) and math.isnan(y)) or math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)


def verified_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV file (a run's history), checked against its checksum where it has one.

    Raises ``FileNotFoundError``, ``CheckpointCorruptError``, ``OSError``, ``UnicodeDecodeError`` or ``csv.Error``.
    """
    if sidecar(path).exists():
        read_verified(path)
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def unconfirmed_by_history(result: dict, history_path: Path) -> str | None:
    """Why ``result``'s accuracies are not confirmed by ``history_path`` (None: they agree).

    A result without a checksum may be one written before results had checksums, or an edit whose
    checksum was deleted: only the run's history (its best epoch's row, its last row) tells them apart.
    """
    metrics = result.get("metrics")
    if not isinstance(metrics, dict) or isinstance(metrics.get("best_epoch"), bool) \
            or not isinstance(metrics.get("best_epoch"), int) or "test_acc" not in metrics:
        return "it holds no test_acc and best_epoch to check against the run's history"
    try:
        rows = verified_rows(history_path)
    except FileNotFoundError:
        return f"the run's history {history_path.name} is missing, so nothing confirms it"
    except (CheckpointCorruptError, OSError, UnicodeDecodeError, csv.Error) as exc:
        return f"the run's history cannot confirm it ({exc})"
    best = [row for row in rows if _same_number(metrics["best_epoch"], row.get("epoch") or "")]
    if not best:
        return f"{history_path.name} has no row of its best epoch {metrics['best_epoch']}"
    for key, column, which in _CONFIRMED_BY_HISTORY:
        if column == "test_acc" and "test_read" in result:
            continue  # a run that read the test split once, after training (data-free): no epoch holds it
        row = best[0] if which == "best" else rows[-1]
        if key in metrics and not _same_number(metrics[key], row.get(column) or ""):
            return (f"its {key} {metrics[key]!r} is not the {column} {row.get(column)!r} of epoch {row.get('epoch')} "
                    f"in {history_path.name}")
    return None
