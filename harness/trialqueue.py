"""The queue of a study's fixed design: one Optuna trial per (arm, replicate)
key, enqueued and claimed so that no key runs twice to completion.

- ``enqueue`` queues every key not complete, queued or running, under the
  study's queue lock (``harness.queue_lock``): Optuna does not de-duplicate
  enqueues, and reading the taken keys then enqueueing the rest are two steps.
  Re-queueing a dead worker's trial (failed by pid on this host, or by a stale
  heartbeat on an RDB storage) happens under the same lock.
- ``claim`` takes queued trials by moving them WAITING → RUNNING in the
  storage, a transition exactly one worker wins; a claimed copy of a key that
  another trial already holds is failed as a duplicate, not run.
- runs left open for finished trials (a worker killed between telling Optuna
  and closing the run, or a dead worker's) are closed on the next enqueue; a
  dead worker's trial whose run FINISHED (its tell lost with a damaged
  journal's last records) is completed from the run, not run again.

Optuna's storage-level API (trial ids, ``set_trial_state_values``) is used
here and in ``harness.storage``. ``TrialQueue`` is the queue half of
``harness.sweep.Runner``: it expects ``study``, ``options``, ``budget``,
``storage``, ``lock``, ``tracker`` and ``worker`` on the instance, and
``check_design`` (the pre-registration check, in ``Runner``).
"""
from __future__ import annotations

import bisect
import os
import socket
import sys
from pathlib import Path
from typing import Callable, Mapping

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from harness import faultpoints
from harness.storage import MAX_ATTEMPTS_ENV, fail_stale, heartbeats_enabled, max_attempts
from harness.study import Arm, Budget
from harness.tracking import TAG, final_metric_names


class DesignChanged(RuntimeError):
    """An arm's config or the budget's settings differ from those its finished
    trials ran with: resuming would mix two protocols in one verdict."""


# a RUNNING trial completed from its FINISHED run (its tell lost with a journal's last records)
ADOPTED = "completed from its FINISHED MLflow run: the worker died after closing it, its tell was lost"
INTERRUPTED = "interrupted"  # the start of the reason Ctrl-C/SIGTERM gives: an interruption is not an attempt
# a trial's user attribute: cut off before its end (Ctrl-C, SIGTERM, its worker died), so it used no draw of its
# search: the search's next trial repeats that draw (``sweep.search_draw``)
ABANDONED_ATTR = "abandoned"


def abandoned(trial: FrozenTrial) -> bool:
    """Cut off before its end: marked so, or failed with no reason, which only
    Optuna's stale-heartbeat check does (a worker that fails its own trial, or
    a dead worker's, always records one)."""
    return bool(trial.user_attrs.get(ABANDONED_ATTR)) or (trial.state == TrialState.FAIL
                                                          and "fail_reason" not in trial.user_attrs)


def counts_as_attempt(trial: FrozenTrial) -> bool:
    """A failed trial of a key that counts towards quarantine: it ran and failed
    (or its worker died). Not: an interruption, or a queued duplicate failed unrun."""
    reason = trial.user_attrs.get("fail_reason", "")
    return trial.state == TrialState.FAIL and not reason.startswith((INTERRUPTED, "duplicate of trial"))


def trial_key(arm: str, replicate: int) -> str:
    return f"{arm}/r{replicate}"


def stage_of(budget: Budget, replicate: int) -> int:
    """The look (1-based) whose replicates include ``replicate`` first: the stage that queues it."""
    return bisect.bisect_right(budget.schedule, replicate) + 1


def optuna_study_name(study: str, budget: str, suffix: str = "") -> str:
    return f"{study}.{budget}" + (f".{suffix}" if suffix else "")


class TrialQueue:
    """Enqueue, claim and de-duplicate the fixed design's trials (the queue half of ``Runner``)."""

    def design_study(self) -> optuna.Study:
        return optuna.create_study(study_name=optuna_study_name(self.study.name, self.options.budget),
                                   storage=self.storage, load_if_exists=True)

    def enqueue(self, arms: list[Arm], counts: Mapping[str, int] | None = None) -> tuple[optuna.Study, int]:
        """Queue every (arm, replicate) not finished, queued or running, up to
        ``counts[arm]`` replicates (a sequential design's look; default: the
        budget's maximum); return the study and how many keys were already
        finished. Under the study's queue lock: two workers enqueueing at once
        queue each key once."""
        ostudy = self.design_study()
        limit = max_attempts()
        faultpoints.point("enqueue")  # fault injection / barrier: before the lock, so N workers enqueue at once
        with self.lock.hold(ostudy.study_name, "enqueueing"):
            self.check_design(ostudy, arms)
            self.fail_orphans(ostudy)
            self.close_stray_runs(ostudy)
            taken, finished = self.taken_keys(ostudy)
            failures = self.failed_attempts(ostudy)
            self.quarantined = {}
            for arm in arms:
                for replicate in range(arm.replicates(self.budget) if counts is None else counts[arm.name]):
                    key = trial_key(arm.name, replicate)
                    if key in taken:
                        continue
                    if len(failures.get(key, [])) >= limit:
                        self.quarantined[key] = failures[key][-1]
                        continue
                    ostudy.enqueue_trial({}, user_attrs={"key": key, "arm": arm.name, "replicate": replicate,
                                                         "stage": stage_of(self.budget, replicate)})
        for key, reason in self.quarantined.items():
            print(f"harness: {key} failed {len(failures[key])} times (last: {reason}); quarantined, not queued "
                  f"again. Fix the cause, then retry it with {MAX_ATTEMPTS_ENV}={limit + 1}.", file=sys.stderr)
        return ostudy, finished

    def failed_attempts(self, ostudy: optuna.Study) -> dict[str, list[str]]:
        """Per key, the reasons of its failed attempts in order (``counts_as_attempt``)."""
        failures: dict[str, list[str]] = {}
        for t in sorted(ostudy.get_trials(deepcopy=False, states=(TrialState.FAIL,)), key=lambda t: t.number):
            key = t.user_attrs.get("key")
            if key and counts_as_attempt(t):
                failures.setdefault(key, []).append(t.user_attrs.get("fail_reason", "no reason recorded"))
        return failures

    def taken_keys(self, ostudy: optuna.Study) -> tuple[set[str], int]:
        """Keys complete, queued or running (not to be queued again), and how many are complete."""
        taken: set[str] = set()
        complete: set[str] = set()
        for t in ostudy.get_trials(deepcopy=False):
            key = t.user_attrs.get("key")
            if key and t.state in (TrialState.COMPLETE, TrialState.WAITING, TrialState.RUNNING):
                taken.add(key)
                if t.state == TrialState.COMPLETE:
                    complete.add(key)
        return taken, len(complete)

    def fail_orphans(self, ostudy: optuna.Study) -> None:
        """RUNNING trials whose worker process on this host is gone (SIGKILL,
        power loss) are marked FAILED so that the next enqueue re-queues them;
        on an RDB storage, so are trials of any host whose heartbeat went stale
        (and Optuna queues those again at once). Their MLflow runs, if still
        open, end KILLED with the reason. Under the study's queue lock."""
        with self.lock.hold(ostudy.study_name, "re-queueing dead workers' trials"):
            self._close_runs(fail_stale(ostudy, self.storage), "its heartbeat went stale (worker gone)")
            for t in ostudy.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                owner = t.user_attrs.get("worker")
                if owner is None:
                    # claims move a trial to RUNNING and name the worker under this same lock: a RUNNING
                    # trial with no worker seen here lost its claimer between the two steps
                    reason = "its worker died while claiming it (no worker recorded)"
                elif not worker_gone(owner):
                    continue
                else:
                    reason = f"worker {owner} died"
                if self._adopt_finished_run(t):
                    continue
                try:
                    self.storage.set_trial_user_attr(t._trial_id, "fail_reason", reason)
                    self.storage.set_trial_user_attr(t._trial_id, ABANDONED_ATTR, True)
                    self.storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
                except UpdateFinishedTrialError:  # another worker got there first
                    continue
                self._close_runs([t], reason)

    def _adopt_finished_run(self, trial: FrozenTrial) -> bool:
        """Complete a dead worker's RUNNING replicate trial from its recorded
        MLflow run when that run FINISHED with its results. The sweep tells
        Optuna before it closes a run, so this state means the tell was lost,
        not the work: a journal cut short and repaired (``harness
        repair-journal``) drops its last records. Re-running the key would
        leave it two FINISHED runs. The trial gets what ``Runner._tell``
        records (``metric.*``, its value the first final metric, as ``harness
        rebuild`` does) and says it was adopted. True when it was."""
        run_id = trial.user_attrs.get("mlflow_run_id")
        if not run_id:
            return False
        try:
            run = self.tracker.client.get_run(run_id)
        except Exception:  # the tracking store is down or lost the run: fail and re-run the key, as before
            return False
        names = final_metric_names(run)
        if (run.info.status != "FINISHED" or run.data.tags.get(TAG + "phase") != "replicate" or not names
                or any(n not in run.data.metrics for n in names)):
            return False
        try:
            for name in names:
                self.storage.set_trial_user_attr(trial._trial_id, f"metric.{name}", run.data.metrics[name])
            self.storage.set_trial_user_attr(trial._trial_id, "adopted", ADOPTED)
            self.storage.set_trial_state_values(trial._trial_id, TrialState.COMPLETE,
                                                [run.data.metrics[names[0]]])
        except UpdateFinishedTrialError:  # another worker got there first
            pass
        return True

    def close_stray_runs(self, ostudy: optuna.Study) -> None:
        """Close the MLflow runs left RUNNING for trials that are finished: a
        worker killed (or a tracking store lost) between telling Optuna and
        closing the run. A COMPLETE trial's run holds all its results and ends
        FINISHED; a FAILED trial's ends FAILED with the trial's reason."""
        try:
            open_runs = self.tracker.open_trial_runs(self.study.name, ostudy.study_name)
        except Exception:  # the tracking store is down: the trials are what resume uses
            return
        if not open_runs:
            return
        by_run = {t.user_attrs.get("mlflow_run_id"): t for t in ostudy.get_trials(deepcopy=False)}
        for run_id in open_runs:
            trial = by_run.get(run_id)
            if trial is None or not trial.state.is_finished():
                continue  # its worker may still be on it
            try:
                if trial.state == TrialState.COMPLETE:
                    self.tracker.finish(run_id, "FINISHED")
                else:
                    self.tracker.close_if_running(run_id, "FAILED",
                                                  trial.user_attrs.get("fail_reason", "its trial failed"))
            except Exception:
                return

    def _close_runs(self, trials: list[FrozenTrial], reason: str) -> None:
        """End the still-open MLflow runs of trials failed on a dead worker's behalf."""
        for t in trials:
            run_id = t.user_attrs.get("mlflow_run_id")
            if run_id:
                try:
                    self.tracker.close_if_running(run_id, "KILLED", reason)
                except Exception:  # the tracking store is down: the run stays open, the trial is what resume uses
                    pass

    def claim(self, ostudy: optuna.Study, key_of: Callable[[str], str | None] = lambda arm: None,
              limit: int = 1) -> list[optuna.Trial]:
        """Take queued trials: one, or up to ``limit`` whose arms share an
        ensemble key (``key_of(arm name)``, None: alone). Empty when the queue
        is. The WAITING → RUNNING transition succeeds for exactly one worker
        (and claims are made under the study's queue lock); a claimed trial
        whose key another trial already holds is failed as a duplicate and
        not returned (``drop_duplicates``)."""
        faultpoints.point("claim")  # fault injection / barrier: before the lock, so N workers claim at once
        # Under the queue lock: Optuna's RDB storage makes the transition atomic with SELECT … FOR UPDATE,
        # which SQLite ignores (two workers both "won" one trial there); and a stale trial is failed and
        # re-queued in two steps.
        with self.lock.hold(ostudy.study_name, "claiming"):
            beating = heartbeats_enabled(self.storage)
            if beating:  # dead workers' trials come back as WAITING retries
                self._close_runs(fail_stale(ostudy, self.storage), "its heartbeat went stale (worker gone)")
            while True:
                taken: list[optuna.Trial] = []
                group_key = None
                for t in ostudy.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
                    key = key_of(t.user_attrs["arm"])
                    if taken and (key is None or key != group_key):
                        continue
                    if self.storage.set_trial_state_values(t._trial_id, TrialState.RUNNING):
                        # the first beat comes with the claim: Optuna never counts a trial without a heartbeat
                        # as stale, so a worker dying before its Heartbeat starts would strand the key
                        if beating:
                            self.storage.record_heartbeat(t._trial_id)
                        trial = optuna.Trial(ostudy, t._trial_id)
                        trial.set_user_attr("worker", self.worker)
                        taken.append(trial)
                        group_key = key
                        if key is None or len(taken) >= limit:
                            break
                kept = self.drop_duplicates(ostudy, taken)
                if kept or not taken:  # all duplicates: look again, the queue may hold more
                    return kept

    def drop_duplicates(self, ostudy: optuna.Study, claimed: list[optuna.Trial]) -> list[optuna.Trial]:
        """Fail each claimed trial whose key another trial holds: a COMPLETE
        one, or a RUNNING one claimed before it (earlier start, then lower
        number; both workers read the same stored values, so they agree which
        copy runs). The failed copy gets ``fail_reason`` "duplicate of trial N"
        and ``duplicate_of`` N, and no MLflow run: it counts as no result."""
        if not claimed:
            return claimed
        holders: dict[str, list[FrozenTrial]] = {}
        for t in ostudy.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING)):
            holders.setdefault(t.user_attrs.get("key"), []).append(t)
        by_id = {t._trial_id: t for group in holders.values() for t in group}
        kept = []
        for trial in claimed:
            mine = by_id.get(trial._trial_id) or self.storage.get_trial(trial._trial_id)
            others = [t for t in holders.get(mine.user_attrs.get("key"), []) if t._trial_id != trial._trial_id]
            complete = [t.number for t in others if t.state == TrialState.COMPLETE]
            earlier = [t.number for t in others
                       if t.state == TrialState.RUNNING and _claim_order(t) < _claim_order(mine)]
            original = min(complete) if complete else min(earlier, default=None)
            if original is None:
                kept.append(trial)
                continue
            try:
                self.storage.set_trial_user_attr(trial._trial_id, "fail_reason", f"duplicate of trial {original}")
                self.storage.set_trial_user_attr(trial._trial_id, "duplicate_of", original)
                self.storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
            except UpdateFinishedTrialError:
                pass
        return kept


def _claim_order(trial: FrozenTrial) -> tuple:
    """Which of two claimed copies of a key came first: earlier start, then lower number."""
    start = trial.datetime_start.timestamp() if trial.datetime_start else float("inf")
    return (start, trial.number)


def worker_id() -> str:
    """This process as a queue worker: host, pid, pid namespace and the process's
    start time. Containers can share a hostname and reuse pids; a pid is only
    judged from inside its own pid namespace, and a reused pid has another
    start time."""
    return f"{socket.gethostname()}:{os.getpid()}:{_pid_namespace()}:{_start_time(os.getpid())}"


def worker_gone(owner: str) -> bool:
    """Whether the worker that wrote ``owner`` (``worker_id``) is certainly gone:
    same host and pid namespace as this process, and its pid is dead or now
    belongs to a process started at another time. Elsewhere: not ours to judge
    (on PostgreSQL, heartbeats decide)."""
    host, _, rest = owner.partition(":")
    pid, _, rest = rest.partition(":")
    namespace, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if namespace and namespace != _pid_namespace():
        return False
    if not _pid_alive(int(pid)):
        return True
    return bool(started) and started != _start_time(int(pid))


def _pid_namespace() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:  # not Linux: the hostname alone, as before
        return ""


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), "" elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]  # field 22; the command name in parentheses may hold spaces


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
