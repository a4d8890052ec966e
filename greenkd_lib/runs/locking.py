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

__all__ = ["RunLockTimeout", "WAIT_NOTES_VARIABLE", "holding", "owner_of", "owner_path"]

logger = logging.getLogger(__name__)

# Where a process notes its waits for a lock, one JSON line each, instead of a WARNING. ``greenkd
# reproduce`` sets it per notebook kernel (its worker processes inherit it): the batch then says once
# that the notebook waits, rather than every worker's warning reaching its terminal.
WAIT_NOTES_VARIABLE = "GREENKD_LOCK_WAIT_NOTES"


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


def _note_wait(what: str, owner: str, lock_path: Path) -> bool:
    """Append the wait to ``$GREENKD_LOCK_WAIT_NOTES`` when it is set; whether it was noted."""
    notes = os.environ.get(WAIT_NOTES_VARIABLE, "").strip()
    if not notes:
        return False
    line = json.dumps({"what": what, "owner": owner, "lock": str(lock_path), "pid": os.getpid(),
                       "at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    try:
        with open(notes, "a", encoding="utf-8") as f:  # one short append: whole lines, even from several processes
            f.write(line + "\n")
    except OSError as exc:
        logger.debug("could not note the wait in %s: %s", notes, exc)
        return False
    return True


@contextmanager
def holding(lock: FileLock, what: str, timeout: float | None = None) -> Iterator[None]:
    """Hold ``lock``, waiting for another holder at most ``timeout`` seconds (None: for ever).

    A wait is logged at WARNING with the holder (at INFO, and noted in ``$GREENKD_LOCK_WAIT_NOTES``,
    where that is set: see :data:`WAIT_NOTES_VARIABLE`); on expiry ``RunLockTimeout`` names the holder and the
    lock file. While held, an owner note (pid, host, start time) lets others see who holds it.
    """
    lock_path = Path(lock.lock_file)
    try:
        lock.acquire(blocking=False)
    except Timeout:
        owner = owner_of(lock_path)
        level = logging.INFO if _note_wait(what, owner, lock_path) else logging.WARNING
        logger.log(level, "waiting for %s: it is locked by %s (lock %s)%s", what, owner, lock_path,
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
