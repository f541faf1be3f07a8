"""Credentials never leave the process: URL passwords are redacted in
messages, stored failure reasons, reports and worker command lines."""
from __future__ import annotations

import dataclasses
import subprocess

import optuna
import pytest
from optuna.trial import TrialState

from harness import paths
from harness.redact import BadURL, parse_url, redact, without_userinfo
from harness.storage import StorageError, open_storage, root_cause


@pytest.mark.parametrize("text, expected", [
    ("postgresql+psycopg2://u:secret@127.0.0.1:1/db", "postgresql+psycopg2://u:***@127.0.0.1:1/db"),
    ("cannot open 'postgresql://u:p@ss@h:5/x' now", "cannot open 'postgresql://u:***@h:5/x' now"),
    ("http://u:pw@host", "http://u:***@host"),
    ("a http://u:pw@h b https://x:y@z/q?p=1", "a http://u:***@h b https://x:***@z/q?p=1"),
    ("mysql://root:@h/db", "mysql://root:***@h/db"),
    ("host=h password=hunter2 user=u", "host=h password=*** user=u"),
    # nothing to hide: unchanged
    ("postgresql://nobody@127.0.0.1:9/x", "postgresql://nobody@127.0.0.1:9/x"),
    ("sqlite:////tmp/mlflow.db", "sqlite:////tmp/mlflow.db"),
    ("journal:/tmp/a@b.journal", "journal:/tmp/a@b.journal"),
    ("user@example.org wrote", "user@example.org wrote"),
])
def test_redact(text, expected):
    assert redact(text) == expected


def test_urls_are_checked_with_the_password_redacted():
    with pytest.raises(BadURL, match=r"http://u:\*\*\*@host:abc: port 'abc' is not a number") as info:
        parse_url("http://u:pw@host:abc", "tracking URI")
    assert "pw@" not in str(info.value)
    assert parse_url("http://u:pw@host").port is None  # no port is fine
    assert without_userinfo("http://u:p%40w@host:5000/x") == ("http://host:5000/x", ("u", "p@w"))
    assert without_userinfo("http://host:5000") == ("http://host:5000", None)


def test_storage_errors_name_the_real_cause_without_the_password():
    with pytest.raises(StorageError) as info:
        open_storage("postgresql+psycopg2://u:secret@127.0.0.1:1/db")
    message = str(info.value)
    assert "secret" not in message and "postgresql+psycopg2://u:***@127.0.0.1:1/db" in message
    assert "Connection refused" in message
    with pytest.raises(StorageError, match="port 'x' is not a number"):
        open_storage("postgresql://u:secret@127.0.0.1:x/db")
    # Optuna reports a missing driver as "Failed to import DB access module"; the real cause is named instead
    try:
        try:
            raise ModuleNotFoundError("No module named 'psycopg2'")
        except ImportError as exc:
            raise ImportError("Failed to import DB access module for the specified storage URL.") from exc
    except ImportError as wrapped:
        cause = root_cause(wrapped)
    assert "psycopg2" in cause and "not installed" in cause and "Failed to import" not in cause


def test_tracker_uri_shown_in_reports_is_redacted():
    from harness.tracking import Tracker

    assert Tracker("http://u:secret@127.0.0.1:9").uri == "http://u:***@127.0.0.1:9"


def test_a_failure_reason_with_a_password_is_stored_redacted(home):
    from harness.discovery import get_study
    from harness.sweep import Runner, SweepOptions
    from harness.tracking import Tracker, default_tracking_uri

    def run_trial(ctx):
        raise ConnectionError("could not reach postgresql://u:secret@db.example/x")

    study = dataclasses.replace(get_study("tiny"), run_trial=run_trial)
    tracker = Tracker(default_tracking_uri(paths.home()))
    runner = Runner(study, SweepOptions("smoke", show_progress=False), tracker, tracker.parent_run("tiny", "smoke", {}))
    arms = study.design("smoke")
    ostudy, _ = runner.enqueue(arms)
    assert runner.work(ostudy, arms, {}).failed == 4
    reasons = {t.user_attrs["fail_reason"] for t in ostudy.get_trials(states=(TrialState.FAIL,))}
    assert reasons == {"ConnectionError: could not reach postgresql://u:***@db.example/x"}
    runs = tracker.runs("tiny", "smoke")
    assert set(runs["tags.harness.fail_reason"]) == reasons


@pytest.mark.slow  # starts worker processes
def test_workers_get_the_storage_and_tracking_uri_by_environment_not_argv(home, monkeypatch):
    """`--workers N` starts `harness worker` processes: nothing secret-bearing on their command line."""
    import os

    from conftest import ROOT, TESTS
    from harness import run
    from harness.run import RunRequest, run_study

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    started = []
    real = subprocess.Popen

    def recording_popen(command, **kwargs):
        started.append((command, kwargs.get("env") or {}))
        return real(command, **kwargs)

    monkeypatch.setattr(run.subprocess, "Popen", recording_popen)
    storage = f"journal:{home}/other.journal"
    run_study(RunRequest("tiny", "smoke", workers=2, storage=storage, progress=False, report=False))
    assert len(started) == 2
    for command, env in started:
        assert not any("journal" in part or "sqlite" in part for part in command), command
        assert "--storage" not in command and "--tracking-uri" not in command
        assert env["HARNESS_STORAGE"] == storage and env["MLFLOW_TRACKING_URI"].startswith("sqlite:///")
    trials = optuna.load_study(study_name="tiny.smoke", storage=open_storage(storage)).get_trials()
    assert sorted(t.user_attrs["key"] for t in trials if t.state == TrialState.COMPLETE) == \
        ["narrow/r0", "narrow/r1", "wide/r0", "wide/r1"]
