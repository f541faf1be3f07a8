"""The make targets the README names do what it says (dry runs: `make -n`
prints the commands without running them)."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.discovery import load_studies

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")


def dry_run(*args: str) -> str:
    done = subprocess.run(["make", "-n", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("name", load_studies().names())
def test_make_study_runs_the_harness_for_every_registered_study(name):
    # GNU make skips implicit rules for .PHONY targets: this once printed "Nothing to be done"
    assert re.search(rf"harness run {re.escape(name)} --budget standard$", dry_run(f"study-{name}"), re.M)


def test_make_study_passes_budget_and_workers_only_when_set():
    # unset, the harness picks the tier's default (harness.run.default_workers: one per core at quick, else 1)
    assert re.search(r"harness run seeds --budget quick$", dry_run("study-seeds", "BUDGET=quick"), re.M)
    assert "harness run seeds --budget smoke --workers 2" in dry_run("study-seeds", "BUDGET=smoke", "WORKERS=2")
    assert "harness run all --budget standard --workers 3" in dry_run("reproduce", "WORKERS=3")


@pytest.mark.parametrize("target, command", [
    ("reproduce", "harness run all --budget standard"),
    ("report", "harness report --budget standard"),
    ("verify-reports", "-m harness.verify"),
    ("test", '-m pytest -q -m "not faults"'),
    ("check", '-m pytest -q -m "not slow"'),
    ("faults", "-m pytest -q -m faults"),
    ("faults", "-m harness.faults"),
    ("bench", "-m harness.bench"),
])
def test_readme_targets_run_their_commands(target, command):
    assert command in dry_run(target)


def test_readme_names_only_targets_the_makefile_has():
    readme = (ROOT / "README.md").read_text()
    named = set(re.findall(r"`make ([a-z][a-z-]*)", readme))
    makefile = (ROOT / "Makefile").read_text()
    defined = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M)) | {"study-ae-vs-pca", "study-NAME"}
    missing = {t for t in named if t not in defined and not t.startswith("study-")}
    assert not missing, f"the README names make targets the Makefile lacks: {sorted(missing)}"
