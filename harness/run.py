"""One study invocation, from validation to report.

Order matters: everything that can be wrong with the input (study, budget,
design, data, storage, tracking store) is checked before the first trial, so
bad input costs no compute. Then: the parent run, the tuning phase, the fixed
design (in this process or in N worker processes), the report, the summary.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from harness import paths
from harness.discovery import get_study
from harness.design import REPORT_BUDGET
from harness.study import Study


@dataclass
class RunRequest:
    study: str
    budget: str = REPORT_BUDGET
    workers: int = 1
    storage: str | None = None
    tracking_uri: str | None = None
    device: str | None = None
    progress: bool = True
    report: bool = True
    ensemble: int | None = None  # at most this many trials trained as one model (None: the study's limit)


class InputError(ValueError):
    """Bad input found before any compute; the message names the fix."""


# at most this many quick-tier workers by default: each loads torch and the data sets (a few hundred MB)
QUICK_MAX_WORKERS = 8


def default_workers(budget: str, cores: int | None = None) -> int:
    """Worker processes when ``--workers`` is not given. ``quick`` is a preview
    meant to fit 8 minutes on 2 cores: one worker per core (at most
    QUICK_MAX_WORKERS), one torch thread each, since small nets' kernels are too
    small to share (batchnorm's preview took 326 s on 2 workers against 637 s
    on one here). Every other tier runs one worker on all cores: the committed
    reports come from that float path, and a different thread count changes
    the order of floating-point sums, which training amplifies into different
    numbers, so `make reproduce` and `make verify-reports` use it too."""
    if budget != "quick":
        return 1
    return max(1, min(QUICK_MAX_WORKERS, cores if cores is not None else (os.cpu_count() or 1)))


def prepare(request: RunRequest) -> tuple[Study, list, Any, str]:
    """Validate everything and open the stores; returns (study, arms, tracker, tracking uri)."""
    from harness import datasets, faultpoints
    from harness.storage import max_attempts, open_storage
    from harness.tracking import Tracker, check_tracking_uri, resolve_tracking_uri

    study = get_study(request.study)
    arms = study.design(request.budget)  # also checks the budget name and the claims' arms
    if not isinstance(request.workers, int) or request.workers < 1:
        raise InputError(f"--workers must be a positive integer, got {request.workers!r}")
    if request.ensemble is not None and (not isinstance(request.ensemble, int) or request.ensemble < 1):
        raise InputError(f"--ensemble must be a positive integer (1: one trial at a time), got {request.ensemble!r}")
    check_device(request.device)
    check_registry_names(study, arms)
    for name in study.datasets:
        datasets.load(name)  # raises DataUnavailableError with the fix before any training
    check_tuning_space(study)
    max_attempts()  # a bad $HARNESS_MAX_ATTEMPTS stops here, not after the tuning phase
    # fault injection / barrier: validated, neither store opened yet (N workers released here race to create both)
    faultpoints.point("start")
    open_storage(request.storage)
    uri = resolve_tracking_uri(request.tracking_uri, paths.home())
    check_tracking_uri(uri)
    return study, arms, Tracker(uri), uri


def check_registry_names(study: Study, arms: list) -> None:
    """Every arm's ``model`` and ``dataset`` names one the registries know
    (else one line with the known names and the closest match), before any
    compute instead of as every trial's failure."""
    from harness import datasets, models

    for arm in arms:
        for key, registry in (("model", models.MODELS), ("dataset", datasets.DATASETS)):
            name = arm.config.get(key)
            if isinstance(name, str) and name not in registry:
                raise InputError(f"study {study.name!r}, arm {arm.name!r}: {registry.unknown_message(name)}")


def check_device(device: str | None) -> None:
    """A device torch knows and this machine has (``--device`` or $HARNESS_DEVICE),
    else one line that says which exist."""
    name = device or os.environ.get("HARNESS_DEVICE")
    if not name:
        return
    import torch

    source = "--device" if device else "HARNESS_DEVICE"
    try:
        chosen = torch.device(name)
    except (RuntimeError, ValueError) as exc:
        raise InputError(f"{source} {name!r} is not a torch device ({' '.join(str(exc).split())}); use cpu, cuda, "
                         "cuda:N or mps") from None
    if chosen.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise InputError(f"{source} {name!r}: CUDA is not available on this machine; use cpu")
        if chosen.index is not None and chosen.index >= count:
            raise InputError(f"{source} {name!r}: this machine has {count} CUDA device(s) (cuda:0 to "
                             f"cuda:{count - 1})")
    elif chosen.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise InputError(f"{source} {name!r}: MPS is not available on this machine; use cpu")
    elif chosen.type not in ("cpu", "cuda", "mps"):
        raise InputError(f"{source} {name!r}: the harness trains on cpu, cuda or mps, not {chosen.type}")


def check_tuning_space(study: Study) -> None:
    """Draw the tuning space once on a throwaway in-memory study, so that a bad
    search range (low > high, a log range through 0) fails before any compute."""
    if study.tuning is None:
        return
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the throwaway study: no "new study created" INFO line
    try:
        for space in study.tuning.all_spaces():
            space(optuna.create_study().ask())
    except ValueError as exc:
        raise InputError(f"study {study.name!r}: bad tuning search space: {exc}") from None


def run_study(request: RunRequest) -> dict[str, Any] | None:
    """Run (or resume) a study and write its report; returns the verdicts document."""
    study, arms, tracker, uri = prepare(request)
    # imported after the checks: bad input stops before torch (~3 s) is loaded
    from harness import engine, provenance, report
    from harness.stages import run_stages
    from harness.sweep import Runner, SweepOptions
    from harness.tracking import TAG

    device = str(engine.pick_device(request.device))
    threads = engine.threads_per_worker(request.workers)
    engine.configure_torch(threads)
    parent = _parent_run(request, study, tracker,
                         {TAG + "study": study.name, TAG + "claims": ",".join(c.id for c in study.claims),
                          **{TAG + k: v for k, v in provenance.environment(device, threads).items()}})
    options = SweepOptions(request.budget, request.storage, uri, threads, device, request.progress, request.ensemble)
    runner = Runner(study, options, tracker, parent)
    budget = study.budget(request.budget)
    total = sum(arm.replicates_at(budget, 0) for arm in arms)  # a sequential design's first look; more may follow
    started = time.time()
    status = "FINISHED"
    try:
        tuned = runner.tune(arms)
        if request.workers == 1:
            bar = _bar(total, study.name, request.progress)

            def planned(queued: int, finished: int) -> None:  # a sequential design queues look by look
                bar.total = queued
                bar.n = max(bar.n, finished)
                bar.refresh()

            outcome = run_stages(runner, arms, tuned, on_done=lambda ok: bar.update(1), on_plan=planned)
            bar.close()
        else:
            outcome = _run_workers(request, runner, arms, total, threads, uri)
    except KeyboardInterrupt:
        status = "KILLED"
        print(f"\ninterrupted: finished trials are kept; run `harness run {study.name} --budget {request.budget}` "
              "to resume", file=sys.stderr)
        raise
    except Exception:
        status = "FAILED"  # e.g. every tuning trial failed: the parent run says so too
        raise
    finally:
        try:
            tracker.finish(parent, status)
        except Exception as exc:  # the store may be what failed; do not hide the error that stopped the study
            print(f"harness: could not close the parent run {parent}: {type(exc).__name__}", file=sys.stderr)
    elapsed = time.time() - started
    print(f"{study.name}: {outcome.completed} trials run, {outcome.failed} failed, {outcome.skipped} already done "
          f"({elapsed:.0f} s, {threads} thread(s) x {request.workers} worker(s), {device})")
    if not request.report:
        return None
    document = report.build(study, request.budget, tracker, paths.reports_dir(request.budget))
    return document


def run_worker(request: RunRequest, threads: int | None = None) -> None:
    """A worker: claim and run queued trials of a study until none is left.

    Used by ``--workers N`` on one machine and by ``harness worker`` on many.
    """
    from harness import engine
    from harness.stages import run_stages
    from harness.sweep import Runner, SweepOptions

    study, arms, tracker, uri = prepare(request)
    device = str(engine.pick_device(request.device))
    threads = threads or engine.threads_per_worker(1)
    engine.configure_torch(threads)
    parent = _parent_run(request, study, tracker, {})
    runner = Runner(study, SweepOptions(request.budget, request.storage, uri, threads, device, False, request.ensemble),
                    tracker, parent)
    ostudy = None
    status = "KILLED"  # unless it ends otherwise: Ctrl-C and SIGTERM (handled as Ctrl-C) are no Exception
    try:
        tuned = runner.tune(arms)
        ostudy = runner.design_study()
        outcome = run_stages(runner, arms, tuned)
        status = "FINISHED"
    except Exception:
        status = "FAILED"
        raise
    finally:
        _close_parent_if_quiet(ostudy, tracker, parent, status)
    print(f"worker {os.getpid()}: {outcome.completed} finished, {outcome.failed} failed", file=sys.stderr)


def _parent_run(request: RunRequest, study, tracker, tags: dict[str, str]) -> str:
    """The study's parent run, found or created under a lock of the study's
    storage: workers starting at once would otherwise each create one."""
    from harness.queue_lock import QueueLock
    from harness.storage import open_storage, resolve_storage
    from harness.trialqueue import optuna_study_name

    lock = QueueLock(resolve_storage(request.storage), open_storage(request.storage))
    with lock.hold(optuna_study_name(study.name, request.budget, "parent"), "opening the study's parent run"):
        return tracker.parent_run(study.name, request.budget, tags)


def _close_parent_if_quiet(ostudy, tracker, parent: str, status: str) -> None:
    """A worker leaving a study with nothing queued or running closes the
    parent run (the last one out does; ``harness run`` closes its own). Never
    hides the error that stopped the worker."""
    from optuna.trial import TrialState

    try:
        if ostudy is None or ostudy.get_trials(deepcopy=False, states=(TrialState.WAITING, TrialState.RUNNING)):
            return
        tracker.finish(parent, status)
    except Exception as exc:  # noqa: BLE001 - the store may be what failed
        print(f"harness: could not close the parent run {parent}: {type(exc).__name__}", file=sys.stderr)


def _run_workers(request: RunRequest, runner, arms, total: int, threads: int, uri: str):
    """N worker processes on this machine; this process shows their progress.

    The storage URL and tracking URI reach the workers through their
    environment ($HARNESS_STORAGE, $MLFLOW_TRACKING_URI), never their command
    line: a password in either would be visible to every user in ``ps``."""
    from harness.sweep import SweepOutcome

    ostudy, finished = runner.enqueue(arms, {a.name: a.replicates_at(runner.budget, 0) for a in arms})
    failed_before = _failed(ostudy)
    command = [sys.executable, "-m", "harness", "worker", request.study, "--budget", request.budget,
               "--threads", str(threads)]
    if request.device:
        command += ["--device", request.device]
    if request.ensemble:
        command += ["--ensemble", str(request.ensemble)]
    env = {**os.environ, "HARNESS_STORAGE": runner.storage_url, "MLFLOW_TRACKING_URI": uri}
    procs = [subprocess.Popen(command, env=env) for _ in range(request.workers)]
    bar = _bar(total, request.study, request.progress)
    bar.update(finished)
    done = finished
    try:
        while any(p.poll() is None for p in procs):
            time.sleep(1.0)
            now = _complete(ostudy)
            if runner.budget.sequential:  # the workers queue later looks: show what is planned so far
                bar.total = max(bar.total, _keys(ostudy))
            bar.update(now - done)
            done = now
    except KeyboardInterrupt:
        # workers take SIGTERM as Ctrl-C: each fails its trials in flight and closes their runs; wait for that
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        raise
    bar.close()
    failed_workers = [p.returncode for p in procs if p.returncode]
    if failed_workers:
        raise RuntimeError(f"{len(failed_workers)} worker process(es) exited with errors {failed_workers}")
    return SweepOutcome(completed=_complete(ostudy) - finished, failed=_failed(ostudy) - failed_before,
                        skipped=finished)


def _complete(ostudy) -> int:
    """Keys complete (a key counts once)."""
    from optuna.trial import TrialState

    return len({t.user_attrs.get("key") for t in ostudy.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))})


def _keys(ostudy) -> int:
    """Keys queued so far, in any state."""
    return len({t.user_attrs.get("key") for t in ostudy.get_trials(deepcopy=False)} - {None})


def _failed(ostudy) -> int:
    """Failed trials, not counting queued duplicates failed unrun at claim time."""
    from optuna.trial import TrialState

    return sum("duplicate_of" not in t.user_attrs
               for t in ostudy.get_trials(deepcopy=False, states=(TrialState.FAIL,)))


def _bar(total: int, label: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"{label} trials", unit="trial", position=0, disable=not enabled, dynamic_ncols=True)
