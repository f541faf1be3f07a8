"""Fault injection: the hook fires where and when it is told, and one killed
run resumes with every invariant holding (the full matrix is `make faults`)."""
from __future__ import annotations

import os
import signal

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


def test_point_does_nothing_without_the_variable(monkeypatch):
    monkeypatch.delenv(faults.FAULT_ENV, raising=False)
    monkeypatch.setattr(faults.os, "kill", lambda *a: pytest.fail("no fault was asked for"))
    for name in faults.POINTS:
        faults.point(name)


@pytest.mark.slow  # three harness runs in subprocesses
def test_a_worker_killed_after_telling_optuna_resumes_with_every_invariant(tmp_path, monkeypatch):
    monkeypatch.delenv("HARNESS_HOME", raising=False)
    out = tmp_path / "faults.md"
    assert faults.main(["--points", "told", "--signals", "KILL", "--per-point", "1", "--out", str(out)]) == 0
    text = out.read_text()
    assert "| told:KILL | 1 | 1 | 0 |" in text and "**1 injections, 0 with a violated invariant.**" in text
