"""The inter-process lock of a run, with a note of who holds it, and waiting for it with a timeout."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from filelock import FileLock, Timeout

from .atomic import atomic_write_json

__all__ = ["RunLockTimeout", "holding", "owner_of", "owner_path"]

logger = logging.getLogger(__name__)


class RunLockTimeout(TimeoutError):
    """Another process held a run's lock for longer than the caller would wait."""


def owner_path(lock_path: Path) -> Path:
    """The note beside a lock file saying which process holds it (the lock file itself stays empty)."""
    return lock_path.with_name(lock_path.name + ".owner.json")


def owner_of(lock_path: Path) -> str:
    """'pid P on host H since T', from the owner note, or a placeholder when there is none."""
    try:
        owner = json.loads(owner_path(lock_path).read_text(encoding="utf-8"))
        return f"pid {owner['pid']} on host {owner['host']} since {owner['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "an unknown process (no owner note)"


@contextmanager
def holding(lock: FileLock, what: str, timeout: float | None = None) -> Iterator[None]:
    """Hold ``lock``, waiting for another holder at most ``timeout`` seconds (None: for ever).

    A wait is logged at WARNING with the holder; on expiry ``RunLockTimeout`` names the holder and the
    lock file. While held, an owner note (pid, host, start time) lets others see who holds it.
    """
    lock_path = Path(lock.lock_file)
    try:
        lock.acquire(blocking=False)
    except Timeout:
        logger.warning("waiting for %s: it is locked by %s (lock %s)%s", what, owner_of(lock_path), lock_path,
                       "" if timeout is None else f"; giving up after {timeout:g} s")
        start = time.monotonic()
        try:
            lock.acquire(timeout=-1 if timeout is None else timeout)
        except Timeout:
            raise RunLockTimeout(
                f"gave up waiting for {what} after {time.monotonic() - start:.0f} s: it is locked by "
                f"{owner_of(lock_path)} ({lock_path}). Wait for that process or stop it; a lock of a "
                "process that died is released by the operating system") from None
    try:
        atomic_write_json(owner_path(lock_path), {
            "pid": os.getpid(), "host": socket.gethostname(),
            "since": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    except OSError as exc:  # a note only: never fail a run for it
        logger.debug("could not write the lock owner note: %s", exc)
    try:
        yield
    finally:
        owner_path(lock_path).unlink(missing_ok=True)
        lock.release()
