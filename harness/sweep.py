"""Optuna drives the studies: a fixed design of (arm, replicate) trials, and
an optional TPE tuning phase per arm before it.

The fixed design is enqueued with a stable key per trial ("deep-ae-30/r2").
Workers claim queued trials atomically through the storage (a WAITING → RUNNING
transition only one process can win), so a resumed or parallel run never runs
a key twice: keys already COMPLETE, queued or running are not enqueued again;
failed ones are, and so are trials whose worker process died. Each trial gets
one MLflow child run (see ``harness.tracking``); the trial stores its run id
and the run stores the trial number.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import socket
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import optuna
from optuna.trial import TrialState
from tqdm.auto import tqdm

from harness import paths, provenance
from harness.context import TrialContext
from harness.seeding import stable_int, trial_seeds
from harness.study import Arm, Study
from harness.tracking import TAG, Tracker

TUNING_REPLICATE_OFFSET = 1_000_000  # tuning seeds never coincide with a replicate's
optuna.logging.set_verbosity(optuna.logging.WARNING)


class TuningFailed(RuntimeError):
    """Every tuning trial of an arm failed; the message lists the reasons."""


class DesignChanged(RuntimeError):
    """An arm's config or the budget's settings differ from those its finished
    trials ran with: resuming would mix two protocols in one verdict."""


class StorageError(RuntimeError):
    """The Optuna storage URL cannot be used; the message says how to fix it."""


class TrackingLost(RuntimeError):
    """The tracking store stopped answering mid-study: the trials in flight
    failed with that reason, finished ones are kept, the sweep stops."""


HEARTBEAT_ENV = "HARNESS_HEARTBEAT_SECONDS"  # RDB storages: seconds between heartbeats (default 30)


def open_storage(url: str | None) -> optuna.storages.BaseStorage:
    """``journal:PATH`` (the default, a JournalFile in the project's state
    folder: safe for several processes on one machine) or an RDB URL such as
    ``postgresql://user@host/db`` for workers on several machines."""
    url = url or paths.default_storage()
    if url.startswith("journal:") or "://" not in url:
        path = Path(url.removeprefix("journal:")).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the storage folder {path.parent}: {exc}") from None
        if not os.access(path.parent, os.W_OK):
            raise StorageError(f"storage folder {path.parent} is not writable; pass --storage journal:/writable/path")
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        return JournalStorage(JournalFileBackend(str(path)))
    if url.split("://", 1)[0].split("+")[0] in ("postgresql", "mysql", "sqlite"):
        # Heartbeats: a worker on another machine that dies leaves its trial RUNNING; once its heartbeat is
        # older than the grace period any worker marks it failed, and the retry callback queues it again
        # (with its key, so the design still runs each key once).
        interval = int(os.environ.get(HEARTBEAT_ENV, "30"))
        try:
            with warnings.catch_warnings():  # Optuna marks heartbeats and the retry callback experimental
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url, heartbeat_interval=interval, grace_period=4 * interval,
                    heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback())
        except Exception as exc:  # SQLAlchemy raises many types; all mean "cannot connect"
            raise StorageError(f"cannot open Optuna storage {url!r}: {exc}") from None
    raise StorageError(f"unsupported storage {url!r}: use journal:/path/to/file or postgresql://user@host/db")


def trial_key(arm: str, replicate: int) -> str:
    return f"{arm}/r{replicate}"


def optuna_study_name(study: str, budget: str, suffix: str = "") -> str:
    return f"{study}.{budget}" + (f".{suffix}" if suffix else "")


@dataclass
class SweepOptions:
    budget: str = "quick"
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


class Runner:
    """Runs one study's trials against one storage and one tracking store."""

    def __init__(self, study: Study, options: SweepOptions, tracker: Tracker, parent_run: str):
        self.study = study
        self.options = options
        self.budget = study.budget(options.budget)
        self.tracker = tracker
        self.parent_run = parent_run
        self.storage = open_storage(options.storage)
        self.environment = {**provenance.environment(options.device, options.threads),
                            "study_source": provenance.study_source_hash(study)}
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    # -- the fixed design -------------------------------------------------
    def design_study(self) -> optuna.Study:
        return optuna.create_study(study_name=optuna_study_name(self.study.name, self.options.budget),
                                   storage=self.storage, load_if_exists=True)

    def enqueue(self, arms: list[Arm]) -> tuple[optuna.Study, int]:
        """Queue every (arm, replicate) not finished, queued or running; return
        the study and how many keys were already finished."""
        ostudy = self.design_study()
        self.check_design(ostudy, arms)
        self.fail_orphans(ostudy)
        taken: set[str] = set()
        finished = 0
        for t in ostudy.get_trials(deepcopy=False):
            key = t.user_attrs.get("key")
            if key and t.state in (TrialState.COMPLETE, TrialState.WAITING, TrialState.RUNNING):
                taken.add(key)
                finished += t.state == TrialState.COMPLETE
        for arm in arms:
            for replicate in range(arm.replicates(self.budget)):
                key = trial_key(arm.name, replicate)
                if key not in taken:
                    ostudy.enqueue_trial({}, user_attrs={"key": key, "arm": arm.name, "replicate": replicate})
        return ostudy, finished

    def fingerprint(self, arm: Arm) -> str:
        """What an arm's trials depend on: its config, seed group, the budget's
        settings and the study's source (pre-registration: an edited protocol is
        a new design, never resumed into the old one)."""
        design = {"config": dict(arm.config), "seed_group": arm.seed_group, "settings": dict(self.budget.settings),
                  "source": provenance.study_source_hash(self.study)}
        return hashlib.sha256(json.dumps(design, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def check_design(self, ostudy: optuna.Study, arms: list[Arm]) -> None:
        """Record each arm's fingerprint on first use; refuse to resume an arm
        whose protocol changed since (new arms are welcome: that is how a claim
        is added)."""
        recorded = ostudy.user_attrs
        changed = [a.name for a in arms if recorded.get(f"design:{a.name}", self.fingerprint(a)) != self.fingerprint(a)]
        if changed:
            raise DesignChanged(
                f"study {self.study.name!r} at budget {self.options.budget!r}: the config or budget settings of arms "
                f"{changed} (or the study's source) changed since their trials ran; resuming would mix two protocols. Start afresh with "
                "`make clean` (or a new --storage and --tracking-uri), or restore the old settings.")
        for arm in arms:
            if f"design:{arm.name}" not in recorded:
                ostudy.set_user_attr(f"design:{arm.name}", self.fingerprint(arm))

    def fail_orphans(self, ostudy: optuna.Study) -> None:
        """RUNNING trials whose worker process on this host is gone (SIGKILL,
        power loss) are marked FAILED so that the next enqueue re-queues them;
        on an RDB storage, so are trials of any host whose heartbeat went stale."""
        _fail_stale(ostudy, self.storage)
        host = socket.gethostname()
        for t in ostudy.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            owner = t.user_attrs.get("worker", "")
            name, _, pid = owner.partition(":")
            if name == host and pid.isdigit() and not _pid_alive(int(pid)):
                self.storage.set_trial_user_attr(t._trial_id, "fail_reason", f"worker {owner} died")
                self.storage.set_trial_state_values(t._trial_id, TrialState.FAIL)

    def claim(self, ostudy: optuna.Study, key_of: Callable[[str], str | None] = lambda arm: None,
              limit: int = 1) -> list[optuna.Trial]:
        """Take queued trials: one, or up to ``limit`` whose arms share an
        ensemble key (``key_of(arm name)``, None: alone). Empty when the queue
        is. The WAITING → RUNNING transition succeeds for exactly one worker."""
        taken: list[optuna.Trial] = []
        group_key = None
        _fail_stale(ostudy, self.storage)  # dead workers' trials come back as WAITING retries
        for t in ostudy.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            key = key_of(t.user_attrs["arm"])
            if taken and (key is None or key != group_key):
                continue
            if self.storage.set_trial_state_values(t._trial_id, TrialState.RUNNING):
                trial = optuna.Trial(ostudy, t._trial_id)
                trial.set_user_attr("worker", self.worker)
                taken.append(trial)
                group_key = key
                if key is None or len(taken) >= limit:
                    break
        return taken

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

    # -- the tuning phase ---------------------------------------------------
    def tune(self, arms: list[Arm]) -> dict[str, dict]:
        """A search per tuned arm (TPE, or random where the arm says so),
        resumable: runs until ``tuning_trials`` are complete."""
        tuning = self.study.tuning
        if tuning is None or self.budget.tuning_trials == 0:
            return {}
        best: dict[str, dict] = {}
        for arm in (a for a in arms if a.name in tuning.arms):
            seed = stable_int(f"{self.study.name}/{arm.name}") % 2**32
            sampler = (optuna.samplers.RandomSampler(seed=seed) if arm.config.get("sampler") == "random"
                       else optuna.samplers.TPESampler(seed=seed))
            ostudy = optuna.create_study(
                study_name=optuna_study_name(self.study.name, self.options.budget, f"tune.{arm.name}"),
                storage=self.storage, load_if_exists=True, direction=tuning.direction, sampler=sampler)
            self.fail_orphans(ostudy)
            done = len(ostudy.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
            bar = tqdm(total=self.budget.tuning_trials, initial=done, desc=f"tuning {arm.name}", unit="trial",
                       disable=not self.options.show_progress, dynamic_ncols=True)
            attempts = 0  # failures are re-tried, but a search space that always fails must not loop forever
            while (len(ostudy.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) < self.budget.tuning_trials
                   and attempts < 2 * self.budget.tuning_trials + 2):
                attempts += 1
                with warnings.catch_warnings():  # our _Heartbeat does for asked trials what optimize() would
                    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
                    trial = ostudy.ask()
                trial.set_user_attr("worker", self.worker)
                hyperparams = tuning.space(trial)
                trial.set_user_attr("hyperparams", hyperparams)
                bar.update(self.execute(ostudy, trial, arm, TUNING_REPLICATE_OFFSET + trial.number, "tune", hyperparams))
            bar.close()
            if not ostudy.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
                reasons = {t.user_attrs.get("fail_reason", "?") for t in ostudy.get_trials(deepcopy=False)}
                raise TuningFailed(f"every tuning trial of arm {arm.name!r} failed: {'; '.join(sorted(reasons))}")
            best[arm.name] = ostudy.best_trial.user_attrs["hyperparams"]
            self.tracker.log_params(self.parent_run, {f"tuned.{arm.name}.{k}": v for k, v in best[arm.name].items()})
        return best

    # -- one trial, or one ensemble of trials ---------------------------------------
    def execute(self, ostudy: optuna.Study, trial: optuna.Trial, arm: Arm, replicate: int, phase: str,
                hyperparams: Mapping[str, Any]) -> bool:
        """Run one trial with its MLflow child run; True when it finished.

        An exception or a non-finite metric fails the trial with the reason
        recorded on both sides; Ctrl-C fails it too and then stops the sweep,
        so finished trials stay finished and this one is re-run on resume.
        """
        with _Heartbeat(self.storage, [trial._trial_id]):
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
        with _Heartbeat(self.storage, [t._trial_id for t in trials]):
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
            reason = f"tracking store {self.tracker.uri} failed: {type(exc).__name__}: {str(exc)[:300]}"
            for trial in trials:
                if self.storage.get_trial(trial._trial_id).state == TrialState.RUNNING:
                    self.storage.set_trial_user_attr(trial._trial_id, "fail_reason", reason)
                    ostudy.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
            raise TrackingLost(f"{reason}. The trial(s) in flight failed and re-run on resume; finished trials "
                               "are kept. Restart the tracking server (or fix the store) and run the same command "
                               "again.") from exc

    def _begin(self, ostudy: optuna.Study, trial: optuna.Trial, arm: Arm, replicate: int, phase: str,
               hyperparams: Mapping[str, Any], extra_tags: Mapping[str, str]) -> "_Pending":
        seeds = trial_seeds(self.study.root_seed, self.study.name, replicate, arm.seed_group)
        label = f"r{replicate}" if phase == "replicate" else f"tune{trial.number}"
        tags = {
            TAG + "role": "trial", TAG + "study": self.study.name, TAG + "arm": arm.name,
            TAG + "replicate": str(replicate), TAG + "phase": phase, TAG + "budget": self.options.budget,
            TAG + "claims": ",".join(c.id for c in self.study.claims),
            "optuna.study": ostudy.study_name, "optuna.trial_number": str(trial.number),
            **{TAG + k: v for k, v in self.environment.items()}, **extra_tags,
        }
        run_id = self.tracker.start_child(self.study.name, self.parent_run, f"{arm.name} {label}", tags)
        trial.set_user_attr("mlflow_run_id", run_id)
        scratch = Path(tempfile.mkdtemp(prefix="trial-", dir=_scratch_root()))
        ctx = TrialContext(study=self.study.name, arm=arm, replicate=replicate, budget_name=self.options.budget,
                           budget=self.budget, seeds=seeds, device=self.options.device, threads=self.options.threads,
                           artifact_dir=scratch, phase=phase, hyperparams=dict(hyperparams),
                           show_progress=self.options.show_progress)
        self.tracker.log_params(run_id, {**{f"config.{k}": v for k, v in arm.config.items()},
                                         **{f"hp.{k}": v for k, v in hyperparams.items()},
                                         **seeds.as_params(), "arm": arm.name, "replicate": replicate})
        return _Pending(trial, ctx, run_id, scratch)

    def _finish(self, ostudy: optuna.Study, pending: "_Pending", result: Any) -> bool:
        """Record a trial's outcome (its metrics, or the exception that failed
        it) on its run and its Optuna trial; True when it finished."""
        status, reason, metrics = "FINISHED", "", {}
        try:
            if isinstance(result, BaseException):
                raise result
            metrics = {k: float(v) for k, v in result.items()}
            bad = sorted(k for k, v in metrics.items() if not math.isfinite(v))
            if bad:
                raise ArithmeticError(f"non-finite final metric(s): {', '.join(bad)}")
        except Exception as exc:
            status, reason, metrics = "FAILED", f"{type(exc).__name__}: {exc}", {}
            if os.environ.get("HARNESS_DEBUG"):
                traceback.print_exception(exc)
        trial, ctx = pending.trial, pending.ctx
        self._record(pending.run_id, ctx, metrics, status, reason)
        if status == "FINISHED":
            for key, value in metrics.items():
                trial.set_user_attr(f"metric.{key}", value)
            objective = self.study.tuning.metric if ctx.phase == "tune" else next(iter(metrics), None)
            # skip_if_finished: a trial whose heartbeat went stale may have been failed (and re-queued) meanwhile
            ostudy.tell(trial, metrics.get(objective, 0.0) if objective else 0.0, skip_if_finished=True)
        else:
            trial.set_user_attr("fail_reason", reason)
            ostudy.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
        shutil.rmtree(pending.scratch, ignore_errors=True)
        return status == "FINISHED"

    def _interrupted(self, ostudy: optuna.Study, pending: list["_Pending"]) -> None:
        """Ctrl-C: the runs say KILLED, the trials FAIL (and are re-queued on resume)."""
        for p in pending:
            ostudy.tell(p.trial, state=TrialState.FAIL, skip_if_finished=True)
            try:
                self._record(p.run_id, p.ctx, {}, "KILLED", "interrupted (Ctrl-C)")
            except Exception:  # the run stays RUNNING in MLflow; the trial is what resume looks at
                pass
            shutil.rmtree(p.scratch, ignore_errors=True)

    def _record(self, run_id: str, ctx: TrialContext, final: Mapping[str, float], status: str, reason: str) -> None:
        """Everything a trial produced goes to its run, finished or not."""
        from harness import curves

        # final metrics at the trial's last step, so MLflow's charts end on them instead of jumping back to 0
        last = max((step for _, _, step, _ in ctx.metrics), default=0)
        now = int(time.time() * 1000)
        digests = sorted({d.digest[:16] for d in ctx.datasets})
        self.tracker.log_batch(run_id, ctx.params, [*ctx.metrics, *((k, v, last, now) for k, v in final.items())],
                               {TAG + "dataset_digest": ",".join(digests), **({TAG + "fail_reason": reason} if reason else {})})
        self.tracker.log_datasets(run_id, ctx.datasets)
        if ctx.metrics:
            curves.write_learning_curve(ctx.metrics, ctx.artifact_path("learning_curve.csv"),
                                        f"{ctx.arm.name} r{ctx.replicate}", plot=self.study.curve_plots)
        self.tracker.log_artifacts(run_id, ctx.artifact_dir)
        self.tracker.finish(run_id, status)


def _fail_stale(ostudy: optuna.Study, storage: optuna.storages.BaseStorage) -> None:
    """Fail trials whose heartbeat is older than the grace period (RDB storages
    with heartbeats only; Optuna marks the function experimental)."""
    if isinstance(storage, optuna.storages.RDBStorage) and storage.get_heartbeat_interval():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(ostudy)


class _Heartbeat:
    """Records heartbeats for claimed trials while they run, on storages that
    support them (RDB with ``heartbeat_interval``; the journal does not need
    them: dead local workers are found by pid). Optuna's ``optimize`` does the
    same for the trials it runs; ours are claimed from the queue instead."""

    def __init__(self, storage, trial_ids: list[int]):
        import threading

        self.storage, self.trial_ids = storage, trial_ids
        rdb = isinstance(storage, optuna.storages.RDBStorage)
        self.interval = storage.get_heartbeat_interval() if rdb else None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True) if self.interval else None

    def _beat(self) -> None:
        for trial_id in self.trial_ids:
            self.storage.record_heartbeat(trial_id)

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                self._beat()
            except Exception:  # the database blinked: the next beat may succeed, the grace period covers a few
                pass

    def __enter__(self) -> "_Heartbeat":
        if self.thread:
            self._beat()  # at once: a trial without any heartbeat is never considered stale
            self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.thread:
            self.stop.set()
            self.thread.join()


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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
