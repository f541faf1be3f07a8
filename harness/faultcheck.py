"""What every fault scenario shares (``harness.faults``, ``harness.infrafaults``,
``harness.journalfaults``): the study they run, the harness processes they
start, and the one checker of the queue's invariants run after each.

``check``: each key COMPLETE exactly once; no COMPLETE trial reverts; each
COMPLETE trial's recorded MLflow run FINISHED and holding its results; at
most one FINISHED run per key; no trial or run left RUNNING; and the claims'
verdicts, to compare with a fault-free run's.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.faultpoints import BARRIER_ENV, FAULT_ENV
from harness.paths import reports_dir

STUDY = "faults"                       # harness.faultstudy: a few seconds per run
STUDY_MODULE = "harness.faultstudy"
TRIALS = 6                             # the study's design at smoke: 2 arms x 3 replicates
GRACE_BEATS = 4                        # harness.storage: a trial is stale after 4 silent heartbeat intervals


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



def design_study(home: Path, storage: str | None, budget: str = "smoke"):
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
    trials = design_study(home, storage, budget).get_trials(deepcopy=False)
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
    document = json.loads((reports_dir(budget, home) / STUDY / "verdicts.json").read_text())
    return violations, [(c["id"], c["verdict"], c["effect"], c["p_value"]) for c in document["claims"]]



def against(baseline: list, home: Path, storage: str | None = None,
            complete_before: dict[int, str] | None = None) -> list[str]:
    """``check``'s violations, and one more when the verdicts differ from ``baseline`` (the fault-free run's)."""
    violations, verdicts = check(home, storage=storage, complete_before=complete_before)
    if verdicts != baseline:
        violations.append(f"verdicts differ from the fault-free run: {verdicts} != {baseline}")
    return violations


def worker_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    drop = ("MLFLOW_TRACKING_URI", FAULT_ENV, BARRIER_ENV, "HARNESS_STORAGE", "HARNESS_HEARTBEAT_SECONDS")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(HARNESS_HOME=str(home), HARNESS_STUDY_MODULES=STUDY_MODULE, **(extra or {}))
    return env



def _sigint_default() -> None:
    # SIGINT's default disposition: run from a background job, the child would inherit "ignore SIGINT"
    # from the shell, and an injected SIGINT would do nothing
    signal.signal(signal.SIGINT, signal.SIG_DFL)



def run_harness(home: Path, *args: str, fault: str | None = None,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    extra = {**(env or {}), **({FAULT_ENV: fault} if fault else {})}
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=home, env=worker_env(home, extra),
                          capture_output=True, text=True, timeout=600, preexec_fn=_sigint_default)



def run_study(home: Path, fault: str | None = None,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``harness run faults --budget smoke --no-progress`` in ``home``: the run every family starts or resumes."""
    return run_harness(home, "run", STUDY, "--budget", "smoke", "--no-progress", fault=fault, env=env)


def spawn_harness(home: Path, log: str, *args: str, env: dict[str, str] | None = None,
                  logs: Path | None = None) -> subprocess.Popen:
    """A harness process in the background, its output in ``<logs or home>/<log>.log`` (a pipe nobody
    reads could fill)."""
    with open((logs or home) / f"{log}.log", "w") as out:
        return subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=home, env=worker_env(home, env),
                                stdout=out, stderr=subprocess.STDOUT, preexec_fn=_sigint_default)



def reap(process: subprocess.Popen, timeout: float) -> bool:
    """Wait for ``process``; kill it if it outlives ``timeout``. True when it exited by itself."""
    try:
        process.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return False



def write_report(home: Path) -> str | None:
    """What ``harness report faults --budget smoke`` does, in this process (its imports are paid once):
    None, or why it failed."""
    from harness import report
    from harness.faultstudy import STUDY as study
    from harness.tracking import Tracker

    try:
        report.build(study, "smoke", Tracker(f"sqlite:///{home / 'mlflow.db'}"), reports_dir("smoke", home))
    except Exception as exc:  # reported as a violation: no report means no verdicts to compare
        return f"{type(exc).__name__}: {tail(str(exc))}"
    return None



def tail(text: str, n: int = 300) -> str:
    return " ".join(text.strip().split())[-n:]



def last_words(text: str) -> str:
    """A worker's last words: the exception a traceback ends in (its first line), else the output's tail."""
    errors = re.findall(r"^[A-Za-z_][\w.]*(?:Error|Exception|Interrupt)\b.*$", text, re.MULTILINE)
    if "Traceback (most recent call last)" in text and errors:
        return f"traceback ending in {tail(errors[-1], 240)}"
    return tail(text)



def wait_for(condition, timeout: float = 600) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True

