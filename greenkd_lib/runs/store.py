"""A directory of runs named by the hash of their configuration: train once, then read from disk."""

from __future__ import annotations

import logging
import platform
import re
import shutil
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TYPE_CHECKING

from filelock import Timeout

from .hashing import config_hash, HASH_LENGTH, to_json_value
from .integrity import RunIntegrityError
from .locking import holding
from .run import Run

if TYPE_CHECKING:
    import pandas

__all__ = ["RunStore", "LIST_COLUMNS", "RESERVED_RESULT_KEYS", "Verifier"]

logger = logging.getLogger(__name__)

LIST_COLUMNS = ("hash", "label", "kind", "state", "epochs_done", "epochs", "wall_s", "energy_kwh", "co2_g",
                "pflops", "path")
RESERVED_RESULT_KEYS = ("hash", "config", "finished_at", "versions")
# verify(run, result, repair) -> True when the finished run's files are sound (repair=True: after
# re-deriving what it could), False when it reopened the run so that it is trained again.
Verifier = Callable[[Run, dict, bool], bool]
_HASH_DIR = re.compile(f"[0-9a-f]{{{HASH_LENGTH}}}")


def _versions() -> dict[str, str | None]:
    from importlib import metadata

    out: dict[str, str | None] = {}
    for name, dist in (("greenkd", "greenkd"), ("torch", "torch"), ("codecarbon", "codecarbon")):
        try:
            out[name] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[name] = None
    out["python"] = platform.python_version()
    return out


def _label(config: Mapping) -> str:
    """config["label"], else a short name built from model, teacher, method and seed."""
    if isinstance(config.get("label"), str) and config["label"]:
        return config["label"]
    teacher = config.get("teacher")
    teacher_model = teacher.get("model") if isinstance(teacher, Mapping) else None
    model = config.get("model")
    name = f"{teacher_model}->{model}" if teacher_model and model else str(model or "")
    if config.get("method"):
        name += f" {str(config['method']).upper()}"
    temperature = config.get("temperature")
    if isinstance(temperature, Mapping):  # runs differing only by tau must not look alike
        if temperature.get("type") == "fixed":
            name += f" tau={temperature.get('tau'):g}"
        elif temperature.get("type") == "stochastic":
            name += f" tau~{temperature.get('low'):g}..{temperature.get('high'):g}/{temperature.get('per', 'batch')}"
    if config.get("batch_size") is not None:
        name += f" bs{config['batch_size']}"
    if config.get("seed") is not None:
        name += f" seed {config['seed']}"
    if config.get("profile"):
        name += f" ({config['profile']})"
    return name.strip()


def _number(value: Any) -> float | None:
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


class RunStore:
    """Runs under ``root/<hash>/``, where hash = :func:`config_hash` of the run's config.

    Several processes may share a store: a run is trained by one of them at a time, under a file
    lock in ``root/.locks/``; the others wait and then read its result.
    """

    def __init__(self, root: str | Path = "outputs/runs") -> None:
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise NotADirectoryError(f"runs_root {self.root.absolute()} is a file, not a folder: point runs_root "
                                     "(or GREENKD_HOME) at a folder, or move the file away")

    def __repr__(self) -> str:
        return f"RunStore({str(self.root)!r})"

    def _lock_path(self, hash: str) -> Path:
        # Outside the run's directory, so remove() can delete the directory while holding the lock.
        return self.root / ".locks" / f"{hash}.lock"

    def run(self, config: Mapping) -> Run:
        """The handle of the run of ``config``; its directory is created on the first write."""
        h = config_hash(config)
        return Run(h, config, self.root / h, self._lock_path(h))

    def get_or_run(self, config: Mapping, train_fn: Callable[[Run], Mapping], *, verify: Verifier | None = None,
                   timeout: float | None = None) -> dict:
        """The result of the run of ``config``: read from disk if finished, else trained now.

        ``train_fn(run)`` trains (resuming from ``run.load_checkpoint()``) and returns a JSON-able
        mapping (metrics, footprint, flops, epochs); it runs under the run's lock, so at most once
        at a time across processes. Its result is written to result.json (with a checksum) with
        "hash", "config", "finished_at" and "versions" added, and returned.

        ``verify(run, result, repair)`` checks the files a finished run promises (see ``Verifier``);
        a failed check is repaired under the lock. ``timeout``: seconds to wait for another process
        holding the run's lock (None: for ever), then ``RunLockTimeout``.
        """
        run = self.run(config)
        result = run.result()
        if result is not None and (verify is None or verify(run, result, False)):
            return result
        if not callable(train_fn):
            raise TypeError(f"train_fn must be a callable taking the Run, got {type(train_fn).__name__}")
        with holding(run.lock(), f"run {run.hash}", timeout):
            result = run.result()  # the process we waited for may have finished (or repaired) it
            if result is not None and (verify is None or verify(run, result, True)):
                return result
            run.write_config()
            out = train_fn(run)
            if not isinstance(out, Mapping):
                raise TypeError(f"train_fn must return a mapping (metrics, footprint, ...), got {type(out).__name__}")
            clash = sorted(set(out) & set(RESERVED_RESULT_KEYS))
            if clash:
                raise ValueError(f"train_fn's result uses reserved keys {clash}; the store adds them itself")
            result = to_json_value(
                {**out, "hash": run.hash, "config": run.config,
                 "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 "versions": _versions()},
                where="train_fn's result", allow_nan=True)
            run.write_result(result)
            return result

    def _runs(self) -> list[Run]:
        if not self.root.is_dir():
            return []
        runs = []
        for d in sorted(self.root.iterdir()):
            if not _HASH_DIR.fullmatch(d.name):
                continue
            if d.is_symlink():  # a link may lead outside the store: never read through it, never delete it
                logger.warning("%s is a symbolic link (to %s), not a run folder: the run store neither follows nor "
                               "deletes links; remove the link yourself if it should go", d, d.resolve())
                continue
            if d.is_dir():
                runs.append(self._stored(d.name))
        return runs

    def _stored(self, hash: str) -> Run:
        """The run stored as ``root/<hash>``, its config read and checked.

        A config.json that does not hash to the directory's name is restored from result.json's copy
        when that one does (with a warning); otherwise the run's ``damaged`` attribute says why.
        """
        run = Run(hash, {}, self.root / hash, self._lock_path(hash))
        try:
            run.config = run.read_config()
            return run
        except RunIntegrityError as exc:
            problem = exc.args[0]
        try:
            saved = run.result() if run.result_path.exists() else None
        except RunIntegrityError:
            saved = None
        if saved is not None:  # result() checked that its config hashes to the run's name
            run.config = saved["config"]
            try:
                run.write_config()
            except (OSError, RunIntegrityError, RuntimeError) as err:
                logger.warning("%s; could not restore it from result.json: %s", problem, err)
            return run
        run.damaged = problem
        return run

    def _row(self, run: Run) -> dict[str, Any]:
        config = run.config
        row: dict[str, Any] = {
            "hash": run.hash,
            "label": _label(config),
            "kind": config.get("kind", config.get("method", "")),
            "state": "damaged" if run.damaged else run.state,
            "epochs_done": None, "epochs": config.get("epochs"),
            "wall_s": None, "energy_kwh": None, "co2_g": None, "pflops": None,
            "path": str(run.dir),
        }
        if row["state"] == "damaged":
            logger.warning("%s", run.damaged)
            return row
        if row["state"] == "finished":
            try:
                result = run.result() or {}
            except RunIntegrityError as exc:
                logger.warning("%s", exc)
                row["state"] = "damaged"
                return row
            footprint = result.get("footprint") if isinstance(result.get("footprint"), dict) else {}
            flops = result.get("flops") if isinstance(result.get("flops"), dict) else {}
            pflops = _number(flops.get("pflops"))
            if pflops is None and _number(flops.get("total")) is not None:
                pflops = _number(flops["total"]) / 1e15
            row.update(epochs_done=result.get("epochs"), wall_s=_number(footprint.get("duration_s")),
                       energy_kwh=_number(footprint.get("energy_kwh")), co2_g=_number(footprint.get("co2_g")),
                       pflops=pflops)
        else:
            last = run.last_history_row() or {}
            flops = _number(last.get("flops"))
            row.update(epochs_done=run.epochs_done(), wall_s=_number(last.get("wall_s")),
                       energy_kwh=_number(last.get("energy_kwh")), co2_g=_number(last.get("co2_g")),
                       pflops=None if flops is None else flops / 1e15)
        return row

    def list(self) -> "pandas.DataFrame":
        """One row per run: hash, label, kind, state, epochs_done, epochs, wall_s, energy_kwh,
        co2_g, pflops, path (finished runs from result.json, others from their last history row).

        state is one of :data:`~greenkd_lib.runs.run.STATES`; "damaged" when config.json or result.json
        fails its checks (the reason is logged)."""
        import pandas

        return pandas.DataFrame([self._row(run) for run in self._runs()], columns=list(LIST_COLUMNS))

    def run_by_hash(self, hash_prefix: str) -> Run:
        """The stored run whose hash starts with ``hash_prefix`` (KeyError if none or several)."""
        if not isinstance(hash_prefix, str) or not re.fullmatch(f"[0-9a-fA-F]{{1,{HASH_LENGTH}}}", hash_prefix):
            raise ValueError(f"hash_prefix must be 1 to {HASH_LENGTH} hex digits, got {hash_prefix!r}")
        prefix = hash_prefix.lower()
        runs = self._runs()
        matches = [r for r in runs if r.hash.startswith(prefix)]
        if not matches:
            raise KeyError(f"no run in {self.root} has a hash starting with {prefix!r}; "
                           f"runs: {[r.hash for r in runs] or 'none'}")
        if len(matches) > 1:
            raise KeyError(f"hash prefix {prefix!r} is ambiguous, give more digits; candidates: "
                           + ", ".join(f"{r.hash} ({_label(r.config)})" for r in matches))
        return matches[0]

    def remove(self, hash_prefix: str) -> Path:
        """Delete the run whose hash starts with ``hash_prefix``; refuses a running one."""
        return self._remove(self.run_by_hash(hash_prefix))

    def _remove(self, run: Run) -> Path:
        if run.dir.is_symlink():
            raise RuntimeError(f"{run.dir} is a symbolic link (to {run.dir.resolve()}): the run store does not "
                               "delete through links; remove the link yourself")
        lock = run.lock()
        try:
            lock.acquire(blocking=False)
        except Timeout:
            raise RuntimeError(f"run {run.hash} is running (its lock {lock.lock_file} is held); "
                               "wait for it or stop that process, then remove it") from None
        try:
            shutil.rmtree(run.dir)
        finally:
            lock.release()
        return run.dir

    def unfinished(self) -> list[Run]:
        """Runs that never finished and that no live process holds: new, partial, or damaged without a result."""
        out = []
        for run in self._runs():
            if run.result_path.exists() or run.is_locked():
                continue
            out.append(run)
        return out

    def clean(self, dry_run: bool = False) -> list[Path]:
        """Delete :meth:`unfinished` runs (``dry_run``: only list them); a run locked meanwhile is skipped."""
        removed = []
        for run in self.unfinished():
            if dry_run:
                removed.append(run.dir)
                continue
            try:
                removed.append(self._remove(run))
            except RuntimeError as exc:  # a process took it up since the listing
                logger.warning("%s", exc)
        return removed
