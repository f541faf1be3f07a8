"""Fault-injection hooks: the step boundaries where ``make faults`` kills,
stops or holds a worker (``harness.faults`` runs the scenarios).

The sweep calls ``point(name)`` at each boundary of a trial's life: ``claimed``
(the trial is RUNNING and ours), ``run-created`` (its MLflow run exists),
``logged`` (its results are in the run), ``told`` (Optuna holds the outcome)
and ``finished`` (the run is closed); the queue calls it at ``enqueue`` (before
queueing the design) and ``claim`` (before claiming a trial), both outside the
queue lock, and ``harness run``/``worker`` at ``start`` (before the study
storage and the tracking store are first opened). Two variables switch it on;
unset, ``point`` is two environment look-ups:

- ``$HARNESS_FAULT = "POINT:SIGNAL:N"`` makes the N-th arrival at POINT send
  SIGNAL (KILL, TERM, INT or STOP) to the process itself.
- ``$HARNESS_BARRIER = "DIR:POINT[:N]"`` makes the first (N-th) arrival at
  POINT create ``DIR/ready.<pid>`` and wait until ``DIR/go`` exists: N workers
  started on a fresh study are released together (deterministic
  interleavings), or one worker is held while what it stands on fails.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

FAULT_ENV = "HARNESS_FAULT"
BARRIER_ENV = "HARNESS_BARRIER"
BARRIER_TIMEOUT = 600.0                # a worker held longer than this stops with an error (the orchestrator died)
POINTS = ("claimed", "run-created", "logged", "told", "finished")  # a trial's step boundaries
QUEUE_POINTS = ("start", "enqueue", "claim")  # a worker's start, and the queue's points before its lock
SIGNALS = {"KILL": signal.SIGKILL, "TERM": signal.SIGTERM, "INT": signal.SIGINT, "STOP": signal.SIGSTOP}

_arrivals: dict[str, int] = {}  # per point, for $HARNESS_FAULT
_held: dict[str, int] = {}      # per point, for $HARNESS_BARRIER


def point(name: str) -> None:
    """A step boundary: waits behind the configured barrier, sends the
    configured signal on the configured arrival; without either variable, nothing."""
    gate = os.environ.get(BARRIER_ENV)
    if gate:
        _barrier(gate, name)
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    where, signame, nth = spec.split(":")
    if where != name:
        return
    _arrivals[name] = _arrivals.get(name, 0) + 1
    if _arrivals[name] == int(nth):
        os.kill(os.getpid(), SIGNALS[signame])


def _barrier(gate: str, name: str) -> None:
    """``DIR:POINT[:N]``: at the N-th arrival at POINT (default the first), say ready
    (``DIR/ready.<pid>``) and wait for ``DIR/go``."""
    folder, _, where = gate.rpartition(":")
    nth = 1
    if where.isdigit():
        nth = int(where)
        folder, _, where = folder.rpartition(":")
    if where != name:
        return
    _held[name] = _held.get(name, 0) + 1
    go = Path(folder) / "go"
    if go.exists() or _held[name] != nth:  # released already (a later arrival), or not yet the N-th: pass
        return
    (Path(folder) / f"ready.{os.getpid()}").touch()
    deadline = time.monotonic() + BARRIER_TIMEOUT
    while not go.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"${BARRIER_ENV}: nobody created {go} within {BARRIER_TIMEOUT:.0f} s")
        time.sleep(0.005)
