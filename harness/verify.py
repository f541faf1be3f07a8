"""``make verify-reports``: do the committed reports follow from the committed code?

A verdict in ``reports/`` is only worth quoting if anyone can regenerate it.
This module checks that the way a stranger would: it clones the committed HEAD
into a temporary folder (so neither uncommitted edits nor the project's own
tracking store can leak in), keeps the clone's committed ``reports/`` aside as
the expected results, runs every study there with a private Optuna journal and
MLflow store, and compares each fresh ``verdicts.json`` with the committed one,
number by number. It exits 0 when nothing drifted, 1 when something did (each
drift named by its path, e.g. ``seeds / SEED-SOURCES / effect: 0.414 -> 0.549
(relative 0.33)``) and 2 when it could not check (bad arguments, git or the
harness run failed).

    python -m harness.verify [--budget standard] [--studies NAME ...] [--keep DIR] [--source PATH]
    python -m harness.verify --resume DIR

A standard run takes hours, so a cut one (Ctrl-C, a closed session) need not
start over: ``--resume DIR`` reruns the harness in the clone that ``--keep DIR``
kept (the run picks up from its store: finished trials are not trained again,
a search repeats the draw it was cut off in), then compares as usual. It runs
what DIR's ``verify.json`` recorded (commit, budget, studies) and refuses a
clone whose code was edited since.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

from harness.provenance import PROJECT_ROOT
from harness.design import BUDGET_NAMES, REPORT_BUDGET
from harness.paths import reports_dir

# Keys whose values differ between two honest runs of the same code (time
# stamps, store locations, run ids, machine and library versions); skipped
# wherever they occur in a verdicts.json.
VOLATILE_KEYS = {"generated_at", "tracking_uri", "experiment_id", "parent_run", "runs", "environment", "provenance"}

# Numbers agree when within this relative tolerance, or this absolute floor for
# values near zero (a p-value of 1e-50 against 1.0000001e-50 is no drift).
REL_TOL = 1e-9
ABS_TOL = 1e-12

VERDICTS = "verdicts.json"
RECORD = "verify.json"  # in the workspace: the commit, budget and studies verified, which --resume reruns
SEP = " / "


class SetupError(Exception):
    """Verification could not be carried out (exit status 2), as opposed to a drift (1)."""


# -- comparing two verdict documents (pure) ------------------------------------------------------

def compare(expected: Any, actual: Any, study: str) -> list[str]:
    """Every difference between a committed (``expected``) and a fresh
    (``actual``) verdicts document, as one line each that names where it is,
    starting with ``study``. Keys in VOLATILE_KEYS are skipped at any depth."""
    drifts: list[str] = []
    _compare_value(expected, actual, [study], drifts)
    return drifts


def _compare_value(expected: Any, actual: Any, path: list[str], drifts: list[str]) -> None:
    if _is_number(expected) and _is_number(actual):
        _compare_numbers(expected, actual, path, drifts)
    elif isinstance(expected, dict) and isinstance(actual, dict):
        _compare_dicts(expected, actual, path, drifts)
    elif isinstance(expected, list) and isinstance(actual, list):
        _compare_lists(expected, actual, path, drifts)
    elif type(expected) is not type(actual):
        # bool is an int to Python, and None equals nothing: both land here
        drifts.append(f"{_where(path)}: {_show(expected)} -> {_show(actual)} "
                      f"({_kind(expected)} -> {_kind(actual)})")
    elif isinstance(expected, str) and expected != actual:
        before, after = _differing_part(expected, actual)
        drifts.append(f"{_where(path)}: {before} -> {after}")
    elif expected != actual:  # booleans
        drifts.append(f"{_where(path)}: {_show(expected)} -> {_show(actual)}")


def _compare_numbers(expected: float, actual: float, path: list[str], drifts: list[str]) -> None:
    if math.isnan(expected) and math.isnan(actual):
        return  # NaN != NaN, but the same missing value in both reports is no drift
    if math.isclose(expected, actual, rel_tol=REL_TOL, abs_tol=ABS_TOL):
        return
    before, after = _distinguishing_digits(expected, actual)
    line = f"{_where(path)}: {before} -> {after}"
    # relative to the committed value: "0.414 -> 0.549 (relative 0.33)" reads as a 33% change
    if expected != 0 and math.isfinite(expected) and math.isfinite(actual):
        line += f" (relative {abs(actual - expected) / abs(expected):.2g})"
    drifts.append(line)


def _compare_dicts(expected: dict, actual: dict, path: list[str], drifts: list[str]) -> None:
    for key in expected:
        if key in VOLATILE_KEYS:
            continue
        if key not in actual:
            drifts.append(f"{_where(path + [str(key)])}: missing from the fresh report")
        else:
            _compare_value(expected[key], actual[key], path + [str(key)], drifts)
    for key in actual:
        if key not in expected and key not in VOLATILE_KEYS:
            drifts.append(f"{_where(path + [str(key)])}: not in the committed report")


def _compare_lists(expected: list, actual: list, path: list[str], drifts: list[str]) -> None:
    expected_ids, actual_ids = _ids(expected), _ids(actual)
    if expected_ids is not None and actual_ids is not None:
        _compare_by_id(expected, actual, expected_ids, actual_ids, path, drifts)
        return
    if len(expected) != len(actual):
        drifts.append(f"{_where(path)}: {len(expected)} items -> {len(actual)} items")
    # the common prefix is still compared: a list that grew by one keeps its old items' drifts visible
    for index, (e, a) in enumerate(zip(expected, actual)):
        _compare_value(e, a, path[:-1] + [f"{path[-1]}[{index}]"], drifts)


def _compare_by_id(expected: list, actual: list, expected_ids: list[str], actual_ids: list[str],
                   path: list[str], drifts: list[str]) -> None:
    """Items with an "id" (the claims) are matched by it and named by it, so a
    drift reads "seeds / SEED-SOURCES / effect" and a claim missing from one
    side is one drift rather than every later claim shifted by one."""
    fresh = dict(zip(actual_ids, actual))
    parent = path[:-1]  # the id replaces the list's own key: "seeds / SEED-SOURCES", not "seeds / claims / …"
    for item_id, item in zip(expected_ids, expected):
        if item_id not in fresh:
            drifts.append(f"{_where(parent + [item_id])}: missing from the fresh report")
        else:
            _compare_value(item, fresh[item_id], parent + [item_id], drifts)
    for item_id in actual_ids:
        if item_id not in expected_ids:
            drifts.append(f"{_where(parent + [item_id])}: not in the committed report")
    common_expected = [i for i in expected_ids if i in fresh]
    common_actual = [i for i in actual_ids if i in set(expected_ids)]
    if common_expected != common_actual:
        drifts.append(f"{_where(path)}: order {', '.join(common_expected)} -> {', '.join(common_actual)}")


def _ids(items: list) -> list[str] | None:
    """The items' "id" values when every item is a dict with a distinct string id, else None."""
    if not items or not all(isinstance(i, dict) and isinstance(i.get("id"), str) for i in items):
        return None
    ids = [i["id"] for i in items]
    return ids if len(set(ids)) == len(ids) else None


def count_numbers(document: Any) -> int:
    """How many numbers a document holds outside volatile keys: the numbers a comparison checks."""
    if _is_number(document):
        return 1
    if isinstance(document, dict):
        return sum(count_numbers(v) for k, v in document.items() if k not in VOLATILE_KEYS)
    if isinstance(document, list):
        return sum(count_numbers(v) for v in document)
    return 0


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _where(path: list[str]) -> str:
    return SEP.join(path)


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _show(value: Any, limit: int = 80) -> str:
    """A value as JSON would write it, shortened: claims carry paragraph-long quotes."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _differing_part(a: str, b: str, limit: int = 80) -> tuple[str, str]:
    """Two strings as JSON, cut to a window around where they first differ:
    notes and quotes run to hundreds of characters, and a change may be near the end."""
    if max(len(a), len(b)) <= limit:
        return _show(a), _show(b)
    first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    start = max(0, first - limit // 3)

    def window(text: str) -> str:
        part = text[start:start + limit]
        return ("…" if start else "") + json.dumps(part, ensure_ascii=False)[1:-1] + \
            ("…" if start + limit < len(text) else "")

    return f'"{window(a)}"', f'"{window(b)}"'


def _distinguishing_digits(a: float, b: float) -> tuple[str, str]:
    """The two numbers with the fewest significant digits (at least 3) that
    tell them apart: 0.414 -> 0.549, but 0.41400001 -> 0.41400002."""
    if isinstance(a, int) and isinstance(b, int):
        return str(a), str(b)
    for digits in range(3, 18):
        before, after = f"{a:.{digits}g}", f"{b:.{digits}g}"
        if before != after:
            return before, after
    return repr(a), repr(b)


# -- comparing two report folders -------------------------------------------------------------

def study_names(reports: Path, selected: Sequence[str] | None) -> set[str]:
    """Studies with a verdicts.json under ``reports``, restricted to ``selected`` (None: all)."""
    if not reports.is_dir():
        return set()
    found = {p.parent.name for p in reports.glob(f"*/{VERDICTS}")}
    return found if selected is None else found & set(selected)


def load(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SetupError(f"cannot read {path}: {exc}") from exc


def compare_reports(expected_dir: Path, actual_dir: Path,
                    selected: Sequence[str] | None) -> tuple[list[str], int, int]:
    """(drifts, studies compared, numbers compared) between two ``reports/`` folders."""
    expected_names = study_names(expected_dir, selected)
    actual_names = study_names(actual_dir, selected)
    drifts: list[str] = []
    numbers = 0
    for name in sorted(expected_names | actual_names):
        if name not in actual_names:
            drifts.append(f"{name}: committed, but the run wrote no reports/{name}/{VERDICTS}")
            continue
        if name not in expected_names:
            drifts.append(f"{name}: the run wrote reports/{name}/{VERDICTS}, but none is committed")
            continue
        expected = load(expected_dir / name / VERDICTS)
        drifts += compare(expected, load(actual_dir / name / VERDICTS), name)
        numbers += count_numbers(expected)
    return drifts, len(expected_names & actual_names), numbers


# what a report's environment says about the machine: trained numbers differ by CPU and by torch build
MACHINE_KEYS = ("device", "device_name", "version.torch")


def machine_changes(expected_dir: Path, actual_dir: Path, selected: Sequence[str] | None) -> list[str]:
    """One line per study whose committed report was made on another machine
    than the rerun (``MACHINE_KEYS`` of the two environments): its drifts may be
    the machine's floats, not the code's. Not a drift itself: the environment is
    volatile, and the numbers are compared all the same."""
    lines = []
    for name in sorted(study_names(expected_dir, selected) & study_names(actual_dir, selected)):
        before = load(expected_dir / name / VERDICTS).get("environment") or {}
        after = load(actual_dir / name / VERDICTS).get("environment") or {}
        changed = [f"{key} {before.get(key)!s} -> {after.get(key)!s}" for key in MACHINE_KEYS
                   if before.get(key) != after.get(key)]
        if changed:
            lines.append(f"{name}: committed from another machine ({'; '.join(changed)})")
    return lines


def check_budget(reports: Path, names: set[str], budget: str) -> None:
    """Stop before any compute when the committed reports were made at another
    budget: every number would drift, and a standard run costs over an hour."""
    for name in sorted(names):
        committed = load(reports / name / VERDICTS).get("budget")
        if committed != budget:
            raise SetupError(f"the committed reports/{name}/{VERDICTS} is at budget {committed!r}, not "
                             f"{budget!r}: verify with --budget {committed}")


# -- the clone -------------------------------------------------------------------------------

def git(*args: str, cwd: Path) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise SetupError(f"cannot run git: {exc}") from exc
    if done.returncode != 0:
        raise SetupError(f"git {' '.join(args)} in {cwd} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def head_commit(source: Path) -> str:
    if not source.is_dir():
        raise SetupError(f"--source {source} is not a folder")
    return git("rev-parse", "--verify", "HEAD^{commit}", cwd=source)


def has_uncommitted_changes(source: Path) -> bool:
    # untracked files are ignored: they are not in HEAD and a clone would not have them either
    return bool(git("status", "--porcelain", "--untracked-files=no", cwd=source))


def clone_head(source: Path, commit: str, dest: Path) -> None:
    """A clone checked out at ``commit`` exactly: ``git clone`` alone checks out
    the source's current branch tip, which is not HEAD when HEAD is detached."""
    git("clone", "--quiet", "--no-checkout", str(source), str(dest), cwd=dest.parent)
    git("checkout", "--quiet", "--detach", commit, cwd=dest)


def set_expected_aside(clone: Path, expected: Path) -> None:
    """Move the committed reports out of the clone before anything runs: they
    are the expected results, and the run must start from an empty reports/
    so that a study it failed to report cannot pass by leaving the committed
    file in place."""
    reports = clone / "reports"
    if reports.exists():
        shutil.move(str(reports), str(expected))
    else:
        expected.mkdir()


# -- running the studies in the clone --------------------------------------------------------

def child_env(clone: Path) -> dict[str, str]:
    """The user's environment, but with the clone's code first on the path and
    the clone as the harness home (reports land in clone/reports, never in the
    project's), and no MLflow store but the private one given on the command line."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(clone), env.get("PYTHONPATH", "")) if p)
    env["HARNESS_HOME"] = str(clone)
    return env


def check_imports_from(clone: Path, env: dict[str, str]) -> None:
    """Make sure the clone's ``harness`` and ``studies`` are the ones imported.
    The virtual environment installs this project in editable mode; its import
    hook sits after the path-based finder, so PYTHONPATH wins, but a different
    install (a plain ``pip install .``, a .pth file) could shadow the clone and
    silently verify the wrong code."""
    probe = "import harness, studies; print(harness.__file__); print(studies.__path__[0])"
    done = subprocess.run([sys.executable, "-c", probe], cwd=clone, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SetupError(f"the clone's code does not import (exit status {done.returncode}):\n{done.stderr.strip()}")
    root = clone.resolve()
    for location in done.stdout.split():
        if not Path(location).resolve().is_relative_to(root):
            raise SetupError(f"{sys.executable} imports {location}, not the clone's copy under {root}; "
                             "the installed package shadows PYTHONPATH")


def harness_command(budget: str, studies: Sequence[str], workdir: Path) -> list[str]:
    return [sys.executable, "-m", "harness", "run", *studies, "--budget", budget, "--no-progress",
            "--storage", f"journal:{workdir / 'optuna.journal'}",
            "--tracking-uri", f"sqlite:///{workdir / 'mlflow.db'}"]


def run_studies(command: list[str], clone: Path, env: dict[str, str]) -> None:
    # stdout and stderr are inherited, not captured: a standard run takes over an hour and shows its progress
    print(f"$ cd {shlex.quote(str(clone))} && {shlex.join(command)}", flush=True)
    status = subprocess.run(command, cwd=clone, env=env).returncode
    if status != 0:
        raise SetupError(f"the harness run failed with exit status {status}; nothing was compared")


# -- the command -----------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness.verify",
        description="Clone the committed HEAD, rerun its studies with a private store, and check that "
                    "every reports/<study>/verdicts.json comes out the same.")
    # budget and studies default to None so that --resume can tell an explicit value from none
    parser.add_argument("--budget", choices=BUDGET_NAMES,
                        help=f"the budget the committed reports were made at (default {REPORT_BUDGET})")
    parser.add_argument("--studies", nargs="+", metavar="NAME",
                        help="studies to rerun and compare (default: all)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--keep", type=Path, metavar="DIR",
                       help="work in DIR (new or empty) and keep the clone, the expected reports and the "
                            "stores there, instead of a temporary folder that is deleted")
    where.add_argument("--resume", type=Path, metavar="DIR",
                       help="go on with a run cut off in DIR (kept by an earlier --keep DIR): the same commit, "
                            "budget and studies, the finished trials kept; then compare")
    parser.add_argument("--source", type=Path, default=PROJECT_ROOT,
                        help="the git repository whose HEAD is verified (default: this project)")
    return parser


def workspace(keep: Path | None) -> Path:
    if keep is None:
        return Path(tempfile.mkdtemp(prefix="harness-verify-"))
    if keep.exists() and (not keep.is_dir() or any(keep.iterdir())):
        raise SetupError(f"--keep {keep} must be a new or empty folder")
    keep.mkdir(parents=True, exist_ok=True)
    return keep.resolve()


def resumed_run(workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """What the run cut off in ``workdir`` verifies (its RECORD), after
    checking that the workspace is one ``--keep`` made and that its clone still
    holds that commit's code. A budget or studies given with ``--resume`` must
    agree with the record: resuming another selection would start it afresh in
    the same stores."""
    missing = [name for name in ("clone", "expected-reports", RECORD) if not (workdir / name).exists()]
    if missing:
        raise SetupError(f"--resume {workdir}: not a workspace kept by `python -m harness.verify --keep` (it "
                         f"lacks {', '.join(missing)}); a run kept before --resume existed goes on with the "
                         "`harness run` command its log printed, in its clone")
    record = json.loads((workdir / RECORD).read_text())
    for name in ("budget", "studies"):
        given = getattr(args, name)
        if given is not None and given != record[name]:
            raise SetupError(f"--resume {workdir}: it verifies --{name} {_shown(record[name])}, not "
                             f"{_shown(given)}; leave --{name} out to go on with its run")
    clone = workdir / "clone"
    head = git("rev-parse", "HEAD", cwd=clone)
    # the run writes reports/ and the committed ones were moved out: every other tracked file must be HEAD's
    edited = [path for path in git("diff", "--name-only", "HEAD", cwd=clone).splitlines()
              if not path.startswith("reports/")]
    if head != record["commit"] or edited:
        what = f"HEAD is {head[:12]}" if head != record["commit"] else f"edited: {', '.join(edited[:5])}"
        raise SetupError(f"--resume {workdir}: its clone no longer holds {record['commit'][:12]}'s code ({what}); "
                         "verify afresh with --keep in a new folder")
    return record


def _shown(value: Any) -> str:
    return " ".join(value) if isinstance(value, list) else str(value)


def verify(args: argparse.Namespace, workdir: Path) -> int:
    clone, expected = workdir / "clone", workdir / "expected-reports"
    if args.resume is not None:
        record = resumed_run(workdir, args)
        print(f"verify: resuming the run of {record['commit'][:12]} in {clone}", flush=True)
    else:
        source = args.source.resolve()
        commit = head_commit(source)
        if has_uncommitted_changes(source):
            print(f"warning: {source} has uncommitted changes to tracked files; only HEAD ({commit[:12]}) is "
                  "verified, not the working tree", file=sys.stderr, flush=True)
        record = {"commit": commit, "budget": args.budget or REPORT_BUDGET, "studies": args.studies or ["all"],
                  "source": str(source)}
        print(f"verify: cloning {source} at {commit[:12]} into {clone}", flush=True)
        clone_head(source, commit, clone)
        set_expected_aside(clone, expected)
        (workdir / RECORD).write_text(json.dumps(record, indent=2) + "\n")  # before the run that may be cut off
    commit, budget, chosen = record["commit"], record["budget"], record["studies"]
    selected = None if chosen == ["all"] else list(chosen)

    # the budget's folder: reports/ for the committed tier, reports/<budget>/ for another (paths.reports_dir)
    folder = reports_dir(budget, Path())  # relative to a checkout
    expected, actual = expected / folder.relative_to("reports"), clone / folder
    names = study_names(expected, selected)
    if not names:
        wanted = "any study" if selected is None else ", ".join(selected)
        raise SetupError(f"HEAD has no committed {folder.as_posix()}/<study>/{VERDICTS} for {wanted}: "
                         "nothing to verify")
    check_budget(expected, names, budget)

    env = child_env(clone)
    check_imports_from(clone, env)
    run_studies(harness_command(budget, chosen, workdir), clone, env)

    drifts, studies, numbers = compare_reports(expected, actual, selected)
    print_summary(drifts, studies, numbers, commit, machine_changes(expected, actual, selected))
    return 1 if drifts else 0


def print_summary(drifts: list[str], studies: int, numbers: int, commit: str,
                  machines: Sequence[str] = ()) -> None:
    print(f"\nverify: {studies} studies compared, {numbers} numbers compared, {len(drifts)} drifts")
    if machines:
        print("The same code and seeds train to other floats on another CPU or torch build, so these studies' "
              "drifts may be the machine's (README, \"Verdicts\"):")
        for line in machines:
            print(f"  {line}")
    if drifts:
        print(f"HEAD {commit[:12]} does not reproduce its committed reports:")
        for line in drifts:
            print(f"  {line}")
    else:
        print(f"HEAD {commit[:12]} reproduces its committed reports.")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.studies and "all" in args.studies and len(args.studies) > 1:
        print("verify: error: --studies takes 'all' or study names, not both", file=sys.stderr)
        return 2
    if args.resume is not None and args.source != PROJECT_ROOT:
        print("verify: error: --resume goes on with the clone it kept; --source does not apply", file=sys.stderr)
        return 2
    workdir = None
    try:
        workdir = args.resume.resolve() if args.resume is not None else workspace(args.keep)
        return verify(args, workdir)
    except SetupError as exc:
        print(f"verify: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        if workdir is not None and args.keep is None and args.resume is None:
            shutil.rmtree(workdir, ignore_errors=True)
        elif workdir is not None:
            print(f"verify: kept the clone, the expected reports and the stores in {workdir}")


if __name__ == "__main__":
    sys.exit(main())
