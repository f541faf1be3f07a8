"""`harness rebuild`: a study's Optuna state recreated from the MLflow store.
Real stores only: the tiny study runs once per budget into a template home
(a real MLflow SQLite store and a real Optuna journal), each test works on a
copy of it, deletes or keeps the journal, rebuilds and resumes."""
from __future__ import annotations

import dataclasses
import shutil
import time
from types import SimpleNamespace

import optuna
import pytest
from optuna.trial import TrialState

from harness import paths
from harness.cli import main
from harness.discovery import get_study
from harness.rebuild import GAP_REASON, RebuildRefused, _choose, _layout, _Trial, rebuild
from harness.run import RunRequest, run_study
from harness.storage import open_storage
from harness.sweep import TUNED_ATTR
from harness.tracking import FINAL_METRICS, TAG, Tracker, default_tracking_uri

# The tests that train (a module's template run, then resumes) are end to end: `make test`, not `make check`
slow = pytest.mark.slow
DESIGN_ATTRS = ("design:narrow", "design:wide", "settings:narrow", "settings:wide")


def snapshot(name: str) -> dict:
    """An Optuna study as the tests compare it: its user attributes and each
    trial's state, value, params and user attributes (less ``worker``: MLflow
    does not record which process ran a trial)."""
    ostudy = optuna.load_study(study_name=name, storage=open_storage(None))
    return {"attrs": dict(ostudy.user_attrs),
            "trials": [(t.number, t.state, t.value, t.params, t.distributions,
                        {k: v for k, v in t.user_attrs.items() if k != "worker"}) for t in ostudy.get_trials()]}


def client():
    return Tracker(default_tracking_uri(paths.home())).client


def trial_runs(budget="smoke") -> dict[str, object]:
    return {r.info.run_id: r for r in Tracker(default_tracking_uri(paths.home())).trial_runs("tiny", budget)}


def journal():
    return paths.state_dir() / "optuna.journal"


def run_template(home, empty_store, budget: str, report: bool) -> SimpleNamespace:
    """The tiny study run once at ``budget`` into a template home: the stores, the
    claims of its report and what Optuna recorded."""
    shutil.copy(empty_store, home / "mlflow.db")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HARNESS_HOME", str(home))
        env.setenv("HARNESS_STUDY_MODULES", "tiny_study")
        for name in ("MLFLOW_TRACKING_URI", "HARNESS_STORAGE", "TINY_FAIL", "TINY_SLEEP"):
            env.delenv(name, raising=False)
        document = run_study(RunRequest("tiny", budget, progress=False, report=report))
        recorded = {name: snapshot(name) for name in optuna.get_all_study_names(open_storage(None))}
    return SimpleNamespace(home=home, claims=document["claims"] if document else None, recorded=recorded)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, empty_store):
    return run_template(tmp_path_factory.mktemp("smoke"), empty_store, "smoke", report=True)


@pytest.fixture(scope="module")
def quick(tmp_path_factory, empty_store):
    """At quick, with its tuning phase."""
    return run_template(tmp_path_factory.mktemp("quick"), empty_store, "quick", report=False)


def copy_of(template, home) -> SimpleNamespace:
    """A copy of a template's stores in this test's home."""
    shutil.copytree(template.home, home, dirs_exist_ok=True)
    return template


@pytest.fixture
def copy(home, smoke):
    return copy_of(smoke, home)


@pytest.fixture
def quick_copy(home, quick):
    return copy_of(quick, home)


@slow
def test_rebuilt_trials_are_those_the_sweep_recorded_and_a_resume_trains_nothing(copy, capsys):
    runs_before = trial_runs()
    journal().unlink()
    assert main(["rebuild", "tiny", "--budget", "smoke"]) == 0
    out = capsys.readouterr().out
    assert "rebuilt 4 COMPLETE trial(s) of tiny.smoke" in out and "trains nothing" in out

    rebuilt, original = snapshot("tiny.smoke"), copy.recorded["tiny.smoke"]
    assert rebuilt["trials"] == original["trials"]  # numbers, states, values, key/arm/replicate/run id/metric.*
    assert {k: rebuilt["attrs"][k] for k in DESIGN_ATTRS} == {k: original["attrs"][k] for k in DESIGN_ATTRS}
    assert "reads:wide" not in rebuilt["attrs"]  # not in MLflow: every setting is checked until a trial runs again
    assert rebuilt["attrs"]["rebuilt"]["trials"] == 4

    document = run_study(RunRequest("tiny", "smoke", progress=False))
    assert trial_runs().keys() == runs_before.keys()  # no trial ran again
    assert snapshot("tiny.smoke")["trials"] == original["trials"]  # each key COMPLETE once, with its run
    assert document["claims"] == copy.claims


@slow
def test_a_partial_store_resumes_exactly_the_missing_keys(copy):
    runs = trial_runs()
    lost = {r.info.run_id for r in runs.values()
            if (r.data.tags[TAG + "arm"], r.data.tags[TAG + "replicate"]) in {("narrow", "1"), ("wide", "0")}}
    for run_id in lost:
        client().delete_run(run_id)
    journal().unlink()
    result = rebuild(get_study("tiny"), "smoke")
    assert result.missing == ["narrow/r1", "wide/r0"] and result.design == 2
    # trials 1 and 2 left no run: placeholders keep the other trials at the numbers their runs recorded
    trials = optuna.load_study(study_name="tiny.smoke", storage=open_storage(None)).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.FAIL, TrialState.COMPLETE]
    assert trials[1].user_attrs == {"fail_reason": GAP_REASON.format(number=1)}

    run_study(RunRequest("tiny", "smoke", progress=False, report=False))
    after = trial_runs()
    new = [after[i] for i in after.keys() - runs.keys()]
    keys = sorted(f"{r.data.tags[TAG + 'arm']}/r{r.data.tags[TAG + 'replicate']}" for r in new)
    assert keys == ["narrow/r1", "wide/r0"]  # exactly the missing keys ran
    complete = [t for t in optuna.load_study(study_name="tiny.smoke", storage=open_storage(None)).get_trials()
                if t.state == TrialState.COMPLETE]
    assert sorted(t.user_attrs["key"] for t in complete) == ["narrow/r0", "narrow/r1", "wide/r0", "wide/r1"]
    assert {t.user_attrs["mlflow_run_id"] for t in complete} == (runs.keys() - lost) | {r.info.run_id for r in new}


@slow
def test_tuning_studies_and_the_tuned_values_are_rebuilt_so_a_resume_does_not_tune(quick_copy):
    copy = quick_copy
    runs_before = trial_runs("quick")
    journal().unlink()
    result = rebuild(get_study("tiny"), "quick")
    assert result.tuning == {"wide": 2} and result.missing == []
    for name in ("tiny.quick", "tiny.quick.tune.wide"):
        assert snapshot(name)["trials"] == copy.recorded[name]["trials"], name  # params and distributions too
    tuning = snapshot("tiny.quick.tune.wide")["attrs"]
    assert tuning[TUNED_ATTR] == copy.recorded["tiny.quick.tune.wide"]["attrs"][TUNED_ATTR]
    run_study(RunRequest("tiny", "quick", progress=False, report=False))
    assert trial_runs("quick").keys() == runs_before.keys()  # neither tuned nor trained again


def clone(run, start: int, end: int) -> str:
    """A second FINISHED run of the same trial, started and ended at the given times (ms)."""
    from mlflow.entities import Metric, Param

    c = client()
    copy = c.create_run(run.info.experiment_id, start_time=start, tags=dict(run.data.tags), run_name=run.info.run_name)
    c.log_batch(copy.info.run_id, params=[Param(k, v) for k, v in run.data.params.items()],
                metrics=[Metric(k, v, end, 0) for k, v in run.data.metrics.items()], synchronous=True)
    c.set_terminated(copy.info.run_id, "FINISHED", end_time=end)
    return copy.info.run_id


@slow
def test_of_two_finished_runs_of_a_key_the_later_is_used_and_overlapping_ones_are_refused(copy):
    run = next(r for r in trial_runs().values() if r.data.tags[TAG + "arm"] == "wide"
               and r.data.tags[TAG + "replicate"] == "1")
    later = clone(run, run.info.end_time + 1000, run.info.end_time + 2000)  # a re-run after the first was lost
    journal().unlink()
    rebuild(get_study("tiny"), "smoke")
    used = {t.user_attrs["key"]: t.user_attrs["mlflow_run_id"]
            for t in optuna.load_study(study_name="tiny.smoke", storage=open_storage(None)).get_trials()}
    assert used["wide/r1"] == later

    clone(run, run.info.end_time + 1500, run.info.end_time + 2500)  # ran while `later` ran
    journal().unlink()
    with pytest.raises(RebuildRefused, match="key wide/r1 has 3 FINISHED runs that ran at the same time"):
        rebuild(get_study("tiny"), "smoke")
    assert not journal().exists()


@slow
def test_changed_settings_are_refused_and_nothing_is_written(copy):
    from harness.study import Budget

    study = get_study("tiny")
    longer = Budget(replicates=2, settings=dataclasses.replace(study.budgets["smoke"].settings, epochs=3))
    journal().unlink()
    with pytest.raises(RebuildRefused, match=r"logged other settings than budget 'smoke' has now \(epochs: 2 in the "
                                             r"runs, 3 now\).*nothing written"):
        rebuild(dataclasses.replace(study, budgets={**study.budgets, "smoke": longer}), "smoke")
    assert not journal().exists()


@slow
@pytest.mark.parametrize("tamper, message", [
    (lambda c, run_id: c.set_tag(run_id, TAG + "study_source", "0" * 16),
     "came from another version of the study's files"),
    (lambda c, run_id: c.delete_tag(run_id, FINAL_METRICS), "recorded before the harness tagged a trial's final"),
])
def test_runs_from_other_code_or_an_older_harness_are_refused(copy, capsys, tamper, message):
    tamper(client(), next(iter(trial_runs())))
    journal().unlink()
    assert main(["rebuild", "tiny", "--budget", "smoke"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("harness: error: study 'tiny' at budget 'smoke': 1 run(s)") and message in err
    assert len(err.strip().splitlines()) == 1 and not journal().exists()


@slow
def test_a_storage_that_holds_the_study_is_refused_and_a_fresh_one_is_suggested(copy, capsys):
    before = journal().read_bytes()
    assert main(["rebuild", "tiny", "--budget", "smoke"]) == 2
    err = capsys.readouterr().err
    fresh = f"journal:{paths.state_dir() / 'optuna-rebuilt.journal'}"
    assert "already holds trials of tiny.smoke (4 trial(s))" in err and f"--storage {fresh}" in err
    assert journal().read_bytes() == before
    assert main(["rebuild", "tiny", "--budget", "smoke", "--storage", fresh]) == 0  # the advice works
    assert "with the same --storage" in capsys.readouterr().out


@slow
def test_a_damaged_journal_names_rebuild_and_a_rebuild_into_a_fresh_one_resumes_without_training(copy, capsys):
    runs_before = trial_runs()
    with open(journal(), "ab") as f:
        f.write(b'{"op_code": 5, "worker')  # a write cut short
    assert main(["rebuild", "tiny", "--budget", "smoke"]) == 2
    err = capsys.readouterr().err
    assert "is damaged at byte" in err and "harness repair-journal" in err  # the two ways out
    assert "`harness rebuild STUDY --budget B --storage journal:NEW_PATH`" in err
    fresh = f"journal:{paths.state_dir() / 'fresh.journal'}"
    assert main(["rebuild", "tiny", "--budget", "smoke", "--storage", fresh]) == 0
    run_study(RunRequest("tiny", "smoke", storage=fresh, progress=False, report=False))
    assert trial_runs().keys() == runs_before.keys()


@slow
def test_no_password_is_printed(copy, capsys):
    journal().unlink()
    for args in (["--tracking-uri", "http://user:s3cret@127.0.0.1:9"],
                 ["--storage", "postgresql://user:s3cret@127.0.0.1:9/optuna"]):
        assert main(["rebuild", "tiny", "--budget", "smoke", *args]) == 2
        captured = capsys.readouterr()
        assert "s3cret" not in captured.out + captured.err and "harness: error:" in captured.err
    assert not journal().exists()


def test_runs_are_laid_out_at_their_recorded_numbers():
    def trial(number, start=0):
        return _Trial(f"run{number}-{start}", number, start, start, 0.0, {})

    sequence, moved = _layout([trial(3), trial(0), trial(3, start=5), trial(None)])
    assert [t if isinstance(t, int) else (t.number, t.start) for t in sequence] == [(0, 0), 1, 2, (3, 0), (3, 5),
                                                                                   (None, 0)]
    assert moved == 2
    now = int(time.time() * 1000)

    def run(run_id, start, end):
        return SimpleNamespace(info=SimpleNamespace(run_id=run_id, start_time=start, end_time=end))

    assert _choose(("replicate", "wide", 0), [run("b", now + 10, now + 20), run("a", now, now + 5)]).info.run_id == "b"
    with pytest.raises(RebuildRefused, match="ran at the same time"):
        _choose(("replicate", "wide", 0), [run("a", now, now + 15), run("b", now + 10, now + 20)])


def test_nothing_to_rebuild_is_refused(home):
    with pytest.raises(RebuildRefused, match="no FINISHED trial run of study 'tiny' at budget 'smoke'"):
        rebuild(get_study("tiny"), "smoke")
    assert not journal().exists()
