"""The fault-injection hooks fire where and when they are told: a signal on
the N-th arrival, a barrier that holds workers until released (the scenarios
that use them are tests/test_faults.py and `make faults`)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from harness import faultcheck, faultpoints


@pytest.fixture
def sent(monkeypatch) -> list:
    """The signals ``point`` sends, recorded instead of sent; arrivals counted afresh."""
    signals: list = []
    monkeypatch.setattr(faultpoints.os, "kill", lambda pid, sig: signals.append((pid, sig)))
    monkeypatch.setattr(faultpoints, "_arrivals", {})
    return signals


def test_point_sends_the_signal_on_the_nth_arrival_only(monkeypatch, sent):
    monkeypatch.setenv(faultpoints.FAULT_ENV, "told:TERM:2")
    faultpoints.point("logged")
    faultpoints.point("told")
    assert sent == []
    faultpoints.point("told")
    assert sent == [(os.getpid(), signal.SIGTERM)]
    faultpoints.point("told")
    assert len(sent) == 1


def test_point_can_stop_the_worker(monkeypatch, sent):
    monkeypatch.setenv(faultpoints.FAULT_ENV, "run-created:STOP:1")
    faultpoints.point("run-created")
    assert sent == [(os.getpid(), signal.SIGSTOP)]


def test_point_does_nothing_without_the_variables(monkeypatch, tmp_path):
    monkeypatch.delenv(faultpoints.FAULT_ENV, raising=False)
    monkeypatch.delenv(faultpoints.BARRIER_ENV, raising=False)
    monkeypatch.setattr(faultpoints.os, "kill", lambda *a: pytest.fail("no fault was asked for"))
    monkeypatch.setattr(faultpoints.time, "sleep", lambda *a: pytest.fail("no barrier was asked for"))
    for name in (*faultpoints.POINTS, *faultpoints.QUEUE_POINTS):
        faultpoints.point(name)


def test_the_queue_and_the_worker_call_their_points(monkeypatch):
    """The barrier points are where the scenarios expect them: before the queue lock, and in prepare."""
    import inspect

    from harness import run, trialqueue

    assert 'faultpoints.point("enqueue")' in inspect.getsource(trialqueue.TrialQueue.enqueue).split("self.lock.hold")[0]
    assert 'faultpoints.point("claim")' in inspect.getsource(trialqueue.TrialQueue.claim).split("self.lock.hold")[0]
    prepare = inspect.getsource(run.prepare)
    assert prepare.index('faultpoints.point("start")') < prepare.index("open_storage(")  # workers race to open both


def _held(gate, where: str) -> subprocess.Popen:
    code = f"from harness import faultpoints; faultpoints.point({where!r}); print('through', flush=True)"
    env = {**os.environ, faultpoints.BARRIER_ENV: f"{gate}:claim"}
    env.pop(faultpoints.FAULT_ENV, None)
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)


def test_the_barrier_holds_every_worker_until_go_then_releases_them_all(tmp_path):
    gate = tmp_path / "gate"
    gate.mkdir()
    workers = [_held(gate, "claim") for _ in range(3)]
    try:
        assert faultcheck.wait_for(lambda: len(list(gate.glob("ready.*"))) == 3,
                                   timeout=30), "not every worker reached the barrier"
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
    monkeypatch.delenv(faultpoints.FAULT_ENV, raising=False)
    monkeypatch.setattr(faultpoints, "_held", {})
    monkeypatch.setenv(faultpoints.BARRIER_ENV, f"{gate}:claim")
    faultpoints.point("enqueue")  # not the barrier's point: passes at once
    assert not list(gate.iterdir())
    (gate / "go").touch()
    faultpoints.point("claim")  # released already: passes at once
    assert [p.name for p in gate.iterdir()] == ["go"]


def test_a_barrier_with_a_count_holds_only_that_arrival(tmp_path, monkeypatch):
    monkeypatch.delenv(faultpoints.FAULT_ENV, raising=False)
    monkeypatch.setattr(faultpoints, "_held", {})
    monkeypatch.setattr(faultpoints, "BARRIER_TIMEOUT", 0.05)
    monkeypatch.setenv(faultpoints.BARRIER_ENV, f"{tmp_path}:logged:3")
    faultpoints.point("logged")
    faultpoints.point("claimed")
    faultpoints.point("logged")  # the first two arrivals pass
    assert not list(tmp_path.iterdir())
    with pytest.raises(RuntimeError, match="go"):  # the third waits (and, unreleased, times out)
        faultpoints.point("logged")
    assert [p.name for p in tmp_path.iterdir()] == [f"ready.{os.getpid()}"]
    faultpoints.point("logged")  # the fourth passes
    assert [p.name for p in tmp_path.iterdir()] == [f"ready.{os.getpid()}"]


def test_a_barrier_nobody_releases_stops_the_worker(tmp_path, monkeypatch):
    monkeypatch.setattr(faultpoints, "_held", {})
    monkeypatch.setattr(faultpoints, "BARRIER_TIMEOUT", 0.05)
    monkeypatch.setenv(faultpoints.BARRIER_ENV, f"{tmp_path}:claim")
    with pytest.raises(RuntimeError, match="go"):
        faultpoints.point("claim")
    assert (tmp_path / f"ready.{os.getpid()}").exists()


