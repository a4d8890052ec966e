"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Each write goes to a temporary file in the target's directory, is fsynced, then replaces the
target with ``os.replace`` (atomic on POSIX and Windows); the directory is fsynced so the rename
survives a power cut.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_write_json", "atomic_torch_save", "clean_temp_files",
           "TEMP_SUFFIX"]

TEMP_SUFFIX = ".tmp"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()


_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # Windows cannot open directories; its rename is durable enough
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (parent directories are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _FILE_MODE)  # mkstemp makes 0600; results should be as readable as any file
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
            # The bare "[Errno 28] No space left on device" names no file: say which and what to do.
            raise OSError(exc.errno, f"disk full: could not write {path} ({os.strerror(exc.errno)}); its previous "
                                     f"version, if any, is intact. Free space on {path.parent} and run again",
                          str(path)) from exc
        raise
    _fsync_dir(path.parent)
    return path


def clean_temp_files(directory: str | Path) -> list[Path]:
    """Delete the temporary files that writes into ``directory`` killed mid-way left; return them."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    removed = []
    for tmp in directory.glob(f".*{TEMP_SUFFIX}"):
        tmp.unlink(missing_ok=True)
        removed.append(tmp)
    return removed


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    if not isinstance(text, str):
        raise TypeError(f"atomic_write_text writes a str, got {type(text).__name__}")
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically (serialized before anything is written)."""
    try:
        text = json.dumps(obj, indent=2, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"cannot write {Path(path).name} as JSON: {exc}; convert the value to a number, "
                        "string, list or dict first") from exc
    return atomic_write_text(path, text + "\n")


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """``torch.save(obj, path)``, atomically: serialized in memory first, then written."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return atomic_write_bytes(path, buffer.getvalue())
