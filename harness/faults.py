"""Fault injection: kill, stop or hold workers at the step boundaries of
the queue, and check that its promises held (``make faults`` →
``reports/faults.md``).

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

Five scenario families, each followed by the same checker (``check``): each
key COMPLETE exactly once; no COMPLETE trial reverts; each COMPLETE trial's
recorded MLflow run FINISHED and holding its results; at most one FINISHED run
per key; no trial or run left RUNNING; the verdicts equal those of a fault-free
run. A violation is reported with what replays it.

- the signal matrix: SIGKILL/SIGTERM/SIGINT at each step boundary, then one
  fault-free resume (``run_scenario``);
- SIGSTOP past the heartbeat grace, then SIGCONT: a second worker runs while
  the first is stopped (``run_stop``);
- N workers behind a barrier at ``start``, ``enqueue`` or ``claim``, on the
  journal or PostgreSQL (``run_barrier``);
- PostgreSQL crashed, the mlflow server killed or the disk filled under a
  held worker (``harness.infrafaults``);
- the journal cut at every byte of its last two records
  (``harness.journalfaults``).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

FAULT_ENV = "HARNESS_FAULT"
BARRIER_ENV = "HARNESS_BARRIER"
BARRIER_TIMEOUT = 600.0                # a worker held longer than this stops with an error (the orchestrator died)
POINTS = ("claimed", "run-created", "logged", "told", "finished")  # a trial's step boundaries
QUEUE_POINTS = ("start", "enqueue", "claim")  # a worker's start, and the queue's points before its lock
SIGNALS = {"KILL": signal.SIGKILL, "TERM": signal.SIGTERM, "INT": signal.SIGINT, "STOP": signal.SIGSTOP}
KILL_SIGNALS = ("KILL", "TERM", "INT")  # the signal matrix's
STORAGES = ("journal", "sqlite")       # the default storage, and an RDB storage (the one with heartbeats)
# SIGSTOP scenarios: on the journal (no heartbeats) before and after the run holds results; on SQLite before the
# first heartbeat and on both sides of the results with heartbeats running
STOPS = ("claimed:journal", "logged:journal", "claimed:sqlite", "run-created:sqlite", "logged:sqlite")
HEARTBEAT_SECONDS = 1                  # $HARNESS_HEARTBEAT_SECONDS of the SIGSTOP runs on an RDB storage
GRACE_BEATS = 4                        # harness.storage: a trial is stale after 4 silent heartbeat intervals
# POINT:N[:postgres]: N workers released together, on the journal (or PostgreSQL, with harness.infrafaults)
BARRIERS = ("start:2", "enqueue:2", "enqueue:3", "claim:2", "claim:3", "start:3:postgres", "enqueue:3:postgres",
            "claim:3:postgres")
STUDY = "faults"                       # harness.faultstudy: a few seconds per run
STUDY_MODULE = "harness.faultstudy"
TRIALS = 6                             # the study's design at smoke: 2 arms x 3 replicates

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


@dataclass
class Outcome:
    scenario: str
    spec: str
    violations: list[str] = field(default_factory=list)
    fired: bool = True  # False: the fault never came (the run exited 0), so the scenario tested nothing
    family: str = "signal"  # signal, stop, barrier, infra (harness.infrafaults) or journal (harness.journalfaults)
    note: str = ""      # what happened, for the report's line on the scenario

    @property
    def replay(self) -> str:
        """What replays it (Markdown): the variable; for the other families ``spec`` says how the workers ran."""
        return f"`{FAULT_ENV}={self.spec}`" if self.family == "signal" else self.spec


def storage_url(home: Path, kind: str = "journal") -> str:
    """The study storage of a scenario's home: the default journal, or an SQLite database (heartbeats)."""
    if kind == "journal":
        return f"journal:{home / '.harness' / 'optuna.journal'}"
    return f"sqlite:///{home / '.harness' / 'optuna.db'}"


def _design(home: Path, storage: str | None, budget: str = "smoke"):
    import optuna

    from harness.storage import open_storage

    url = storage or storage_url(home)
    return optuna.load_study(study_name=f"{STUDY}.{budget}", storage=open_storage(url))


def check(home: Path, budget: str = "smoke", storage: str | None = None,
          complete_before: dict[int, str] | None = None) -> tuple[list[str], list]:
    """The invariants over a quiet store; returns (violations, the claims' verdicts).
    ``complete_before``: trial number -> key of trials seen COMPLETE earlier (none may revert)."""
    from mlflow import MlflowClient
    from optuna.trial import TrialState

    from harness.tracking import TAG

    violations = []
    trials = _design(home, storage, budget).get_trials(deepcopy=False)
    complete: dict[str, list] = {}
    for t in trials:
        if t.state == TrialState.COMPLETE:
            complete.setdefault(t.user_attrs["key"], []).append(t)
        elif t.state in (TrialState.RUNNING, TrialState.WAITING):
            violations.append(f"trial {t.number} ({t.user_attrs.get('key')}) left {t.state.name}")
    by_number = {t.number: t for t in trials}
    for number, key in (complete_before or {}).items():
        now = by_number.get(number)
        if now is None or now.state != TrialState.COMPLETE:
            violations.append(f"trial {number} ({key}) was COMPLETE, now {'gone' if now is None else now.state.name}")
    if len(complete) != TRIALS:
        violations.append(f"{len(complete)} keys COMPLETE, expected {TRIALS}")
    violations += [f"key {k} COMPLETE {len(v)} times" for k, v in complete.items() if len(v) > 1]
    client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(STUDY)
    runs = client.search_runs([experiment.experiment_id], f"tags.`{TAG}role` = 'trial'", max_results=10_000)
    by_id = {r.info.run_id: r for r in runs}
    finished: dict[str, int] = {}
    for r in runs:
        if r.info.status == "RUNNING":
            violations.append(f"run {r.info.run_id} ({r.data.tags.get(TAG + 'arm')}) left RUNNING")
        if r.info.status == "FINISHED" and r.data.tags.get(TAG + "phase") == "replicate":
            key = f"{r.data.tags[TAG + 'arm']}/r{r.data.tags[TAG + 'replicate']}"
            finished[key] = finished.get(key, 0) + 1
    violations += [f"key {k} has {n} FINISHED runs" for k, n in finished.items() if n > 1]
    parents = client.search_runs([experiment.experiment_id], f"tags.`{TAG}role` = 'study'", max_results=100)
    violations += [f"the study's parent run {r.info.run_id} left RUNNING"
                   for r in parents if r.info.status == "RUNNING"]
    for key, (t, *_) in complete.items():
        run = by_id.get(t.user_attrs.get("mlflow_run_id"))
        if run is None or run.info.status != "FINISHED":
            violations.append(f"key {key}: its recorded run is {'missing' if run is None else run.info.status}")
        elif "test_error" not in run.data.metrics:
            violations.append(f"key {key}: its FINISHED run holds no result")
    document = json.loads((home / "reports" / STUDY / "verdicts.json").read_text())
    return violations, [(c["id"], c["verdict"], c["effect"], c["p_value"]) for c in document["claims"]]


def _env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    drop = ("MLFLOW_TRACKING_URI", FAULT_ENV, BARRIER_ENV, "HARNESS_STORAGE", "HARNESS_HEARTBEAT_SECONDS")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(HARNESS_HOME=str(home), HARNESS_STUDY_MODULES=STUDY_MODULE, **(extra or {}))
    return env


def _sigint_default() -> None:
    # SIGINT's default disposition: run from a background job, the child would inherit "ignore SIGINT"
    # from the shell, and an injected SIGINT would do nothing
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _harness(home: Path, *args: str, fault: str | None = None,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    extra = {**(env or {}), **({FAULT_ENV: fault} if fault else {})}
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=home, env=_env(home, extra),
                          capture_output=True, text=True, timeout=600, preexec_fn=_sigint_default)


def _spawn(home: Path, log: str, *args: str, env: dict[str, str] | None = None,
           logs: Path | None = None) -> subprocess.Popen:
    """A harness process in the background, its output in ``<logs or home>/<log>.log`` (a pipe nobody
    reads could fill)."""
    with open((logs or home) / f"{log}.log", "w") as out:
        return subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=home, env=_env(home, env),
                                stdout=out, stderr=subprocess.STDOUT, preexec_fn=_sigint_default)


def _reap(process: subprocess.Popen, timeout: float) -> bool:
    """Wait for ``process``; kill it if it outlives ``timeout``. True when it exited by itself."""
    try:
        process.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return False


def _report(home: Path) -> str | None:
    """What ``harness report faults --budget smoke`` does, in this process (its imports are paid once):
    None, or why it failed."""
    from harness import report
    from harness.faultstudy import STUDY as study
    from harness.tracking import Tracker

    try:
        report.build(study, "smoke", Tracker(f"sqlite:///{home / 'mlflow.db'}"), home / "reports")
    except Exception as exc:  # reported as a violation: no report means no verdicts to compare
        return f"{type(exc).__name__}: {_tail(str(exc))}"
    return None


def _tail(text: str, n: int = 300) -> str:
    return " ".join(text.strip().split())[-n:]


def _said(text: str) -> str:
    """A worker's last words: the exception a traceback ends in (its first line), else the output's tail."""
    errors = re.findall(r"^[A-Za-z_][\w.]*(?:Error|Exception|Interrupt)\b.*$", text, re.MULTILINE)
    if "Traceback (most recent call last)" in text and errors:
        return f"traceback ending in {_tail(errors[-1], 240)}"
    return _tail(text)


def run_scenario(spec: str, baseline: list, scratch: Path) -> Outcome:
    """A study run with ``spec`` injected, one fault-free resume, then the invariants."""
    home = Path(tempfile.mkdtemp(prefix="fault-", dir=scratch))
    outcome = Outcome(spec.rsplit(":", 1)[0], spec)
    injected = _harness(home, "run", STUDY, "--budget", "smoke", "--no-progress", fault=spec)
    outcome.fired = injected.returncode != 0  # exit 0: the signal never came, and the scenario tested nothing
    resumed = _harness(home, "run", STUDY, "--budget", "smoke", "--no-progress")
    if resumed.returncode:
        outcome.violations.append(f"the resume failed (exit {resumed.returncode}): {resumed.stderr.strip()[-300:]}")
        return outcome
    violations, verdicts = check(home)
    outcome.violations += violations
    if verdicts != baseline:
        outcome.violations.append(f"verdicts differ from the fault-free run: {verdicts} != {baseline}")
    return outcome


def _process_state(pid: int) -> str:
    """R, S, T (stopped), Z ... from /proc; "" once the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def _wait_stopped(proc: subprocess.Popen, timeout: float = 600) -> bool:
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if _process_state(proc.pid) == "T":
            return True
        time.sleep(0.05)
    return False


def _owner_pid(trial) -> int | None:
    owner = trial.user_attrs.get("worker", "")
    pid = owner.split(":")[1] if owner.count(":") >= 1 else ""
    return int(pid) if pid.isdigit() else None


def _wait_for(condition, timeout: float = 600) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def run_stop(where: str, nth: int, kind: str, baseline: list, scratch: Path) -> Outcome:
    """Worker A (``harness run``) stops itself (SIGSTOP) at its ``nth`` arrival at ``where``.
    Then worker B (``harness worker``) starts, held at ``enqueue`` (``$HARNESS_BARRIER``) until
    the heartbeat grace has passed since the stop, and runs to its end; then A gets SIGCONT
    and must finish, or stop with a clear message. No resume: the checker runs next.
    ``kind``: the default journal (no heartbeats: dead local workers are found by pid), or
    SQLite with heartbeats every ``HEARTBEAT_SECONDS`` (stale after ``GRACE_BEATS`` of them)."""
    from optuna.trial import TrialState

    before: dict[int, str] | None = None
    home = Path(tempfile.mkdtemp(prefix=f"stop-{kind}-", dir=scratch))
    (home / ".harness").mkdir()
    gate = home / "gate"
    gate.mkdir()
    url = storage_url(home, kind)
    wait = GRACE_BEATS * HEARTBEAT_SECONDS + 2
    env = {} if kind == "journal" else {"HARNESS_STORAGE": url, "HARNESS_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS)}
    spec = f"{where}:STOP:{nth}"
    replay = (f"`{FAULT_ENV}={spec}`" + (f" `HARNESS_HEARTBEAT_SECONDS={HEARTBEAT_SECONDS}` on a SQLite storage"
                                         if env else "") +
              f" in `harness run`; a `harness worker` released at `enqueue` {wait} s after the stop; then SIGCONT")
    outcome = Outcome(f"{where}:STOP ({kind})", replay, family="stop")
    a = _spawn(home, "worker-a", "run", STUDY, "--budget", "smoke", "--no-progress", env={**env, FAULT_ENV: spec})
    b = None
    try:
        outcome.fired = _wait_stopped(a)
        if not outcome.fired:
            if a.poll() is None:
                a.kill()
                outcome.violations.append("worker A neither stopped nor exited within 600 s")
            a.wait()
            outcome.note = f"A exited {a.returncode} before its {nth}-th `{where}`"
        else:
            stopped_at = time.monotonic()
            mine = [t for t in _design(home, url).get_trials(deepcopy=False) if _owner_pid(t) == a.pid]
            held = max(mine, key=lambda t: t.number) if mine else None
            key = held.user_attrs.get("key") if held else None
            b = _spawn(home, "worker-b", "worker", STUDY, "--budget", "smoke",
                       env={**env, BARRIER_ENV: f"{gate}:enqueue"})
            _wait_for(lambda: b.poll() is not None or (gate / f"ready.{b.pid}").exists())
            time.sleep(max(0.0, wait - (time.monotonic() - stopped_at)))
            (gate / "go").touch()
            _reap(b, 600)
            if b.returncode:
                outcome.violations.append(f"worker B failed (exit {b.returncode}): "
                                          f"{_said((home / 'worker-b.log').read_text())}")
            before = {t.number: t.user_attrs.get("key") for t in _design(home, url).get_trials(
                deepcopy=False, states=(TrialState.COMPLETE,))}
            os.kill(a.pid, signal.SIGCONT)
            if not _reap(a, 600):
                outcome.violations.append("worker A did not exit within 600 s of SIGCONT")
            said = (home / "worker-a.log").read_text()
            if a.returncode and ("Traceback" in said or not said.strip()):
                outcome.violations.append(f"worker A exited {a.returncode} without a clear message: {_said(said)}")
            trials = {t.number: t for t in _design(home, url).get_trials(deepcopy=False)}
            rerun = [t for t in trials.values() if t.user_attrs.get("key") == key
                     and t.state == TrialState.COMPLETE and _owner_pid(t) != a.pid]
            taken_over = held is not None and trials[held.number].state == TrialState.FAIL and bool(rerun)
            # heartbeats exist from the claim (its first beat) until Optuna is told (`told`)
            if kind == "sqlite" and where in ("claimed", "run-created", "logged") and not taken_over:
                outcome.violations.append(f"trial {held.number if held else '?'} ({key}) was not failed as stale "
                                          "and re-run by worker B")
            last = said.strip().splitlines()[-1] if said.strip() else ""
            outcome.note = (f"A stopped on trial {held.number if held else '?'} ({key}), which was "
                            f"{'failed as stale by B and re-run by it' if taken_over else 'kept by A'}; "
                            f"A after SIGCONT: exit {a.returncode}"
                            + (f" ({_tail(last, 160)})" if a.returncode else ""))
            if a.returncode:  # A wrote no report (B, a `harness worker`, writes none): `harness report`
                failed = _report(home)
                if failed:
                    outcome.violations.append(f"the report failed: {failed}")
        violations, verdicts = check(home, storage=url, complete_before=before)
        outcome.violations += violations
        if verdicts != baseline:
            outcome.violations.append(f"verdicts differ from the fault-free run: {verdicts} != {baseline}")
    finally:
        for p in (a, b):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
    return outcome


def run_barrier(where: str, workers: int, baseline: list, scratch: Path, storage: str | None = None) -> Outcome:
    """``workers`` × ``harness worker`` on a fresh study, each held at its first ``where``
    (``$HARNESS_BARRIER``) until all are there, then released together; when all have
    exited, ``harness report`` (the README's recipe for several workers), then the checker
    (no resume), and each key must have been queued once. Except at ``start``, the
    tracking store's tables are created first, as an ``mlflow server`` does before any
    worker connects; at ``start`` the workers create them (a fresh local store).
    ``storage``: the study storage (a PostgreSQL database); the journal when None."""
    from mlflow import MlflowClient
    from optuna.trial import TrialState

    home = Path(tempfile.mkdtemp(prefix=f"barrier-{where}-{workers}-", dir=scratch))
    gate = home / "gate"
    gate.mkdir()
    if where != "start":
        MlflowClient(f"sqlite:///{home / 'mlflow.db'}").search_experiments()  # creates the store's tables
    store = (f"a fresh tracking store{' and study database' if storage else ''}" if where == "start"
             else "the tracking store's tables created first")
    outcome = Outcome(f"{workers} workers, barrier at {where}" + (" (postgres)" if storage else ""),
                      f"`{BARRIER_ENV}=DIR:{where}` in {workers} x `harness worker` ({store}); `DIR/go` once "
                      f"{workers} `DIR/ready.*` exist", family="barrier")
    env = {BARRIER_ENV: f"{gate}:{where}", **({"HARNESS_STORAGE": storage} if storage else {})}
    procs = [_spawn(home, f"worker-{i}", "worker", STUDY, "--budget", "smoke", env=env) for i in range(workers)]
    try:
        outcome.fired = _wait_for(lambda: len(list(gate.glob("ready.*"))) == workers
                                  or any(p.poll() is not None for p in procs)) \
            and len(list(gate.glob("ready.*"))) == workers
        if not outcome.fired:
            outcome.violations.append(f"only {len(list(gate.glob('ready.*')))} of {workers} workers reached the "
                                      "barrier")
        (gate / "go").touch()
        released = time.monotonic()
        for i, p in enumerate(procs):
            _reap(p, max(1.0, 600 - (time.monotonic() - released)))
            if p.returncode:
                outcome.violations.append(f"worker {i} exited {p.returncode}: "
                                          f"{_said((home / f'worker-{i}.log').read_text())}")
        trials = _design(home, storage).get_trials(deepcopy=False)
        per_key: dict[str, int] = {}
        for t in trials:
            if "duplicate_of" not in t.user_attrs:
                per_key[t.user_attrs.get("key")] = per_key.get(t.user_attrs.get("key"), 0) + 1
        queued_twice = sorted(k for k, n in per_key.items() if n > 1)
        if queued_twice:
            outcome.violations.append(f"keys queued more than once: {', '.join(queued_twice)}")
        duplicates = sum("duplicate_of" in t.user_attrs for t in trials)
        ran: dict[int | None, int] = {}
        for t in trials:
            if t.state == TrialState.COMPLETE:
                ran[_owner_pid(t)] = ran.get(_owner_pid(t), 0) + 1
        client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")  # not before: its constructor creates the store
        experiment = client.get_experiment_by_name(STUDY)
        parents = client.search_runs([experiment.experiment_id], "tags.`harness.role` = 'study'") if experiment else []
        outcome.note = (f"{len(trials)} trials for {TRIALS} keys ({duplicates} claimed duplicate(s) failed unrun); "
                        f"keys completed per worker: {sorted(ran.values(), reverse=True)}; "
                        f"{len(parents)} parent run(s)")
        failed = _report(home)  # `harness report`, in this process
        if failed:
            outcome.violations.append(f"the report failed: {failed}")
            return outcome
        violations, verdicts = check(home, storage=storage)
        outcome.violations += violations
        if verdicts != baseline:
            outcome.violations.append(f"verdicts differ from the fault-free run: {verdicts} != {baseline}")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return outcome


def render(outcomes: list[Outcome], command: str, seed: int, skipped: dict[str, str] | None = None) -> str:
    from harness import infrafaults  # here, not at the top: it builds on this module

    families = {o.family for o in outcomes}
    lines = ["# Fault injection", "", f"Generated {datetime.now(timezone.utc).isoformat(timespec='seconds')} by "
             f"`{command}` (occurrences drawn with seed {seed}).", "",
             "Every scenario runs the `faults` study (2 arms x 3 replicates, `harness.faultstudy`) and then one "
             "checker: each key COMPLETE exactly once; no COMPLETE trial reverts; each COMPLETE trial's run FINISHED "
             "with its results; at most one FINISHED run per key; no trial or run (the study's parent run included) "
             "left RUNNING; verdicts equal to a fault-free run.", ""]
    if "signal" in families:
        lines += ["- `POINT:SIGNAL` (SIGKILL, SIGTERM, SIGINT): the signal is sent to the worker at one step boundary "
                  "of one trial, then one fault-free resume runs, then the checker.", ""]
    if "stop" in families:
        lines += [f"- `POINT:STOP (storage)`: worker A (`harness run`) SIGSTOPs itself at one step boundary of one "
                  "trial; a second worker B (`harness worker`) starts, is held before enqueueing until "
                  f"{GRACE_BEATS * HEARTBEAT_SECONDS + 2} s after the stop (past the heartbeat grace: "
                  f"`HARNESS_HEARTBEAT_SECONDS={HEARTBEAT_SECONDS}`, stale after {GRACE_BEATS} silent intervals), "
                  "and runs to its end; then A gets SIGCONT and must finish or stop with a clear message; then the "
                  "checker, with no resume. On `journal` (the default "
                  "storage) there are no heartbeats: a dead local worker is found by its pid, and a stopped one is "
                  "alive, so it keeps its trial. On `sqlite` (an RDB storage, as PostgreSQL) heartbeats run from a "
                  "claim (its first beat) until it is told: stopped at `claimed`, `run-created` or `logged`, its "
                  "trial must be failed as stale by B and re-run by it, and A's late result discarded (its run "
                  "KILLED).", ""]
    if "barrier" in families:
        lines += ["- `N workers, barrier at POINT`: N `harness worker` processes start on a fresh study; each waits "
                  "at its first arrival at POINT until all N are there, then all are released at once (`start`: "
                  "before the study storage and a fresh local tracking store are first opened; `enqueue`: before "
                  "queueing the design; "
                  "`claim`: before claiming a trial; these two outside the queue lock, with the tracking store's "
                  "tables created beforehand, as an `mlflow server` does before any worker connects); when all "
                  "exited, `harness report` (the README's recipe for several workers), then the checker (no "
                  "resume), and each key must have been queued once. `(postgres)`: the study storage is a "
                  "PostgreSQL database, its queue lock an advisory lock.", ""]
    if "infra" in families:
        lines += ["- `KIND fails at POINT`: one `harness run` is held at the N-th arrival at POINT (N drawn from 2 to "
                  f"{TRIALS}, so a trial has finished), what it stands on fails, and it is released: it must stop "
                  "with a clear message (no traceback) or finish. Then the fault is repaired, one resume runs, then "
                  "the checker. `postgres`: the study storage is PostgreSQL (heartbeats every "
                  f"{infrafaults.HEARTBEAT_SECONDS} s), stopped with `pg_ctl -m immediate` (a crash: connections "
                  "cut, no checkpoint), restarted before the resume. `server`: the tracking store is an `mlflow "
                  "server` (SQLite backend), SIGKILLed after the trial's run was created, so the log batch of its "
                  "results meets a dead server (MLflow's client retries off); restarted on the same backend. "
                  f"`disk`: the home (journal, tracking store, artifacts, reports) is a {infrafaults.TMPFS_SIZE} "
                  "tmpfs, filled to its last free byte (a file's last page keeps its slack, so a short append may "
                  "still fit); the filler deleted before the resume.", ""]
    if "journal" in families:
        lines += ["- `journal cut`: the journal of the fault-free run cut at every byte from its second-last record "
                  "to its end. `detected or read`: each cut reads as a shorter sound journal (at a record boundary) "
                  "or is named before Optuna reads it, with the offset of the first bad record and the repair "
                  "command. `repaired and resumed`: for the boundaries and a sample of the cuts, `harness run` "
                  "refuses the journal with one line naming the repair, `harness repair-journal` truncates it, one "
                  "`harness run` resumes, then the checker (but for \"no COMPLETE trial reverts\": a cut loses the "
                  "records after it by construction).", ""]
    lines += ["| scenario | injections | fired | violations |", "| --- | --- | --- | --- |"]
    scenarios: dict[str, list[Outcome]] = {}
    for o in outcomes:
        scenarios.setdefault(o.scenario, []).append(o)
    for name, group in scenarios.items():
        lines.append(f"| {name} | {len(group)} | {sum(o.fired for o in group)} | {sum(bool(o.violations) for o in group)} |")
    total, bad = len(outcomes), sum(bool(o.violations) for o in outcomes)
    unfired = [o.spec for o in outcomes if not o.fired]
    lines += ["", f"**{total} injections, {bad} with a violated invariant.**"
              + (f" {len(unfired)} did not fire, so they tested nothing: {', '.join(unfired)}." if unfired else ""), ""]
    noted = [o for o in outcomes if o.family not in ("signal", "journal")]
    if noted:
        lines += ["What each SIGSTOP, barrier and infrastructure scenario did:", ""]
        lines += [f"- {o.scenario}: {o.replay}: {o.note or 'no note'}" for o in noted]
        lines += [""]
    violated = [o for o in outcomes if o.violations]
    if violated:
        lines += ["Violations, with what replays them:", ""]
        lines += [f"- {o.scenario}: {o.replay}: " + "; ".join(o.violations) for o in violated]
        lines += [""]
    lines += [f"Not run on this machine: the `{kind}` scenarios ({why})." for kind, why in (skipped or {}).items()]
    lines += [""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from harness import infrafaults, journalfaults  # here, not at the top: they build on this module

    parser = argparse.ArgumentParser(prog="python -m harness.faults", description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-point", type=int, default=1,
                        help="signal matrix: injections per (point, signal), at occurrences drawn at random "
                             "(default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the drawn occurrences (default 0)")
    parser.add_argument("--points", nargs="*", default=list(POINTS), choices=POINTS,
                        help="signal matrix: step boundaries (none: skip the matrix)")
    parser.add_argument("--signals", nargs="*", default=list(KILL_SIGNALS), choices=KILL_SIGNALS)
    parser.add_argument("--stops", nargs="*", default=list(STOPS), metavar="POINT:STORAGE",
                        help=f"SIGSTOP/SIGCONT scenarios, POINT one of {', '.join(POINTS)}, STORAGE one of "
                             f"{', '.join(STORAGES)}; none: skip (default: {' '.join(STOPS)})")
    parser.add_argument("--barriers", nargs="*", default=list(BARRIERS), metavar="POINT:N[:postgres]",
                        help=f"N workers released together at POINT, one of {', '.join(QUEUE_POINTS)}, on the "
                             f"journal or PostgreSQL; none: skip (default: {' '.join(BARRIERS)})")
    parser.add_argument("--infra", nargs="*", default=list(infrafaults.INFRA), metavar="KIND:POINT",
                        help="PostgreSQL crashed, the mlflow server killed or the disk filled while a worker is held "
                             f"at POINT (harness.infrafaults); none: skip (default: {' '.join(infrafaults.INFRA)})")
    parser.add_argument("--cuts", type=int, default=journalfaults.SAMPLES, metavar="N",
                        help="the journal cut at every byte of its last two records, each checked for detection, "
                             "N of them (besides the record boundaries) repaired and resumed end to end "
                             f"(harness.journalfaults; default {journalfaults.SAMPLES}); -1: skip")
    parser.add_argument("--out", default="reports/faults.md")
    args = parser.parse_args(argv)
    if args.per_point < 1:
        parser.error("--per-point must be >= 1")
    if args.cuts < -1:
        parser.error("--cuts must be >= 0, or -1 to skip the journal cuts")
    stops, barriers = [], []
    for item in args.stops:
        where, _, kind = item.partition(":")
        if where not in POINTS or kind not in STORAGES:
            parser.error(f"--stops {item!r}: expected POINT:STORAGE, POINT one of {', '.join(POINTS)}, "
                         f"STORAGE one of {', '.join(STORAGES)}")
        stops.append((where, kind))
    for item in args.barriers:
        where, _, n = item.partition(":")
        n, _, on = n.partition(":")
        if where not in QUEUE_POINTS or not n.isdigit() or int(n) < 1 or on not in ("", "postgres"):
            parser.error(f"--barriers {item!r}: expected POINT:N or POINT:N:postgres, POINT one of "
                         f"{', '.join(QUEUE_POINTS)}, N >= 1")
        barriers.append((where, int(n), on))
    for item in args.infra:
        if item not in infrafaults.INFRA:
            parser.error(f"--infra {item!r}: expected one of {', '.join(infrafaults.INFRA)}")
    needed = {item.split(":")[0] for item in args.infra} | {"postgres" for *_, on in barriers if on}
    skipped = {kind: why for kind in sorted(needed) if (why := infrafaults.unavailable(kind))}
    rng = random.Random(args.seed)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="faults-") as tmp:
        scratch = Path(tmp)
        home = scratch / "baseline"
        home.mkdir()
        done = _harness(home, "run", STUDY, "--budget", "smoke", "--no-progress")
        if done.returncode:
            print(f"the fault-free run failed: {done.stderr[-800:]}", file=sys.stderr)
            return 1
        violations, baseline = check(home)
        if violations:
            print(f"the fault-free run violates the invariants: {violations}", file=sys.stderr)
            return 1
        outcomes = []

        def record(outcome: Outcome) -> None:
            state = "ok" if not outcome.violations else "; ".join(outcome.violations)
            extra = f" [{outcome.note}]" if outcome.note else ""
            print(f"{outcome.scenario} ({outcome.spec}): {state}{'' if outcome.fired else ' (did not fire)'}{extra} "
                  f"[{time.monotonic() - started:.0f} s]", flush=True)
            outcomes.append(outcome)

        for where in args.points:
            for signame in args.signals:
                for nth in sorted(rng.sample(range(1, TRIALS + 1), min(args.per_point, TRIALS))):
                    record(run_scenario(f"{where}:{signame}:{nth}", baseline, scratch))
        occurrences = random.Random(args.seed + 1)  # SIGSTOP's own stream: it does not move with --points
        for where, kind in stops:
            record(run_stop(where, occurrences.randint(1, TRIALS), kind, baseline, scratch))
        pg = infrafaults.Postgres() if "postgres" in needed and "postgres" not in skipped else None
        try:
            for where, workers, on in barriers:
                if on not in skipped:
                    record(run_barrier(where, workers, baseline, scratch, pg.database() if on else None))
            held = random.Random(args.seed + 2)  # the infrastructure scenarios' own stream
            for item in args.infra:
                kind, where = item.split(":")
                nth = held.randint(2, TRIALS)  # past the first trial: something finished that must not be lost
                if kind not in skipped:
                    record(infrafaults.run_infra(kind, where, nth, baseline, scratch, pg))
        finally:
            if pg is not None:
                pg.close()
        if args.cuts >= 0:
            cut = journalfaults.run_cuts(home, baseline, scratch, args.cuts)
            outcomes += cut
            print(f"journal cuts: {len(cut)} injections, {sum(bool(o.violations) for o in cut)} with violations "
                  f"[{time.monotonic() - started:.0f} s]", flush=True)
    command = "python -m harness.faults " + " ".join(sys.argv[1:] if argv is None else argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(outcomes, command.strip(), args.seed, skipped))
    print(f"wrote {out}: {len(outcomes)} injections, {sum(bool(o.violations) for o in outcomes)} with violations "
          f"({time.monotonic() - started:.0f} s)")
    return 1 if any(o.violations for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
