"""Optuna drives the studies: a fixed design of (arm, replicate) trials, and
an optional TPE tuning phase per arm before it.

The fixed design is enqueued with a stable key per trial ("deep-ae-30/r2").
Workers claim queued trials atomically through the storage (a WAITING → RUNNING
transition only one process can win), so a resumed or parallel run never runs
a key twice: keys already COMPLETE, queued or running are not enqueued again;
failed ones are, and so are trials whose worker process died. Each trial gets
one MLflow child run (see ``harness.tracking``); the trial stores its run id
and the run stores the trial number.

Enqueueing, re-queueing dead workers' trials and the tuning phase run under
one exclusive lock per study (``harness.queue_lock``), and a claimed trial
whose key already has a finished or earlier-claimed copy is failed as a
duplicate instead of run. Optuna is told a trial's outcome before its MLflow
run is closed; a trial another worker failed as stale meanwhile is reported
as such and its run ends KILLED.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState
from tqdm.auto import tqdm

from harness import faultpoints, paths, provenance
from harness.context import SettingsReads, TrialContext
from harness.queue_lock import QueueLock
from harness.redact import redact
from harness.seeding import stable_int, trial_seeds
# HEARTBEAT_ENV, StorageError, open_storage, DesignChanged, trial_key lived here: re-exported for their callers
from harness.storage import (HEARTBEAT_ENV, Heartbeat, StorageError, open_storage, resolve_storage,  # noqa: F401
                             root_cause)
from harness.design import REPORT_BUDGET
from harness.study import Arm, Study
from harness.tracking import FINAL_METRICS, TAG, Tracker, trial_tags
from harness.trialqueue import (ABANDONED_ATTR, DesignChanged, TrialQueue, abandoned,  # noqa: F401
                               optuna_study_name, stage_of, trial_key, worker_id)

TUNING_REPLICATE_OFFSET = 1_000_000  # tuning seeds never coincide with a replicate's
TUNED_ATTR = "tuned"  # a tuning study's user attribute: the hyperparameters every worker adopts
STALE_REASON = "failed as stale by another worker (no heartbeat within the grace period)"


def search_draw(ostudy: optuna.Study) -> int:
    """The index of a search's next draw: its trials so far, less those
    ``abandoned`` (cut off before their end). A trial that failed on its own
    (an exception, a NaN) used its draw, as it would in an uninterrupted
    search; an abandoned one did not, so the next trial repeats its draw.
    Uninterrupted, draw k is trial k."""
    return sum(1 for t in ostudy.get_trials(deepcopy=False) if not abandoned(t))


def draw_sampler(study: str, arm: Arm, draw: int) -> optuna.samplers.BaseSampler:
    """A search's sampler for one draw (TPE, or random where the arm says so),
    seeded by the study, the arm and the draw's index. Each draw gets its own
    seed rather than one sampler's stream, which a new process would restart
    from its first value (a resumed search then drew its opening
    configurations again); TPE keeps no other state between draws: it reads
    the history from the study."""
    seed = stable_int(f"{study}/{arm.name}/draw{draw}") % 2**32
    if arm.config.get("sampler") == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)
optuna.logging.set_verbosity(optuna.logging.WARNING)


class TuningFailed(RuntimeError):
    """Every tuning trial of an arm failed; the message lists the reasons."""


class TrackingLost(RuntimeError):
    """The tracking store stopped answering mid-study: the trials in flight
    failed with that reason, finished ones are kept, the sweep stops."""


@dataclass
class SweepOptions:
    budget: str = REPORT_BUDGET
    storage: str | None = None
    tracking_uri: str | None = None
    threads: int = 1
    device: str = "cpu"
    show_progress: bool = True
    ensemble: int | None = None  # most trials trained as one model; None: the study's own limit, 1: never batch


@dataclass
class SweepOutcome:
    completed: int = 0  # trials that ran and finished in this invocation
    failed: int = 0     # trials that ran and failed in this invocation
    skipped: int = 0    # trials already finished before this invocation


class Runner(TrialQueue):
    """Runs one study's trials against one storage and one tracking store
    (the queue: ``harness.trialqueue.TrialQueue``)."""

    def __init__(self, study: Study, options: SweepOptions, tracker: Tracker, parent_run: str):
        self.study = study
        self.options = options
        self.budget = study.budget(options.budget)
        self.tracker = tracker
        self.parent_run = parent_run
        self.storage_url = resolve_storage(options.storage)
        self.storage = open_storage(self.storage_url)
        self.lock = QueueLock(self.storage_url, self.storage)
        self.environment = {**provenance.environment(options.device, options.threads),
                            "study_source": provenance.study_source_hash(study)}
        self.worker = worker_id()
        self.trial_source = provenance.trial_source_hash(study)  # read once: every arm's fingerprint holds it
        self._reads: dict[str, set[str]] = {}  # per arm: the settings its finished replicates read
        self.quarantined: dict[str, str] = {}  # key -> its last failure, left out of the queue by enqueue

    # -- the fixed design (enqueue and claim: TrialQueue) ----------------------
    def fingerprint(self, arm: Arm) -> str:
        """What an arm's trials depend on besides the settings: its config, seed
        group, the root seed, the tuning budget when the arm is tuned, and the
        code that runs trials (pre-registration: an edited protocol is a new
        design, never resumed into the old one). Settings: ``check_design``."""
        tuned = bool(self.study.tuning) and arm.name in self.study.tuning.arms
        design = {"config": dict(arm.config), "seed_group": arm.seed_group, "root_seed": self.study.root_seed,
                  "tuning_trials": arm.tuning_trials(self.budget) if tuned else None,
                  "trial_source": self.trial_source}
        if self.budget.sequential:  # the looks decide which runs a verdict reads (a fixed design's print is unchanged)
            design["looks"] = list(self.budget.schedule)
        return hashlib.sha256(json.dumps(design, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def settings_now(self) -> dict[str, str]:
        return {k: json.dumps(v, sort_keys=True, default=str) for k, v in self.budget.values.items()}

    def check_design(self, ostudy: optuna.Study, arms: list[Arm]) -> None:
        """Record each arm's fingerprint and the budget's settings on first use;
        refuse to resume an arm whose fingerprint changed, or one of the settings
        its trials read (``SettingsReads``; all of them until a trial finished).
        New arms and new settings are welcome: that is how a claim is added."""
        recorded = ostudy.user_attrs
        now = self.settings_now()
        changed = []
        fingerprints = {arm.name: self.fingerprint(arm) for arm in arms}
        for arm in arms:
            if recorded.get(f"design:{arm.name}", fingerprints[arm.name]) != fingerprints[arm.name]:
                changed.append(f"{arm.name} (its config, seed group, root seed, tuning budget, looks or trial code)")
                continue
            then = recorded.get(f"settings:{arm.name}")
            if then is None:
                continue
            read = recorded.get(f"reads:{arm.name}") or sorted(set(then) | set(now))
            moved = [k for k in read if then.get(k) != now.get(k)]
            if moved:
                changed.append(f"{arm.name} (settings {', '.join(moved)})")
        if changed:
            raise DesignChanged(
                f"study {self.study.name!r} at budget {self.options.budget!r}: the design of {'; '.join(changed)} "
                "changed since its trials ran; resuming would mix two protocols. Start afresh with `make clean` "
                "(or a new --storage and --tracking-uri), or restore the old design.")
        for arm in arms:
            if f"design:{arm.name}" not in recorded:
                ostudy.set_user_attr(f"design:{arm.name}", fingerprints[arm.name])
                ostudy.set_user_attr(f"settings:{arm.name}", now)

    def record_reads(self, ostudy: optuna.Study, ctx: TrialContext) -> None:
        """Add the settings a finished replicate read to its arm's record (one
        storage write when the set grows, none otherwise)."""
        read = getattr(ctx.budget, "read", None)
        if read is None or ctx.phase != "replicate":
            return
        known = self._reads.get(ctx.arm.name)
        if known is None:
            known = set(ostudy.user_attrs.get(f"reads:{ctx.arm.name}") or ())
        if not read <= known:
            known = known | read
            ostudy.set_user_attr(f"reads:{ctx.arm.name}", sorted(known))
        self._reads[ctx.arm.name] = known

    def work(self, ostudy: optuna.Study, arms: list[Arm], tuned: Mapping[str, dict],
             on_done: Callable[[bool], None] | None = None) -> SweepOutcome:
        """Claim and run queued trials of ``ostudy`` (see ``enqueue``) until
        none is left; same-shaped trials train as one ensemble when the study
        declares how (``Study.ensemble``) and ``options.ensemble`` allows more than one."""
        by_name = {a.name: a for a in arms}
        ensemble = self.study.ensemble
        limit = min(ensemble.max_members, self.options.ensemble or ensemble.max_members) if ensemble else 1
        keys = {a.name: ensemble.key({**a.config, **tuned.get(a.name, {})}, self.budget) if ensemble else None
                for a in arms}
        outcome = SweepOutcome()
        while trials := self.claim(ostudy, keys.get, limit):
            trials = self.drop_unknown_arms(ostudy, trials, by_name)
            faultpoints.point("claimed")
            if not trials:
                continue
            members = [(t, by_name[t.user_attrs["arm"]], int(t.user_attrs["replicate"])) for t in trials]
            if len(members) == 1:
                trial, arm, replicate = members[0]
                results = [self.execute(ostudy, trial, arm, replicate, "replicate", tuned.get(arm.name, {}))]
            else:
                results = self.execute_group(ostudy, members, tuned)
            for ok in results:
                outcome.completed += ok
                outcome.failed += not ok
                if on_done:
                    on_done(ok)
        return outcome

    def drop_unknown_arms(self, ostudy: optuna.Study, trials: list, by_name: Mapping[str, Arm]) -> list:
        """A claimed trial of an arm the design no longer has (queued before a
        rename, say) is failed with that reason instead of stopping the worker
        and staying RUNNING; the rest go on."""
        kept = []
        for trial in trials:
            arm = trial.user_attrs.get("arm")
            if arm in by_name:
                kept.append(trial)
                continue
            reason = (f"arm {arm!r} is not in the study's design at this budget "
                      "(queued before it was renamed or removed)")
            print(f"harness: trial {trial.number}: {reason}; failed, not run", file=sys.stderr)
            self.storage.set_trial_user_attr(trial._trial_id, "fail_reason", reason)
            self.storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        return kept

    # -- the tuning phase ---------------------------------------------------
    def tune(self, arms: list[Arm]) -> dict[str, dict]:
        """A search per tuned arm (TPE, or random where the arm says so),
        resumable: runs until ``tuning_trials`` are complete. Once: the first
        worker searches under the study's queue lock and records the best
        hyperparameters on the tuning study (user attribute ``tuned``); the
        others wait for the lock and adopt the recorded ones, so every worker
        trains with the same values and logs the same ``tuned.*`` params."""
        tuning = self.study.tuning
        if tuning is None or self.budget.tuning_trials == 0:
            return {}
        best: dict[str, dict] = {}
        with self.lock.hold(optuna_study_name(self.study.name, self.options.budget), "tuning"):
            for arm in (a for a in arms if a.name in tuning.arms):
                ostudy = optuna.create_study(
                    study_name=optuna_study_name(self.study.name, self.options.budget, f"tune.{arm.name}"),
                    storage=self.storage, load_if_exists=True, direction=tuning.direction,
                    sampler=draw_sampler(self.study.name, arm, 0))  # replaced before every draw
                recorded = ostudy.user_attrs.get(TUNED_ATTR)
                if recorded is None:
                    recorded = self._search(ostudy, arm)
                    ostudy.set_user_attr(TUNED_ATTR, recorded)
                best[arm.name] = dict(recorded["hyperparams"])
                self.tracker.log_params(self.parent_run,
                                        {f"tuned.{arm.name}.{k}": v for k, v in best[arm.name].items()})
        return best

    def _search(self, ostudy: optuna.Study, arm: Arm) -> dict[str, Any]:
        """Run an arm's search to its ``tuning_trials`` complete trials; its result
        as recorded: the best trial's hyperparameters and number."""
        tuning = self.study.tuning
        self.fail_orphans(ostudy)
        wanted = arm.tuning_trials(self.budget)
        done = len(ostudy.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
        bar = tqdm(total=wanted, initial=done, desc=f"tuning {arm.name}", unit="trial",
                   disable=not self.options.show_progress, dynamic_ncols=True)
        attempts = 0  # failures are re-tried, but a search space that always fails must not loop forever
        while (len(ostudy.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) < wanted
               and attempts < 2 * wanted + 2):
            attempts += 1
            # the draw's own sampler and seeds: a resumed search repeats a draw cut off by an interruption instead
            # of going on from a fresh sampler's first draw, which would repeat the search's opening configurations
            draw = search_draw(ostudy)
            ostudy.sampler = draw_sampler(self.study.name, arm, draw)
            with warnings.catch_warnings():  # our Heartbeat does for asked trials what optimize() would
                warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
                trial = ostudy.ask()
            trial.set_user_attr("worker", self.worker)
            trial.set_user_attr("draw", draw)
            hyperparams = tuning.space_for(arm.name)(trial)
            trial.set_user_attr("hyperparams", hyperparams)
            bar.update(self.execute(ostudy, trial, arm, TUNING_REPLICATE_OFFSET + draw, "tune", hyperparams))
        bar.close()
        if not ostudy.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            reasons = {t.user_attrs.get("fail_reason", "?") for t in ostudy.get_trials(deepcopy=False)}
            raise TuningFailed(f"every tuning trial of arm {arm.name!r} failed: {'; '.join(sorted(reasons))}")
        return {"hyperparams": ostudy.best_trial.user_attrs["hyperparams"], "trial": ostudy.best_trial.number}

    # -- one trial, or one ensemble of trials ---------------------------------------
    def execute(self, ostudy: optuna.Study, trial: optuna.Trial, arm: Arm, replicate: int, phase: str,
                hyperparams: Mapping[str, Any]) -> bool:
        """Run one trial with its MLflow child run; True when it finished.

        An exception or a non-finite metric fails the trial with the reason
        recorded on both sides; Ctrl-C fails it too and then stops the sweep,
        so finished trials stay finished and this one is re-run on resume.
        """
        with Heartbeat(self.storage, [trial._trial_id]):
            pending = self._tracked(ostudy, [trial], lambda: [self._begin(ostudy, trial, arm, replicate, phase,
                                                                          hyperparams, {})])[0]
            try:
                result: Any = self.study.run_trial(pending.ctx)
            except KeyboardInterrupt:
                self._interrupted(ostudy, [pending])
                raise
            except Exception as exc:  # any failure inside a trial fails that trial only
                result = exc
            return self._tracked(ostudy, [trial], lambda: [self._finish(ostudy, pending, result)])[0]

    def execute_group(self, ostudy: optuna.Study, members: list[tuple[optuna.Trial, Arm, int]],
                      tuned: Mapping[str, dict]) -> list[bool]:
        """Run same-shaped trials as one ensemble (``Study.ensemble``). Each
        member keeps its own trial, seeds and MLflow run; a tag names the group."""
        group = f"{members[0][0].number}+{len(members)}"
        tags = {TAG + "ensemble_size": str(len(members)), TAG + "ensemble_group": group}
        trials = [trial for trial, _, _ in members]
        with Heartbeat(self.storage, [t._trial_id for t in trials]):
            pending = self._tracked(ostudy, trials, lambda: [
                self._begin(ostudy, trial, arm, replicate, "replicate", tuned.get(arm.name, {}), tags)
                for trial, arm, replicate in members])
            try:
                results = list(self.study.ensemble.run([p.ctx for p in pending]))
                if len(results) != len(pending):
                    raise RuntimeError(f"the study's ensemble returned {len(results)} results for {len(pending)} "
                                       "trials")
            except KeyboardInterrupt:
                self._interrupted(ostudy, pending)
                raise
            except Exception as exc:  # the group as a whole failed: so does each member, with the reason
                results = [exc] * len(pending)
            return self._tracked(ostudy, trials, lambda: [self._finish(ostudy, p, r)
                                                          for p, r in zip(pending, results)])

    def _tracked(self, ostudy: optuna.Study, trials: list[optuna.Trial], step: Callable[[], list]) -> list:
        """Run a step that writes to the tracking store; if the store fails,
        fail the trials still open with the reason and stop the sweep
        (every later trial would fail the same way). Finished trials stay finished."""
        try:
            return step()
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            # the innermost cause on one line (e.g. "database or disk is full"), not SQLAlchemy's SQL dump
            reason = redact(f"tracking store {self.tracker.uri} failed: {root_cause(exc)[:300]}")
            for trial in trials:
                try:
                    if self.storage.get_trial(trial._trial_id).state == TrialState.RUNNING:
                        self.storage.set_trial_user_attr(trial._trial_id, "fail_reason", reason)
                        ostudy.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
                except UpdateFinishedTrialError:  # failed as stale by another worker meanwhile
                    pass
            raise TrackingLost(f"{reason}. The trial(s) in flight failed and re-run on resume; finished trials "
                               "are kept. Restart the tracking server (or fix the store, e.g. free its disk) and "
                               "run the same command again.") from exc

    def _begin(self, ostudy: optuna.Study, trial: optuna.Trial, arm: Arm, replicate: int, phase: str,
               hyperparams: Mapping[str, Any], extra_tags: Mapping[str, str]) -> "_Pending":
        seeds = trial_seeds(self.study.root_seed, self.study.name, replicate, arm.seed_group)
        label = f"r{replicate}" if phase == "replicate" else f"tune{trial.number}"
        stage = stage_of(self.budget, replicate) if phase == "replicate" else None
        tags = {**trial_tags(self.study.name, arm.name, replicate, phase, self.options.budget,
                             ",".join(c.id for c in self.study.claims), ostudy.study_name, trial.number,
                             self.environment, stage), **extra_tags}
        run_id = self.tracker.start_child(self.study.name, self.parent_run, f"{arm.name} {label}", tags)
        try:
            trial.set_user_attr("mlflow_run_id", run_id)
        except UpdateFinishedTrialError:
            # failed as stale by another worker between our claim and now (this worker was stopped, or
            # starved, past the heartbeat grace): not a tracking failure. The trial still runs and
            # `_finish` finds it finished, closing its run KILLED; the retry queued for its key counts.
            pass
        faultpoints.point("run-created")
        scratch = Path(tempfile.mkdtemp(prefix="trial-", dir=_scratch_root()))
        ctx = TrialContext(study=self.study.name, arm=arm, replicate=replicate, budget_name=self.options.budget,
                           budget=SettingsReads(self.budget), seeds=seeds, device=self.options.device,
                           threads=self.options.threads, artifact_dir=scratch, phase=phase,
                           hyperparams=dict(hyperparams), show_progress=self.options.show_progress)
        self.tracker.log_params(run_id, {**{f"config.{k}": v for k, v in arm.config.items()},
                                         **{f"settings.{k}": v for k, v in self.budget.values.items()},
                                         **{f"hp.{k}": v for k, v in hyperparams.items()},
                                         **seeds.as_params(), "arm": arm.name, "replicate": replicate})
        return _Pending(trial, ctx, run_id, scratch)

    def _finish(self, ostudy: optuna.Study, pending: "_Pending", result: Any) -> bool:
        """Record a trial's outcome (its metrics, or the exception that failed
        it); True when it finished. Order: everything the trial produced goes
        to its run, then Optuna is told, then the run is closed, so a run is
        never FINISHED for a trial Optuna does not hold as COMPLETE. A trial
        another worker failed as stale meanwhile (its retry runs the key again)
        ends with its run KILLED and that reason, not as a tracking failure."""
        trial, ctx = pending.trial, pending.ctx
        status, reason, metrics = _outcome(result, ctx.metrics)
        self._log_outcome(pending.run_id, ctx, metrics, reason)
        faultpoints.point("logged")
        told = self._tell(ostudy, trial, ctx, metrics, reason)
        faultpoints.point("told")
        if not told:
            status, reason = "KILLED", STALE_REASON
            self.tracker.log_tags(pending.run_id, {TAG + "fail_reason": reason})
            print(f"harness: trial {trial.number} ({ctx.arm.name} r{ctx.replicate}) was {reason}; its result is "
                  "discarded and the retry queued for its key runs instead", file=sys.stderr)
        self.tracker.finish(pending.run_id, status)
        faultpoints.point("finished")
        shutil.rmtree(pending.scratch, ignore_errors=True)
        if status == "FINISHED":
            self.record_reads(ostudy, ctx)
        return status == "FINISHED"

    def _tell(self, ostudy: optuna.Study, trial: optuna.Trial, ctx: TrialContext, metrics: Mapping[str, float],
              reason: str) -> bool:
        """Tell Optuna a trial's outcome; False when another worker had already
        failed it as stale (Optuna refuses updates to a finished trial)."""
        try:
            if self.storage.get_trial(trial._trial_id).state != TrialState.RUNNING:
                return False
            if reason:
                trial.set_user_attr("fail_reason", reason)
                ostudy.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
                return True  # failed, whoever failed it
            for key, value in metrics.items():
                trial.set_user_attr(f"metric.{key}", value)
            objective = self.study.tuning.metric if ctx.phase == "tune" else next(iter(metrics), None)
            ostudy.tell(trial, metrics.get(objective, 0.0) if objective else 0.0, skip_if_finished=True)
        except UpdateFinishedTrialError:
            return False
        # skip_if_finished: failed as stale between the check and the tell, it stays failed
        return self.storage.get_trial(trial._trial_id).state == TrialState.COMPLETE

    def _interrupted(self, ostudy: optuna.Study, pending: list["_Pending"]) -> None:
        """Ctrl-C or SIGTERM: the trials FAIL (and are re-queued on resume), then the runs say KILLED."""
        reason = "interrupted (Ctrl-C or SIGTERM)"
        for p in pending:
            try:
                p.trial.set_user_attr("fail_reason", reason)
                p.trial.set_user_attr(ABANDONED_ATTR, True)
                ostudy.tell(p.trial, state=TrialState.FAIL, skip_if_finished=True)
            except UpdateFinishedTrialError:  # failed as stale by another worker meanwhile
                pass
            try:
                self._log_outcome(p.run_id, p.ctx, {}, reason)
                self.tracker.finish(p.run_id, "KILLED")
            except Exception:  # the run stays RUNNING in MLflow; the trial is what resume looks at
                pass
            shutil.rmtree(p.scratch, ignore_errors=True)

    def _log_outcome(self, run_id: str, ctx: TrialContext, final: Mapping[str, float], reason: str) -> None:
        """Everything a trial produced goes to its run, finished or not (the run stays open)."""
        from harness import curves

        # final metrics at the trial's last step, so MLflow's charts end on them instead of jumping back to 0
        last = max((step for _, _, step, _ in ctx.metrics), default=0)
        now = final_metrics_stamp(ctx.metrics)
        digests = sorted({d.digest[:16] for d in ctx.datasets})
        self.tracker.log_batch(run_id, ctx.params, [*ctx.metrics, *((k, v, last, now) for k, v in final.items())],
                               {TAG + "dataset_digest": ",".join(digests),
                                **({TAG + "fail_reason": reason} if reason else {FINAL_METRICS: ",".join(final)})})
        self.tracker.log_datasets(run_id, ctx.datasets)
        if ctx.metrics:
            curves.write_learning_curve(ctx.metrics, ctx.artifact_path("learning_curve.csv"),
                                        f"{ctx.arm.name} r{ctx.replicate}", plot=self.study.curve_plots)
        self.tracker.log_artifacts(run_id, ctx.artifact_dir)


def final_metrics_stamp(curves: list[tuple[str, float, int, int]], now_ms: int | None = None) -> int:
    """The timestamp (ms) a trial's final metrics are logged with: now, but
    strictly after every point of its curves (key, value, step, ms).

    A final metric shares the last step with a curve of the same name where a
    study re-logs a result under a curve's name (the restored best epoch's
    val_loss beside the last epoch's, a median epoch time beside the last). For
    a run's latest value at one step MLflow takes the later timestamp and, on
    equal ones, the larger value: a final metric logged in the same millisecond
    as the last epoch then lost to it whenever it was the smaller, so a report
    read the last epoch's value or the trial's result by the clock. One
    millisecond later, the trial's result is always the run's final value.
    A result that differs from its curve's last point is now refused outright
    (``clashes_with_curves``); the stamp keeps a repeated one in order."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    return max([now, *(ms + 1 for *_, ms in curves)])


def clashes_with_curves(final: Mapping[str, float], curves: list[tuple[str, float, int, int]]) -> list[str]:
    """The final metrics named like a curve of the trial whose last point they
    differ from: logged at the trial's last step, each would become that
    curve's last point.

    Why refused: a curve reader (a convergence check, a figure) would end on the
    trial's result instead of its last evaluation (a best-epoch accuracy read as
    the last one), and where both share a step, which of the two was the run's
    value depended on the clock before ``final_metrics_stamp``. A final metric
    equal to its curve's last point is a repeat, not a clash."""
    last_step: dict[str, int] = {}
    for key, _, step, _ in curves:
        last_step[key] = max(step, last_step.get(key, step))
    ends: dict[str, set[float]] = {}  # each curve's values at its last step (one, unless logged twice there)
    for key, value, step, _ in curves:
        if step == last_step[key]:
            ends.setdefault(key, set()).add(value)
    return sorted(k for k, v in final.items() if k in ends and ends[k] != {v})


def _outcome(result: Any, curves: list[tuple[str, float, int, int]]) -> tuple[str, str, dict[str, float]]:
    """(MLflow status, redacted failure reason or "", final metrics) of what a trial function returned or raised,
    given the curves it logged (key, value, step, ms)."""
    try:
        if isinstance(result, BaseException):
            raise result
        metrics = {k: float(v) for k, v in result.items()}
        bad = sorted(k for k, v in metrics.items() if not math.isfinite(v))
        if bad:
            raise ArithmeticError(f"non-finite final metric(s): {', '.join(bad)}")
        clashes = clashes_with_curves(metrics, curves)
        if clashes:
            raise ValueError(f"final metric(s) {', '.join(clashes)} would end the curve(s) of that name on the "
                             "trial's result instead of the last evaluation: log the curve under its own name "
                             "(e.g. epoch_<name>) or return the result under another")
        return "FINISHED", "", metrics
    except Exception as exc:
        if os.environ.get("HARNESS_DEBUG"):
            traceback.print_exception(exc)
        return "FAILED", redact(f"{type(exc).__name__}: {exc}"), {}


@dataclass
class _Pending:
    """A trial whose run is open and whose result is not yet recorded."""

    trial: optuna.Trial
    ctx: TrialContext
    run_id: str
    scratch: Path


def _scratch_root() -> Path:
    root = paths.state_dir() / "scratch"
    root.mkdir(parents=True, exist_ok=True)
    return root
