"""Fault injection's scenarios: their options, the report, a worker's last
words, and one killed and one stopped run ending with every invariant holding
(the full matrix is `make faults`; the hooks are tests/test_faultpoints.py)."""
from __future__ import annotations

import os

import pytest

from harness import faultcheck, faults


@pytest.mark.parametrize("args", [["--stops", "claimed"], ["--stops", "claimed:postgres"],
                                  ["--barriers", "claimed:2"], ["--barriers", "claim:0"], ["--per-point", "0"],
                                  ["--barriers", "claim:2:mysql"], ["--infra", "disk:claim"], ["--infra", "postgres"]])
def test_bad_scenario_options_are_refused_before_any_run(args, capsys):
    with pytest.raises(SystemExit) as exc:
        faults.main([*args, "--out", os.devnull])
    assert exc.value.code == 2


def test_render_describes_each_family_and_lists_violations_with_their_replay():
    outcomes = [faultcheck.Outcome("told:KILL", "told:KILL:3"),
                faultcheck.Outcome("logged:STOP (sqlite)", "`HARNESS_FAULT=logged:STOP:2` …", family="stop",
                               note="wide/r1 failed as stale by B and re-run by it"),
                faultcheck.Outcome("2 workers, barrier at claim", "`HARNESS_BARRIER=DIR:claim` …", family="barrier",
                               violations=["key wide/r0 COMPLETE 2 times"])]
    text = faults.render(outcomes, "python -m harness.faults", 0)
    assert "| told:KILL | 1 | 1 | 0 |" in text and "| 2 workers, barrier at claim | 1 | 1 | 1 |" in text
    assert "**3 injections, 1 with a violated invariant.**" in text
    assert "- logged:STOP (sqlite): `HARNESS_FAULT=logged:STOP:2` …: wide/r1 failed as stale" in text
    assert "- 2 workers, barrier at claim: `HARNESS_BARRIER=DIR:claim` …: key wide/r0 COMPLETE 2 times" in text
    assert "`KIND fails at POINT`" not in text  # no infrastructure scenario ran: not described


def test_render_describes_the_infrastructure_scenarios_and_what_was_skipped():
    outcomes = [faultcheck.Outcome("postgres fails at logged", "`HARNESS_BARRIER=DIR:logged:4` …", family="infra",
                               note="the worker exited 2: harness: error: the study storage's database failed")]
    text = faults.render(outcomes, "python -m harness.faults", 0, {"disk": "mounting a tmpfs needs root"})
    assert "| postgres fails at logged | 1 | 1 | 0 |" in text and "`pg_ctl -m immediate`" in text
    assert "- postgres fails at logged: `HARNESS_BARRIER=DIR:logged:4` …: the worker exited 2" in text
    assert "Not run on this machine: the `disk` scenarios (mounting a tmpfs needs root)." in text


@pytest.mark.faults  # three harness runs in subprocesses (about 50 s): `make faults`
def test_a_worker_killed_after_telling_optuna_resumes_with_every_invariant(tmp_path, monkeypatch):
    monkeypatch.delenv("HARNESS_HOME", raising=False)
    out = tmp_path / "faults.md"
    assert faults.main(["--points", "told", "--signals", "KILL", "--per-point", "1", "--stops", "--barriers",
                        "--infra", "--cuts", "-1", "--out", str(out)]) == 0
    text = out.read_text()
    assert "| told:KILL | 1 | 1 | 0 |" in text and "**1 injections, 0 with a violated invariant.**" in text


@pytest.mark.faults  # a fault-free run, then two workers, one stopped past the grace (about 1 minute): `make faults`
def test_a_worker_stopped_past_the_grace_loses_its_trial_to_the_next_and_stays_harmless(tmp_path, monkeypatch):
    monkeypatch.delenv("HARNESS_HOME", raising=False)
    out = tmp_path / "faults.md"
    assert faults.main(["--points", "--stops", "logged:sqlite", "--barriers", "--infra", "--cuts", "-1",
                        "--out", str(out)]) == 0
    text = out.read_text()
    assert "| logged:STOP (sqlite) | 1 | 1 | 0 |" in text and "**1 injections, 0 with a violated invariant.**" in text
    assert "failed as stale by B and re-run by it; A after SIGCONT: exit 0" in text


def test_a_workers_traceback_is_reported_by_the_exception_it_ends_in():
    log = ("INFO starting\nTraceback (most recent call last):\n  File \"x.py\", line 1, in <module>\n"
           "sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) duplicate column name: step\n"
           "[SQL: ALTER TABLE metrics ADD COLUMN step]\n(Background on this error at: https://sqlalche.me)\n")
    assert faultcheck.last_words(log) == ("traceback ending in sqlalchemy.exc.OperationalError: "
                                          "(sqlite3.OperationalError) duplicate column name: step")
    assert faultcheck.last_words("harness: error: no such study\n") == "harness: error: no such study"


def test_the_stop_scenarios_wait_past_the_grace_the_storage_applies(tmp_path, monkeypatch):
    """SIGSTOP on SQLite: $HARNESS_HEARTBEAT_SECONDS shortens the beat, and the grace is the one faults waits past."""
    from harness.storage import open_storage

    monkeypatch.setenv("HARNESS_HEARTBEAT_SECONDS", str(faults.HEARTBEAT_SECONDS))
    (tmp_path / ".harness").mkdir()  # as run_stop makes it
    storage = open_storage(faults.storage_url(tmp_path, "sqlite"))
    assert storage.get_heartbeat_interval() == faults.HEARTBEAT_SECONDS
    assert storage.grace_period == faults.GRACE_BEATS * faults.HEARTBEAT_SECONDS
