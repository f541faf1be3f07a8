"""Fault injection under the workers: the database, the tracking server and
the disk fail while a worker is held at one step of one trial (``make faults``,
beside ``harness.faults``' signal, SIGSTOP and barrier families).

Each scenario runs one ``harness run`` of the ``faults`` study held at the
N-th arrival at a point (``$HARNESS_BARRIER=DIR:POINT:N``), breaks what it
stands on, and releases it: it must stop with a clear message (no traceback)
or finish. Then the fault is repaired, one fault-free resume runs, and
``faultcheck.check`` applies every invariant (each key COMPLETE once, nothing
COMPLETE reverted, runs closed, verdicts equal to a fault-free run).

- ``postgres``: the study storage is PostgreSQL (heartbeats every second),
  stopped with ``pg_ctl -m immediate`` (a crash: no shutdown checkpoint, every
  connection cut) while the worker is held before a claim (``claim``) or before
  telling Optuna a result (``logged``); restarted before the resume.
- ``server``: the tracking store is an ``mlflow server``, SIGKILLed while the
  worker is held after creating a trial's run (``run-created``), so the log
  batch of the results meets a dead server; restarted on the same backend
  before the resume. MLflow's client retries are off
  (``MLFLOW_HTTP_REQUEST_MAX_RETRIES=0``), as a retry would only wait.
- ``disk``: the study's home (journal, tracking store, artifacts, reports) on
  a small tmpfs, filled to its last free byte (a file's last page keeps its
  slack: a short append may still fit) while the worker is held at
  ``run-created`` (the next write is the results' log) or ``logged`` (the
  next is the tell: a journal append); the filler deleted before the resume.
  ``mount`` needs root: elsewhere these are skipped, and the report says so.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from harness import faultcheck, services
from harness.faultcheck import STUDY, Outcome
from harness.faultpoints import BARRIER_ENV

# what breaks -> the points a worker may be held at when it breaks
KINDS = {"postgres": ("claim", "logged"), "server": ("run-created",), "disk": ("run-created", "logged")}
INFRA = tuple(f"{kind}:{where}" for kind, points in KINDS.items() for where in points)
HEARTBEAT_SECONDS = 1   # on PostgreSQL: a dead worker's trial is stale after 4 silent seconds
TMPFS_SIZE = "64m"      # the disk scenarios' home: the faults study needs a few MB
FAST_FAIL = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}


def unavailable(kind: str) -> str:
    """Why scenarios of ``kind`` cannot run on this machine ("" when they can)."""
    if kind == "postgres":
        return services.postgres_missing()
    if kind == "disk" and (os.geteuid() != 0 or not shutil.which("mount")):
        return "mounting a tmpfs needs root"
    return ""


class Postgres:
    """One throwaway cluster for every PostgreSQL scenario, a database each."""

    def __init__(self) -> None:
        # not under a private temporary folder: PostgreSQL runs as the postgres user
        self.root = Path(tempfile.mkdtemp(prefix="harness-faults-pg-"))
        self.cluster = services.Postgres(self.root, services.free_port()).start()
        self.made = 0

    def database(self) -> str:
        self.made += 1
        return self.cluster.create_database(f"faults{self.made}")

    def close(self) -> None:
        self.cluster.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _fill(folder: Path) -> int:
    """Write a file in ``folder`` until the file system has no byte left; its size."""
    written = 0
    with open(folder / "filler", "wb", buffering=0) as f:
        for chunk in (1 << 20, 1 << 12, 1):
            block = b"\0" * chunk
            try:
                while True:
                    n = f.write(block)
                    written += n
                    if n < chunk:
                        break
            except OSError:  # ENOSPC: try the next, smaller chunk
                continue
    return written


def run_infra(kind: str, where: str, nth: int, baseline: list, scratch: Path,
              pg: Postgres | None = None) -> Outcome:
    """One scenario: ``kind`` (postgres, server, disk) fails while ``harness run`` is held
    at its ``nth`` arrival at ``where``; repaired; one resume; the invariants."""
    base = Path(tempfile.mkdtemp(prefix=f"{kind}-{where}-", dir=scratch))
    home, gate = base / "home", base / "gate"
    home.mkdir()
    gate.mkdir()
    env: dict[str, str] = {}
    storage = None
    server = None
    mounted = False
    what = {"postgres": "PostgreSQL stopped with `pg_ctl -m immediate`",
            "server": "the mlflow server SIGKILLed",
            "disk": f"the home's tmpfs ({TMPFS_SIZE}) filled to the last byte"}[kind]
    repair = {"postgres": "PostgreSQL restarted", "server": "the server restarted on the same backend",
              "disk": "the filler deleted"}[kind]
    outcome = Outcome(f"{kind} fails at {where}",
                      f"`{BARRIER_ENV}=DIR:{where}:{nth}` in `harness run`; {what} while it is held; "
                      f"released; then {repair} and one resume", family="infra")
    worker = None
    try:
        if kind == "postgres":
            storage = pg.database()
            env.update(HARNESS_STORAGE=storage, HARNESS_HEARTBEAT_SECONDS=str(HEARTBEAT_SECONDS))
        elif kind == "server":
            from mlflow import MlflowClient

            MlflowClient(f"sqlite:///{home / 'mlflow.db'}").search_experiments()  # the tables: a faster first start
            server = services.MlflowServer(f"sqlite:///{home / 'mlflow.db'}", base / "artifacts",
                                           services.free_port(), log=base / "server.log").start()
            env.update(MLFLOW_TRACKING_URI=server.url, **FAST_FAIL)
        elif kind == "disk":
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(home)], check=True,
                           capture_output=True)
            mounted = True
        # the worker's output goes beside the home: on a full disk it could not be written
        worker = faultcheck.spawn_harness(home, "worker", "run", STUDY, "--budget", "smoke", "--no-progress",
                                          env={**env, BARRIER_ENV: f"{gate}:{where}:{nth}"}, logs=base)
        held = faultcheck.wait_for(lambda: worker.poll() is not None or (gate / f"ready.{worker.pid}").exists())
        outcome.fired = held and worker.poll() is None  # waiting at the barrier, not exited before it
        if not outcome.fired:
            faultcheck.reap(worker, 600)
            outcome.note = f"the worker exited {worker.returncode} before its {nth}-th `{where}`"
        else:
            if kind == "postgres":
                pg.cluster.crash()
            elif kind == "server":
                server.stop(timeout=0)
            else:
                _fill(home)
            (gate / "go").touch()
            if not faultcheck.reap(worker, 600):
                outcome.violations.append("the worker did not exit within 600 s of the fault")
            said = (base / "worker.log").read_text()
            if worker.returncode and ("Traceback" in said or not said.strip()):
                outcome.violations.append(f"the worker exited {worker.returncode} without a clear message: "
                                          f"{faultcheck.last_words(said)}")
            last = said.strip().splitlines()[-1] if said.strip() else ""
            outcome.note = f"the worker exited {worker.returncode}" + (
                f": {last[:240]}" if worker.returncode else "")
            if kind == "postgres":
                pg.cluster.start()
                time.sleep(HEARTBEAT_SECONDS * (faultcheck.GRACE_BEATS + 1))  # a live worker's trial would go stale
            elif kind == "server":
                server.start()
            else:
                (home / "filler").unlink()
        resumed = faultcheck.run_study(home, env=env)
        if resumed.returncode:
            outcome.violations.append(f"the resume failed (exit {resumed.returncode}): "
                                      f"{faultcheck.last_words(resumed.stderr + resumed.stdout)}")
            return outcome
        outcome.violations += faultcheck.against(baseline, home, storage=storage)
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
            worker.wait()
        if server is not None:
            server.stop(timeout=2)
        if mounted:
            subprocess.run(["umount", "-l", str(home)], capture_output=True)
    return outcome
