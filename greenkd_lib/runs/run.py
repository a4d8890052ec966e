"""One run's directory: config, per-epoch history, verified checkpoints and weights, result.

Layout of ``<root>/<hash>/``::

    config.json                 the run's configuration (what the hash names)
    history.csv                 one row per epoch, cumulative columns
    checkpoints/epoch_0003.pt   the last two, each with a .sha256 sidecar
    weights/final.pt            plain torch state dicts, with .sha256 sidecars
    result.json                 written once, when the run is finished

torch and pandas are imported only by the methods that need them, so that reading a finished
run stays fast.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock, Timeout

from .atomic import TEMP_SUFFIX, atomic_write_bytes, atomic_write_json, atomic_write_text
from .hashing import canonical_json, to_json_value

if TYPE_CHECKING:
    import pandas

__all__ = ["Run", "CheckpointCorruptError", "KEEP_CHECKPOINTS", "STATES"]

KEEP_CHECKPOINTS = 2
STATES = ("finished", "running", "partial", "new")
_CHECKPOINT = re.compile(r"epoch_(\d+)\.pt")
_WEIGHTS_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


class CheckpointCorruptError(RuntimeError):
    """A checkpoint or weights file does not match its checksum (truncated, damaged, or unverified)."""


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _write_verified(path: Path, data: bytes) -> Path:
    # Sidecar first: a crash between the two writes leaves an orphan checksum, never an unverifiable file.
    atomic_write_text(_sidecar(path), f"{hashlib.sha256(data).hexdigest()} {len(data)}\n")
    return atomic_write_bytes(path, data)


def _read_verified(path: Path) -> bytes:
    sidecar = _sidecar(path)
    if not sidecar.exists():
        raise CheckpointCorruptError(f"{path} has no checksum file {sidecar.name}")
    try:
        digest, size = sidecar.read_text().split()
        size = int(size)
    except ValueError:
        raise CheckpointCorruptError(f"{sidecar} is not a '<sha256> <size>' checksum file") from None
    data = path.read_bytes()
    if len(data) != size:
        raise CheckpointCorruptError(f"{path} has {len(data)} bytes, its checksum file says {size} (truncated?)")
    if hashlib.sha256(data).hexdigest() != digest:
        raise CheckpointCorruptError(f"{path} does not match its sha256 (damaged)")
    return data


def _torch_bytes(obj: Any) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _move_aside(path: Path) -> Path:
    """Rename ``path`` (and its sidecar) to ``*.corrupt``, keeping earlier ones."""
    target = path.with_name(path.name + ".corrupt")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.corrupt{n}")
        n += 1
    path.replace(target)
    sidecar = _sidecar(path)
    if sidecar.exists():
        sidecar.replace(target.with_name(sidecar.name + target.name[len(path.name):]))
    return target


class Run:
    """Handle on one run's directory; nothing is created until the first write."""

    def __init__(self, hash: str, config: Mapping, dir: str | Path, lock_path: str | Path) -> None:
        self.hash = hash
        self.config: dict = to_json_value(config)
        self.dir = Path(dir)
        self.lock_path = Path(lock_path)

    def __repr__(self) -> str:
        return f"Run({self.hash}, state={self.state!r}, dir={str(self.dir)!r})"

    # -- paths ---------------------------------------------------------------------------------
    @property
    def result_path(self) -> Path:
        return self.dir / "result.json"

    @property
    def history_path(self) -> Path:
        return self.dir / "history.csv"

    @property
    def checkpoint_dir(self) -> Path:
        return self.dir / "checkpoints"

    @property
    def weights_dir(self) -> Path:
        return self.dir / "weights"

    # -- state ---------------------------------------------------------------------------------
    def lock(self) -> FileLock:
        """The inter-process lock that whoever trains this run holds."""
        return FileLock(self.lock_path)

    def is_locked(self) -> bool:
        """True while some process (this one included) holds the run's lock."""
        if not self.lock_path.exists():
            return False
        probe = self.lock()
        try:
            probe.acquire(blocking=False)
        except Timeout:
            return True
        probe.release()
        return False

    @property
    def state(self) -> str:
        """"finished" | "running" (locked) | "partial" (history or checkpoints, unlocked) | "new"."""
        if self.result_path.exists():
            return "finished"
        if self.is_locked():
            return "running"
        if self.history_path.exists() or self._checkpoints():
            return "partial"
        return "new"

    def result(self) -> dict | None:
        """The contents of result.json, or None while the run is not finished."""
        try:
            text = self.result_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{self.result_path} is not valid JSON ({exc}); delete it to train the run again, "
                             f"or remove the run with RunStore.remove({self.hash!r})") from None

    def epochs_done(self) -> int:
        """Epochs completed: the last history row's epoch, else the newest checkpoint's, else 0."""
        row = self.last_history_row()
        if row and row.get("epoch") not in (None, ""):
            return int(float(row["epoch"]))
        checkpoints = self._checkpoints()
        return checkpoints[-1][0] if checkpoints else 0

    def write_config(self) -> Path:
        """Write config.json (creating the directory); refuses a directory holding another config."""
        path = self.dir / "config.json"
        if path.exists():
            existing = json.loads(path.read_text(encoding="utf-8"))
            if canonical_json(existing) != canonical_json(self.config):
                raise RuntimeError(f"{path} holds a different configuration than run {self.hash}: "
                                   "a hash collision or a hand-edited file; move the directory away")
            return path
        return atomic_write_json(path, self.config)

    # -- history -------------------------------------------------------------------------------
    def write_history(self, rows: list[dict]) -> None:
        """Replace history.csv with ``rows`` (one dict per epoch; columns in first-seen order)."""
        if not isinstance(rows, (list, tuple)) or not all(isinstance(r, Mapping) for r in rows):
            raise TypeError("write_history takes the whole history as a list of dicts, one per epoch")
        columns = list(dict.fromkeys(key for row in rows for key in row))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        self.write_config()
        atomic_write_text(self.history_path, out.getvalue())

    def history(self) -> "pandas.DataFrame":
        """history.csv as a DataFrame (empty when there is none)."""
        import pandas

        if not self.history_path.exists() or self.history_path.stat().st_size == 0:
            return pandas.DataFrame()
        return pandas.read_csv(self.history_path)

    def last_history_row(self) -> dict | None:
        """The last row of history.csv as a dict of strings (no pandas needed)."""
        try:
            with self.history_path.open(newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
        except FileNotFoundError:
            return None
        return rows[-1] if rows else None

    # -- checkpoints ---------------------------------------------------------------------------
    def _checkpoints(self) -> list[tuple[int, Path]]:
        """(epoch, path) of the checkpoint files, oldest first."""
        if not self.checkpoint_dir.is_dir():
            return []
        found = []
        for path in self.checkpoint_dir.iterdir():
            match = _CHECKPOINT.fullmatch(path.name)
            if match:
                found.append((int(match.group(1)), path))
        return sorted(found)

    def save_checkpoint(self, state: dict, epoch: int) -> Path:
        """Save ``state`` after ``epoch`` atomically, with a sha256 sidecar; keep the last two."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch must be an integer >= 0, got {epoch!r}")
        if not isinstance(state, Mapping):
            raise TypeError(f"a checkpoint state must be a dict, got {type(state).__name__}")
        if "epoch" in state and state["epoch"] != epoch:
            raise ValueError(f"state['epoch'] is {state['epoch']!r} but epoch={epoch}; they must agree")
        self.write_config()
        path = _write_verified(self.checkpoint_dir / f"epoch_{epoch:04d}.pt", _torch_bytes(state))
        for _, old in self._checkpoints()[:-KEEP_CHECKPOINTS]:
            old.unlink(missing_ok=True)
            _sidecar(old).unlink(missing_ok=True)
        return path

    def load_checkpoint(self) -> dict | None:
        """The newest valid checkpoint (with "epoch" filled in), or None when there is none.

        A file failing its checksum is moved aside (``*.corrupt``) with a warning and the next newest
        is tried. A verified file that torch cannot load (e.g. code changed) raises instead: it is
        not damaged. Tensors are mapped to the CPU; ``load_state_dict`` moves them to the model's
        device. Uses ``weights_only=False``: the files are our own (optimizer and RNG states).
        """
        import torch

        if self.checkpoint_dir.is_dir():  # leftovers of a write killed mid-way
            for tmp in self.checkpoint_dir.glob(f".*{TEMP_SUFFIX}"):
                tmp.unlink(missing_ok=True)
        for epoch, path in reversed(self._checkpoints()):
            try:
                data = _read_verified(path)
            except (CheckpointCorruptError, OSError) as exc:
                moved = _move_aside(path)
                warnings.warn(f"checkpoint {path} is unusable ({exc}); moved it aside to {moved.name} and "
                              "falling back to the previous checkpoint", stacklevel=2)
                continue
            try:
                state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)
            except Exception as exc:
                raise RuntimeError(f"checkpoint {path} passed its checksum but torch could not load it "
                                   f"({type(exc).__name__}: {exc}); has the code changed since it was saved?") from exc
            if isinstance(state, dict):
                state.setdefault("epoch", epoch)
            return state
        return None

    # -- weights -------------------------------------------------------------------------------
    def _weights_path(self, name: str) -> Path:
        if not isinstance(name, str) or not _WEIGHTS_NAME.fullmatch(name):
            raise ValueError(f"weights name must be letters, digits, '_' or '-' (no extension), got {name!r}")
        return self.weights_dir / f"{name}.pt"

    def save_weights(self, state_dict: dict, name: str = "final") -> Path:
        """Save a state dict to weights/<name>.pt atomically (a plain torch file, with a sidecar)."""
        path = self._weights_path(name)
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"save_weights takes a state dict (model.state_dict()), got {type(state_dict).__name__}")
        self.write_config()
        return _write_verified(path, _torch_bytes(state_dict))

    def load_weights(self, name: str = "final") -> dict:
        """Load weights/<name>.pt on the CPU after checking its sha256 (``CheckpointCorruptError`` if bad)."""
        import torch

        path = self._weights_path(name)
        if not path.exists():
            have = sorted(p.stem for p in self.weights_dir.glob("*.pt")) if self.weights_dir.is_dir() else []
            raise FileNotFoundError(f"run {self.hash} has no weights {name!r} ({path}); available: {have or 'none'}")
        return torch.load(io.BytesIO(_read_verified(path)), map_location="cpu", weights_only=True)
