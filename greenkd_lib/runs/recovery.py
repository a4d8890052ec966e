"""What a finished training run promises (result, history, best and final weights), checked and repaired.

A damaged or missing file, or weights of another model (:func:`load_weights_into`), is re-derived
from the checkpoints when they hold it (the last epoch's checkpoint holds the final weights and the
whole history; the best epoch's, when still kept, the best weights). Otherwise the run is reopened: its result is kept aside as ``result.json.reopened``,
its other files are removed, and it trains again (the same numbers on the CPU). Each repair is
reported by a warning naming the file and what was done.
"""

from __future__ import annotations

import csv
import shutil
import warnings
from typing import Any, TYPE_CHECKING

from . import CheckpointCorruptError, Run, RunIntegrityError, WeightsMismatchError
from .integrity import fix_hint, misfit, read_verified, sidecar, verified_rows

if TYPE_CHECKING:
    import torch

__all__ = ["check_train_result", "verify_trained_run", "best_weights_usable", "load_weights_into"]

WEIGHTS = ("best", "final")

# (path, size, mtime_ns) of weights whose sha256 this process has checked: hash each file once.
_VERIFIED: set[tuple[str, int, int]] = set()


def check_train_result(run: Run, result: Any) -> None:
    """``RunIntegrityError`` unless ``result`` has the shape train() gives (what readers index)."""
    problems = []
    for key, kind in (("metrics", dict), ("footprint", dict), ("flops", dict), ("model", dict), ("epochs", int)):
        if not isinstance(result.get(key), kind) or isinstance(result.get(key), bool):
            problems.append(f"{key!r} is not a {kind.__name__}")
    if not problems:
        if not all(isinstance(result["model"].get(k), int) for k in ("num_classes", "image_size")):
            problems.append("'model' lacks num_classes/image_size")
        if not isinstance(result["metrics"].get("test_acc"), (int, float)):
            problems.append("'metrics' lacks test_acc")
        if not isinstance(result["metrics"].get("best_epoch"), int):
            problems.append("'metrics' lacks best_epoch")
    if problems:
        raise RunIntegrityError(f"{run.result_path} is not a training result ({'; '.join(problems)}); "
                                f"{fix_hint(run.hash)}")


def _weights_ok(run: Run, name: str) -> str | None:
    """None when weights/<name>.pt matches its checksum, else what is wrong."""
    path = run.weights_dir / f"{name}.pt"
    try:
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key not in _VERIFIED:
            read_verified(path)
            _VERIFIED.add(key)
    except FileNotFoundError:
        return f"{path} is missing"
    except (CheckpointCorruptError, OSError) as exc:
        return str(exc)
    return None


def _history_ok(run: Run, epochs: int) -> str | None:
    path = run.history_path
    try:
        rows = verified_rows(path)
    except FileNotFoundError:
        return f"{path} is missing"
    except (CheckpointCorruptError, OSError, UnicodeDecodeError, csv.Error) as exc:
        return str(exc)
    if len(rows) != epochs or any("epoch" not in r for r in rows):
        return f"{path} has {len(rows)} rows with epochs, the result says {epochs}"
    return None


def verify_trained_run(run: Run, result: dict, repair: bool, unusable: dict[str, str] | None = None) -> bool:
    """The store's verifier for training runs (see ``RunStore.get_or_run``).

    ``unusable``: weights found bad beyond their checksum (e.g. refused by the loader), name -> why.
    """
    check_train_result(run, result)
    epochs, best_epoch = result["epochs"], result["metrics"]["best_epoch"]
    bad = {name: why for name in WEIGHTS if (why := _weights_ok(run, name))}
    bad.update(unusable or {})
    history = _history_ok(run, epochs)
    if not bad and history is None:
        return True
    if not repair:
        return False
    run.clean_temp_files()
    last = run.load_checkpoint(epochs)
    if history is not None:
        if last is None or len(last.get("state", {}).get("history", [])) != epochs:
            raise RunIntegrityError(f"run {run.hash} is finished but its history is unusable ({history}) and no "
                                    f"checkpoint of its last epoch {epochs} holds it; {fix_hint(run.hash)}")
        run.write_history(last["state"]["history"])
        warnings.warn(f"run {run.hash}: {history}; re-derived history.csv from the checkpoint of epoch {epochs}",
                      stacklevel=3)
    for name, why in bad.items():
        source_epoch = epochs if name == "final" else best_epoch
        source = last if source_epoch == epochs else run.load_checkpoint(source_epoch)
        if source is None or "model" not in source:
            _reopen(run, f"weights/{name}.pt is unusable ({why}) and no checkpoint of epoch {source_epoch} "
                         "is kept to re-derive it")
            return False
        if (run.weights_dir / f"{name}.pt").exists():
            run.move_aside(run.weights_dir / f"{name}.pt")
        run.save_weights(source["model"], name)
        warnings.warn(f"run {run.hash}: {why}; re-derived weights/{name}.pt from the checkpoint of epoch "
                      f"{source_epoch}", stacklevel=3)
    return True


def _reopen(run: Run, why: str) -> None:
    """Make a finished run new again (config kept, result kept aside) so that it is trained again."""
    kept = run.result_path.with_name("result.json.reopened")
    run.result_path.replace(kept)
    sidecar(run.result_path).unlink(missing_ok=True)
    for path in (run.checkpoint_dir, run.weights_dir):
        shutil.rmtree(path, ignore_errors=True)
    for path in (run.history_path, sidecar(run.history_path)):
        path.unlink(missing_ok=True)
    warnings.warn(f"run {run.hash}: {why}; reopened the run (its old result is kept as {kept.name}): it trains "
                  "again from the start", stacklevel=4)


def best_weights_usable(run: Run, state: dict, checkpoint: dict) -> bool:
    """On resume: True when weights/best.pt matches the checkpoint's best epoch or was re-derived.

    The best epoch's weights are re-derived from the checkpoint being resumed or the one before it
    when they are of that epoch; False when neither is, so the run must restart from scratch.
    """
    best_epoch = state.get("best_epoch", 0)
    if best_epoch <= 0:
        return True
    why = _weights_ok(run, "best")
    if why is None:
        return True
    source = checkpoint if checkpoint.get("epoch") == best_epoch else run.load_checkpoint(best_epoch)
    if source is None or "model" not in source:
        warnings.warn(f"run {run.hash}: {why}, and no checkpoint of its best epoch {best_epoch} is kept; "
                      "restarting the run from the start", stacklevel=3)
        return False
    if (run.weights_dir / "best.pt").exists():
        run.move_aside(run.weights_dir / "best.pt")
    run.save_weights(source["model"], "best")
    warnings.warn(f"run {run.hash}: {why}; re-derived weights/best.pt from the checkpoint of epoch {best_epoch}",
                  stacklevel=3)
    return True


def _load_into(model: torch.nn.Module, run: Run, name: str, label: str) -> None:
    """Load weights/<name>.pt into ``model``; ``WeightsMismatchError`` when they are another model's."""
    state = run.load_weights(name)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:  # torch's wording for keys and shapes that differ
        raise WeightsMismatchError(
            f"{run.weights_dir / f'{name}.pt'} passed its checksum but does not fit run {run.hash} ({label}), a "
            f"{type(model).__name__} ({misfit(exc)}): the weights of another model?") from None


def load_weights_into(model: torch.nn.Module, run: Run, name: str, result: dict, label: str,
                      repair: bool = True) -> None:
    """Load weights/<name>.pt of a finished run into ``model`` (built with the run's own shape).

    Weights that fail their checksum, or do not fit ``model`` (another model's file, checksum and
    all), are re-derived from the run's checkpoints where they can be; otherwise the run is reopened
    and this raises, saying to train it again. ``repair=False`` (``model`` is not of the run's
    shape): a misfit raises, touching nothing. Weights that still do not fit raise, naming the fix.
    """
    try:
        _load_into(model, run, name, label)
        return
    except (CheckpointCorruptError, FileNotFoundError) as exc:
        if isinstance(exc, WeightsMismatchError) and not repair:  # the caller's model may be what differs
            raise WeightsMismatchError(f"{exc} The model asked for is not of the run's shape: leave num_classes and "
                                       f"image_size unset to get the run's own; if the file is damaged, "
                                       f"{fix_hint(run.hash)}") from None
        if name not in WEIGHTS:  # only the best and final weights can be re-derived
            raise
        why = str(exc)
    with run.lock():
        if not verify_trained_run(run, result, repair=True, unusable={name: why}):
            raise RunIntegrityError(f"{why}; run {run.hash} ({label}) was reopened: train it again with "
                                    "get_or_run") from None
    try:
        _load_into(model, run, name, label)
    except WeightsMismatchError as exc:  # re-derived from a checkpoint that is another model's too
        raise RunIntegrityError(f"{exc} It was re-derived from the run's checkpoint, which holds the same misfit; "
                                f"{fix_hint(run.hash)}") from None
