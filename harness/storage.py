"""The Optuna storage: which one a URL names, opening it with clear (and
redacted) errors, and the heartbeats that let workers on several machines
find each other's dead trials.

``journal:PATH`` (the default, ``.harness/optuna.journal``) is a JournalFile:
safe for several processes on one machine, checked for damaged records before
Optuna reads it (``harness.journal``). An RDB URL (``postgresql://…``) serves
workers on several machines; there every running trial records a heartbeat
and a trial whose heartbeat went stale is failed and queued again.
"""
from __future__ import annotations

import os
import sys
import threading
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import optuna
from optuna.trial import FrozenTrial, TrialState

from harness import journal, paths
from harness.locks import advisory_key, schema_lock
from harness.redact import BadURL, parse_url, redact

HEARTBEAT_ENV = "HARNESS_HEARTBEAT_SECONDS"  # RDB storages: seconds between heartbeats (default 30)
STORAGE_ENV = "HARNESS_STORAGE"  # the storage URL when --storage is not given (how workers receive it)
RDB_SCHEMES = ("postgresql", "mysql", "sqlite")


class StorageError(RuntimeError):
    """The Optuna storage URL cannot be used; the message says how to fix it."""


def resolve_storage(url: str | None) -> str:
    """The storage to use: ``url``, else $HARNESS_STORAGE, else the project's journal."""
    return url or os.environ.get(STORAGE_ENV) or paths.default_storage()


def journal_path(url: str) -> Path | None:
    """The journal file a storage URL names, or None for a database URL."""
    if url.startswith("journal:") or "://" not in url:
        return Path(url.removeprefix("journal:")).expanduser()
    return None


def rdb_scheme(url: str) -> str:
    """'postgresql' for postgresql+psycopg2://…, and so on."""
    return url.split("://", 1)[0].split("+")[0]


def open_storage(url: str | None) -> optuna.storages.BaseStorage:
    """``journal:PATH`` (the default, a JournalFile in the project's state
    folder: safe for several processes on one machine) or an RDB URL such as
    ``postgresql://user@host/db`` for workers on several machines. Every error
    names the URL with its password redacted."""
    url = resolve_storage(url)
    path = journal_path(url)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the storage folder {path.parent}: {exc}") from None
        if not os.access(path.parent, os.W_OK):
            raise StorageError(f"storage folder {path.parent} is not writable; pass --storage journal:/writable/path")
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        journal.check(path)  # a damaged record: stop with the offset and the repair command
        return JournalStorage(JournalFileBackend(str(path)))
    try:
        parse_url(url, "Optuna storage")
    except BadURL as exc:
        raise StorageError(str(exc)) from None
    if rdb_scheme(url) in RDB_SCHEMES:
        # Heartbeats: a worker on another machine that dies leaves its trial RUNNING; once its heartbeat is
        # older than the grace period any worker marks it failed, and the retry callback queues it again
        # (with its key, so the design still runs each key once).
        interval = int(os.environ.get(HEARTBEAT_ENV, "30"))
        try:
            # Optuna marks heartbeats and the retry callback experimental
            with warnings.catch_warnings(), _schema_lock(url):
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url, heartbeat_interval=interval, grace_period=4 * interval,
                    # bounded like the queue's own re-queueing (trialqueue.max_attempts): a trial that kills
                    # its worker every time is retried max_attempts - 1 times, then left failed
                    heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                        max_retry=max_attempts() - 1))
        except Exception as exc:  # SQLAlchemy raises many types; all mean "cannot connect"
            raise StorageError(f"cannot open Optuna storage {redact(url)}: {root_cause(exc)}") from None
    raise StorageError(f"unsupported storage {redact(url)!r}: use journal:/path/to/file or "
                       "postgresql://user@host/db")


SCHEMA_LOCK = "harness.optuna-schema"  # the lock held while Optuna creates or checks its tables


@contextmanager
def _schema_lock(url: str) -> Iterator[None]:
    """Held while Optuna opens an RDB storage: it creates (or checks) its
    tables then, and N workers opening a fresh database at once race in that
    (PostgreSQL: "duplicate key value violates unique constraint
    pg_type_typname_nsp_index" for alembic_version), all but one crashing.
    A server-side session lock on PostgreSQL and MySQL, a file lock beside a
    SQLite file."""
    scheme = rdb_scheme(url)
    if scheme == "sqlite":
        from sqlalchemy.engine import make_url

        database = make_url(url).database
        if not database or database == ":memory:":
            yield
            return
        with schema_lock(Path(database).expanduser()):
            yield
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    if scheme == "postgresql":
        key = advisory_key(SCHEMA_LOCK)
        take, give = "SELECT pg_advisory_lock(:k)", "SELECT pg_advisory_unlock(:k)"
    else:  # mysql
        key, take, give = SCHEMA_LOCK, "SELECT GET_LOCK(:k, -1)", "SELECT RELEASE_LOCK(:k)"
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(take), {"k": key})
            try:
                yield
            finally:
                connection.execute(text(give), {"k": key})
    finally:
        engine.dispose()


MAX_ATTEMPTS_ENV = "HARNESS_MAX_ATTEMPTS"
DEFAULT_MAX_ATTEMPTS = 3


def max_attempts() -> int:
    """How many failed attempts a key gets before it is quarantined (not queued
    again; ``harness.trialqueue``): a trial that OOM-kills its worker, or fails
    the same way each time, must not be retried forever. ``$HARNESS_MAX_ATTEMPTS``
    raises it to retry."""
    text = os.environ.get(MAX_ATTEMPTS_ENV, str(DEFAULT_MAX_ATTEMPTS))
    if not text.isdigit() or int(text) < 1:
        raise StorageError(f"${MAX_ATTEMPTS_ENV} must be a whole number >= 1, got {text!r}")
    return int(text)


def root_cause(exc: BaseException) -> str:
    """The innermost error behind ``exc``, on one line and redacted: Optuna
    wraps a database driver's errors (as "Failed to import DB access module"
    when the driver is missing), SQLAlchemy wraps the driver's own."""
    seen: list[BaseException] = []
    inner: BaseException | None = exc
    while inner is not None and inner not in seen:
        seen.append(inner)
        inner = getattr(inner, "orig", None) or inner.__cause__ or inner.__context__
    cause = seen[-1]
    text = " ".join(str(cause).split()) or type(cause).__name__
    if isinstance(cause, ImportError):
        text = (f"its database driver is not installed ({text}): pip install psycopg2-binary for PostgreSQL, "
                "or the driver the URL names after '+'")
    elif type(cause).__name__ not in text:
        text = f"{type(cause).__name__}: {text}"
    return redact(text)


def lost_database(exc: BaseException) -> bool:
    """Whether ``exc`` is the study storage's database going away mid-command
    (a crash or restart of the server, a cut connection): SQLAlchemy's
    OperationalError or InterfaceError as Optuna or the queue lock raise it,
    or Optuna's StorageInternalError around one. An error the tracking store
    raises is an MlflowException, and handled as the tracking store's."""
    errors = sys.modules.get("sqlalchemy.exc")
    known: tuple[type[BaseException], ...] = (optuna.exceptions.StorageInternalError,)
    if errors is not None:
        known += (errors.OperationalError, errors.InterfaceError)
    return isinstance(exc, known)


def heartbeats_enabled(storage: optuna.storages.BaseStorage) -> bool:
    return isinstance(storage, optuna.storages.RDBStorage) and bool(storage.get_heartbeat_interval())


def fail_stale(ostudy: optuna.Study, storage: optuna.storages.BaseStorage) -> list[FrozenTrial]:
    """Fail trials whose heartbeat is older than the grace period (RDB storages
    with heartbeats only; Optuna marks the function experimental); its retry
    callback queues each again under its key. Returns the trials this call
    failed (their MLflow runs are left for the caller to close). Call it under
    the study's queue lock: failing and re-queueing are two steps."""
    if not heartbeats_enabled(storage):
        return []
    running = {t._trial_id for t in ostudy.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    if not running:
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(ostudy)
    # Optuna fails a stale trial without a reason; a worker that fails its own trial always records one
    return [t for t in ostudy.get_trials(deepcopy=False, states=(TrialState.FAIL,))
            if t._trial_id in running and "fail_reason" not in t.user_attrs]


class Heartbeat:
    """Records heartbeats for claimed trials while they run, on storages that
    support them (RDB with ``heartbeat_interval``; the journal does not need
    them: dead local workers are found by pid). Optuna's ``optimize`` does the
    same for the trials it runs; ours are claimed from the queue instead."""

    def __init__(self, storage, trial_ids: list[int]):
        self.storage, self.trial_ids = storage, trial_ids
        self.interval = storage.get_heartbeat_interval() if heartbeats_enabled(storage) else None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True) if self.interval else None

    def _beat(self) -> None:
        for trial_id in self.trial_ids:
            self.storage.record_heartbeat(trial_id)

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                self._beat()
            except Exception:  # the database blinked: the next beat may succeed, the grace period covers a few
                pass

    def __enter__(self) -> "Heartbeat":
        if self.thread:
            self._beat()  # at once: a trial without any heartbeat is never considered stale
            self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.thread:
            self.stop.set()
            self.thread.join()
