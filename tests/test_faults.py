"""Fault injection: the hooks fire where and when they are told (a signal on
the N-th arrival, a barrier that holds workers until released), and one killed
or stopped run ends with every invariant holding (the full matrix is `make faults`)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from harness import faults


def test_point_sends_the_signal_on_the_nth_arrival_only(monkeypatch):
    sent = []
    monkeypatch.setattr(faults.os, "kill", lambda pid, sig: sent.append((pid, sig)))
    monkeypatch.setattr(faults, "_arrivals", {})
    monkeypatch.setenv(faults.FAULT_ENV, "told:TERM:2")
    faults.point("logged")
    faults.point("told")
    assert sent == []
    faults.point("told")
    assert sent == [(os.getpid(), signal.SIGTERM)]
    faults.point("told")
    assert len(sent) == 1


def test_point_can_stop_the_worker(monkeypatch):
    sent = []
    monkeypatch.setattr(faults.os, "kill", lambda pid, sig: sent.append((pid, sig)))
    monkeypatch.setattr(faults, "_arrivals", {})
    monkeypatch.setenv(faults.FAULT_ENV, "run-created:STOP:1")
    faults.point("run-created")
    assert sent == [(os.getpid(), signal.SIGSTOP)]


def test_point_does_nothing_without_the_variables(monkeypatch, tmp_path):
    monkeypatch.delenv(faults.FAULT_ENV, raising=False)
    monkeypatch.delenv(faults.BARRIER_ENV, raising=False)
    monkeypatch.setattr(faults.os, "kill", lambda *a: pytest.fail("no fault was asked for"))
    monkeypatch.setattr(faults.time, "sleep", lambda *a: pytest.fail("no barrier was asked for"))
    for name in (*faults.POINTS, *faults.QUEUE_POINTS):
        faults.point(name)


def test_the_queue_and_the_worker_call_their_points(monkeypatch):
    """The barrier points are where the scenarios expect them: before the queue lock, and in prepare."""
    import inspect

    from harness import run, trialqueue

    assert 'faults.point("enqueue")' in inspect.getsource(trialqueue.TrialQueue.enqueue).split("self.lock.hold")[0]
    assert 'faults.point("claim")' in inspect.getsource(trialqueue.TrialQueue.claim).split("self.lock.hold")[0]
    assert 'faults.point("start")' in inspect.getsource(run.prepare)


def _held(gate, where: str) -> subprocess.Popen:
    code = f"from harness import faults; faults.point({where!r}); print('through', flush=True)"
    env = {**os.environ, faults.BARRIER_ENV: f"{gate}:claim"}
    env.pop(faults.FAULT_ENV, None)
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)


def test_the_barrier_holds_every_worker_until_go_then_releases_them_all(tmp_path):
    gate = tmp_path / "gate"
    gate.mkdir()
    workers = [_held(gate, "claim") for _ in range(3)]
    try:
        assert faults._wait_for(lambda: len(list(gate.glob("ready.*"))) == 3, timeout=30), "not every worker reached the barrier"
        assert {p.name for p in gate.glob("ready.*")} == {f"ready.{w.pid}" for w in workers}
        time.sleep(0.3)
        assert all(w.poll() is None for w in workers), "a worker passed the barrier before go"
        (gate / "go").touch()
        for w in workers:
            out, _ = w.communicate(timeout=30)
            assert w.returncode == 0 and out.strip() == "through"
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()


def test_the_barrier_ignores_other_points_and_later_arrivals(tmp_path, monkeypatch):
    gate = tmp_path / "gate"
    gate.mkdir()
    monkeypatch.delenv(faults.FAULT_ENV, raising=False)
    monkeypatch.setattr(faults, "_held", {})
    monkeypatch.setenv(faults.BARRIER_ENV, f"{gate}:claim")
    faults.point("enqueue")  # not the barrier's point: passes at once
    assert not list(gate.iterdir())
    (gate / "go").touch()
    faults.point("claim")  # released already: passes at once
    assert [p.name for p in gate.iterdir()] == ["go"]


def test_a_barrier_with_a_count_holds_only_that_arrival(tmp_path, monkeypatch):
    monkeypatch.delenv(faults.FAULT_ENV, raising=False)
    monkeypatch.setattr(faults, "_held", {})
    monkeypatch.setattr(faults, "BARRIER_TIMEOUT", 0.05)
    monkeypatch.setenv(faults.BARRIER_ENV, f"{tmp_path}:logged:3")
    faults.point("logged")
    faults.point("claimed")
    faults.point("logged")  # the first two arrivals pass
    assert not list(tmp_path.iterdir())
    with pytest.raises(RuntimeError, match="go"):  # the third waits (and, unreleased, times out)
        faults.point("logged")
    assert [p.name for p in tmp_path.iterdir()] == [f"ready.{os.getpid()}"]
    faults.point("logged")  # the fourth passes
    assert [p.name for p in tmp_path.iterdir()] == [f"ready.{os.getpid()}"]


def test_a_barrier_nobody_releases_stops_the_worker(tmp_path, monkeypatch):
    monkeypatch.setattr(faults, "_held", {})
    monkeypatch.setattr(faults, "BARRIER_TIMEOUT", 0.05)
    monkeypatch.setenv(faults.BARRIER_ENV, f"{tmp_path}:claim")
    with pytest.raises(RuntimeError, match="go"):
        faults.point("claim")
    assert (tmp_path / f"ready.{os.getpid()}").exists()


@pytest.mark.parametrize("args", [["--stops", "claimed"], ["--stops", "claimed:postgres"],
                                  ["--barriers", "claimed:2"], ["--barriers", "claim:0"], ["--per-point", "0"],
                                  ["--barriers", "claim:2:mysql"], ["--infra", "disk:claim"], ["--infra", "postgres"]])
def test_bad_scenario_options_are_refused_before_any_run(args, capsys):
    with pytest.raises(SystemExit) as exc:
        faults.main([*args, "--out", os.devnull])
    assert exc.value.code == 2


def test_render_describes_each_family_and_lists_violations_with_their_replay():
    outcomes = [faults.Outcome("told:KILL", "told:KILL:3"),
                faults.Outcome("logged:STOP (sqlite)", "`HARNESS_FAULT=logged:STOP:2` …", family="stop",
                               note="wide/r1 failed as stale by B and re-run by it"),
                faults.Outcome("2 workers, barrier at claim", "`HARNESS_BARRIER=DIR:claim` …", family="barrier",
                               violations=["key wide/r0 COMPLETE 2 times"])]
    text = faults.render(outcomes, "python -m harness.faults", 0)
    assert "| told:KILL | 1 | 1 | 0 |" in text and "| 2 workers, barrier at claim | 1 | 1 | 1 |" in text
    assert "**3 injections, 1 with a violated invariant.**" in text
    assert "- logged:STOP (sqlite): `HARNESS_FAULT=logged:STOP:2` …: wide/r1 failed as stale" in text
    assert "- 2 workers, barrier at claim: `HARNESS_BARRIER=DIR:claim` …: key wide/r0 COMPLETE 2 times" in text
    assert "`KIND fails at POINT`" not in text  # no infrastructure scenario ran: not described


def test_render_describes_the_infrastructure_scenarios_and_what_was_skipped():
    outcomes = [faults.Outcome("postgres fails at logged", "`HARNESS_BARRIER=DIR:logged:4` …", family="infra",
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
    assert faults._said(log) == ("traceback ending in sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) "
                                 "duplicate column name: step")
    assert faults._said("harness: error: no such study\n") == "harness: error: no such study"


def test_the_stop_scenarios_wait_past_the_grace_the_storage_applies(tmp_path, monkeypatch):
    """SIGSTOP on SQLite: $HARNESS_HEARTBEAT_SECONDS shortens the beat, and the grace is the one faults waits past."""
    from harness.storage import open_storage

    monkeypatch.setenv("HARNESS_HEARTBEAT_SECONDS", str(faults.HEARTBEAT_SECONDS))
    (tmp_path / ".harness").mkdir()  # as run_stop makes it
    storage = open_storage(faults.storage_url(tmp_path, "sqlite"))
    assert storage.get_heartbeat_interval() == faults.HEARTBEAT_SECONDS
    assert storage.grace_period == faults.GRACE_BEATS * faults.HEARTBEAT_SECONDS
