"""harness.importance: logged tuning runs rebuilt into Optuna studies, their
hyperparameter importances, and the bootstrap over searches."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness import importance


def space(trial):
    return {"lr": trial.suggest_float("lr", 1e-4, 1e-1, log=True), "width": trial.suggest_int("width", 8, 64),
            "act": trial.suggest_categorical("act", ["relu", "tanh"])}


def runs_frame(n: int, arm: str = "a", seed: int = 0, status: str = "FINISHED") -> pd.DataFrame:
    """Tuning runs as ``Tracker.runs`` returns them: params are strings, the
    objective depends on lr only (width and act are noise-free bystanders)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        lr = float(10 ** rng.uniform(-4, -1))
        rows.append({"run_id": f"{arm}-{seed}-{i}", "arm": arm, "status": status, "params.hp.lr": str(lr),
                     "params.hp.width": str(int(rng.integers(8, 65))),
                     "params.hp.act": str(rng.choice(["relu", "tanh"])),
                     "metrics.val_error": (np.log10(lr) + 2.5) ** 2})
    return pd.DataFrame(rows)


def test_search_space_reads_the_distributions_the_space_suggests_from():
    distributions = importance.search_space(space)
    assert set(distributions) == {"lr", "width", "act"}
    assert distributions["lr"].log and distributions["lr"].low == 1e-4
    assert distributions["act"].choices == ("relu", "tanh")


def test_rebuild_keeps_finished_finite_runs_with_typed_values():
    frame = runs_frame(6)
    frame.loc[1, "status"] = "FAILED"
    frame.loc[2, "metrics.val_error"] = float("nan")
    study = importance.rebuild(frame, importance.search_space(space), "val_error", "minimize")
    assert len(study.trials) == 4                                   # the failed and the NaN runs are left out
    first = study.trials[0].params
    assert isinstance(first["width"], int) and first["act"] in ("relu", "tanh")
    assert first["lr"] == pytest.approx(float(frame.loc[0, "params.hp.lr"]))
    assert study.trials[0].value == pytest.approx(frame.loc[0, "metrics.val_error"])


@pytest.mark.slow  # fANOVA's random forest: ~10 s here
def test_the_hyperparameter_the_objective_depends_on_gets_the_importance():
    study = importance.rebuild(runs_frame(30), importance.search_space(space), "val_error", "minimize")
    for evaluator in importance.EVALUATORS:
        scores = importance.importances(study, evaluator)
        assert set(scores) == {"lr", "width", "act"}
        assert sum(scores.values()) == pytest.approx(1.0)
        assert scores["lr"] > 0.5 and scores["lr"] == max(scores.values()), (evaluator, scores)
    with pytest.raises(ValueError, match="unknown importance evaluator"):
        importance.importances(study, "shap")


@pytest.mark.slow  # fANOVA's random forest
def test_fanova_of_total_shares_leave_room_for_what_no_main_effect_explains():
    study = importance.rebuild(runs_frame(30), importance.search_space(space), "val_error", "minimize")
    normalised = importance.importances(study, "fanova")
    of_total = importance.importances(study, "fanova", of_total=True)
    assert max(of_total, key=of_total.get) == "lr" and of_total["lr"] > 0.5
    assert sum(of_total.values()) <= 1 + 1e-9
    for name in of_total:                                           # normalising only rescales them up
        assert of_total[name] <= normalised[name] + 1e-9
    with pytest.raises(ValueError, match="only fanova"):
        importance.importances(study, "ped-anova", of_total=True)


@pytest.mark.slow  # fANOVA's random forest on 8 noise searches
def test_on_pure_noise_the_normalised_top_shares_stay_high_and_the_of_total_ones_do_not():
    """Why HP-TUNABILITY reads fractions of the total variance: with 80 trials of an objective no hyperparameter
    moves, the normalised shares still sum to 1 (their top two carry more than half), the total's do not."""
    import optuna

    from studies.seeds import hp_space

    tops = {False: [], True: []}
    for search in range(8):
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=search))
        rng = np.random.default_rng(search)
        for _ in range(80):
            trial = study.ask()
            hp_space(trial)
            study.tell(trial, float(rng.normal()))
        for of_total in tops:
            shares = importance.importances(study, "fanova", of_total=of_total)
            tops[of_total].append(sum(sorted(shares.values())[-2:]))
    assert np.mean(tops[False]) > 0.5 > 0.45 > np.mean(tops[True])


def test_per_search_groups_by_arm_skips_small_searches_and_caches():
    frame = pd.concat([runs_frame(12, "a", 1), runs_frame(12, "b", 2), runs_frame(3, "small", 3)], ignore_index=True)
    distributions = importance.search_space(space)
    out = importance.per_search(frame, distributions, "val_error", "minimize", "fanova")
    assert set(out) == {"a", "b"}                                   # 3 trials < min_trials = 4
    assert importance.per_search(frame, distributions, "val_error", "minimize", "fanova") is out
    assert importance.per_search(frame, distributions, "val_error", "minimize", "fanova", of_total=True) is not out


def test_bootstrap_mean_over_searches():
    vectors = [{"lr": 0.8, "width": 0.2}, {"lr": 0.6, "width": 0.4}, {"lr": 0.7, "width": 0.3}]
    out = importance.bootstrap_mean(vectors)
    mean, low, high = out["lr"]
    assert mean == pytest.approx(0.7) and low <= mean <= high
    assert 0.6 - 1e-12 <= low and high <= 0.8 + 1e-12              # resampled means stay within the searches' range
    same = importance.bootstrap_mean([{"lr": 0.5}] * 4)["lr"]
    assert same == pytest.approx((0.5, 0.5, 0.5))                   # no spread: the interval is the point
    assert importance.bootstrap_mean([]) == {}
