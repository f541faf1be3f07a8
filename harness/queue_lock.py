"""One exclusive lock per Optuna study, across processes and machines.

Optuna declines to de-duplicate enqueues and advises enqueuing from one
process (optuna#982, #2925): reading which keys are taken and enqueueing the
rest are two steps, and so are failing a dead worker's trial and queueing it
again. Every worker therefore does them under this lock, and claims queued
trials under it too (SQLite ignores the row lock Optuna's claim relies on); so
is the tuning phase (the first worker tunes, the others wait and read its
result).

- journal storage: ``flock`` on ``<journal>.queue.<study>.lock`` beside the
  journal (not ``<journal>.lock``: that name is Optuna's own append lock, a
  symlink it creates and removes). ``flock`` also excludes two opens in one
  process, so threads with their own ``Runner`` exclude each other too.
- PostgreSQL: a session-level ``pg_advisory_lock`` on a connection of the
  storage's SQLAlchemy engine (released when that connection closes, so a
  worker that dies cannot leave it held).
- MySQL: ``GET_LOCK`` likewise. SQLite: ``flock`` on a file beside the
  database; an in-memory SQLite database is private to one process and
  needs no lock.

The lock is re-entrant within a thread (enqueueing fails orphans, which may
take it again).
"""
from __future__ import annotations

import fcntl
import hashlib
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from harness.locks import advisory_key
from harness.storage import journal_path, rdb_scheme


def _announce(message: str) -> None:
    print(f"harness: {message}", file=sys.stderr, flush=True)


class QueueLock:
    """``with lock.hold("tiny.smoke", "enqueueing"):`` — exclusive per study name."""

    def __init__(self, url: str, storage, announce: Callable[[str], None] | None = _announce,
                 announce_after: float = 2.0):
        self.url, self.storage, self.announce = url, storage, announce
        self.announce_after = announce_after  # say so when a wait lasts this long (claims wait milliseconds)
        self._local = threading.local()

    def _depth(self) -> dict[str, int]:
        if not hasattr(self._local, "depth"):
            self._local.depth = {}
        return self._local.depth

    @contextmanager
    def hold(self, name: str, purpose: str = "") -> Iterator[None]:
        depth = self._depth()
        if depth.get(name):
            depth[name] += 1
            try:
                yield
            finally:
                depth[name] -= 1
            return
        release = self._acquire(name, purpose)
        depth[name] = 1
        try:
            yield
        finally:
            depth[name] = 0
            release()

    def _wait(self, name: str, purpose: str, block: Callable[[], object]) -> None:
        """Run ``block`` (a blocking acquisition), announcing the wait if it lasts."""
        timer = None
        if self.announce:
            message = f"waiting for another worker {purpose + ' ' if purpose else ''}({name})"
            timer = threading.Timer(self.announce_after, self.announce, (message,))
            timer.daemon = True
            timer.start()
        try:
            block()
        finally:
            if timer:
                timer.cancel()

    # -- one implementation per kind of storage ---------------------------------------------
    def _acquire(self, name: str, purpose: str) -> Callable[[], None]:
        path = journal_path(self.url)
        if path is not None:
            return self._flock(path.with_name(f"{path.name}.queue.{name}.lock"), name, purpose)
        scheme = rdb_scheme(self.url)
        if scheme == "postgresql":
            return self._advisory(name, purpose, "SELECT pg_try_advisory_lock(:k)", "SELECT pg_advisory_lock(:k)",
                                  "SELECT pg_advisory_unlock(:k)", _key64(name))
        if scheme == "mysql":
            key = "harness." + hashlib.sha256(name.encode()).hexdigest()[:40]  # GET_LOCK names: 64 characters
            return self._advisory(name, purpose, "SELECT GET_LOCK(:k, 0)", "SELECT GET_LOCK(:k, -1)",
                                  "SELECT RELEASE_LOCK(:k)", key)
        if scheme == "sqlite":
            from sqlalchemy.engine import make_url

            database = make_url(self.url).database
            if not database or database == ":memory:":
                return lambda: None  # an in-memory database is private to this process: nothing to exclude
            db = Path(database).expanduser()
            return self._flock(db.with_name(f"{db.name}.queue.{name}.lock"), name, purpose)
        return lambda: None  # open_storage accepts no other storage

    def _flock(self, lockfile: Path, name: str, purpose: str) -> Callable[[], None]:
        handle = open(lockfile, "a+b")
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._wait(name, purpose, lambda: fcntl.flock(handle, fcntl.LOCK_EX))
        except BaseException:
            handle.close()
            raise

        def release() -> None:
            try:
                fcntl.flock(handle, fcntl.LOCK_UN)
            finally:
                handle.close()

        return release

    def _advisory(self, name: str, purpose: str, try_sql: str, wait_sql: str, unlock_sql: str,
                  key) -> Callable[[], None]:
        from sqlalchemy import text

        # its own connection, outside any transaction: a session lock held while a phase runs for minutes
        connection = self.storage.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            if not connection.execute(text(try_sql), {"k": key}).scalar():
                self._wait(name, purpose, lambda: connection.execute(text(wait_sql), {"k": key}))
        except BaseException:
            connection.close()
            raise

        def release() -> None:
            try:
                connection.execute(text(unlock_sql), {"k": key})
            except Exception:  # the connection is gone: so is the lock it held
                pass
            finally:
                connection.close()

        return release


def _key64(name: str) -> int:
    """A signed 64-bit advisory-lock key for a study name (stable across processes)."""
    return advisory_key(f"harness.queue:{name}")
