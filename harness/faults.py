"""Fault injection: kill, stop or hold workers at the step boundaries of
the queue, and check that its promises held (``make faults`` →
``reports/faults.md``).

The injection hooks are ``harness.faultpoints`` (``$HARNESS_FAULT`` sends a
signal at the N-th arrival at a step, ``$HARNESS_BARRIER`` holds a worker
there); the checker and the process helpers every family shares are
``harness.faultcheck``.

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
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from harness import infrafaults, journalfaults
from harness.faultcheck import (GRACE_BEATS, STUDY, TRIALS, Outcome, against, check, design_study, last_words,
                                reap, run_study, spawn_harness, storage_url, tail, wait_for, write_report)
from harness.faultpoints import BARRIER_ENV, FAULT_ENV, POINTS, QUEUE_POINTS

KILL_SIGNALS = ("KILL", "TERM", "INT")  # the signal matrix's
STORAGES = ("journal", "sqlite")       # the default storage, and an RDB storage (the one with heartbeats)
# SIGSTOP scenarios: on the journal (no heartbeats) before and after the run holds results; on SQLite before the
# first heartbeat and on both sides of the results with heartbeats running
STOPS = ("claimed:journal", "logged:journal", "claimed:sqlite", "run-created:sqlite", "logged:sqlite")
HEARTBEAT_SECONDS = 1                  # $HARNESS_HEARTBEAT_SECONDS of the SIGSTOP runs on an RDB storage
# POINT:N[:postgres]: N workers released together, on the journal (or PostgreSQL, with harness.infrafaults)
BARRIERS = ("start:2", "enqueue:2", "enqueue:3", "claim:2", "claim:3", "start:3:postgres", "enqueue:3:postgres",
            "claim:3:postgres")


def run_scenario(spec: str, baseline: list, scratch: Path) -> Outcome:
    """A study run with ``spec`` injected, one fault-free resume, then the invariants."""
    home = Path(tempfile.mkdtemp(prefix="fault-", dir=scratch))
    outcome = Outcome(spec.rsplit(":", 1)[0], spec)
    injected = run_study(home, fault=spec)
    outcome.fired = injected.returncode != 0  # exit 0: the signal never came, and the scenario tested nothing
    resumed = run_study(home)
    if resumed.returncode:
        outcome.violations.append(f"the resume failed (exit {resumed.returncode}): {resumed.stderr.strip()[-300:]}")
        return outcome
    outcome.violations += against(baseline, home)
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
    a = spawn_harness(home, "worker-a", "run", STUDY, "--budget", "smoke", "--no-progress",
                      env={**env, FAULT_ENV: spec})
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
            mine = [t for t in design_study(home, url).get_trials(deepcopy=False) if _owner_pid(t) == a.pid]
            held = max(mine, key=lambda t: t.number) if mine else None
            key = held.user_attrs.get("key") if held else None
            b = spawn_harness(home, "worker-b", "worker", STUDY, "--budget", "smoke",
                              env={**env, BARRIER_ENV: f"{gate}:enqueue"})
            wait_for(lambda: b.poll() is not None or (gate / f"ready.{b.pid}").exists())
            time.sleep(max(0.0, wait - (time.monotonic() - stopped_at)))
            (gate / "go").touch()
            reap(b, 600)
            if b.returncode:
                outcome.violations.append(f"worker B failed (exit {b.returncode}): "
                                          f"{last_words((home / 'worker-b.log').read_text())}")
            before = {t.number: t.user_attrs.get("key") for t in design_study(home, url).get_trials(
                deepcopy=False, states=(TrialState.COMPLETE,))}
            os.kill(a.pid, signal.SIGCONT)
            if not reap(a, 600):
                outcome.violations.append("worker A did not exit within 600 s of SIGCONT")
            said = (home / "worker-a.log").read_text()
            if a.returncode and ("Traceback" in said or not said.strip()):
                outcome.violations.append(f"worker A exited {a.returncode} without a clear message: {last_words(said)}")
            trials = {t.number: t for t in design_study(home, url).get_trials(deepcopy=False)}
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
                            + (f" ({tail(last, 160)})" if a.returncode else ""))
            if a.returncode:  # A wrote no report (B, a `harness worker`, writes none): `harness report`
                failed = write_report(home)
                if failed:
                    outcome.violations.append(f"the report failed: {failed}")
        outcome.violations += against(baseline, home, storage=url, complete_before=before)
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
    procs = [spawn_harness(home, f"worker-{i}", "worker", STUDY, "--budget", "smoke", env=env)
             for i in range(workers)]
    try:
        outcome.fired = wait_for(lambda: len(list(gate.glob("ready.*"))) == workers
                                  or any(p.poll() is not None for p in procs)) \
            and len(list(gate.glob("ready.*"))) == workers
        if not outcome.fired:
            outcome.violations.append(f"only {len(list(gate.glob('ready.*')))} of {workers} workers reached the "
                                      "barrier")
        (gate / "go").touch()
        released = time.monotonic()
        for i, p in enumerate(procs):
            reap(p, max(1.0, 600 - (time.monotonic() - released)))
            if p.returncode:
                outcome.violations.append(f"worker {i} exited {p.returncode}: "
                                          f"{last_words((home / f'worker-{i}.log').read_text())}")
        trials = design_study(home, storage).get_trials(deepcopy=False)
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
        failed = write_report(home)  # `harness report`, in this process
        if failed:
            outcome.violations.append(f"the report failed: {failed}")
            return outcome
        outcome.violations += against(baseline, home, storage=storage)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return outcome


def render(outcomes: list[Outcome], command: str, seed: int, skipped: dict[str, str] | None = None) -> str:
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
        lines.append(f"| {name} | {len(group)} | {sum(o.fired for o in group)} | "
                     f"{sum(bool(o.violations) for o in group)} |")
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
        done = run_study(home)
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
