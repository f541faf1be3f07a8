"""The seeds study's own pieces (studies/seeds): SEED-FEW's disjoint draws,
HP-BATCH's validation picks, the factorial's seeds, the LSTM search space and
the budget check. Runs DataFrames are built by hand; no training."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import optuna
import pandas as pd
import pytest
import torch

from harness.checks import CheckContext
from harness.context import TrialContext
from harness.design import StudyDeclarationError, Tuning, factorial_cell
from harness.ensemble import MemberResult
from harness.engine import TrainConfig
from harness.nets import SequenceClassifier
from harness.seeding import TrialSeeds
from studies.seeds import LSTM_SEARCHES, MLP_SEARCHES, STUDY, check_budget, hp_space, lstm_space
from studies.seeds.grid import PicksConverged, picked_by_validation, picks_plateaued, plateaued
from studies.seeds.notes import Reference, few_draws, few_outcomes, grid_at_validation_picks, references_note
from studies.seeds import trials
from studies.seeds.trials import SOURCES, _grid_metrics, factorial_levels, factorial_seeds


def _runs(rows):
    return pd.DataFrame([{"status": "FINISHED", **r} for r in rows])


# -- SEED-FEW: disjoint draws ----------------------------------------------------------------------------
def _pair_runs(a, b):
    return _runs([{"run_id": f"{arm}{i}", "arm": arm, "replicate": i, "metrics.test_accuracy": v}
                  for arm, values in (("good", a), ("worse", b)) for i, v in enumerate(values)])


def test_few_draws_use_each_seed_once_and_their_mean_is_the_all_seeds_difference():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.66, 0.01, 20), rng.normal(0.65, 0.01, 20)
    true, small, ids = few_draws(_pair_runs(a, b), ("good", "worse"), 5)
    assert true == pytest.approx(a.mean() - b.mean())
    assert len(small) == 4 and small.mean() == pytest.approx(true)  # 4 disjoint groups cover all 20 seeds
    assert len(ids) == 40


def test_a_draw_misses_when_it_is_off_by_more_than_the_declared_share_of_the_true_difference():
    # every seed of "good" is 0.70; "worse" alternates, so the draws' differences are known exactly
    a = [0.70] * 10
    b = [0.69] * 5 + [0.67] * 5
    runs = _pair_runs(a, b)
    true, small, _ = few_draws(runs, ("good", "worse"), 5)
    assert true == pytest.approx(0.02)
    hits, _ = few_outcomes(runs, pair=("good", "worse"), size=5, off=0.5)
    expected = [abs(d - 0.02) > 0.01 for d in small]
    assert hits == expected and len(hits) == 2
    assert few_outcomes(_pair_runs(a, a), pair=("good", "worse"), size=5, off=0.5)[0] == []  # no difference


# -- HP-BATCH: one validation pick per batch size and seed ---------------------------------------------
def _grid_row(m, rep, j, base_lr, val, test, best=10, epochs=20, val_fixed=None, test_fixed=None, val_half=None):
    return {"run_id": f"{m}-{rep}-{j}", "arm": f"batch-m{m}-lr{j}", "replicate": rep,
            "params.config.batch_size": str(m), "params.config.base_lr": str(base_lr),
            "metrics.val_accuracy": val, "metrics.test_error": test, "metrics.best_epoch": best,
            "metrics.epochs_trained": epochs, "metrics.val_accuracy_half": val if val_half is None else val_half,
            "metrics.first_train_loss": 2.0, "metrics.final_train_loss": 0.5,
            "metrics.val_accuracy_fixed": val if val_fixed is None else val_fixed,
            "metrics.test_error_fixed": test if test_fixed is None else test_fixed}


def test_validation_picks_one_learning_rate_per_batch_size_and_seed():
    rows = []
    for m in (2, 64):
        for rep in range(2):
            for j, (base_lr, val, test) in enumerate([(0.01, 0.50, 0.45), (0.1, 0.60 + 0.01 * rep, 0.41),
                                                      (1.0, math.nan, math.nan)]):  # the last diverged
                # at the fixed budget the smaller rate looks better on validation
                rows.append(_grid_row(m, rep, j, base_lr, val, test + 0.01 * (m == 64),
                                      val_fixed=0.7 if j == 0 else 0.55, test_fixed=0.3))
    picks = picked_by_validation(_runs(rows))
    assert len(picks) == 4 and set(picks["base_lr"]) == {0.1}
    assert picks.set_index(["level", "replicate"]).loc[(64, 1), "value"] == pytest.approx(0.42)
    assert set(picks.columns) >= {"replicate", "level", "value", "run_id", "best_epoch"}
    fixed = picked_by_validation(_runs(rows), fixed=True)
    assert set(fixed["base_lr"]) == {0.01} and set(fixed["value"]) == {0.3}


def test_the_other_pairs_are_shown_beside_their_reference_and_the_grid_at_its_validation_picks():
    rows = [{"run_id": f"src{i}", "arm": f"src-f{i % 2}", "replicate": i, "metrics.test_accuracy": v}
            for i, v in enumerate([0.60, 0.62, 0.64])]
    rows.append({"run_id": "lost", "arm": "src-f0", "replicate": 9, "status": "FAILED", "metrics.test_accuracy": 0.1})
    # m = 2: the picked rate's test error is 0.25 (the other rate's 0.1 is not picked); m = 64: 0.35
    rows += [_grid_row(2, 0, 0, 0.01, 0.7, 0.25), _grid_row(2, 0, 1, 0.1, 0.5, 0.1),
             _grid_row(64, 0, 0, 0.01, 0.6, 0.35)]
    lines = references_note(_runs(rows), pairs=(Reference("src-f", "factorial", 0.68, "the MLP"),
                                                Reference("lstm-", "LSTMs", 0.91, "the GRU"),  # no runs: left out
                                                Reference("batch-", "grid", 0.68, "the MLP",
                                                          read=grid_at_validation_picks)))
    assert len(lines) == 3
    assert "mean test accuracy 0.620 over 3 runs (min 0.600, max 0.640), 6.0 points below the MLP (0.68)" in lines[1]
    assert "`src-f*`" in lines[1]
    assert "0.650 to 0.750 over the 2 batch sizes; the best batch size, 7.0 points above the MLP" in lines[2]
    assert references_note(_runs([]).assign(arm=[], status=[]), pairs=(Reference("hp-", "searches", 0.68, "x"),)) == []


def test_a_grid_run_reports_its_best_validation_epoch_and_the_fixed_budget():
    tracked = {"val": [0.3, 0.5, 0.6, 0.6, 0.55], "test": [0.31, 0.52, 0.58, 0.59, 0.5]}
    metrics = _grid_metrics(tracked, fixed=2)
    assert metrics["best_epoch"] == 3 and metrics["val_accuracy"] == 0.6  # the first of a tie
    assert metrics["test_error"] == pytest.approx(0.42) and metrics["epochs_trained"] == 5
    assert metrics["val_accuracy_fixed"] == 0.5 and metrics["test_error_fixed"] == pytest.approx(0.48)
    assert metrics["val_accuracy_half"] == 0.5  # the best of the first 2 of 5 epochs


def test_a_plateau_is_a_second_half_that_adds_at_most_the_tolerance():
    assert plateaued([0.3, 0.6, 0.61, 0.605, 0.6, 0.61])           # noise after the rise: +0.01
    assert not plateaued([0.3, 0.5, 0.55, 0.58, 0.6, 0.62])        # still rising: +0.07
    assert plateaued([0.3, 0.5, 0.55, 0.58, 0.6, 0.62], tolerance=0.1)
    assert not plateaued([0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.52])  # a late best beyond the tolerance fails


def test_the_picks_must_have_reached_their_validation_plateau():
    rows = [_grid_row(2, rep, 0, 0.01, 0.6, 0.4, best=8, epochs=20, val_half=0.595) for rep in range(2)]
    rows += [_grid_row(512, rep, 0, 0.01, 0.6, 0.4, best=510 - rep, epochs=512, val_half=0.6 - 0.02 * rep)
             for rep in range(2)]
    results = {r.arm: r for r in PicksConverged().run(CheckContext(_runs(rows), lambda run_id, key: []), [])}
    assert results["m=2"].passed and not results["m=512"].passed
    assert "not at its plateau" in results["m=512"].detail and "510 of 512, 509 of 512" in results["m=512"].detail
    assert "at most 0.020" in results["m=512"].detail


def _member(val, diverged=None):
    return MemberResult(train_loss=[1.0] * len(val), diverged=diverged, tracked={"val": list(val)})


def test_a_batch_sizes_training_stops_once_each_seeds_current_pick_has_plateaued():
    rising = [0.1 * i for i in range(1, 9)]                  # a slow learning rate, never the pick
    flat = [0.5, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]
    stop = picks_plateaued(min_epochs=4, replicates=[0, 0, 1, 1])
    assert stop(8, [_member(flat), _member([0.05 * i for i in range(8)]), _member(flat), _member(rising)])
    assert not stop(3, [_member(flat[:3])] * 4)             # never before the minimum
    # seed 1's pick is the rising run (best so far 0.8 > 0.7): not plateaued, so training goes on
    higher = [0.1 * i for i in range(1, 9)]
    assert not stop(8, [_member(flat), _member(rising), _member([0.7] * 8), _member(higher)])
    # a diverged member is never the pick
    assert stop(8, [_member(flat), _member(rising, diverged="epoch 3"), _member(flat), _member([0.1] * 8)])


# -- SEED-SOURCES: the factorial's seeds -----------------------------------------------------------------
def _ctx(arm: str, replicate: int, levels: int = 3) -> TrialContext:
    design = {a.name: a for a in STUDY.design("standard")}
    arm_obj = dataclasses.replace(design[arm], config={**design[arm].config, "levels": levels})
    return TrialContext("seeds", arm_obj, replicate, "standard", STUDY.budget("standard"), TrialSeeds(1, 2, 3, 4),
                        "cpu", 1, None, show_progress=False)


def test_a_factorial_cell_takes_each_sources_seed_from_its_level_alone():
    cells = {j: factorial_cell(j, len(SOURCES), 3) for j in range(81)}
    levels = {j: factorial_levels(_ctx("src-f0", j)) for j in range(81)}
    assert all(tuple(levels[j].values()) == cells[j] for j in range(81))
    seeds = {j: factorial_seeds(_ctx("src-f0", j), levels[j]) for j in range(81)}
    for source_index, source in enumerate(SOURCES):
        by_level = {}
        for j, cell in cells.items():
            by_level.setdefault(cell[source_index], set()).add(seeds[j][source])
        assert all(len(v) == 1 for v in by_level.values())  # one seed per level...
        assert len({next(iter(v)) for v in by_level.values()}) == 3  # ...and the levels differ
    other_block = factorial_seeds(_ctx("src-f1", 0), levels[0])
    assert all(other_block[s] != seeds[0][s] for s in SOURCES)  # blocks are independent draws


def test_every_factorial_block_and_every_seed_spread_arm_must_have_trained():
    from harness.checks import run_checks

    design = {a.name for a in STUDY.design("standard")}
    runs = _runs([{"run_id": f"{arm}-0", "arm": arm, "replicate": 0} for arm in sorted(design)])
    claims = {c.id: c for c in STUDY.claims}
    blocks = claims["SEED-SOURCES"].test.read_arms(runs)
    assert blocks and blocks == sorted(a for a in design if a.startswith("src-f"))
    curves = {"src-f0-0": [2.0, 2.0]}   # one block's run never moved
    ctx = CheckContext(runs, lambda run_id, key: list(enumerate(curves.get(run_id, [2.0, 1.0]))))
    results = run_checks(claims["SEED-SOURCES"].all_checks, ctx, blocks)
    assert {r.arm for r in results if not r.passed} == {"src-f0"} and len(results) == len(blocks)
    for claim in ("SEED-SENS", "SEED-FEW"):
        assert {r.name for r in claims[claim].all_checks} >= {"trained"}
    # the searches' arms are found by prefix too (their checks and importance read every search the tier runs)
    assert claims["HP-TUNABILITY"].test.read_arms(runs) == sorted(design & set(MLP_SEARCHES))
    assert claims["HP-MOMENTUM-BATCH"].test.read_arms(runs) == sorted(design & set(LSTM_SEARCHES))


def _search_trials(arm: str, accuracies: list[float], stopped: list[float] | None = None) -> list[dict]:
    rows = [{"run_id": f"{arm}-{i}", "arm": arm, "replicate": i, "metrics.val_accuracy": acc}
            for i, acc in enumerate(accuracies)]
    for row, flag in zip(rows, stopped or []):
        row["metrics.stopped_early"] = flag
    return rows


def test_a_search_must_find_configurations_that_learn_and_its_trials_are_not_asked_to():
    from studies.seeds.search_checks import SearchLearned

    runs = _runs(_search_trials("hp-random-0", [0.1, 0.12, 0.55]) + _search_trials("hp-random-1", [0.1, 0.18, 0.11]))
    results = {r.arm: r for r in SearchLearned().run(CheckContext(runs, lambda run_id, key: []),
                                                      ["hp-random-0", "hp-random-1"])}
    assert results["hp-random-0"].passed, "a search whose best trial learned passes, whatever its worst"
    assert "2 of 3 trials at chance" in results["hp-random-0"].detail
    assert not results["hp-random-1"].passed and "best val_accuracy 0.180 (need ≥ 0.2)" in results["hp-random-1"].detail
    empty = SearchLearned().run(CheckContext(runs, lambda run_id, key: []), ["hp-tpe-0"])
    assert not empty[0].passed, "a search with no finished trial cannot pass"
    claims = {c.id: c for c in STUDY.claims}
    for claim in ("HP-TUNABILITY", "HP-MOMENTUM-BATCH"):
        assert any(isinstance(c, SearchLearned) for c in claims[claim].checks)


def test_most_of_an_lstm_searchs_trials_must_stop_by_patience_before_the_cap():
    from studies.seeds.search_checks import SearchConverged

    runs = _runs(_search_trials("lstm-random-0", [0.9] * 10, [1.0] * 9 + [0.0])
                 + _search_trials("lstm-random-1", [0.9] * 4, [1.0, 0.0, 0.0, 0.0]))
    ctx = CheckContext(runs, lambda run_id, key: [])
    results = {r.arm: r for r in SearchConverged().run(ctx, ["lstm-random-0", "lstm-random-1"])}
    assert results["lstm-random-0"].passed and "9 of 10 trials stopped by validation patience (90%" in \
        results["lstm-random-0"].detail
    assert not results["lstm-random-1"].passed and "3 reached the epoch cap still improving" in \
        results["lstm-random-1"].detail
    no_flag = SearchConverged().run(CheckContext(_runs(_search_trials("lstm-random-2", [0.9])), ctx.history),
                                    ["lstm-random-2"])
    assert not no_flag[0].passed and "cannot tell" in no_flag[0].detail
    claims = {c.id: c for c in STUDY.claims}
    assert any(isinstance(c, SearchConverged) for c in claims["HP-MOMENTUM-BATCH"].checks)
    assert not any(isinstance(c, SearchConverged) for c in claims["HP-TUNABILITY"].checks), \
        "the MLP searches train a fixed number of epochs: no trial stops early"


# -- HP-MOMENTUM-BATCH: the LSTM and its search ----------------------------------------------------------
def test_the_lstm_searches_have_their_own_space_and_the_mlp_ones_theirs():
    tuning = STUDY.tuning
    assert all(tuning.space_for(arm) is lstm_space for arm in LSTM_SEARCHES)
    assert all(tuning.space_for(arm) is hp_space for arm in MLP_SEARCHES)
    drawn = lstm_space(optuna.create_study().ask())
    assert set(drawn) == {"lr", "hidden_size", "momentum", "batch_size"} and 0 <= drawn["momentum"] < 1
    with pytest.raises(StudyDeclarationError):
        Tuning(arms=("a",), space=hp_space, metric="m", spaces={"b": lstm_space})


def test_sequence_classifier_reads_a_signal_one_value_per_step():
    torch.manual_seed(0)
    for cell in ("lstm", "gru"):
        model = SequenceClassifier(10, hidden=8, cell=cell)
        assert model(torch.randn(5, 40)).shape == (5, 10)
    with pytest.raises(ValueError):
        SequenceClassifier(10, cell="rnn")
    with pytest.raises(ValueError):
        TrainConfig(beta1=1.0)


def test_an_lstms_forget_gates_start_at_the_bias_asked_for_and_nothing_else_moves():
    torch.manual_seed(0)
    plain = SequenceClassifier(10, hidden=6)
    torch.manual_seed(0)
    opened = SequenceClassifier(10, hidden=6, forget_bias=1.0)
    forget = slice(6, 12)  # torch's gates: input, forget, cell, output
    assert torch.equal(opened.rnn.bias_ih_l0[forget], torch.ones(6))
    assert torch.equal(opened.rnn.bias_hh_l0[forget], torch.zeros(6))  # the two biases add up to 1
    for name, value in plain.state_dict().items():
        if name.startswith("rnn.bias_"):
            keep = torch.ones(24, dtype=torch.bool)
            keep[forget] = False
            assert torch.equal(value[keep], opened.state_dict()[name][keep])
        else:
            assert torch.equal(value, opened.state_dict()[name])
    with pytest.raises(ValueError, match="forget gate"):
        SequenceClassifier(10, cell="gru", forget_bias=1.0)


def test_an_lstm_search_trial_stops_on_validation_loss_and_reports_its_best_epoch(monkeypatch):
    n_train, n_val = 120, 60
    rng = np.random.default_rng(0)
    signals = rng.normal(size=(n_train + n_val, 40)).astype("float32")
    labels = rng.integers(0, 10, n_train + n_val)
    # noise labels: validation loss stops improving within a few epochs, long before the cap
    monkeypatch.setattr(trials, "_data", lambda ctx: (signals[:n_train], labels[:n_train], None,
                                                      signals[n_train:], labels[n_train:]))
    ctx = _ctx("lstm-random-0", 0)
    ctx = dataclasses.replace(ctx, phase="tune", hyperparams={"lr": 0.05, "hidden_size": 8, "momentum": 0.9,
                                                             "batch_size": 32})
    ctx = dataclasses.replace(ctx, arm=dataclasses.replace(ctx.arm, config={**ctx.arm.config, "epochs": 60,
                                                                            "patience": 3}))
    threads = torch.get_num_threads()
    result = trials.run_sequence(ctx)
    assert torch.get_num_threads() == threads  # the LSTM's single thread is given back
    assert result["stopped_early"] == 1.0 and result["epochs_trained"] < 60
    assert result["epochs_trained"] == result["best_epoch"] + 3
    logged = {step: value for key, value, step, _ in ctx.metrics if key == "epoch_val_accuracy"}
    assert result["val_accuracy"] == logged[int(result["best_epoch"])]  # the restored epoch's, not the last one's
    losses = {step: value for key, value, step, _ in ctx.metrics if key == "epoch_val_loss"}
    assert result["val_loss"] < losses[int(result["epochs_trained"])]  # so no curve may share the result's name
    assert not {key for key, *_ in ctx.metrics} & {"val_accuracy", "val_loss"}


def test_the_lstm_pilot_draws_the_searches_space_and_trains_through_the_studys_trial(monkeypatch, tmp_path):
    from studies.seeds import lstm_pilot, trials

    drawn = lstm_pilot.configurations(5)
    assert drawn == lstm_pilot.configurations(5) and len({tuple(d.items()) for d in drawn}) == 5  # seeded, distinct
    assert all(set(d) == {"lr", "hidden_size", "momentum", "batch_size"} for d in drawn)
    rng = np.random.default_rng(0)
    signals, labels = rng.normal(size=(180, 40)).astype("float32"), rng.integers(0, 10, 180)
    seen = []

    def noise_data(ctx):  # noise labels: validation loss stops improving long before the cap
        seen.append((ctx.replicate, ctx.tuning, ctx.config["forget_bias"]))
        return signals[:120], labels[:120], None, signals[120:], labels[120:]

    monkeypatch.setattr(trials, "_data", noise_data)
    params = {"lr": 0.05, "hidden_size": 8, "momentum": 0.9, "batch_size": 32}
    run = lstm_pilot.pilot_trial(3, params, None, max_epochs=40, patience=2, budget_name="smoke", scratch=tmp_path)
    assert run.stopped_early and run.epochs < 40 and 0 <= run.val_accuracy <= 1 and run.seconds > 0
    # its own seeds (no study replicate comes near), the tuning phase (validation data only), the bias asked for
    assert seen == [(lstm_pilot.PILOT_REPLICATES + 3, True, None)]
    with pytest.raises(SystemExit):
        lstm_pilot.main(["--patience", "0"])


# -- the budget check ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("change, message", [
    ({"source_levels": 4}, "source_levels"),           # 4^4 = 256 cells > 100 replicates at standard
    ({"n_search_train": 3500}, "4000 signals"),
    ({"source_blocks": 1}, "factorial blocks"),
    ({"sens_seeds": {"mnist1d": 8, "fashion-mnist": 30}}, "sens_seeds"),
    ({"lstm_patience": 61}, "lstm_patience"),        # more than lstm_max_epochs (60): it could never stop a run
    ({"lstm_patience": 0}, "lstm_patience"),
])
def test_budget_check_names_the_bad_setting(change, message):
    budget = STUDY.budget("standard")
    bad = dataclasses.replace(budget, settings=dataclasses.replace(budget.settings, **change))
    with pytest.raises(StudyDeclarationError, match=message):
        check_budget(bad)
    check_budget(budget)


def test_every_batch_size_has_room_to_plateau_after_its_minimum():
    design = {arm.name: arm.config for arm in STUDY.design("standard")}
    lengths = {config["batch_size"]: (config["min_epochs"], config["epochs"])
               for config in design.values() if config.get("kind") == "grid"}
    assert lengths[2] == (20, 100)            # grid_epochs, then on up to grid_max_epochs
    assert lengths[256] == (256, 512)         # 3000 steps of 256 from 3000 signals, then up to twice that
    assert all(cap >= 2 * least for least, cap in lengths.values())


@pytest.mark.slow  # fANOVA on simulated searches
def test_control_design_null_reads_below_the_bound_at_the_standard_trials_and_not_shuffled():
    from studies.seeds import control_design

    table = control_design.readings(trials=60, searches=4, seed=1)
    assert set(table) == {"in the data", "own values permuted", "objective shuffled"}
    assert all(v.shape == (4, len(control_design.NULL)) for v in table.values())
    # the permuted control reads what a null hyperparameter reads in the data, both under the 0.1 bound...
    assert table["in the data"].mean() < 0.1 and table["own values permuted"].mean() < 0.1
    # ...while the shuffled objective hands the forest's noise to momentum (a continuous one) far above it
    assert table["objective shuffled"][:, 0].mean() > 2 * table["own values permuted"][:, 0].mean()
    with pytest.raises(SystemExit):
        control_design.main(["--trials", "3"])
    with pytest.raises(SystemExit):
        control_design.main(["--shares", "0.6", "0.5"])  # nothing left for noise


def test_control_design_power_is_the_one_sided_t_tests():
    from scipy import stats as sps

    from studies.seeds import control_design

    below, above = np.array([0.04, 0.06, 0.05, 0.07]), np.array([0.11, 0.13, 0.12, 0.14])
    assert control_design.power(below, n=8, alpha=0.0125) > 0.9 > 0.01 > control_design.power(above, n=8, alpha=0.0125)
    # the noncentral t's tail at the observed effect size: a mean at the bound is rejected at the test's level
    at = np.array([0.09, 0.11])
    assert control_design.power(at, n=8, alpha=0.05) == pytest.approx(0.05)
    # searches drawn like `below` reject as often as the power says
    rng = np.random.default_rng(0)
    draws = rng.normal(below.mean(), below.std(ddof=1), size=(4000, 4))
    rate = np.mean(sps.ttest_1samp(draws, 0.1, axis=1, alternative="less").pvalue < 0.0125)
    assert rate == pytest.approx(control_design.power(below, n=4, alpha=0.0125), abs=0.03)


@pytest.mark.slow  # fANOVA on TPE searches
def test_control_design_tpe_searches_home_in_on_the_optimum():
    from studies.seeds import control_design

    rng = np.random.default_rng(0)
    params, distributions, values = control_design.simulated_search(30, rng, sampler="tpe")
    assert len(params) == len(values) == 30 and set(distributions) == {"lr", "hidden_size", "momentum", "batch_size"}
    late = np.log10([p["lr"] for p in params[15:]])
    assert np.abs(late + 2.5).mean() < 0.75  # uniform over [-4, -1] would put it at 0.75: TPE homes in on 3e-3
    # and the readings run with several permutations a search (the mean itself is checked on `Importance`'s control)
    table = control_design.readings(trials=20, searches=2, seed=0, sampler="random", permutations=2)
    assert all(v.shape == (2, len(control_design.NULL)) for v in table.values())


def test_the_lstm_searches_note_says_how_their_trials_trained_per_batch_size():
    from studies.seeds.notes import search_training_lines

    trials = pd.DataFrame({"params.hp.batch_size": ["32", "32", "256", "256"],
                           "metrics.stopped_early": [1.0, 0.0, 0.0, 0.0],
                           "metrics.val_accuracy": [0.93, 0.80, 0.45, 0.10]})
    [line] = search_training_lines(trials)
    assert "1 stopped by patience, 3 at the cap, 1 at chance" in line
    assert "batch 32: 2 trials, 1 stopped by patience, 1 at the cap, 0 at chance" in line
    assert "batch 256: 2 trials, 0 stopped by patience, 2 at the cap, 1 at chance" in line
    # searches whose trials do not stop early (the MLP ones) get no such line
    assert search_training_lines(trials.drop(columns="metrics.stopped_early")) == []


def test_a_searchs_best_configuration_trains_again_on_the_signals_its_search_trials_trained_on():
    arm = next(a for a in STUDY.design("standard") if a.name == "hp-random-0")
    found = {"lr": 0.1, "width": 32, "depth": 1, "momentum": 0.9, "batch_size": 64, "weight_decay": 1e-4}
    tuning, replicate = (TrialContext("seeds", arm, 0, "standard", STUDY.budget("standard"), TrialSeeds(1, 2, 3, 4),
                                      "cpu", 1, None, phase=phase, hyperparams=found, show_progress=False)
                         for phase in ("tune", "replicate"))
    x_tune, y_tune, no_val, x_val, y_val = trials._data(tuning)
    x, y, val, _, _ = trials._data(replicate)
    assert no_val is None and np.array_equal(x, x_tune) and np.array_equal(y, y_tune)  # the same 3000 signals
    assert np.array_equal(val[0], x_val) and np.array_equal(val[1], y_val)             # and the same 1000 after them
