"""The Optuna journal file: find a damaged record before Optuna reads it, and
repair the file.

Optuna appends one JSON record per line. A write cut short (a crash, a full
disk) leaves a partial last line; Optuna skips it silently, the next append is
glued onto it (and lost), and the append after that makes the whole journal
unreadable ("Expecting ':' delimiter", with no file name). ``check`` stops
before that with the file, the byte offset of the first bad record and the
repair command; ``repair`` keeps a copy and truncates the file to the last
complete record before the damage (records after a bad one are dropped too:
replaying them without it would renumber trials).
"""
from __future__ import annotations

import json
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

class JournalError(RuntimeError):
    """The journal cannot be used as it is; the message says how to fix it.
    (The file-format layer under ``harness.storage``, which imports this.)"""


class JournalCorrupted(JournalError):
    """The journal has a partial or unreadable record; the message names the
    file, the byte offset and the repair command."""

    def __init__(self, path: Path, damage: "Damage"):
        self.path, self.damage = path, damage
        super().__init__(
            f"Optuna journal {path} is damaged at byte {damage.offset} (record {damage.record + 1}: {damage.what}; "
            f"{damage.size - damage.offset} byte(s) from there on cannot be read safely). Repair it with "
            f"`harness repair-journal {path}` (it keeps a copy as {path.name}.bak-<timestamp> and truncates the "
            "file to the last complete record), then run the same command again: trials whose record was lost "
            "are re-run. Or rebuild each study's finished trials from MLflow into a fresh journal: `harness rebuild "
            "STUDY --budget B --storage journal:NEW_PATH`.")


@dataclass(frozen=True)
class Damage:
    offset: int   # byte offset of the first bad record: the file is sound before it
    record: int   # its index (0-based line number)
    what: str     # what is wrong with it
    size: int     # the file's size when it was read
    dropped: int  # complete records after the bad one (lost by a repair)


def find_damage(path: Path) -> Damage | None:
    """The first record that is not one complete JSON object on its own line, or None."""
    size = os.path.getsize(path)
    offset = 0
    damage: tuple[int, int, str] | None = None
    dropped = 0
    with open(path, "rb") as f:
        for number, line in enumerate(f):
            if damage is not None:
                dropped += line.endswith(b"\n")
                continue
            if not line.endswith(b"\n"):
                damage = (offset, number, "a partial record without its line end: a write was cut short")
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                damage = (offset, number, f"not a JSON record ({exc})")
                continue
            if not isinstance(record, dict) or "op_code" not in record:
                damage = (offset, number, "not an Optuna journal record")
                continue
            offset += len(line)
    if damage is None:
        return None
    return Damage(*damage, size=size, dropped=dropped)


@contextmanager
def writers_paused(path: Path) -> Iterator[None]:
    """Hold Optuna's own journal lock: no append is half-written meanwhile
    (Optuna forcibly breaks a lock left by a dead writer after 30 s)."""
    from optuna.storages.journal import JournalFileSymlinkLock

    lock = JournalFileSymlinkLock(str(path))
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


def check(path: Path) -> None:
    """Raise ``JournalCorrupted`` if ``path`` has a bad record. A partial last
    line may be another process's append in flight: it is looked at again
    under Optuna's journal lock before it counts as damage."""
    path = Path(path)
    if not path.exists() or find_damage(path) is None:
        return
    with writers_paused(path):
        damage = find_damage(path)
    if damage is not None:
        raise JournalCorrupted(path, damage)


def repair(path: Path) -> tuple[Path | None, Damage | None]:
    """Copy ``path`` to ``path.bak-<timestamp>`` and truncate it to the last
    complete record before the first bad one; returns (the copy, the damage),
    or (None, None) when the journal is sound."""
    path = Path(path)
    if not path.is_file():
        raise JournalError(f"no journal at {path}")
    with writers_paused(path):
        damage = find_damage(path)
        if damage is None:
            return None, None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        backup = path.with_name(f"{path.name}.bak-{stamp}")
        n = 1
        while backup.exists():
            n += 1
            backup = path.with_name(f"{path.name}.bak-{stamp}-{n}")
        shutil.copy2(path, backup)
        with open(path, "r+b") as f:
            f.truncate(damage.offset)
            f.flush()
            os.fsync(f.fileno())
    return backup, damage
