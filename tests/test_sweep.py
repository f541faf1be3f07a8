"""The sweep end to end on the tiny study: real Optuna journal, real MLflow
SQLite store, in a temporary home. Checks the design runs exactly once per
(arm, replicate), resumes without duplicates, records failures, survives
Ctrl-C and a killed worker."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState

from conftest import ROOT, TESTS, harness_env
from harness import paths
from harness.run import RunRequest, run_study
from harness.sweep import open_storage
from harness.tracking import Tracker, default_tracking_uri

pytestmark = pytest.mark.slow  # sweeps end to end, with subprocesses and signals: in `make test`, not `make check`


def design_trials(study="tiny", budget="smoke"):
    storage = open_storage(None)
    return optuna.load_study(study_name=f"{study}.{budget}", storage=storage).get_trials(deepcopy=False)


def complete_keys(trials):
    return sorted(t.user_attrs["key"] for t in trials if t.state == TrialState.COMPLETE)


def child_runs(budget="smoke"):
    return Tracker(default_tracking_uri(paths.home())).runs("tiny", budget)


def test_design_runs_once_per_key_with_one_mlflow_run_each(home):
    document = run_study(RunRequest("tiny", "smoke", progress=False))
    keys = complete_keys(design_trials())
    assert keys == ["narrow/r0", "narrow/r1", "wide/r0", "wide/r1"]
    runs = child_runs()
    assert len(runs) == 4 and set(runs["status"]) == {"FINISHED"}
    # the trial knows its run, the run knows its trial
    for t in design_trials():
        row = runs[runs["run_id"] == t.user_attrs["mlflow_run_id"]].iloc[0]
        assert row["tags.optuna.trial_number"] == str(t.number)
        assert row["run_name"] == f"{t.user_attrs['arm']} r{t.user_attrs['replicate']}"
        assert row["params.seed.init"].isdigit() and "params.seed.data_order" in row
        assert row["params.settings.epochs"] == "2"  # every budget setting the trial may read is a param
    assert {c["id"] for c in document["claims"]} == {"TINY-WIDE", "TINY-SAME"}
    assert (home / "reports" / "smoke" / "tiny" / "report.md").exists()


def test_second_run_resumes_without_duplicates(home):
    run_study(RunRequest("tiny", "smoke", progress=False))
    first = child_runs()
    run_study(RunRequest("tiny", "smoke", progress=False))
    assert len(child_runs()) == len(first) == 4
    assert len(design_trials()) == 4


def test_failures_are_recorded_and_rerun_on_resume(home, monkeypatch):
    monkeypatch.setenv("TINY_FAIL", "wide/r1=exception,narrow/r0=nan")
    document = run_study(RunRequest("tiny", "smoke", progress=False))
    trials = design_trials()
    failed = {t.user_attrs["key"]: t.user_attrs["fail_reason"] for t in trials if t.state == TrialState.FAIL}
    assert failed.keys() == {"wide/r1", "narrow/r0"}
    assert "injected failure" in failed["wide/r1"]
    assert "TrialDiverged" in failed["narrow/r0"] and "epoch" in failed["narrow/r0"]
    assert complete_keys(trials) == ["narrow/r1", "wide/r0"]
    runs = child_runs()
    assert sorted(runs[runs["status"] == "FAILED"]["tags.harness.fail_reason"].str[:12]) == \
        ["RuntimeError", "TrialDiverge"]
    assert document["trials"] == {"finished": 2, "failed": 2, "tuning": 0, "tuning_failed": 0}
    report = (home / "reports" / "smoke" / "tiny" / "report.md").read_text()
    assert "## Failed trials" in report and "injected failure" in report
    # resume: only the two failed keys run again, and each key is now complete once
    monkeypatch.delenv("TINY_FAIL")
    document = run_study(RunRequest("tiny", "smoke", progress=False))
    assert complete_keys(design_trials()) == ["narrow/r0", "narrow/r1", "wide/r0", "wide/r1"]
    assert document["trials"]["finished"] == 4 and document["trials"]["failed"] == 0
    assert len(child_runs()) == 6  # 4 finished + the 2 failed attempts, kept for the record


def test_a_result_that_would_end_its_curve_on_another_value_fails_the_trial_with_the_fix(home, monkeypatch):
    monkeypatch.setenv("TINY_FAIL", "wide/r0=clash")  # returns train_loss -1, the loop's curve ends elsewhere
    run_study(RunRequest("tiny", "smoke", progress=False))
    failed = {t.user_attrs["key"]: t.user_attrs["fail_reason"] for t in design_trials() if t.state == TrialState.FAIL}
    assert failed.keys() == {"wide/r0"}
    assert "final metric(s) train_loss" in failed["wide/r0"] and "epoch_<name>" in failed["wide/r0"]
    runs = child_runs()
    assert list(runs[runs["status"] == "FAILED"]["tags.harness.fail_reason"].str[:10]) == ["ValueError"]


def test_a_key_that_keeps_failing_is_quarantined_after_its_attempts(home, monkeypatch, capsys):
    monkeypatch.setenv("TINY_FAIL", "wide/r1=exception")
    monkeypatch.setenv("HARNESS_MAX_ATTEMPTS", "2")
    run_study(RunRequest("tiny", "smoke", progress=False))
    run_study(RunRequest("tiny", "smoke", progress=False))            # the second attempt fails too
    capsys.readouterr()
    run_study(RunRequest("tiny", "smoke", progress=False))            # no third attempt
    err = capsys.readouterr().err
    assert "wide/r1 failed 2 times (last: RuntimeError: injected failure" in err
    assert "quarantined, not queued again" in err and "HARNESS_MAX_ATTEMPTS=3" in err
    trials = design_trials()
    assert [t.state for t in trials if t.user_attrs["key"] == "wide/r1"] == [TrialState.FAIL] * 2
    assert complete_keys(trials) == ["narrow/r0", "narrow/r1", "wide/r0"]
    # raising the limit retries it (the cause fixed meanwhile)
    monkeypatch.delenv("TINY_FAIL")
    monkeypatch.setenv("HARNESS_MAX_ATTEMPTS", "3")
    run_study(RunRequest("tiny", "smoke", progress=False))
    assert complete_keys(design_trials()) == ["narrow/r0", "narrow/r1", "wide/r0", "wide/r1"]


def test_interruptions_do_not_count_towards_quarantine():
    from optuna.trial import create_trial

    from harness.trialqueue import counts_as_attempt

    def failed(reason):
        return create_trial(state=TrialState.FAIL, user_attrs={"key": "a/r0", "fail_reason": reason})

    assert counts_as_attempt(failed("RuntimeError: boom")) and counts_as_attempt(failed("worker h:1 died"))
    assert not counts_as_attempt(failed("interrupted (Ctrl-C or SIGTERM)"))
    assert not counts_as_attempt(failed("duplicate of trial 3"))


def test_ctrl_c_keeps_finished_trials_and_resume_completes(home, monkeypatch):
    monkeypatch.setenv("TINY_FAIL", "wide/r0=interrupt")
    with pytest.raises(KeyboardInterrupt):
        run_study(RunRequest("tiny", "smoke", progress=False))
    before = complete_keys(design_trials())
    assert before == ["narrow/r0", "narrow/r1"]  # arms run in declaration order
    runs = child_runs()
    assert set(runs[runs["arm"] == "wide"]["status"]) == {"KILLED"}
    monkeypatch.delenv("TINY_FAIL")
    run_study(RunRequest("tiny", "smoke", progress=False))
    trials = design_trials()
    assert complete_keys(trials) == ["narrow/r0", "narrow/r1", "wide/r0", "wide/r1"]
    finished = child_runs()
    assert finished[finished["status"] == "FINISHED"].groupby(["arm", "replicate"]).size().max() == 1


def test_sigint_to_a_real_process_then_resume(home):
    """A user's Ctrl-C: SIGINT to `harness run` mid-study. The child gets SIGINT's
    default disposition back: started from a background job (`make test &`), it
    would inherit "ignore SIGINT" from the shell and finish with exit 0."""
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", "tiny", "--budget", "full", "--no-progress"],
                            cwd=home, env=harness_env(home, TINY_SLEEP="0.5"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline:
        time.sleep(0.5)
        try:
            if len(complete_keys(design_trials(budget="full"))) >= 2:
                break
        except KeyError:  # the study is not created yet
            continue
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "resume" in output
    kept = complete_keys(design_trials(budget="full"))
    assert 2 <= len(kept) < 8
    # the resume, in this process: the signal went to the real process above; a second `python -m harness`
    # start would add only its imports (~10 s) to the same run_study
    run_study(RunRequest("tiny", "full", progress=False))
    trials = design_trials(budget="full")
    keys = complete_keys(trials)
    assert len(keys) == len(set(keys)) == 8 and set(kept) <= set(keys)


def test_trial_of_a_killed_worker_is_rerun(home):
    """A RUNNING trial whose worker process is gone (SIGKILL) is failed and re-queued."""
    run_study(RunRequest("tiny", "smoke", progress=False))
    storage = open_storage(None)
    study = optuna.load_study(study_name="tiny.smoke", storage=storage)
    # forge a trial a dead worker left running
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    study.enqueue_trial({}, user_attrs={"key": "orphan/r0", "arm": "wide", "replicate": 9})
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))[0]
    storage.set_trial_state_values(waiting._trial_id, TrialState.RUNNING)
    storage.set_trial_user_attr(waiting._trial_id, "worker", f"{socket.gethostname()}:{dead.pid}")
    # and one whose claimer died between moving it to RUNNING and naming itself (both under the queue lock)
    study.enqueue_trial({}, user_attrs={"key": "orphan/r1", "arm": "wide", "replicate": 10})
    unnamed = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))[0]
    storage.set_trial_state_values(unnamed._trial_id, TrialState.RUNNING)
    run_study(RunRequest("tiny", "smoke", progress=False))
    orphan, lost = ([t for t in study.get_trials(deepcopy=False) if t.number == n][0] for n in (waiting.number,
                                                                                               unnamed.number))
    assert orphan.state == TrialState.FAIL and "died" in orphan.user_attrs["fail_reason"]
    assert lost.state == TrialState.FAIL and "no worker recorded" in lost.user_attrs["fail_reason"]


def test_tuning_phase_feeds_the_replicates(home):
    run_study(RunRequest("tiny", "quick", progress=False))
    storage = open_storage(None)
    tuning = optuna.load_study(study_name="tiny.quick.tune.wide", storage=storage)
    assert len(tuning.get_trials(states=(TrialState.COMPLETE,))) == 2
    best_lr = tuning.best_trial.user_attrs["hyperparams"]["lr"]
    runs = child_runs("quick")
    wide = runs[(runs["arm"] == "wide") & (runs["phase"] == "replicate")]
    assert len(wide) == 3 and list(wide["params.hp.lr"].astype(float)) == pytest.approx([best_lr] * 3)
    assert (runs["phase"] == "tune").sum() == 2
    assert "params.hp.lr" not in runs[runs["arm"] == "narrow"].dropna(axis=1)


def test_an_arm_with_its_own_tuning_trials_searches_that_long(home, monkeypatch):
    import dataclasses

    from harness.discovery import STUDIES, get_study
    from harness.study import Arm

    tiny = get_study("tiny")
    longer = dataclasses.replace(tiny, arms=lambda budget: [Arm("narrow", {"width": 2}),
                                                            Arm("wide", {"width": 32, "tuning_trials": 3})],
                                 tuning=dataclasses.replace(tiny.tuning, arms=("narrow", "wide")))
    monkeypatch.setitem(STUDIES._entries, "tiny", longer)
    run_study(RunRequest("tiny", "quick", progress=False))   # the budget says 2 per tuned arm
    for arm, trials in (("narrow", 2), ("wide", 3)):
        tuning = optuna.load_study(study_name=f"tiny.quick.tune.{arm}", storage=open_storage(None))
        assert len(tuning.get_trials(states=(TrialState.COMPLETE,))) == trials
    report = (home / "reports" / "quick" / "tiny" / "report.md").read_text()
    assert "2 tuning trials per tuned arm except `wide` 3;" in report
    assert "; 5 tuning trials. " in report   # none failed: no count of failures


def test_an_interrupted_search_resumes_with_the_draws_of_an_uninterrupted_one(home, empty_store, monkeypatch):
    """A search cut off mid-way (here by Ctrl-C in a trial) and resumed makes the same draws, with the same seeds
    and results, as one run straight through: the resumed trial repeats the cut-off draw, and no configuration is
    drawn twice (one sampler's stream restarted by the new process drew the opening configurations again)."""
    import dataclasses

    from harness.discovery import STUDIES, get_study
    from harness.study import Arm
    from harness.sweep import ABANDONED_ATTR, TUNING_REPLICATE_OFFSET

    tiny = get_study("tiny")
    searched = dataclasses.replace(tiny, arms=lambda budget: [
        Arm("narrow", {"width": 2, "tuning_trials": 4}),                       # TPE
        Arm("wide", {"width": 32, "tuning_trials": 4, "sampler": "random"})],
        tuning=dataclasses.replace(tiny.tuning, arms=("narrow", "wide")))
    monkeypatch.setitem(STUDIES._entries, "tiny", searched)

    def searches():
        out = {}
        for arm in ("narrow", "wide"):
            trials = optuna.load_study(study_name=f"tiny.quick.tune.{arm}", storage=open_storage(None)).get_trials()
            out[arm] = trials
        return out

    def draws(trials):
        return [(t.user_attrs["draw"], t.user_attrs["hyperparams"], t.value) for t in trials
                if t.state == TrialState.COMPLETE]

    run_study(RunRequest("tiny", "quick", progress=False, report=False))
    straight = {arm: draws(trials) for arm, trials in searches().items()}
    assert [d for d, _, _ in straight["wide"]] == [0, 1, 2, 3]
    assert len({str(hp) for _, hp, _ in straight["wide"]}) == 4  # four different configurations

    again = home / "again"
    again.mkdir()
    shutil.copy(empty_store, again / "mlflow.db")
    monkeypatch.setenv("HARNESS_HOME", str(again))
    for cut in ("narrow", "wide"):  # Ctrl-C in each search's draw 1 (each stops the run), then a clean resume
        monkeypatch.setenv("TINY_FAIL", f"{cut}/r{TUNING_REPLICATE_OFFSET + 1}=interrupt")
        with pytest.raises(KeyboardInterrupt):
            run_study(RunRequest("tiny", "quick", progress=False, report=False))
    monkeypatch.delenv("TINY_FAIL")
    run_study(RunRequest("tiny", "quick", progress=False, report=False))
    for arm, trials in searches().items():
        assert draws(trials) == straight[arm], arm
        cut_off = [t for t in trials if t.state == TrialState.FAIL]
        assert len(cut_off) == 1 and cut_off[0].user_attrs[ABANDONED_ATTR] and cut_off[0].user_attrs["draw"] == 1
        redo = trials[cut_off[0].number + 1]
        assert redo.user_attrs["draw"] == 1 and redo.user_attrs["hyperparams"] == cut_off[0].user_attrs["hyperparams"]


def test_two_workers_share_the_design(home, monkeypatch):
    # `--workers 2`: two `harness worker` processes, started by run_study in this process as `harness run`
    # would (a `python -m harness` parent as well would add only its imports); they find the tiny study
    # on PYTHONPATH and work in the home, as under `harness run`
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.chdir(home)
    run_study(RunRequest("tiny", "full", workers=2, progress=False))
    trials = design_trials(budget="full")
    keys = complete_keys(trials)
    assert len(keys) == len(set(keys)) == 8
    workers = {t.user_attrs["worker"] for t in trials if t.state == TrialState.COMPLETE}
    runs = child_runs("full")
    assert len(runs[runs["phase"] == "replicate"]) == 8
    assert len(workers) >= 1  # both may not get work on a fast machine; no key ran twice either way
    verdicts = json.loads((home / "reports" / "full" / "tiny" / "verdicts.json").read_text())
    assert verdicts["budget"] == "full"


def test_a_tuning_phase_that_always_fails_stops_with_the_reasons(home, monkeypatch):
    # tuning trials use replicates 1_000_000 + trial number; fail every attempt the loop may make
    monkeypatch.setenv("TINY_FAIL", ",".join(f"wide/r{1_000_000 + i}=exception" for i in range(10)))
    with pytest.raises(RuntimeError, match="every tuning trial of arm 'wide' failed: RuntimeError: injected failure"):
        run_study(RunRequest("tiny", "quick", progress=False))
    tuning = optuna.load_study(study_name="tiny.quick.tune.wide", storage=open_storage(None))
    assert len(tuning.get_trials()) == 6  # 2 * tuning_trials + 2 attempts, then it gives up


def test_a_changed_protocol_is_not_resumed_but_a_new_arm_is_welcome(home):
    import dataclasses

    from harness.discovery import get_study
    from harness.study import Arm, Budget
    from harness.sweep import DesignChanged, Runner, SweepOptions

    run_study(RunRequest("tiny", "smoke", progress=False))
    study = get_study("tiny")
    smoke = study.budgets["smoke"].settings
    tracker = Tracker(default_tracking_uri(paths.home()))
    parent = tracker.find_parent("tiny", "smoke")

    def runner(changed):
        return Runner(changed, SweepOptions("smoke"), tracker, parent)

    def with_settings(settings):
        return dataclasses.replace(study, budgets={**study.budgets, "smoke": Budget(replicates=2, settings=settings)})

    longer = with_settings(dataclasses.replace(smoke, epochs=3))   # a setting every trial reads
    with pytest.raises(DesignChanged, match=r"narrow \(settings epochs\); wide \(settings epochs\) changed"):
        runner(longer).enqueue(longer.design("smoke"))
    # a setting no finished trial read (here: the search range, read by the tuning space only) does not block
    ranged = with_settings(dataclasses.replace(smoke, lr_range=(1e-4, 1e-1)))
    _, finished = runner(ranged).enqueue(ranged.design("smoke"))
    assert finished == 4
    wider = dataclasses.replace(study, arms=lambda b: [Arm("narrow", {"width": 2}), Arm("wide", {"width": 64})])
    with pytest.raises(DesignChanged, match=r"of wide \(its config"):
        runner(wider).enqueue(wider.design("smoke"))
    reseeded = dataclasses.replace(study, root_seed=study.root_seed + 1)
    with pytest.raises(DesignChanged, match=r"narrow \(its config, seed group, root seed"):
        runner(reseeded).enqueue(reseeded.design("smoke"))
    more = dataclasses.replace(study, arms=lambda b: [*study.design("smoke"), Arm("widest", {"width": 64})])
    ostudy, finished = runner(more).enqueue(more.design("smoke"))
    assert finished == 4
    waiting = [t.user_attrs["key"] for t in ostudy.get_trials(states=(TrialState.WAITING,))]
    assert sorted(waiting) == ["widest/r0", "widest/r1"]
    assert set(ostudy.user_attrs["reads:narrow"]) == {"n_train", "n_test", "dim", "classes", "epochs", "batch", "lr"}


def test_settings_reads_note_what_a_trial_reads():
    from harness.context import SettingsReads
    from harness.design import Budget

    view = SettingsReads(Budget(replicates=1, settings={"a": 1, "b": 2}))
    assert view["a"] == 1 and view.replicates == 1 and view.read == {"a"}
    dict(view.values)
    assert view.read == {"a", "b"}   # reading them all at once counts as reading each


# -- ensembles: same-shaped trials train as one model, each still its own trial and run ---------------
def ensemble_metrics(runs):
    finished = runs[runs["status"] == "FINISHED"]
    return {(r["arm"], r["replicate"]): r["metrics.test_loss"] for _, r in finished.iterrows()}


def test_same_shaped_trials_train_as_one_ensemble_each_its_own_trial_and_run(home, monkeypatch, empty_store):
    monkeypatch.setenv("TINY_FAIL", "fast/r1=nan")
    document = run_study(RunRequest("tiny-ens", "smoke", progress=False))
    trials = design_trials("tiny-ens")
    assert len(trials) == 9 and len({t.user_attrs["key"] for t in trials}) == 9
    runs = Tracker(default_tracking_uri(paths.home())).runs("tiny-ens", "smoke")
    assert len(runs) == 9 and runs.groupby(["arm", "replicate"]).size().max() == 1
    size = runs.set_index(["arm", "replicate"])["tags.harness.ensemble_size"]
    assert set(size.loc[["slow", "fast"]]) == {"6"}  # one width: one ensemble of both learning rates
    assert set(size.loc["wide"]) == {"3"}
    # the diverging member failed with its reason; its five partners finished
    failed = runs[runs["status"] != "FINISHED"]
    assert list(zip(failed["arm"], failed["replicate"])) == [("fast", 1)]
    assert "TrialDiverged" in failed["tags.harness.fail_reason"].iloc[0]
    assert document["trials"] == {"finished": 8, "failed": 1, "tuning": 0, "tuning_failed": 0}
    by_trial = {t.user_attrs["key"]: t for t in trials}
    assert by_trial["fast/r1"].state == TrialState.FAIL and by_trial["slow/r1"].state == TrialState.COMPLETE
    together = ensemble_metrics(runs)

    # the same study one trial at a time, in a fresh home: the same numbers, and no ensemble tag
    fresh = home / "alone"
    fresh.mkdir()
    shutil.copy(empty_store, fresh / "mlflow.db")  # a fresh home as `home` makes it: no schema to create
    monkeypatch.setenv("HARNESS_HOME", str(fresh))
    monkeypatch.delenv("TINY_FAIL")
    # report=False: only this run's trials and MLflow runs are compared below
    run_study(RunRequest("tiny-ens", "smoke", progress=False, ensemble=1, report=False))
    alone_runs = Tracker(default_tracking_uri(fresh)).runs("tiny-ens", "smoke")
    assert "tags.harness.ensemble_size" not in alone_runs or alone_runs["tags.harness.ensemble_size"].isna().all()
    alone = ensemble_metrics(alone_runs)
    assert together.keys() <= alone.keys() and len(alone) == 9
    for key, value in together.items():
        assert abs(value - alone[key]) <= 1e-6, key


def test_ensemble_limit_is_validated_before_any_compute(bare_home):
    from harness.run import InputError

    with pytest.raises(InputError, match="--ensemble must be a positive integer"):
        run_study(RunRequest("tiny-ens", "smoke", progress=False, ensemble=0))
    assert not (bare_home / ".harness").exists()


def test_two_harness_runs_of_one_study_at_once_run_each_key_once(home):
    """Two invocations racing on one journal and one tracking store: every key
    runs once, in one process or the other, with one MLflow run."""
    env = harness_env(home, TINY_SLEEP="1")
    command = [sys.executable, "-m", "harness", "run", "tiny", "--budget", "smoke", "--no-progress"]
    first = subprocess.Popen(command, cwd=home, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(command, cwd=home, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outputs = [p.communicate(timeout=300) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, [o[1][-1500:] for o in outputs]
    trials = design_trials()
    assert complete_keys(trials) == ["narrow/r0", "narrow/r1", "wide/r0", "wide/r1"]
    assert len(trials) == 4  # nothing enqueued twice, nothing run twice
    runs = child_runs()
    assert len(runs) == 4 and runs.groupby(["arm", "replicate"]).size().max() == 1


def test_sigterm_to_a_worker_fails_its_trial_and_closes_its_run(home):
    """SIGTERM (a scheduler, `kill`, the parent of `--workers`) is handled like Ctrl-C."""
    worker = subprocess.Popen([sys.executable, "-m", "harness", "worker", "tiny", "--budget", "smoke"], cwd=home,
                              env=harness_env(home, TINY_SLEEP="5"), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    running = []
    while time.time() < deadline and not running:
        time.sleep(0.3)
        try:
            running = [t for t in design_trials() if t.state == TrialState.RUNNING and "mlflow_run_id" in t.user_attrs]
        except KeyError:  # the study is not created yet
            continue
    assert running, "the worker never started a trial"
    time.sleep(0.5)
    worker.send_signal(signal.SIGTERM)
    _, stderr = worker.communicate(timeout=60)
    assert worker.returncode == 130, stderr[-2000:]
    trials = {t.number: t for t in design_trials()}
    stopped = trials[running[0].number]
    assert stopped.state == TrialState.FAIL and "interrupted" in stopped.user_attrs["fail_reason"]
    assert not [t for t in trials.values() if t.state == TrialState.RUNNING]
    runs = child_runs()
    assert list(runs[runs["run_id"] == stopped.user_attrs["mlflow_run_id"]]["status"]) == ["KILLED"]
    assert "RUNNING" not in set(runs["status"])
