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


def harness_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment for a ``python -m harness`` subprocess working in ``home``."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(HARNESS_HOME=str(home), HARNESS_STUDY_MODULES="tiny_study",
               PYTHONPATH=os.pathsep.join([str(TESTS), str(ROOT), env.get("PYTHONPATH", "")]), **extra)
    return env


def run_cli(home: Path, *args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=home, env=harness_env(home, **env),
                          capture_output=True, text=True, timeout=timeout)
