"""Two locks several processes agree on without a server of their own: an
exclusive ``flock`` on a file beside what it guards (released when its holder
dies), and the stable 64-bit key of a PostgreSQL advisory lock. Used by
``harness.tracking`` and ``harness.storage`` while a store's schema is made,
and by ``harness.queue_lock``."""
from __future__ import annotations

import fcntl
import hashlib
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def schema_lock(path: Path) -> Iterator[None]:
    """Held while a client creates or migrates the schema of the SQLite file
    ``path`` (the lock file is ``<path>.schema.lock``): N processes opening a
    fresh file at once would race in that, all but one crashing."""
    with open(path.with_name(path.name + ".schema.lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def advisory_key(name: str) -> int:
    """A signed 64-bit PostgreSQL advisory-lock key for ``name``, the same in every process."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
