"""One run's directory: config, per-epoch history, verified checkpoints and weights, result.

Layout of ``<root>/<hash>/``::

    config.json                 the run's configuration (what the hash names)
    history.csv                 one row per epoch, cumulative columns
    checkpoints/epoch_0003.pt   the last two, each with a .sha256 sidecar
    weights/final.pt            plain torch state dicts, with .sha256 sidecars
    artifacts/synthetic.pt      what a run made besides weights (a data-free run's synthetic images)
    result.json                 written once, when the run is finished

torch and pandas are imported only by the methods that need them, so that reading a finished
run stays fast.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TYPE_CHECKING

from filelock import FileLock, Timeout

from .atomic import atomic_write_json, clean_temp_files
from .hashing import canonical_json, config_hash, to_json_value
from .integrity import (check_sidecar, CheckpointCorruptError, fix_hint, read_json, read_verified,
                        RunIntegrityError, safe_torch_load, sidecar, torch_bytes, unconfirmed_by_history,
                        write_verified)

if TYPE_CHECKING:
    import pandas

__all__ = ["Run", "CheckpointCorruptError", "RunIntegrityError", "KEEP_CHECKPOINTS", "STATES"]

logger = logging.getLogger(__name__)

KEEP_CHECKPOINTS = 2
# "damaged": shown by RunStore.list() for a run whose config.json or result.json fails its checks.
STATES = ("finished", "running", "partial", "new", "damaged")
_CHECKPOINT = re.compile(r"epoch_(\d+)\.pt")
_WEIGHTS_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_RESULT_KEYS = ("hash", "config")  # what the store adds to every result it writes

# Kept for callers of the old private names.
_sidecar = sidecar
_write_verified = write_verified
_read_verified = read_verified
_torch_bytes = torch_bytes


def _move_aside(path: Path) -> Path:
    """Rename ``path`` (and its sidecar) to ``*.corrupt``, keeping earlier ones."""
    target = path.with_name(path.name + ".corrupt")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.corrupt{n}")
        n += 1
    if path.exists():
        path.replace(target)
    side = sidecar(path)
    if side.exists():
        side.replace(target.with_name(side.name + target.name[len(path.name):]))
    return target


class Run:
    """Handle on one run's directory; nothing is created until the first write."""

    def __init__(self, hash: str, config: Mapping, dir: str | Path, lock_path: str | Path) -> None:
        self.hash = hash
        self.config: dict = to_json_value(config)
        self.dir = Path(dir)
        self.lock_path = Path(lock_path)
        self.damaged: str | None = None  # why config.json failed its check, when the store found it so

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

    @property
    def artifacts_dir(self) -> Path:
        return self.dir / "artifacts"

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
        """The contents of result.json, or None while the run is not finished.

        Checked against its sidecar checksum and for its shape. A result without a checksum (stored
        before results had checksums, or edited and its checksum deleted) is accepted only when its
        accuracies agree with history.csv; it then gets its checksum, with a warning (once).
        ``RunIntegrityError`` (naming the file and the fix) when it fails.
        """
        path = self.result_path
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        if sidecar(path).exists():
            try:
                read_verified(path)
            except CheckpointCorruptError as exc:
                raise RunIntegrityError(f"{exc}: result.json of run {self.hash} was edited or damaged, so its "
                                        f"numbers cannot be trusted; {fix_hint(self.hash)}") from None
            legacy = False
        else:
            legacy = True
        result = read_json(path, "the result", self.hash)
        self._check_result(result)
        if legacy:
            self._seal_legacy(result, data)
        return result

    def _seal_legacy(self, result: dict, data: bytes) -> None:
        """Give a result without a checksum its checksum, if its history confirms it (else it is damaged).

        Sealing an edit whose checksum was deleted would make it trusted for good: only what the run's
        own history confirms is sealed.
        """
        path = self.result_path
        why = unconfirmed_by_history(result, self.history_path)
        if why is not None:
            raise RunIntegrityError(f"{path} has no checksum file {sidecar(path).name} and {why}: result.json of run "
                                    f"{self.hash} was edited or damaged, so its numbers cannot be trusted; "
                                    f"{fix_hint(self.hash)}")
        warnings.warn(f"run {self.hash}: result.json has no checksum file (stored before results had checksums?); "
                      "its accuracies agree with history.csv, so it is trusted and now has its checksum", stacklevel=3)
        try:
            write_verified(path, data)
        except OSError as exc:  # a read-only store still reads
            logger.debug("could not add a checksum to %s: %s", path, exc)

    def _check_result(self, result: Any) -> None:
        path = self.result_path
        if not isinstance(result, dict):
            raise RunIntegrityError(f"{path} holds a JSON {type(result).__name__}, not the object a run's result is; "
                                    f"{fix_hint(self.hash)}")
        missing = [key for key in _RESULT_KEYS if key not in result]
        if missing:
            raise RunIntegrityError(f"{path} lacks {missing}, which every stored result has (damaged or edited); "
                                    f"{fix_hint(self.hash)}")
        if result["hash"] != self.hash or not isinstance(result["config"], dict) \
                or config_hash(result["config"]) != self.hash:
            raise RunIntegrityError(f"{path} belongs to another run than {self.hash} (its hash or config differs); "
                                    f"{fix_hint(self.hash)}")

    def write_result(self, result: Mapping) -> Path:
        """Write result.json and its checksum (the store calls this once, when the run finishes)."""
        data = (json.dumps(result, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        return write_verified(self.result_path, data)

    def read_config(self) -> dict:
        """config.json, checked: a JSON object whose hash is the directory's name (``RunIntegrityError`` if not)."""
        path = self.dir / "config.json"
        if not path.exists():
            raise RunIntegrityError(f"run {self.hash} has no {path.name} ({path}); {fix_hint(self.hash)}")
        config = read_json(path, "the configuration", self.hash)
        if not isinstance(config, dict):
            raise RunIntegrityError(f"{path} holds a JSON {type(config).__name__}, not a configuration object; "
                                    f"{fix_hint(self.hash)}")
        try:
            actual = config_hash(config)
        except (TypeError, ValueError) as exc:
            actual = f"none ({exc})"
        if actual != self.hash:
            raise RunIntegrityError(f"{path} does not hash to its run's name {self.hash} (hash {actual}): it was "
                                    f"edited or damaged; {fix_hint(self.hash)}")
        return config

    def epochs_done(self) -> int:
        """Epochs completed: the last history row's epoch, else the newest checkpoint's, else 0."""
        row = self.last_history_row()
        if row and row.get("epoch") not in (None, ""):
            return int(float(row["epoch"]))
        checkpoints = self._checkpoints()
        return checkpoints[-1][0] if checkpoints else 0

    def write_config(self) -> Path:
        """Write config.json (creating the directory).

        An existing file that does not hash to the run's name (edited or damaged) is rewritten from
        this run's configuration, with a warning; one that does but differs is a hash collision.
        """
        path = self.dir / "config.json"
        if path.exists():
            try:
                existing = self.read_config()
            except RunIntegrityError as exc:
                if config_hash(self.config) != self.hash:
                    raise
                warnings.warn(f"{exc.args[0].split(';')[0]}; rewrote it from run {self.hash}'s configuration",
                              stacklevel=2)
                return atomic_write_json(path, self.config)
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
        write_verified(self.history_path, out.getvalue().encode("utf-8"))

    def history(self) -> "pandas.DataFrame":
        """history.csv as a DataFrame (empty while there is none; ``RunIntegrityError`` for a finished run)."""
        import pandas

        if not self.history_path.exists() or self.history_path.stat().st_size == 0:
            if self.result_path.exists():
                raise RunIntegrityError(f"run {self.hash} is finished but its history {self.history_path} is "
                                        f"missing or empty; {fix_hint(self.hash)}")
            return pandas.DataFrame()
        if sidecar(self.history_path).exists():  # histories written before checksums have none
            try:
                read_verified(self.history_path)
            except CheckpointCorruptError as exc:
                raise RunIntegrityError(f"{exc}: the history of run {self.hash} was edited or damaged; "
                                        f"{fix_hint(self.hash)}") from None
        try:
            table = pandas.read_csv(self.history_path)
        except (pandas.errors.ParserError, UnicodeDecodeError) as exc:
            raise RunIntegrityError(f"{self.history_path} of run {self.hash} is not a readable CSV ({exc}); "
                                    f"{fix_hint(self.hash)}") from None
        if "epoch" not in table.columns:
            raise RunIntegrityError(f"{self.history_path} of run {self.hash} has no 'epoch' column (damaged); "
                                    f"{fix_hint(self.hash)}")
        return table

    def last_history_row(self) -> dict | None:
        """The last row of history.csv as a dict of strings (no pandas needed)."""
        try:
            with self.history_path.open(newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
        except FileNotFoundError:
            return None
        return rows[-1] if rows else None

    # -- checkpoints ---------------------------------------------------------------------------
    def checkpoints(self) -> list[tuple[int, Path]]:
        """(epoch, path) of the checkpoint files, oldest first."""
        return self._checkpoints()

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
        path = write_verified(self.checkpoint_dir / f"epoch_{epoch:04d}.pt", torch_bytes(state))
        for _, old in self._checkpoints()[:-KEEP_CHECKPOINTS]:
            old.unlink(missing_ok=True)
            sidecar(old).unlink(missing_ok=True)
        return path

    def clean_temp_files(self) -> list[Path]:
        """Delete what writes killed mid-way left in checkpoints/ and weights/ (call under the lock)."""
        removed = clean_temp_files(self.checkpoint_dir) + clean_temp_files(self.weights_dir)
        if removed:
            logger.info("run %s: removed temporary files of interrupted writes: %s", self.hash,
                        ", ".join(p.name for p in removed))
        return removed

    def load_checkpoint(self, epoch: int | None = None) -> dict | None:
        """The newest valid checkpoint (with "epoch" filled in), or None when there is none.

        With ``epoch``, that epoch's checkpoint only (None if absent or unusable, left in place). A
        file failing its checksum, or one that weights-only loading refuses (nothing in it is run), is
        moved aside (``*.corrupt``) with a warning and the next newest is tried. A verified file that
        torch cannot load at all raises instead: it is not damaged. Tensors are mapped to the CPU;
        ``load_state_dict`` moves them to the model's device.
        """
        if epoch is not None:
            path = self.checkpoint_dir / f"epoch_{epoch:04d}.pt"
            try:
                state = safe_torch_load(read_verified(path), path)
            except (CheckpointCorruptError, OSError):
                return None
            if isinstance(state, dict):
                state.setdefault("epoch", epoch)
            return state
        self.clean_temp_files()
        for epoch, path in reversed(self._checkpoints()):
            try:
                data = read_verified(path)
                state = safe_torch_load(data, path)
            except (CheckpointCorruptError, OSError) as exc:
                moved = _move_aside(path)
                warnings.warn(f"checkpoint {path} is unusable ({exc}); moved it aside to {moved.name} and "
                              "falling back to the previous checkpoint", stacklevel=2)
                continue
            except Exception as exc:
                raise RuntimeError(f"checkpoint {path} passed its checksum but torch could not load it "
                                   f"({type(exc).__name__}: {exc}); has the code changed since it was saved?") from exc
            if isinstance(state, dict):
                state.setdefault("epoch", epoch)
            return state
        return None

    # -- weights -------------------------------------------------------------------------------
    def _weights_path(self, name: str) -> Path:
        return self._named(self.weights_dir, name, "weights")

    @staticmethod
    def _named(directory: Path, name: str, what: str) -> Path:
        if not isinstance(name, str) or not _WEIGHTS_NAME.fullmatch(name):
            raise ValueError(f"{what} name must be letters, digits, '_' or '-' (no extension), got {name!r}")
        return directory / f"{name}.pt"

    def save_weights(self, state_dict: dict, name: str = "final") -> Path:
        """Save a state dict to weights/<name>.pt atomically (a plain torch file, with a sidecar)."""
        path = self._weights_path(name)
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"save_weights takes a state dict (model.state_dict()), got {type(state_dict).__name__}")
        self.write_config()
        return write_verified(path, torch_bytes(state_dict))

    def load_weights(self, name: str = "final") -> dict:
        """Load weights/<name>.pt on the CPU after checking its sha256 (``CheckpointCorruptError`` if bad)."""
        path = self._weights_path(name)
        if not path.exists():
            have = sorted(p.stem for p in self.weights_dir.glob("*.pt")) if self.weights_dir.is_dir() else []
            raise FileNotFoundError(f"run {self.hash} has no weights {name!r} ({path}); available: {have or 'none'}")
        return safe_torch_load(read_verified(path), path)

    def save_artifact(self, tensors: Mapping, name: str) -> Path:
        """Save a mapping of tensors to artifacts/<name>.pt atomically, with a checksum sidecar."""
        if not isinstance(tensors, Mapping):
            raise TypeError(f"save_artifact takes a mapping of tensors, got {type(tensors).__name__}")
        path = self._named(self.artifacts_dir, name, "artifact")
        self.write_config()
        return write_verified(path, torch_bytes(dict(tensors)))

    def load_artifact(self, name: str) -> dict:
        """Load artifacts/<name>.pt on the CPU after checking its sha256; FileNotFoundError naming what exists."""
        path = self._named(self.artifacts_dir, name, "artifact")
        if not path.exists():
            have = sorted(p.stem for p in self.artifacts_dir.glob("*.pt")) if self.artifacts_dir.is_dir() else []
            raise FileNotFoundError(f"run {self.hash} has no artifact {name!r} ({path}); available: {have or 'none'}")
        return safe_torch_load(read_verified(path), path)

    def check_weights(self, name: str) -> None:
        """Cheap check of weights/<name>.pt: present, with a checksum file, of the recorded size."""
        check_sidecar(self._weights_path(name))

    def move_aside(self, path: Path) -> Path:
        """Rename a damaged file of this run (and its checksum) to ``*.corrupt``, keeping it for inspection."""
        return _move_aside(path)
