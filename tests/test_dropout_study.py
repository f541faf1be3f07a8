"""The dropout study's own pieces (studies/dropout): the censored median of
DO-SCALING's crossover, DO-MAXNORM's validation-chosen grid and its checks,
DO-RATE's searches and their test, and the budget check. Runs DataFrames are
built by hand; no training."""
from __future__ import annotations

import dataclasses
import math

import pandas as pd
import pytest

from harness.checks import CheckContext, Trained, run_checks
from harness.study import StudyDeclarationError
from studies.dropout import CNN_ARMS, MAXNORM_SWEEP, STUDY, check_budget
from studies.dropout.grids import Binds, MaxNormVsDropout, maxnorm_arm, maxnorm_grid
from studies.dropout.searches import InputAboveHidden, rate_space, tuned_rates


# -- DO-MAXNORM ----------------------------------------------------------------------------------------
def _runs(rows):
    return pd.DataFrame([{"status": "FINISHED", **r} for r in rows])


def _sweep_runs():
    rows = []
    for rep, (v1, t1, v2, t2, t_base) in enumerate([(0.20, 0.21, 0.18, 0.19, 0.20),
                                                     (0.17, 0.18, 0.19, 0.15, 0.19),
                                                     (0.18, 0.17, 0.18, 0.16, 0.18)]):
        rows += [{"run_id": f"a{rep}", "arm": maxnorm_arm(1.0), "replicate": rep, "params.config.max_norm": "1.0",
                  "metrics.val_error": v1, "metrics.test_error": t1, "metrics.rows_at_bound": 0.45 + 0.1 * rep},
                 {"run_id": f"b{rep}", "arm": maxnorm_arm(1.5), "replicate": rep, "params.config.max_norm": "1.5",
                  "metrics.val_error": v2, "metrics.test_error": t2, "metrics.rows_at_bound": 0.01 * rep},
                 {"run_id": f"d{rep}", "arm": "dropout", "replicate": rep, "metrics.val_error": 0.2,
                  "metrics.test_error": t_base}]
    return _runs(rows)


def test_arm_names_carry_the_bound_without_a_dot():
    assert maxnorm_arm(1.0) == "maxnorm-c1" and maxnorm_arm(1.5) == "maxnorm-c1p5"


def test_grid_picks_the_bound_by_validation_error_not_test_error():
    grid = maxnorm_grid(_sweep_runs())
    picked = grid[grid["factor"] < math.inf].set_index("replicate")
    # replicate 1: c = 1.5 has the lower *test* error (0.15) but c = 1 the lower validation error
    assert list(picked["factor"]) == [1.5, 1.0, 1.0]  # replicate 2 ties on validation: the smaller c
    assert list(picked["value"]) == [0.19, 0.18, 0.17]
    assert list(grid[grid["factor"] == math.inf]["value"]) == [0.20, 0.19, 0.18]


def test_maxnorm_test_compares_the_chosen_bound_with_dropout_alone():
    evidence = MaxNormVsDropout(margin=0.005).evaluate(_sweep_runs())
    assert evidence.n == 3
    assert evidence.effect == pytest.approx(((0.19 - 0.20) + (0.18 - 0.19) + (0.17 - 0.18)) / 3)
    assert set(evidence.measured) == {"max-norm, c chosen on validation", "dropout alone"}


def test_binds_fails_an_arm_whose_bound_holds_back_few_units():
    ctx = CheckContext(_sweep_runs(), lambda run_id, key: [])
    results = {r.arm: r for r in Binds().run(ctx, ["dropout", "maxnorm-c1", "maxnorm-c1p5"])}
    assert set(results) == {"maxnorm-c1", "maxnorm-c1p5"}  # dropout alone has no bound to bind
    # c = 1: 45%, 55%, 65% of the units at the bound, 55% on average: passes (a run under half does not fail it)
    assert results["maxnorm-c1"].passed and "55.0% of hidden units" in results["maxnorm-c1"].detail
    # c = 1.5: 0-2% at the bound, a near-copy of plain dropout
    assert not results["maxnorm-c1p5"].passed and "too few units" in results["maxnorm-c1p5"].detail
    [none] = Binds().run(ctx, ["dropout"])
    assert not none.passed


def test_do_maxnorm_checks_run_on_dropout_and_every_swept_arm():
    claim = next(c for c in STUDY.claims if c.id == "DO-MAXNORM")
    arms = claim.test.read_arms(_sweep_runs())   # what the assessment hands the checks
    assert arms == ["dropout", "maxnorm-c1", "maxnorm-c1p5"]
    curves = {("a0", "l"): [2, 1], ("b0", "l"): [2, 1], ("d0", "l"): [2, 2]}
    ctx = CheckContext(_sweep_runs(), lambda run_id, key: list(enumerate(curves.get((run_id, key), [2, 1]))))
    results = run_checks((Trained("l", fell_by=0.1),), ctx, arms)
    assert [(r.arm, r.passed) for r in results] == [("dropout", False), ("maxnorm-c1", True), ("maxnorm-c1p5", True)]


# -- DO-RATE ----------------------------------------------------------------------------------------------
def _search_runs(picks, losers=((0.5, 0.5, 0.30),)):
    """Tuning runs of one search per pick: the pick (p_input, p_hidden, val_error) and worse trials."""
    rows = []
    for i, pick in enumerate(picks):
        for j, (p_in, p_h, v) in enumerate((*losers, pick)):
            rows.append({"run_id": f"s{i}t{j}", "arm": f"rate-search-{i}", "replicate": 1000 + j, "phase": "tune",
                         "params.hp.p_input": str(p_in), "params.hp.p_hidden": str(p_h), "metrics.val_error": v})
    return _runs(rows)


def test_each_search_is_represented_by_its_lowest_validation_error_trial():
    runs = _search_runs([(0.9, 0.4, 0.12), (0.7, 0.6, 0.15)])
    runs.loc[len(runs)] = {"run_id": "tie", "arm": "rate-search-1", "replicate": 1009, "phase": "tune",
                           "status": "FINISHED", "params.hp.p_input": "0.2", "params.hp.p_hidden": "0.9",
                           "metrics.val_error": 0.15}   # ties with the pick, but later: Optuna's best stays the first
    picks = tuned_rates(runs).set_index("search")
    assert picks.loc["rate-search-0", ["p_input", "p_hidden"]].tolist() == [0.9, 0.4]
    assert picks.loc["rate-search-1", ["p_input", "p_hidden"]].tolist() == [0.7, 0.6]
    assert picks.loc["rate-search-1", "trials"] == 3 and picks.loc["rate-search-1", "run_id"] == "s1t1"


def test_searches_are_listed_in_numeric_order():
    runs = _search_runs([(0.9, 0.4, 0.1)] * 12)
    assert list(tuned_rates(runs)["search"]) == [f"rate-search-{i}" for i in range(12)]  # not 0, 1, 10, 11, 2, ...


def test_input_above_hidden_tests_the_picked_differences_over_searches():
    test = InputAboveHidden()
    above = test.evaluate(_search_runs([(0.9, 0.4, 0.1), (0.8, 0.5, 0.1), (0.95, 0.55, 0.1), (0.85, 0.4, 0.1)]))
    assert above.n == 4 and above.effect == pytest.approx((0.5 + 0.3 + 0.4 + 0.45) / 4)
    assert above.p_support < 0.01 and above.p_opposite > 0.9
    below = test.evaluate(_search_runs([(0.4, 0.9, 0.1), (0.5, 0.8, 0.1), (0.45, 0.95, 0.1)]))
    assert below.effect < 0 and below.p_opposite < 0.05
    one = test.evaluate(_search_runs([(0.9, 0.4, 0.1)]))
    assert one.n == 1 and math.isnan(one.effect)


def test_do_rate_reads_the_searches_and_both_rates_share_one_range():
    import optuna

    claim = next(c for c in STUDY.claims if c.id == "DO-RATE")
    assert claim.test.phase == "tune"
    assert {a.name for a in STUDY.design("standard") if claim.test.reads(a.name)} == {f"rate-search-{i}"
                                                                                   for i in range(24)}
    distributions = optuna.create_study().ask()
    rate_space(distributions)
    p_in, p_h = distributions.distributions["p_input"], distributions.distributions["p_hidden"]
    assert (p_in.low, p_in.high) == (p_h.low, p_h.high)  # a flat objective favours neither rate


def test_do_rate_checks_every_search_and_fail_when_there_is_none():
    runs = _search_runs([(0.9, 0.4, 0.1), (0.8, 0.5, 0.1)])
    arms = InputAboveHidden().read_arms(runs)
    assert arms == ["rate-search-0", "rate-search-1"]
    ctx = CheckContext(runs, lambda run_id, key: list(enumerate([2, 2] if run_id == "s1t0" else [2, 1])))
    results = run_checks((Trained("l", fell_by=0.1),), ctx, arms)
    assert [(r.arm, r.passed) for r in results] == [("rate-search-0", True), ("rate-search-1", False)]
    empty = runs[runs["arm"] == "x"]
    [none] = run_checks((Trained("l"),), CheckContext(empty, lambda *_: []), InputAboveHidden().read_arms(empty))
    assert not none.passed and "nothing to check" in none.detail


# -- the budget check -----------------------------------------------------------------------------------
def _with(tier: str, **changes):
    budget = STUDY.budgets[tier]
    return dataclasses.replace(budget, settings=dataclasses.replace(budget.settings, **changes))


def test_every_tier_passes_its_budget_check():
    for budget in STUDY.budgets.values():
        check_budget(budget)


@pytest.mark.parametrize("changes, words", [
    ({"common_epochs": 10}, "common_epochs"),                      # standard: patience 4, one decay -> at most 9
    ({"sizes": (5000, 500)}, "increasing"),
    ({"sizes": (500, 56_000), "max_epochs": {500: 9, 56_000: 9}}, "60000"),
    ({"mc_samples": (1, 2, 100)}, "k = 50"),
    ({"max_norms": ()}, "positive bounds"),
    ({"cnn_replicates": 1}, "cnn_replicates"),
    ({"cnn_replicates": 31}, "at most the tier's replicates"),
    ({"rate_searches": 1}, "rate_searches"),
    ({"rate_searches": 25}, "rate_searches"),
])
def test_bad_budgets_fail_early_with_the_reason(changes, words):
    with pytest.raises(StudyDeclarationError, match=words):
        check_budget(_with("standard", **changes))


# -- the trial's bookkeeping: censoring and the common budget -------------------------------------------
class _Ctx:
    """What the trial helpers read of a TrialContext."""

    def __init__(self, **budget):
        from types import SimpleNamespace

        self.budget, self.seeds, self.logged, self.tuning = budget, SimpleNamespace(noise=7), [], False

    def log_metric(self, key, value, step=0):
        self.logged.append((key, value, step))


def test_mc_crossover_is_censored_when_no_average_matches_scaling():
    import torch

    from studies.dropout.trials import _mc_metrics

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Dropout(0.5), torch.nn.Linear(6, 3))
    x, y = torch.randn(40, 6), torch.randint(0, 3, (40,))
    ctx = _Ctx(mc_samples=(1, 2, 50))
    never = _mc_metrics(ctx, model, x, y, scaling=-1.0)       # no error is <= -1: never reached
    assert never["crossover_k"] == 50 and never["crossover_k_censored"] == 1
    at_once = _mc_metrics(ctx, model, x, y, scaling=1.0)      # every error is <= 1: k = 1
    assert at_once["crossover_k"] == 1 and at_once["crossover_k_censored"] == 0
    assert at_once["mc_error_k50"] == never["mc_error_k50"]   # the MC draws come from their own seed
    assert [k for key, _, k in ctx.logged if key == "mc_error"] == [1, 2, 50, 1, 2, 50]
    assert not model.training


def test_measured_reads_the_common_budget_and_censors_an_unreached_loss_target():
    import torch

    from harness.engine import TrainResult
    from studies.dropout.trials import _measured

    model = torch.nn.Linear(4, 2)
    x, y = torch.randn(10, 4), torch.randint(0, 2, (10,))
    result = TrainResult(points=[1, 2, 3], train_loss=[0.9, 0.5, 0.4], epoch_seconds=[1.0, 2.0, 3.0], best_point=2,
                         evaluations=[{"epoch_test_error": t, "epoch_train_error": r, "clean_train_loss": c}
                                      for t, r, c in ((0.5, 0.4, 0.8), (0.3, 0.1, 0.3), (0.35, 0.05, 0.2))])
    ctx = _Ctx(train_error_rows=10, common_epochs=2, loss_target=0.35)
    m = _measured(ctx, model, (x, y, x, y, x, y), result)
    assert m["gap_common"] == pytest.approx(0.2) and m["test_error_common"] == 0.3
    assert m["best_epoch"] == 2 and m["epochs_trained"] == 3 and m["median_epoch_seconds"] == 2.0
    assert (m["epochs_to_clean_loss_target"], m["epochs_to_clean_loss_target_censored"]) == (2, 0)
    assert (m["epochs_to_loss_target"], m["epochs_to_loss_target_censored"]) == (3, 1)  # 0.4 > 0.35: a bound


def test_do_maxnorm_reads_the_sweep_and_dropout_alone_so_later_looks_give_them_seeds():
    claim = next(c for c in STUDY.claims if c.id == "DO-MAXNORM")
    read = {arm.name for arm in STUDY.design("standard") if claim.test.reads(arm.name)}
    assert read == {"dropout", *(maxnorm_arm(c) for c in MAXNORM_SWEEP)} and len(MAXNORM_SWEEP) >= 2


# -- DropConnect (a described measurement) -----------------------------------------------------------------
def test_dropconnect_section_compares_it_with_dropout_on_the_same_seeds():
    from studies.dropout.notes import dropconnect_section

    rows = [{"run_id": f"d{r}", "arm": "dropout", "replicate": r, "metrics.test_error": e, "metrics.best_epoch": 30}
            for r, e in enumerate([0.10, 0.12, 0.20])]
    rows += [{"run_id": f"c{r}", "arm": "dropconnect", "replicate": r, "metrics.test_error": e,
              "metrics.best_epoch": 20} for r, e in enumerate([0.13, 0.15])]
    text = "\n".join(dropconnect_section(_runs(rows)))
    # the paired difference reads seeds 0 and 1 only: dropout's mean there is 0.11, not its 0.14 over three
    assert "DropConnect 0.1400, dropout 0.1100 on the same 2 seeds (0.1400 over all its seeds)" in text
    assert "DropConnect − dropout +0.0300" in text


def test_maxnorm_pilot_measures_the_share_of_units_at_the_bound():
    """The pilot that chose DO-MAXNORM's sweep: a bound under the init's row norm (1/sqrt(3)) holds every unit
    from the first step, one far above it none, and no bound has no share."""
    import torch

    from studies.dropout.maxnorm_pilot import pilot_run

    generator = torch.Generator().manual_seed(0)
    x, y = torch.rand(256, 784, generator=generator), torch.randint(0, 10, (256,), generator=generator)
    tight, loose, free = (pilot_run(x, y, x[:64], y[:64], 0.05, c, max_epochs=2) for c in (0.3, 10.0, None))
    assert tight.at_bound > 0.9 and tight.median_row_norm == pytest.approx(0.3, rel=1e-3)
    assert loose.at_bound == 0.0 and math.isnan(free.at_bound)
    assert not (tight.diverged or loose.diverged or free.diverged) and 1 <= free.epochs <= 2


def test_the_quick_tier_gives_do_speeds_arms_their_sign_test_seeds_and_the_rest_three():
    # a sign test on n pairs cannot go below 2 x 2^-n: DO-SPEED's two arms need 8 under Holm's first step, while
    # every other arm (the max-norm sweep, the CNNs) stays at 3 so that the tier fits its 8 minutes
    budget = STUDY.budget("quick")
    seeds = {arm.name: arm.replicates_at(budget, 0) for arm in STUDY.design("quick")}
    assert seeds["dropout"] == seeds["none"] == 8
    assert max(n for name, n in seeds.items() if name not in {"dropout", "none"}) == 3


def test_standard_takes_do_convs_cnns_to_thirty_seeds_and_caps_every_other_arm_at_nine():
    # DO-CONV's settle line at 9 seeds was ~30; the other claims keep the looks (3, 9) they were decided at, so
    # their alpha at each look is what it was before the CNNs' third look was added
    from harness.spending import arms_read, information, replicates_by_look

    standard = STUDY.budget("standard")
    design = STUDY.design("standard")
    by_look = {arm.name: [arm.replicates_at(standard, k) for k in range(len(standard.schedule))] for arm in design}
    assert standard.schedule == (3, 9, 30)
    assert {name: n for name, n in by_look.items() if n[-1] == 30} == {a: [3, 9, 30] for a in CNN_ARMS}
    assert {maxnorm_arm(c) for c in MAXNORM_SWEEP} | {"dropout", "none"} <= {
        name for name, n in by_look.items() if n == [3, 9, 9]}
    at = replicates_by_look(standard, design)
    for claim in STUDY.claims:
        reads = arms_read(claim, [a.name for a in design])
        fractions = [information(reads, at, k) for k in range(3)]
        expected = [0.1, 0.3, 1.0] if claim.id == "DO-CONV" else ([1.0] * 3 if reads is None else [1 / 3, 1.0, 1.0])
        assert fractions == pytest.approx(expected), claim.id


def test_do_overfits_notes_read_every_tiers_smaller_sizes_at_its_seeds():
    """The small-data case: every tier's sizes below the tested one are among SMALL_SIZES (DO-OVERFIT's notes read
    their arms, so a sequential tier runs them as long as the claim's own); standard has 100 and 500 images."""
    from studies.dropout import SMALL_ARMS, SMALL_SIZES

    for tier in STUDY.budgets:
        assert set(STUDY.budget(tier)["sizes"][:-1]) <= set(SMALL_SIZES), tier
    assert STUDY.budget("standard")["sizes"][:-1] == (100, 500)
    claims = {c.id: c for c in STUDY.claims}
    assert claims["DO-OVERFIT"].reads_also == SMALL_ARMS and claims["DO-CONV"].reads_also == ("cnn",)
