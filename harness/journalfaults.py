"""Fault injection on the Optuna journal: a write cut short (a crash, a full
disk) at every byte of its last two records (``make faults``, beside
``harness.faults``' other families).

The journal of a finished fault-free run of the ``faults`` study is cut at
every byte from the start of its second-last record to its end. Every cut must
either read as a shorter, sound journal (at a record boundary) or be named by
``harness.journal.check`` with the byte offset of the first bad record and the
repair command, before Optuna reads it. For a sample of the cuts (both
boundaries and evenly spaced bytes in between) the whole recovery runs as a
user would: ``harness run`` refuses the damaged journal with one clear line,
``harness repair-journal`` truncates it (keeping a copy), and one ``harness
run`` resumes; then ``faultcheck.check``'s invariants, except "no COMPLETE trial
reverts": a cut loses the records after it by construction.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from harness import faultcheck
from harness.faultcheck import Outcome

SAMPLES = 8  # cuts recovered end to end, besides the record boundaries


def cuts(data: bytes) -> tuple[list[int], set[int]]:
    """Every cut from the second-last record's start to the end, and the record boundaries among them."""
    lines = data.splitlines(keepends=True)
    last = len(data) - len(lines[-1])
    second_last = last - len(lines[-2])
    return list(range(second_last, len(data) + 1)), {second_last, last, len(data)}


def sample(every: list[int], boundaries: set[int], n: int = SAMPLES) -> list[int]:
    """The boundaries and ``n`` cuts spread evenly over the others."""
    inside = [c for c in every if c not in boundaries]
    step = max(1, len(inside) // n)
    return sorted(boundaries | set(inside[step // 2::step][:n]))


def detected(data: bytes, cut: int, boundaries: set[int], scratch: Path) -> list[str]:
    """Violations of "the cut is read (at a boundary) or named at the right offset with the repair command"."""
    from harness.journal import JournalCorrupted, check

    path = scratch / "cut.journal"
    path.write_bytes(data[:cut])
    try:
        check(path)
    except JournalCorrupted as exc:
        if cut in boundaries:
            return [f"cut at byte {cut} (a record boundary) was called damaged: {exc}"]
        start = max(b for b in boundaries if b <= cut)
        said = str(exc)
        if exc.damage.offset != start or f"harness repair-journal {path}" not in said:
            return [f"cut at byte {cut}: named at byte {exc.damage.offset} (expected {start}), or without the "
                    f"repair command: {said}"]
        return []
    return [] if cut in boundaries else [f"cut at byte {cut} was not detected"]


def recovered(finished: Path, data: bytes, cut: int, boundaries: set[int], baseline: list,
              scratch: Path) -> list[str]:
    """A copy of the finished home with its journal cut at ``cut``: ``harness run`` (refused unless at a
    boundary), ``harness repair-journal``, one ``harness run``; the invariants."""
    home = Path(tempfile.mkdtemp(prefix=f"cut-{cut}-", dir=scratch))
    (home / ".harness").mkdir()
    shutil.copy(finished / "mlflow.db", home / "mlflow.db")
    journal = home / ".harness" / "optuna.journal"
    journal.write_bytes(data[:cut])
    violations = []
    refused = faultcheck.run_study(home)
    if cut not in boundaries:
        said = refused.stderr
        if refused.returncode != 2 or "Traceback" in said or f"harness repair-journal {journal}" not in said:
            violations.append(f"cut at byte {cut}: `harness run` exited {refused.returncode} without naming the "
                              f"repair: {faultcheck.last_words(said)}")
        repaired = faultcheck.run_harness(home, "repair-journal", str(journal))
        if repaired.returncode:
            violations.append(f"cut at byte {cut}: `harness repair-journal` exited {repaired.returncode}: "
                              f"{faultcheck.last_words(repaired.stderr)}")
        resumed = faultcheck.run_study(home)
    else:
        resumed = refused  # a sound journal: that run was the resume
    if resumed.returncode:
        return violations + [f"cut at byte {cut}: the resume failed (exit {resumed.returncode}): "
                             f"{faultcheck.last_words(resumed.stderr + resumed.stdout)}"]
    return violations + [f"cut at byte {cut}: {v}" for v in faultcheck.against(baseline, home)]


def run_cuts(finished: Path, baseline: list, scratch: Path, samples: int = SAMPLES) -> list[Outcome]:
    """Two outcomes: every cut detected (one injection per byte), and the sampled cuts recovered end to end."""
    data = (finished / ".harness" / "optuna.journal").read_bytes()
    every, boundaries = cuts(data)
    folder = Path(tempfile.mkdtemp(prefix="cuts-", dir=scratch))
    outcomes = []
    for cut in every:
        outcome = Outcome("journal cut: detected or read", f"the journal cut at byte {cut} of {len(data)}",
                          family="journal")
        outcome.violations = detected(data, cut, boundaries, folder)
        outcomes.append(outcome)
    for cut in sample(every, boundaries, samples):
        outcome = Outcome("journal cut: repaired and resumed", f"the journal cut at byte {cut} of {len(data)}",
                          family="journal", note="a record boundary" if cut in boundaries else "")
        outcome.violations = recovered(finished, data, cut, boundaries, baseline, scratch)
        outcomes.append(outcome)
    return outcomes
