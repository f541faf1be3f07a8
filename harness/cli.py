"""The ``harness`` command line.

Only argparse and the light registries are imported at start-up; torch,
mlflow and scikit-learn load when a command needs them, so ``harness --help``
and ``harness list`` answer at once.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback
from typing import Sequence

from harness.redact import redact
from harness.design import BUDGET_NAMES, REPORT_BUDGET

LIST_KINDS = ("studies", "models", "datasets")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness", description="Reproduce deep-learning claims: Optuna sweeps, MLflow runs, verdict reports.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="list registered studies, models or datasets")
    p.add_argument("kind", nargs="?", choices=LIST_KINDS, help="what to list (default: all three)")

    def add_stores(p: argparse.ArgumentParser) -> None:
        p.add_argument("--budget", default=REPORT_BUDGET, choices=BUDGET_NAMES,
                       help="smoke: machinery check (<1 min); quick: a preview (<= 8 min a study, mostly 3 seeds); "
                            "standard: the committed reports' verdicts (default); full: paper scale")
        p.add_argument("--storage", help="Optuna storage: journal:/path (default: $HARNESS_STORAGE, else "
                                         ".harness/optuna.journal) or postgresql://user@host/db")
        p.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else "
                                              "sqlite:///<project>/mlflow.db)")
        p.add_argument("--device", help="torch device (default: cuda when present, else cpu)")
        p.add_argument("--ensemble", type=int, metavar="K",
                       help="train at most K same-shaped trials as one batched model "
                            "(default: the study's own limit; 1: one trial at a time)")

    p = sub.add_parser("run", help="run (or resume) studies and write their reports")
    p.add_argument("studies", nargs="+", metavar="STUDY", help="study names, or 'all'")
    add_stores(p)
    p.add_argument("--workers", type=int, help="worker processes on this machine (default: one per core, at most "
                                               "8, at quick; 1 at every other tier, the committed reports' float path)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")

    p = sub.add_parser("worker", help="join a study's sweep as one worker (any machine)")
    p.add_argument("study", metavar="STUDY")
    add_stores(p)
    p.add_argument("--threads", type=int, help="torch threads for this worker (default: all cores)")

    p = sub.add_parser("report", help="regenerate reports from the tracking store (no training)")
    p.add_argument("studies", nargs="*", metavar="STUDY", help="study names (default: every study with runs)")
    p.add_argument("--budget", default=REPORT_BUDGET, choices=BUDGET_NAMES)
    p.add_argument("--tracking-uri")

    p = sub.add_parser("rebuild", help="recreate a study's Optuna trials at one budget from its finished MLflow runs "
                                       "(after losing or damaging the journal)")
    p.add_argument("study", metavar="STUDY")
    p.add_argument("--budget", default=REPORT_BUDGET, choices=BUDGET_NAMES)
    p.add_argument("--storage", help="the Optuna storage to rebuild into; its studies for STUDY at that budget must "
                                     "hold no trials (default: $HARNESS_STORAGE, else .harness/optuna.journal)")
    p.add_argument("--tracking-uri", help="the MLflow store to read (default: $MLFLOW_TRACKING_URI, else "
                                          "sqlite:///<project>/mlflow.db)")

    p = sub.add_parser("repair-journal", help="back up a damaged Optuna journal and truncate it to its last "
                                              "complete record")
    p.add_argument("path", metavar="PATH", help="the journal file (default storage: .harness/optuna.journal)")

    p = sub.add_parser("ui", help="the MLflow UI over the project's tracking store")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--tracking-uri")
    return parser


def cmd_list(kind: str | None) -> int:
    from harness import datasets, models
    from harness.discovery import load_studies

    if kind in (None, "studies"):
        registry = load_studies()
        print("studies:")
        for name in registry:
            study = registry.get(name)
            print(f"  {name:<14} {study.title} — claims: {', '.join(c.id for c in study.claims)}")
    if kind in (None, "models"):
        print("models:")
        for name in models.MODELS:
            print(f"  {name:<16} {models.describe(name)}")
    if kind in (None, "datasets"):
        print("datasets:")
        for name in datasets.DATASETS:
            print(f"  {name:<14} {datasets.describe(name)}")
    return 0


def _study_names(names: Sequence[str]) -> list[str]:
    from harness.discovery import load_studies

    registry = load_studies()
    if list(names) == ["all"]:
        return registry.names()
    for name in names:
        registry.get(name)  # unknown names fail here, before any compute
    return list(names)


def cmd_run(args: argparse.Namespace) -> int:
    from harness.run import RunRequest, default_workers, prepare, run_study
    from harness.summary import print_summary

    workers = args.workers if args.workers is not None else default_workers(args.budget)
    requests = [RunRequest(name, args.budget, workers, args.storage, args.tracking_uri, args.device,
                           progress=not args.no_progress, ensemble=args.ensemble)
                for name in _study_names(args.studies)]
    if len(requests) > 1:
        for request in requests:  # every study's input checked before the first one trains
            prepare(request)
    documents = []
    for request in requests:
        documents.append(run_study(request))
    print_summary([d for d in documents if d])
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from harness.run import RunRequest, run_worker

    if args.threads is not None and args.threads < 1:
        from harness.run import InputError

        raise InputError(f"--threads must be >= 1, got {args.threads}")
    run_worker(RunRequest(args.study, args.budget, 1, args.storage, args.tracking_uri, args.device, progress=False,
                          ensemble=args.ensemble), threads=args.threads)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from harness import paths, report
    from harness.discovery import get_study, load_studies
    from harness.summary import print_summary
    from harness.tracking import Tracker, check_tracking_uri, resolve_tracking_uri

    uri = resolve_tracking_uri(args.tracking_uri, paths.home())
    check_tracking_uri(uri)
    tracker = Tracker(uri)
    names = _study_names(args.studies) if args.studies else [
        n for n in load_studies().names() if tracker.find_parent(n, args.budget)]
    if not names:
        print(f"no study has runs at budget {args.budget!r} in {uri}; run `make reproduce` first", file=sys.stderr)
        return 1
    documents = [report.build(get_study(n), args.budget, tracker, paths.reports_dir(args.budget)) for n in names]
    print_summary(documents)
    return 0


def cmd_rebuild(args: argparse.Namespace) -> int:
    from harness.discovery import get_study
    from harness.rebuild import rebuild

    result = rebuild(get_study(args.study), args.budget, args.storage, args.tracking_uri)
    print("\n".join(redact(line) for line in result.lines(storage_given=bool(args.storage))))
    return 0


def cmd_repair_journal(args: argparse.Namespace) -> int:
    from pathlib import Path

    from harness import journal

    path = Path(args.path.removeprefix("journal:")).expanduser()
    backup, damage = journal.repair(path)
    if damage is None:
        print(f"{path}: every record is complete; nothing to repair")
        return 0
    lost = f" and {damage.dropped} complete record(s) after it" if damage.dropped else ""
    print(f"{path}: kept {damage.record} record(s) ({damage.offset} bytes); removed the damaged record at byte "
          f"{damage.offset} ({damage.what}){lost}, {damage.size - damage.offset} byte(s) in all.\n"
          f"The original is in {backup}. Run the study again: trials whose record was lost run again.")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    from harness import paths
    from harness.tracking import resolve_tracking_uri

    uri = resolve_tracking_uri(args.tracking_uri, paths.home())
    # the store's URI goes by environment, not argv: a password in it would show in `ps`
    os.environ["MLFLOW_BACKEND_STORE_URI"] = uri
    command = [sys.executable, "-m", "mlflow", "ui", "--host", args.host, "--port", str(args.port)]
    print(f"MLflow UI on http://{args.host}:{args.port} over {redact(uri)} (Ctrl-C stops it)")
    os.execv(sys.executable, command)
    return 0  # not reached


def _interrupt_on_signals(worker: bool) -> None:
    """SIGTERM stops a study like Ctrl-C: the trials in flight fail (and run
    again on resume), their runs end KILLED. A worker also ignores the signals
    that follow the first (a terminal's Ctrl-C reaches it, then its parent's
    SIGTERM), so that recording its trials is not cut short."""
    import signal

    def interrupt(signum, frame):
        if worker:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, interrupt)
        if worker:
            signal.signal(signal.SIGINT, interrupt)
    except ValueError:  # not the main thread (main() called from a thread): leave the signals alone
        pass


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("run", "worker"):
        _interrupt_on_signals(worker=args.command == "worker")
    try:
        if args.command == "list":
            return cmd_list(args.kind)
        if args.command == "run":
            return cmd_run(args)
        if args.command == "worker":
            return cmd_worker(args)
        if args.command == "report":
            return cmd_report(args)
        if args.command == "rebuild":
            return cmd_rebuild(args)
        if args.command == "repair-journal":
            return cmd_repair_journal(args)
        return cmd_ui(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # every message passes through redact(): a password in a storage or tracking URL is never printed
        if _is_input_error(exc) and not os.environ.get("HARNESS_DEBUG"):
            print(f"harness: error: {redact(str(exc))}", file=sys.stderr)
            return 2
        storage = sys.modules.get("harness.storage")
        if storage is not None and storage.lost_database(exc) and not os.environ.get("HARNESS_DEBUG"):
            cause = storage.root_cause(exc).rstrip(".")
            print(f"harness: error: the study storage's database failed: {cause}. Finished trials are kept; a trial "
                  "in flight is failed once its heartbeat stops and re-run. Check or restart the database, then run "
                  "the same command again.", file=sys.stderr)
            return 2
        print(redact("".join(traceback.format_exception(exc))), end="", file=sys.stderr)
        return 1


def _is_input_error(exc: Exception) -> bool:
    """Errors that mean bad input, a missing prerequisite or a study that cannot
    go on (every tuning trial failed): one clear line, no traceback. Only the
    harness's own error types: a ValueError or KeyError from anywhere else is a
    bug (e.g. a leftover queued trial of a renamed arm), and gets its traceback."""
    from harness.datasets import DataUnavailableError
    from harness.design import StudyDeclarationError
    from harness.registry import UnknownNameError
    from harness.run import InputError

    known: tuple[type[BaseException], ...] = (UnknownNameError, StudyDeclarationError, InputError,
                                              DataUnavailableError)
    if "harness.report" in sys.modules:
        known += (sys.modules["harness.report"].NoRuns,)
    if "harness.tracking" in sys.modules:
        known += (sys.modules["harness.tracking"].TrackingError,)
    if "harness.storage" in sys.modules:  # StorageError, and the journal's errors beneath it
        known += (sys.modules["harness.storage"].StorageError, sys.modules["harness.journal"].JournalError)
    if "harness.rebuild" in sys.modules:
        known += (sys.modules["harness.rebuild"].RebuildRefused,)
    if "harness.sweep" in sys.modules:
        sweep = sys.modules["harness.sweep"]
        known += (sweep.TuningFailed, sweep.DesignChanged, sweep.TrackingLost)
    return isinstance(exc, known)
