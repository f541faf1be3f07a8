"""Where the harness keeps its files: the tracking store, the Optuna journal
and the reports, all under one home folder (the working directory, or
``HARNESS_HOME``), so a test or a second checkout can use its own."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from harness.design import REPORT_BUDGET  # design imports nothing of the harness's


def home() -> Path:
    return Path(os.environ.get("HARNESS_HOME") or Path.cwd()).resolve()


def state_dir() -> Path:
    """Optuna journals and per-trial scratch; safe to delete with ``make clean``."""
    return home() / ".harness"


def reports_dir(budget: str, root: Path | None = None) -> Path:
    """Where a budget's reports go: ``reports/`` for the tier the committed
    reports come from (``design.REPORT_BUDGET``), ``reports/<budget>/`` for
    any other, so that a ``quick`` preview or a ``smoke`` check never
    overwrites them. ``root``: the folder that holds ``reports/`` (default
    the home; ``Path()`` gives the path relative to it)."""
    reports = (root if root is not None else home()) / "reports"
    return reports if budget == REPORT_BUDGET else reports / budget


def default_storage() -> str:
    return f"journal:{state_dir() / 'optuna.journal'}"


@contextlib.contextmanager
def home_at(folder: Path) -> Iterator[Path]:
    """The harness's home is ``folder`` inside the block (a benchmark's
    temporary stores), the previous one after it."""
    before = os.environ.get("HARNESS_HOME")
    os.environ["HARNESS_HOME"] = str(folder)
    try:
        yield folder
    finally:
        if before is None:
            os.environ.pop("HARNESS_HOME", None)
        else:
            os.environ["HARNESS_HOME"] = before
