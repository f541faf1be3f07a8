"""Several workers on one study, driven deterministically on real stores (an
Optuna journal or SQLite RDB storage, an MLflow SQLite store) in a temporary
home: enqueueing under the queue lock, duplicates failed at claim time, the
tuning phase run once, and a trial failed as stale by another worker."""
from __future__ import annotations

import dataclasses
import threading
import time
import warnings

import optuna
import pytest
from optuna.trial import TrialState

from harness import paths
from harness.run import RunRequest, run_study
from harness.storage import open_storage
from harness.discovery import get_study
from harness.sweep import STALE_REASON, Runner, SweepOptions
from harness.tracking import Tracker, default_tracking_uri

pytestmark = pytest.mark.slow  # several workers on real storages: in `make test`, not `make check`

DESIGN = ["narrow/r0", "narrow/r1", "wide/r0", "wide/r1"]


def tracker() -> Tracker:
    return Tracker(default_tracking_uri(paths.home()))


def make_runner(study=None, budget="smoke", storage=None, cls=Runner, parent=None) -> Runner:
    study = study or get_study("tiny")
    t = tracker()
    parent = parent or t.parent_run(study.name, budget, {})
    return cls(study, SweepOptions(budget, storage, show_progress=False), t, parent)


def storage_url(kind: str, home) -> str | None:
    return None if kind == "journal" else f"sqlite:///{home}/optuna.db"


def trials_of(storage: str | None, name: str = "tiny.smoke"):
    return optuna.load_study(study_name=name, storage=open_storage(storage)).get_trials(deepcopy=False)


def in_threads(*calls):
    """Run the calls at once (behind a barrier), each in its own thread; their results, re-raising any error."""
    start = threading.Barrier(len(calls))
    results: list = [None] * len(calls)
    errors: list = []

    def go(i, call):
        start.wait()
        try:
            results[i] = call()
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    if errors:
        raise errors[0]
    return results


# -- 1. enqueue race -----------------------------------------------------------------------------
class SlowReader(Runner):
    """Waits (up to 3 s) between reading the taken keys and enqueueing the rest
    for the other runner to read them too: without a lock, both read an empty
    queue and both enqueue the whole design."""

    rendezvous: threading.Barrier

    def taken_keys(self, ostudy):
        found = super().taken_keys(ostudy)
        try:
            self.rendezvous.wait(timeout=3)
        except threading.BrokenBarrierError:
            pass  # the other runner is held at the lock: the interleaving cannot happen
        return found


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_two_workers_enqueueing_at_once_queue_each_key_once(home, kind):
    storage = storage_url(kind, home)
    parent = tracker().parent_run("tiny", "smoke", {})
    rendezvous = threading.Barrier(2)
    runners = [make_runner(storage=storage, cls=SlowReader, parent=parent) for _ in range(2)]
    for r in runners:
        r.rendezvous = rendezvous
    arms = get_study("tiny").design("smoke")
    in_threads(*[lambda r=r: r.enqueue(arms) for r in runners])
    trials = trials_of(storage)
    assert sorted(t.user_attrs["key"] for t in trials) == DESIGN  # one queued trial per key, not two
    assert all(t.state == TrialState.WAITING for t in trials)
    # and both working the queue at once run each key once
    ostudy = runners[0].design_study()
    outcomes = in_threads(*[lambda r=r: r.work(ostudy, arms, {}) for r in runners])
    assert sum(o.completed for o in outcomes) == 4 and sum(o.failed for o in outcomes) == 0
    runs = tracker().runs("tiny", "smoke")
    assert len(runs) == 4 and runs.groupby(["arm", "replicate"]).size().max() == 1


def test_a_duplicate_queued_by_hand_is_failed_at_claim_time_not_run(home):
    run_study(RunRequest("tiny", "smoke", progress=False))
    storage = open_storage(None)
    study = optuna.load_study(study_name="tiny.smoke", storage=storage)
    original = {t.user_attrs["key"]: t.number for t in study.get_trials()}
    study.enqueue_trial({}, user_attrs={"key": "wide/r0", "arm": "wide", "replicate": 0})  # of a COMPLETE key
    run_study(RunRequest("tiny", "smoke", progress=False))
    trials = trials_of(None)
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert len(failed) == 1 and failed[0].user_attrs["fail_reason"] == f"duplicate of trial {original['wide/r0']}"
    assert failed[0].user_attrs["duplicate_of"] == original["wide/r0"]
    assert len(tracker().runs("tiny", "smoke")) == 4  # it never ran: no MLflow run, no result

    # two queued copies of one key: the first claimed runs, the second is failed unrun
    runner = make_runner(budget="full")
    ostudy, _ = runner.enqueue(get_study("tiny").design("full"))
    ostudy.enqueue_trial({}, user_attrs={"key": "narrow/r1", "arm": "narrow", "replicate": 1})
    outcome = runner.work(ostudy, get_study("tiny").design("full"), {})
    assert (outcome.completed, outcome.failed) == (8, 0)
    trials = trials_of(None, "tiny.full")
    complete = sorted(t.user_attrs["key"] for t in trials if t.state == TrialState.COMPLETE)
    assert len(complete) == len(set(complete)) == 8
    assert [t.user_attrs["fail_reason"] for t in trials if t.state == TrialState.FAIL] == ["duplicate of trial 1"]
    runs = tracker().runs("tiny", "full")
    assert len(runs) == 8


def test_a_queued_trial_of_a_renamed_arm_is_failed_with_the_reason_not_left_running(home, capsys):
    runner = make_runner()
    arms = get_study("tiny").design("smoke")
    ostudy, _ = runner.enqueue(arms)
    ostudy.enqueue_trial({}, user_attrs={"key": "old-arm/r0", "arm": "old-arm", "replicate": 0})
    outcome = runner.work(ostudy, arms, {})
    assert (outcome.completed, outcome.failed) == (4, 0)
    [old] = [t for t in trials_of(None) if t.user_attrs["key"] == "old-arm/r0"]
    assert (old.state == TrialState.FAIL
            and "arm 'old-arm' is not in the study's design" in old.user_attrs["fail_reason"])
    assert "failed, not run" in capsys.readouterr().err


def test_of_two_claimed_copies_of_a_key_the_later_claim_is_dropped(home):
    """Two workers each claimed a copy of one key (enqueued twice before the
    lock existed): the one claimed second sees the first RUNNING and is failed."""
    first, second = make_runner(), make_runner()
    ostudy = first.design_study()
    for _ in range(2):
        ostudy.enqueue_trial({}, user_attrs={"key": "wide/r0", "arm": "wide", "replicate": 0})
    mine = first.claim(ostudy)
    assert [t.number for t in mine] == [0]
    assert second.claim(second.design_study()) == []  # it claimed trial 1, found it a duplicate, and the queue empty
    states = {t.number: (t.state, t.user_attrs.get("fail_reason")) for t in trials_of(None)}
    assert states == {0: (TrialState.RUNNING, None), 1: (TrialState.FAIL, "duplicate of trial 0")}


# -- 2. the tuning phase runs once -------------------------------------------------------------------
def test_workers_tune_once_and_all_adopt_the_recorded_values(home):
    base = get_study("tiny")
    inside, peak, guard = [0], [0], threading.Lock()

    def run_trial(ctx):
        if ctx.tuning:
            with guard:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            time.sleep(0.5)  # long enough for a second tuner to overlap, if one could
            with guard:
                inside[0] -= 1
        return base.run_trial(ctx)

    study = dataclasses.replace(base, run_trial=run_trial)
    parent = tracker().parent_run("tiny", "quick", {})
    runners = [make_runner(study, "quick", parent=parent) for _ in range(2)]
    arms = study.design("quick")
    first, second = in_threads(*[lambda r=r: r.tune(arms) for r in runners])
    assert peak[0] == 1  # never two tuning trials at once: the second worker waited
    assert first == second and set(first) == {"wide"}
    tuning = optuna.load_study(study_name="tiny.quick.tune.wide", storage=open_storage(None))
    assert len(tuning.get_trials()) == 2 and all(t.state == TrialState.COMPLETE for t in tuning.get_trials())
    assert tuning.user_attrs["tuned"]["hyperparams"] == first["wide"]
    params = tracker().client.get_run(parent).data.params
    assert float(params["tuned.wide.lr"]) == pytest.approx(first["wide"]["lr"])
    # a later worker reads the record: no trial runs, the same values come back
    assert make_runner(study, "quick", parent=parent).tune(arms) == first
    assert len(tuning.get_trials()) == 2


# -- 3. a trial failed as stale by another worker ---------------------------------------------------
def test_a_trial_failed_as_stale_meanwhile_ends_killed_and_its_retry_runs(home, capsys):
    """While wide/r0 trains, another worker finds its heartbeat stale (forged
    here by back-dating it), fails it and queues a retry. Its own worker then
    reports it as such and ends its run KILLED; it is not taken for a tracking
    store failure, and the retry completes the key."""
    from sqlalchemy import text

    storage = storage_url("sqlite", home)
    base = get_study("tiny")
    injected = []

    def run_trial(ctx):
        result = base.run_trial(ctx)
        if (ctx.arm.name, ctx.replicate) == ("wide", 0) and not injected:
            injected.append(True)
            other = open_storage(storage)  # another worker's view of the storage
            study = optuna.load_study(study_name="tiny.smoke", storage=other)
            [mine] = [t for t in study.get_trials(states=(TrialState.RUNNING,)) if t.user_attrs["key"] == "wide/r0"]
            with other.engine.begin() as connection:
                connection.execute(text("UPDATE trial_heartbeats SET heartbeat = '2000-01-01 00:00:00.000000' "
                                        "WHERE trial_id = :id"), {"id": mine._trial_id})
            with warnings.catch_warnings():  # Optuna marks it experimental
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(study)
        return result

    study = dataclasses.replace(base, run_trial=run_trial)
    runner = make_runner(study, storage=storage)
    arms = study.design("smoke")
    ostudy, _ = runner.enqueue(arms)
    outcome = runner.work(ostudy, arms, {})  # old code:
                                             # TrackingLost("tracking store … failed: UpdateFinishedTrialError")
    assert injected and (outcome.completed, outcome.failed) == (4, 1)
    assert "failed as stale by another worker" in capsys.readouterr().err
    trials = trials_of(storage)
    assert sorted(t.user_attrs["key"] for t in trials if t.state == TrialState.COMPLETE) == DESIGN
    stale = [t for t in trials if t.state == TrialState.FAIL]
    assert [t.user_attrs["key"] for t in stale] == ["wide/r0"]
    runs = tracker().runs("tiny", "smoke")
    assert len(runs) == 5 and "RUNNING" not in set(runs["status"])
    killed = runs[runs["status"] == "KILLED"]
    assert list(killed["run_id"]) == [stale[0].user_attrs["mlflow_run_id"]]
    assert killed["tags.harness.fail_reason"].iloc[0] == STALE_REASON
    finished = runs[runs["status"] == "FINISHED"]
    assert finished.groupby(["arm", "replicate"]).size().max() == 1 and len(finished) == 4


def test_runs_left_open_for_finished_trials_are_closed_on_resume(home):
    """A worker killed between telling Optuna and closing the run leaves a
    RUNNING run for a finished trial; the next enqueue closes it."""
    from harness.tracking import TAG

    run_study(RunRequest("tiny", "smoke", progress=False))
    t = tracker()
    complete = {x.user_attrs["key"]: x for x in trials_of(None)}["wide/r0"]
    complete_run = complete.user_attrs["mlflow_run_id"]
    t.client.update_run(complete_run, status="RUNNING")
    # a failed trial whose run is still open
    storage = open_storage(None)
    study = optuna.load_study(study_name="tiny.smoke", storage=storage)
    study.enqueue_trial({}, user_attrs={"key": "wide/r0", "arm": "wide", "replicate": 0})
    [waiting] = study.get_trials(states=(TrialState.WAITING,))
    storage.set_trial_state_values(waiting._trial_id, TrialState.RUNNING)
    failed_run = t.start_child("tiny", t.find_parent("tiny", "smoke"), "wide r0",
                               {TAG + "role": "trial", "optuna.study": "tiny.smoke"})
    storage.set_trial_user_attr(waiting._trial_id, "mlflow_run_id", failed_run)
    storage.set_trial_user_attr(waiting._trial_id, "fail_reason", "RuntimeError: boom")
    storage.set_trial_state_values(waiting._trial_id, TrialState.FAIL)
    make_runner().enqueue(get_study("tiny").design("smoke"))
    assert t.client.get_run(complete_run).info.status == "FINISHED"
    run = t.client.get_run(failed_run)
    assert run.info.status == "FAILED" and run.data.tags[TAG + "fail_reason"] == "RuntimeError: boom"


def test_a_dead_workers_trial_whose_run_finished_is_completed_from_the_run_not_run_again(home):
    """A journal cut short and repaired can lose a trial's tell while its MLflow
    run (closed after the tell) FINISHED with the results: the next enqueue
    completes the trial from the run instead of running the key a second time."""
    import json
    import subprocess
    import sys

    from optuna.storages.journal._storage import JournalOperation

    from harness.tracking import TAG
    from harness.trialqueue import ADOPTED, worker_id

    run_study(RunRequest("tiny", "smoke", progress=False))
    journal = paths.home() / ".harness" / "optuna.journal"
    lines = journal.read_bytes().splitlines(keepends=True)
    records = [json.loads(line) for line in lines]
    told = max(i for i, r in enumerate(records)
               if r["op_code"] == JournalOperation.SET_TRIAL_STATE_VALUES and r["state"] == TrialState.COMPLETE)
    journal.write_bytes(b"".join(lines[:told]))  # the last tell is lost (a record boundary: nothing to repair)
    [lost] = [t for t in trials_of(None) if t.state == TrialState.RUNNING]
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host, _, rest = worker_id().partition(":")
    storage = open_storage(None)
    storage.set_trial_user_attr(lost._trial_id, "worker", f"{host}:{dead.pid}:{rest.partition(':')[2]}")
    t = tracker()
    run = t.client.get_run(lost.user_attrs["mlflow_run_id"])
    assert run.info.status == "FINISHED"

    run_study(RunRequest("tiny", "smoke", progress=False))  # the resume
    after = trials_of(None)
    adopted = next(x for x in after if x.number == lost.number)
    assert adopted.state == TrialState.COMPLETE and adopted.user_attrs["adopted"] == ADOPTED
    assert adopted.value == run.data.metrics[run.data.tags[TAG + "final_metrics"].split(",")[0]]
    assert sorted(x.user_attrs["key"] for x in after if x.state == TrialState.COMPLETE) == \
        ["narrow/r0", "narrow/r1", "wide/r0", "wide/r1"]
    assert len(after) == 4  # nothing queued again
    finished = [r for r in t.client.search_runs([run.info.experiment_id], f"tags.`{TAG}role` = 'trial'")
                if r.info.status == "FINISHED"]
    assert len(finished) == 4
