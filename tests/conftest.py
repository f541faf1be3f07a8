"""Shared fixtures: every test that touches stores gets its own home folder
(tracking store, Optuna journal, reports), so tests never see each other's
runs or the user's."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(items):
    """A test marked ``faults`` (an end-to-end fault run, for `make faults`) is
    ``slow`` too, so that `make check` (-m "not slow") leaves it out as well."""
    for item in items:
        if item.get_closest_marker("faults") and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory) -> Path:
    """An MLflow SQLite store with its schema made, copied into each test's
    home: creating the schema costs ~3 s, a copy costs nothing."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("store") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def bare_home(tmp_path, monkeypatch) -> Path:
    """A home folder with nothing in it: for checks that nothing was created."""
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path))
    monkeypatch.setenv("HARNESS_STUDY_MODULES", "tiny_study")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("TINY_FAIL", raising=False)
    monkeypatch.delenv("TINY_SLEEP", raising=False)
    return tmp_path


@pytest.fixture
def home(bare_home, empty_store) -> Path:
    shutil.copy(empty_store, bare_home / "mlflow.db")
    return bare_home


@pytest.fixture(scope="session")
def tiny_smoke_run(tmp_path_factory, empty_store) -> tuple[Path, subprocess.CompletedProcess]:
    """A home where a `harness run tiny --budget smoke` process (since exited) ran
    the tiny study, and that process's result: its journal, tracking store and
    reports. One run (a `python -m harness` start and four trials, ~15 s) shared
    by the tests that need a finished run made by the command line; each copies
    the files it changes into its own home (copied stores keep pointing at the
    artifacts here, as MLflow stores absolute artifact locations)."""
    home = tmp_path_factory.mktemp("tiny-smoke-run")
    shutil.copy(empty_store, home / "mlflow.db")
    # no injected faults or sleeps, whatever the calling environment says
    result = run_cli(home, "run", "tiny", "--budget", "smoke", "--no-progress", TINY_FAIL="", TINY_SLEEP="0")
    return home, result


def harness_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment for a ``python -m harness`` subprocess working in ``home``."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(HARNESS_HOME=str(home), HARNESS_STUDY_MODULES="tiny_study",
               PYTHONPATH=os.pathsep.join([str(TESTS), str(ROOT), env.get("PYTHONPATH", "")]), **extra)
    return env


def run_cli(home: Path, *args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=home, env=harness_env(home, **env),
                          capture_output=True, text=True, timeout=timeout)
