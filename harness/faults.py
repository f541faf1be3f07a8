"""Fault injection: kill a worker at every step boundary, resume, and check
that the queue's promises held (``make faults`` → ``reports/faults.md``).

The sweep calls ``point(name)`` at each boundary of a trial's life: ``claimed``
(the trial is RUNNING and ours), ``run-created`` (its MLflow run exists),
``logged`` (its results are in the run), ``told`` (Optuna holds the outcome)
and ``finished`` (the run is closed). ``$HARNESS_FAULT = "POINT:SIGNAL:N"``
makes the N-th arrival at POINT send SIGNAL (KILL, TERM or INT) to the process
itself; without it ``point`` does nothing.

After each injected run, one fault-free resume must finish everything, and
``check`` states the invariants: each key COMPLETE exactly once; each COMPLETE
trial's recorded MLflow run FINISHED and holding its results; at most one
FINISHED run per key; no run left RUNNING; the verdicts equal those of a
fault-free run. A violation is reported with the scenario and the occurrence
that produced it, so it can be replayed by setting the same ``$HARNESS_FAULT``.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

FAULT_ENV = "HARNESS_FAULT"
POINTS = ("claimed", "run-created", "logged", "told", "finished")
SIGNALS = {"KILL": signal.SIGKILL, "TERM": signal.SIGTERM, "INT": signal.SIGINT}
STUDY = "faults"                       # harness.faultstudy: a few seconds per run
STUDY_MODULE = "harness.faultstudy"
TRIALS = 6                             # the study's design at smoke: 2 arms x 3 replicates

_arrivals: dict[str, int] = {}


def point(name: str) -> None:
    """A step boundary; sends the configured signal on the configured arrival."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    where, signame, nth = spec.split(":")
    if where != name:
        return
    _arrivals[name] = _arrivals.get(name, 0) + 1
    if _arrivals[name] == int(nth):
        os.kill(os.getpid(), SIGNALS[signame])


@dataclass
class Outcome:
    scenario: str
    spec: str
    violations: list[str] = field(default_factory=list)
    fired: bool = True  # False: the injected run exited 0, so the scenario tested nothing (not an invariant)


def check(home: Path, budget: str = "smoke") -> tuple[list[str], list]:
    """The invariants over a quiet store; returns (violations, the claims' verdicts)."""
    import optuna
    from mlflow import MlflowClient
    from optuna.trial import TrialState

    from harness.storage import open_storage
    from harness.tracking import TAG

    violations = []
    storage = open_storage(f"journal:{home / '.harness' / 'optuna.journal'}")
    trials = optuna.load_study(study_name=f"{STUDY}.{budget}", storage=storage).get_trials(deepcopy=False)
    complete: dict[str, list] = {}
    for t in trials:
        if t.state == TrialState.COMPLETE:
            complete.setdefault(t.user_attrs["key"], []).append(t)
        elif t.state in (TrialState.RUNNING, TrialState.WAITING):
            violations.append(f"trial {t.number} ({t.user_attrs.get('key')}) left {t.state.name}")
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
    for key, (t, *_) in complete.items():
        run = by_id.get(t.user_attrs.get("mlflow_run_id"))
        if run is None or run.info.status != "FINISHED":
            violations.append(f"key {key}: its recorded run is {'missing' if run is None else run.info.status}")
        elif "test_error" not in run.data.metrics:
            violations.append(f"key {key}: its FINISHED run holds no result")
    document = json.loads((home / "reports" / STUDY / "verdicts.json").read_text())
    return violations, [(c["id"], c["verdict"], c["effect"], c["p_value"]) for c in document["claims"]]


def _harness(home: Path, *args: str, fault: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", FAULT_ENV, "HARNESS_STORAGE")}
    env.update(HARNESS_HOME=str(home), HARNESS_STUDY_MODULES=STUDY_MODULE)
    if fault:
        env[FAULT_ENV] = fault
    # SIGINT's default disposition: run from a background job, the child would inherit "ignore SIGINT"
    # from the shell, and an injected SIGINT would do nothing
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=home, env=env, capture_output=True,
                          text=True, timeout=600, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


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


def render(outcomes: list[Outcome], command: str, seed: int) -> str:
    lines = ["# Fault injection", "", f"Generated {datetime.now(timezone.utc).isoformat(timespec='seconds')} by "
             f"`{command}` (occurrences drawn with seed {seed}).", "",
             "Each injection runs the `faults` study (2 arms x 3 replicates, `harness.faultstudy`) with a signal sent "
             "to the worker at one step boundary of one trial, then resumes once without faults, then checks: each "
             "key COMPLETE exactly once; each COMPLETE trial's run FINISHED with its results; at most one FINISHED "
             "run per key; no trial or run left RUNNING; verdicts equal to a fault-free run.", "",
             "| scenario | injections | fired | violations |", "| --- | --- | --- | --- |"]
    scenarios: dict[str, list[Outcome]] = {}
    for o in outcomes:
        scenarios.setdefault(o.scenario, []).append(o)
    for name, group in scenarios.items():
        lines.append(f"| {name} | {len(group)} | {sum(o.fired for o in group)} | {sum(bool(o.violations) for o in group)} |")
    total, bad = len(outcomes), sum(bool(o.violations) for o in outcomes)
    unfired = [o.spec for o in outcomes if not o.fired]
    lines += ["", f"**{total} injections, {bad} with a violated invariant.**"
              + (f" {len(unfired)} did not fire (the run exited 0), so they tested nothing: {', '.join(unfired)}."
                 if unfired else ""), ""]
    for o in outcomes:
        if o.violations:
            lines += [f"- `{FAULT_ENV}={o.spec}`: " + "; ".join(o.violations)]
    lines += ["", "Not yet injected here: deterministic interleavings of two workers, SIGSTOP past the heartbeat "
              "grace, PostgreSQL or the mlflow server stopped mid-claim, a full disk. The journal cut at every byte "
              "of its last records is `tests/test_journal.py`.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.faults", description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-point", type=int, default=2,
                        help="injections per (point, signal), at occurrences drawn at random (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the drawn occurrences (default 0)")
    parser.add_argument("--points", nargs="*", default=list(POINTS), choices=POINTS)
    parser.add_argument("--signals", nargs="*", default=list(SIGNALS), choices=list(SIGNALS))
    parser.add_argument("--out", default="reports/faults.md")
    args = parser.parse_args(argv)
    if args.per_point < 1:
        parser.error("--per-point must be >= 1")
    rng = random.Random(args.seed)
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
        for where in args.points:
            for signame in args.signals:
                for nth in sorted(rng.sample(range(1, TRIALS + 1), min(args.per_point, TRIALS))):
                    outcome = run_scenario(f"{where}:{signame}:{nth}", baseline, scratch)
                    state = "ok" if not outcome.violations else "; ".join(outcome.violations)
                    print(f"{outcome.spec}: {state}{'' if outcome.fired else ' (did not fire)'}", flush=True)
                    outcomes.append(outcome)
    command = "python -m harness.faults " + " ".join(sys.argv[1:] if argv is None else argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(outcomes, command.strip(), args.seed))
    print(f"wrote {out}: {len(outcomes)} injections, {sum(bool(o.violations) for o in outcomes)} with violations")
    return 1 if any(o.violations for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
