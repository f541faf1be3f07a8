"""``python -m harness.verify`` (make verify-reports): the comparison of two
verdict documents on synthetic ones, the command's refusals, and the whole
clone + run + compare path on a throwaway copy of this repository with the
tests' tiny study."""
from __future__ import annotations

import copy
import io
import json
import math
import shutil
import subprocess
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness import verify
from harness.paths import reports_dir
from harness.verify import VOLATILE_KEYS, compare, compare_reports, count_numbers, machine_changes, print_summary

ROOT = Path(__file__).resolve().parent.parent

DOC = {
    "study": "seeds",
    "title": "Seeds",
    "budget": "quick",
    "generated_at": "2026-11-25T23:46:07+00:00",
    "environment": {"device": "cpu", "git_commit": "abc"},
    "tracking_uri": "sqlite:////work/main/mlflow.db",
    "experiment_id": "4",
    "parent_run": "6b08",
    "trials": {"finished": 616, "failed": 0, "tuning": 80},
    "claims": [
        {"id": "SEED-SENS", "verdict": "reproduced", "effect": 0.010941077561453716,
         "ci": [0.00960634099505105, 0.012709979069399994], "p_value": 1.512222837282226e-49,
         "p_raw": {"support": 2.5e-50, "opposite": None, "equivalence": 1.0}, "n": 100,
         "measured": {"sens-mnist1d SD": 0.0113, "sens-fashion SD": 0.0109}, "seeds_needed": None,
         "runs": ["50d7", "cd40"], "notes": []},
        {"id": "SEED-SOURCES", "verdict": "reproduced", "effect": 0.414, "ci": [0.3, 0.5], "p_value": 0.001,
         "p_raw": {"support": 0.001, "opposite": 0.999, "equivalence": None}, "n": 50,
         "measured": {"init share": 0.4, "order share": 0.2}, "seeds_needed": 12, "runs": ["a", "b"],
         "notes": ["two sources"]},
    ],
}


def changed(**edits) -> dict:
    """A deep copy of DOC with claim fields replaced: changed(SEED_SOURCES={"effect": 0.5})."""
    doc = copy.deepcopy(DOC)
    for claim_id, fields in edits.items():
        claim = next(c for c in doc["claims"] if c["id"] == claim_id.replace("_", "-"))
        claim.update(fields)
    return doc


# -- compare ----------------------------------------------------------------------------------

def test_identical_documents_have_no_drift():
    assert compare(DOC, copy.deepcopy(DOC), "seeds") == []


def test_a_number_changed_by_one_in_a_million_is_named():
    drifts = compare(DOC, changed(SEED_SOURCES={"effect": 0.414 * (1 + 1e-6)}), "seeds")
    assert drifts == ["seeds / SEED-SOURCES / effect: 0.414 -> 0.4140004 (relative 1e-06)"]


def test_drift_reads_as_a_relative_change_from_the_committed_value():
    assert compare(DOC, changed(SEED_SOURCES={"effect": 0.549}), "seeds") == [
        "seeds / SEED-SOURCES / effect: 0.414 -> 0.549 (relative 0.33)"]


def test_a_number_changed_by_one_in_a_trillion_is_no_drift():
    assert compare(DOC, changed(SEED_SOURCES={"effect": 0.414 * (1 + 1e-12)}), "seeds") == []


def test_numbers_near_zero_have_an_absolute_floor():
    assert compare({"x": 0.0}, {"x": 1e-13}, "s") == []
    assert compare({"x": 0.0}, {"x": 1e-9}, "s") == ["s / x: 0 -> 1e-09"]


def test_int_and_float_of_the_same_value_agree_but_bool_is_not_a_number():
    assert compare({"n": 3}, {"n": 3.0}, "s") == []
    assert compare({"flag": True}, {"flag": 1}, "s") == ["s / flag: true -> 1 (bool -> int)"]
    assert compare({"flag": True}, {"flag": False}, "s") == ["s / flag: true -> false"]


def test_nan_in_both_is_no_drift_but_nan_against_a_number_is():
    assert compare({"x": math.nan}, {"x": math.nan}, "s") == []
    assert compare({"x": math.nan}, {"x": 0.5}, "s") == ["s / x: nan -> 0.5"]


def test_volatile_keys_are_skipped_anywhere():
    fresh = copy.deepcopy(DOC)
    fresh.update(generated_at="2027-01-01", tracking_uri="sqlite:////tmp/x.db", experiment_id="1",
                 parent_run="ffff", environment={"device": "cuda"})
    fresh["claims"][0]["runs"] = ["other", "runs", "entirely"]
    fresh["claims"][1]["provenance"] = {"commit": "new"}  # only on one side, and nested
    del fresh["environment"]
    assert compare(DOC, fresh, "seeds") == []
    assert {"generated_at", "runs", "environment"} <= VOLATILE_KEYS


def test_a_changed_verdict_names_the_claim():
    assert compare(DOC, changed(SEED_SENS={"verdict": "inconclusive"}), "seeds") == [
        'seeds / SEED-SENS / verdict: "reproduced" -> "inconclusive"']


def test_a_missing_or_extra_claim_is_one_drift_each():
    fresh = copy.deepcopy(DOC)
    del fresh["claims"][0]
    assert compare(DOC, fresh, "seeds") == ["seeds / SEED-SENS: missing from the fresh report"]
    assert compare(fresh, DOC, "seeds") == ["seeds / SEED-SENS: not in the committed report"]


def test_claims_in_another_order_are_a_drift():
    fresh = copy.deepcopy(DOC)
    fresh["claims"].reverse()
    assert compare(DOC, fresh, "seeds") == ["seeds / claims: order SEED-SENS, SEED-SOURCES -> SEED-SOURCES, SEED-SENS"]


def test_null_against_a_value_is_a_drift_in_either_direction():
    doc = changed(SEED_SOURCES={"p_raw": {"support": 0.001, "opposite": 0.999, "equivalence": 0.2}})
    assert compare(DOC, doc, "seeds") == ["seeds / SEED-SOURCES / p_raw / equivalence: null -> 0.2 (null -> float)"]
    assert compare(doc, DOC, "seeds") == ["seeds / SEED-SOURCES / p_raw / equivalence: 0.2 -> null (float -> null)"]


def test_nested_lists_and_dicts():
    doc = changed(SEED_SOURCES={"ci": [0.3, 0.51], "measured": {"init share": 0.4, "mask share": 0.1}})
    assert compare(DOC, doc, "seeds") == [
        "seeds / SEED-SOURCES / ci[1]: 0.5 -> 0.51 (relative 0.02)",
        "seeds / SEED-SOURCES / measured / order share: missing from the fresh report",
        "seeds / SEED-SOURCES / measured / mask share: not in the committed report",
    ]
    assert compare(DOC, changed(SEED_SOURCES={"ci": [0.3, 0.5, 0.7]}), "seeds") == [
        "seeds / SEED-SOURCES / ci: 2 items -> 3 items"]
    assert compare({"m": [[1, 2], [3, 4]]}, {"m": [[1, 2], [3, 5]]}, "s") == ["s / m[1][1]: 4 -> 5 (relative 0.25)"]


def test_long_strings_are_shortened_to_where_they_differ():
    [drift] = compare({"quote": "a" * 500}, {"quote": "b" * 500}, "s")
    assert len(drift) < 200 and drift.startswith('s / quote: "aaa')
    [drift] = compare({"note": "x" * 300 + " SD 0.011."}, {"note": "x" * 300 + " SD 0.012."}, "s")
    assert drift.startswith('s / note: "…xxx') and ' SD 0.011." -> "…xxx' in drift
    assert drift.endswith(' SD 0.012."') and len(drift) < 100


def test_count_numbers_skips_volatile_keys():
    assert count_numbers({"n": 1, "x": [0.5, None, "s", True], "runs": [1, 2], "environment": {"t": 2}}) == 2
    assert count_numbers(DOC) == 3 + 9 + 10  # trials, then each claim's numbers (nulls and runs not counted)


def write_reports(folder: Path, documents: dict[str, dict]) -> None:
    for name, doc in documents.items():
        (folder / name).mkdir(parents=True)
        (folder / name / "verdicts.json").write_text(json.dumps(doc, indent=2))


def test_compare_reports_names_a_study_missing_from_either_side(tmp_path):
    write_reports(tmp_path / "expected", {"seeds": DOC, "old": DOC})
    write_reports(tmp_path / "actual", {"seeds": DOC, "new": DOC})
    drifts, studies, numbers = compare_reports(tmp_path / "expected", tmp_path / "actual", None)
    assert drifts == ["new: the run wrote reports/new/verdicts.json, but none is committed",
                      "old: committed, but the run wrote no reports/old/verdicts.json"]
    assert (studies, numbers) == (1, count_numbers(DOC))
    # only the selected studies are compared
    assert compare_reports(tmp_path / "expected", tmp_path / "actual", ["seeds"])[0] == []


def test_a_report_from_another_machine_is_named_beside_the_drifts_not_as_one(tmp_path, capsys):
    intel = copy.deepcopy(DOC)
    intel["environment"] = {"device": "cpu", "device_name": "Intel(R) Xeon(R) Processor", "version.torch": "2.13.0+cpu"}
    amd = copy.deepcopy(intel)
    amd["environment"]["device_name"] = "AMD EPYC"
    write_reports(tmp_path / "expected", {"seeds": intel, "dropout": intel})
    write_reports(tmp_path / "actual", {"seeds": amd, "dropout": intel})
    assert compare_reports(tmp_path / "expected", tmp_path / "actual", None)[0] == []  # the environment is volatile
    machines = machine_changes(tmp_path / "expected", tmp_path / "actual", None)
    assert machines == ["seeds: committed from another machine (device_name Intel(R) Xeon(R) Processor -> AMD EPYC)"]
    assert machine_changes(tmp_path / "expected", tmp_path / "actual", ["dropout"]) == []
    print_summary(["seeds / SEED-SOURCES / effect: 0.414 -> 0.5"], 2, 10, "abcdef1234567890", machines)
    out = capsys.readouterr().out
    assert "may be the machine's" in out and "AMD EPYC" in out and "does not reproduce" in out


# -- the command, up to the point where it would run the studies -----------------------------

def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.com",
                           "-c", "commit.gpgsign=false", *args],
                          cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def make_repo(path: Path, reports: dict[str, dict], code: bool = False, budget: str = "standard") -> Path:
    """A git repository whose HEAD holds ``reports`` as <budget's folder>/<study>/verdicts.json
    (reports/ for standard, reports/<budget>/ for another), and, with ``code``, this project's
    committed code (a clone of its HEAD)."""
    if code:
        git("clone", "--quiet", str(ROOT), str(path), cwd=path.parent)
        shutil.rmtree(path / "reports", ignore_errors=True)
    else:
        path.mkdir()
        git("init", "--quiet", cwd=path)
    write_reports(reports_dir(budget, path), reports)
    git("add", "-A", "--force", cwd=path)  # the project ignores reports/smoke/: committed here on purpose
    git("commit", "--quiet", "--allow-empty", "-m", "reports under test", cwd=path)
    return path


def test_committed_reports_at_another_budget_stop_before_any_compute(tmp_path, capfd):
    # a smoke report copied into the standard tier's folder
    repo = make_repo(tmp_path / "repo", {"tiny": {"study": "tiny", "budget": "smoke"}})
    assert verify.main(["--source", str(repo)]) == 2
    err = capfd.readouterr().err
    assert "reports/tiny/verdicts.json is at budget 'smoke', not 'standard': verify with --budget smoke" in err


def test_another_budget_is_verified_from_its_own_folder(tmp_path, capfd):
    # the quick tier's reports live in reports/quick/: a standard report is not what --budget quick checks
    repo = make_repo(tmp_path / "repo", {"tiny": {"study": "tiny", "budget": "standard"}})
    assert verify.main(["--source", str(repo), "--budget", "quick"]) == 2
    assert "HEAD has no committed reports/quick/<study>/verdicts.json for any study" in capfd.readouterr().err


def test_nothing_committed_to_verify_is_a_setup_error(tmp_path, capfd):
    repo = make_repo(tmp_path / "repo", {"tiny": {"budget": "smoke"}})
    assert verify.main(["--source", str(repo), "--studies", "other"]) == 2
    assert "no committed reports/<study>/verdicts.json for other: nothing to verify" in capfd.readouterr().err


def test_a_source_that_is_not_a_repository_is_a_setup_error(tmp_path, capfd):
    assert verify.main(["--source", str(tmp_path)]) == 2
    assert "git rev-parse" in capfd.readouterr().err


def test_all_mixed_with_names_and_a_used_keep_folder_are_refused(tmp_path, capfd):
    assert verify.main(["--studies", "all", "seeds"]) == 2
    (tmp_path / "something").write_text("")
    assert verify.main(["--keep", str(tmp_path)]) == 2
    assert "must be a new or empty folder" in capfd.readouterr().err


def kept_workspace(path: Path, studies: list[str], budget: str = "smoke") -> Path:
    """A workspace as ``--keep`` leaves it when its run is cut off: the clone,
    the committed reports set aside, and the record of what it verifies."""
    path.mkdir()
    clone = make_repo(path / "clone", {"tiny": {"study": "tiny", "budget": budget}}, budget=budget)
    shutil.move(str(clone / "reports"), str(path / "expected-reports"))
    record = {"commit": git("rev-parse", "HEAD", cwd=clone), "budget": budget, "studies": studies,
              "source": str(path / "repo")}
    (path / verify.RECORD).write_text(json.dumps(record))
    return path


def test_resume_refuses_a_folder_that_keep_did_not_make(tmp_path, capfd):
    assert verify.main(["--resume", str(tmp_path)]) == 2
    err = capfd.readouterr().err
    assert "not a workspace kept by `python -m harness.verify --keep`" in err
    assert "clone, expected-reports, verify.json" in err and "`harness run` command its log printed" in err


def test_resume_refuses_another_selection_than_its_record(tmp_path, capfd):
    # resuming other studies or another budget would start them afresh in the same stores
    ws = kept_workspace(tmp_path / "ws", ["tiny"])
    assert verify.main(["--resume", str(ws), "--studies", "seeds"]) == 2
    assert "it verifies --studies tiny, not seeds; leave --studies out" in capfd.readouterr().err
    assert verify.main(["--resume", str(ws), "--budget", "standard"]) == 2
    assert "it verifies --budget smoke, not standard" in capfd.readouterr().err


def test_resume_refuses_a_clone_whose_code_changed(tmp_path, capfd):
    ws = kept_workspace(tmp_path / "ws", ["tiny"])
    clone = ws / "clone"
    args = verify.build_parser().parse_args(["--resume", str(ws)])
    assert verify.resumed_run(ws, args)["studies"] == ["tiny"]  # the reports set aside read as deleted: allowed
    (clone / "code.py").write_text("x = 1\n")
    git("add", "code.py", cwd=clone)
    git("commit", "--quiet", "-m", "a later commit", cwd=clone)
    assert verify.main(["--resume", str(ws)]) == 2
    err = capfd.readouterr().err
    assert "its clone no longer holds" in err and "(HEAD is " in err and "verify afresh with --keep" in err
    git("reset", "--quiet", "--soft", "HEAD~1", cwd=clone)  # the recorded commit again, code.py an uncommitted edit
    assert verify.main(["--resume", str(ws)]) == 2
    assert "(edited: code.py)" in capfd.readouterr().err


def test_resume_takes_neither_keep_nor_source(tmp_path, capfd):
    with pytest.raises(SystemExit):
        verify.main(["--resume", str(tmp_path), "--keep", str(tmp_path / "other")])
    assert "not allowed with argument" in capfd.readouterr().err
    assert verify.main(["--resume", str(tmp_path), "--source", str(tmp_path)]) == 2
    assert "--source does not apply" in capfd.readouterr().err


@pytest.mark.slow  # clones a repository and runs a study
def test_a_failed_harness_run_is_a_setup_error_with_its_exit_status(tmp_path, capfd, monkeypatch):
    monkeypatch.delenv("HARNESS_STUDY_MODULES", raising=False)
    repo = make_repo(tmp_path / "repo", {"no-such-study": {"budget": "smoke"}}, code=True, budget="smoke")
    assert verify.main(["--source", str(repo), "--studies", "no-such-study", "--budget", "smoke"]) == 2
    err = capfd.readouterr().err
    assert "unknown study" in err.lower()
    assert "the harness run failed with exit status 2; nothing was compared" in err


@pytest.mark.slow  # clones a repository and runs a study
def test_the_clones_code_is_what_imports(tmp_path, monkeypatch):
    repo = make_repo(tmp_path / "repo", {}, code=True)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # even with this project ahead on the user's path
    verify.check_imports_from(repo, verify.child_env(repo))
    env = verify.child_env(repo)
    assert env["HARNESS_HOME"] == str(repo) and env["PYTHONPATH"].startswith(str(repo))


# -- the whole path: clone, run the tiny study, compare --------------------------------------

TINY_ENV = "tiny_study"


def run_verify(repo: Path, keep: Path, monkeypatch) -> int:
    # the tiny study is registered from the clone's own tests/ folder, so it too is HEAD's
    monkeypatch.setenv("HARNESS_STUDY_MODULES", TINY_ENV)
    monkeypatch.setenv("PYTHONPATH", str(keep / "clone" / "tests"))
    return verify.main(["--source", str(repo), "--studies", "tiny", "--budget", "smoke", "--keep", str(keep)])


TAMPERED = {"study": "tiny", "budget": "smoke",
            "claims": [{"id": "TINY-WIDE", "verdict": "tampered"}, {"id": "TINY-SAME"}]}


@pytest.fixture(scope="module")
def tampered_run(tmp_path_factory):
    """One verify run (~20 s: a smoke run of the tiny study), shared by the two
    tests below. The committed verdict is one no run can produce; the working
    tree is broken on purpose to show that only HEAD runs. Its fresh report is
    also the next test's first run: a report that HEAD's code made in a clone."""
    tmp = tmp_path_factory.mktemp("tampered")
    repo = make_repo(tmp / "repo", {"tiny": TAMPERED}, code=True, budget="smoke")
    with open(repo / "harness" / "__init__.py", "a") as f:
        f.write("raise RuntimeError('the working tree ran, not HEAD')\n")
    # verify.main's own lines are printed in this process; the study run's output goes to the fds as before
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as monkeypatch, redirect_stdout(out), redirect_stderr(err):
        status = run_verify(repo, tmp / "keep", monkeypatch)
    return SimpleNamespace(repo=repo, keep=tmp / "keep", status=status, out=out.getvalue(), err=err.getvalue())


@pytest.mark.slow  # clones a repository and runs a study
def test_clone_run_and_compare_names_a_tampered_verdict(tampered_run):
    """~20 s: one smoke run of the tiny study (the shared ``tampered_run``).
    The committed verdict is one no run can produce; the working tree is broken
    on purpose to show that only HEAD runs; nothing lands in the source's reports/."""
    repo, keep, out, err = tampered_run.repo, tampered_run.keep, tampered_run.out, tampered_run.err
    assert tampered_run.status == 1
    assert "uncommitted changes to tracked files; only HEAD" in err
    assert 'tiny / TINY-WIDE / verdict: "tampered" -> "' in out
    assert "1 studies compared" in out
    assert (keep / "clone" / "reports" / "smoke" / "tiny" / "verdicts.json").is_file()
    assert (keep / "expected-reports" / "smoke" / "tiny" / "verdicts.json").is_file()
    assert json.loads((repo / "reports" / "smoke" / "tiny" / "verdicts.json").read_text()) == TAMPERED
    assert sorted(p.relative_to(repo / "reports").as_posix() for p in (repo / "reports").rglob("*")) == \
        ["smoke", "smoke/tiny", "smoke/tiny/verdicts.json"]


@pytest.mark.slow
def test_committed_fresh_reports_verify_and_a_tiny_change_does_not(tmp_path, capfd, monkeypatch, tampered_run):
    """~40 s: two smoke runs (the first run, which makes the fresh report, is
    ``tampered_run``'s: HEAD's code, run by verify in a clone, as here). Reports
    made by one run verify against the next (the tiny study is deterministic),
    and a number nudged by 1e-6 is named."""
    fresh_report = tampered_run.keep / "clone" / "reports" / "smoke" / "tiny" / "verdicts.json"
    fresh = json.loads(fresh_report.read_text())
    assert fresh["study"] == "tiny" and fresh["budget"] == "smoke" and fresh["claims"]
    repo = make_repo(tmp_path / "repo", {"tiny": fresh}, code=True, budget="smoke")
    assert run_verify(repo, tmp_path / "second", monkeypatch) == 0
    assert "0 drifts" in capfd.readouterr().out

    effect = fresh["claims"][0]["effect"]
    fresh["claims"][0]["effect"] = effect * (1 + 1e-6) if effect else 1e-6
    (repo / "reports" / "smoke" / "tiny" / "verdicts.json").write_text(json.dumps(fresh, indent=2))
    git("commit", "--quiet", "-am", "a nudged number", cwd=repo)
    assert run_verify(repo, tmp_path / "third", monkeypatch) == 1
    assert "tiny / TINY-WIDE / effect: " in capfd.readouterr().out


@pytest.mark.slow
def test_a_run_cut_off_goes_on_with_resume_and_compares(tmp_path, capfd, monkeypatch, tampered_run):
    """~20 s: a verify cut off (Ctrl-C) before its run finished keeps its
    workspace and the record of what it verifies; ``--resume`` with no other
    argument runs the same study in the same clone and stores, and compares."""
    fresh = json.loads((tampered_run.keep / "clone" / "reports" / "smoke" / "tiny" / "verdicts.json").read_text())
    repo = make_repo(tmp_path / "repo", {"tiny": fresh}, code=True, budget="smoke")
    run_studies = verify.run_studies

    def cut_off(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(verify, "run_studies", cut_off)
    assert run_verify(repo, tmp_path / "keep", monkeypatch) == 130
    record = json.loads((tmp_path / "keep" / verify.RECORD).read_text())
    assert record == {"commit": git("rev-parse", "HEAD", cwd=repo), "budget": "smoke", "studies": ["tiny"],
                      "source": str(repo.resolve())}
    assert "kept the clone, the expected reports and the stores" in capfd.readouterr().out
    monkeypatch.setattr(verify, "run_studies", run_studies)
    assert verify.main(["--resume", str(tmp_path / "keep")]) == 0
    out = capfd.readouterr().out
    assert f"resuming the run of {record['commit'][:12]}" in out and "0 drifts" in out
