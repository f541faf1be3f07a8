"""The validity checks of ``harness.checks`` on runs DataFrames built by hand,
with metric histories served from a dict (what the tracking store would give):
what passes, what fails and the words a failure is reported in."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from harness.checks import (AboveChance, CheckContext, CheckResult, Converged, NoBottleneck, Stationary, Trained,
                            TunedAlike, run_checks)


def make_runs(arms: dict[str, int], failed: set[str] = frozenset(), **columns: dict[str, list]) -> pd.DataFrame:
    """``arms``: arm -> number of runs (run ids "<arm>-<i>"); ``columns``:
    column name ("metrics.x", "params.config.y"; pass with ``**{...}``) ->
    arm -> one value per run."""
    rows = []
    for arm, n in arms.items():
        for i in range(n):
            run_id = f"{arm}-{i}"
            row = {"run_id": run_id, "arm": arm, "replicate": i, "status": "FAILED" if run_id in failed else "FINISHED"}
            for name, per_arm in columns.items():
                if arm in per_arm:
                    row[name] = per_arm[arm][i]
            rows.append(row)
    return pd.DataFrame(rows)


def history_from(curves: dict[tuple[str, str], list[float]], shuffle: bool = True):
    """A ``history(run_id, key)`` backed by a dict of value lists; steps are
    0, 10, 20… and handed back in reverse order, as a store need not sort them."""
    def history(run_id: str, key: str) -> list[tuple[int, float]]:
        points = [(10 * step, v) for step, v in enumerate(curves.get((run_id, key), []))]
        return points[::-1] if shuffle else points
    return history


def ctx_for(runs: pd.DataFrame, curves: dict | None = None, **kw) -> CheckContext:
    return CheckContext(runs, history_from(curves or {}), **kw)


# -- CheckContext --------------------------------------------------------------------------------------
def test_context_curves_are_in_step_order_and_skip_failed_runs():
    runs = make_runs({"a": 3}, failed={"a-1"})
    ctx = ctx_for(runs, {("a-0", "loss"): [3.0, 2.0, 1.0], ("a-1", "loss"): [9.0], ("a-2", "loss"): [5.0, 4.0]})
    assert list(ctx.finished("a")["run_id"]) == ["a-0", "a-2"]
    assert ctx.curves("a", "loss") == [("a-0", [3.0, 2.0, 1.0]), ("a-2", [5.0, 4.0])]


def test_check_result_as_dict():
    r = CheckResult("trained", "a", True, "fine")
    assert r.as_dict() == {"name": "trained", "arm": "a", "passed": True, "detail": "fine"}


# -- Trained -------------------------------------------------------------------------------------------
def test_trained_passes_when_every_run_fell_enough():
    runs = make_runs({"a": 2})
    ctx = ctx_for(runs, {("a-0", "train_loss"): [2.0, 1.5, 1.0], ("a-1", "train_loss"): [2.0, 1.9, 1.6]})
    [r] = Trained(fell_by=0.1).run(ctx, ["a"])
    assert r.passed and r.name == "trained" and r.arm == "a"
    assert "fell 20.0%" in r.detail and "least over 2 runs" in r.detail and "need ≥ 10%" in r.detail


def test_trained_fails_when_one_run_did_not_fall_enough():
    runs = make_runs({"a": 2, "b": 1})
    curves = {("a-0", "train_loss"): [2.0, 1.0], ("a-1", "train_loss"): [2.0, 1.95],
              ("b-0", "train_loss"): [1.0, 0.5]}
    a, b = Trained(fell_by=0.1).run(ctx_for(runs, curves), ["a", "b"])
    assert not a.passed and "fell 2.5%" in a.detail
    assert b.passed and "fell 50.0%" in b.detail


def test_trained_loss_that_rose_fails():
    runs = make_runs({"a": 1})
    [r] = Trained().run(ctx_for(runs, {("a-0", "train_loss"): [1.0, 1.2]}), ["a"])
    assert not r.passed and "fell -20.0%" in r.detail


def test_trained_with_a_single_evaluation_fails():
    runs = make_runs({"a": 2})
    curves = {("a-0", "train_loss"): [2.0, 0.5], ("a-1", "train_loss"): [2.0]}
    [r] = Trained().run(ctx_for(runs, curves), ["a"])
    assert not r.passed and "fewer than two evaluations" in r.detail


def test_trained_custom_metric_and_no_runs():
    runs = make_runs({"a": 1}, failed={"a-0"})
    [r] = Trained(metric="nll").run(ctx_for(runs, {("a-0", "nll"): [2.0, 1.0]}), ["a"])
    assert not r.passed and "no finished runs" in r.detail


# -- Stationary --------------------------------------------------------------------------------------
def test_stationary_reads_the_largest_final_gradient_ratio_and_fails_a_nan():
    runs = make_runs({"a": 3, "b": 2, "c": 2}, **{"metrics.grad_norm_ratio": {
        "a": [1e-5, 4e-4, 2e-5], "b": [1e-5, 0.02], "c": [1e-5, float("nan")]}})
    a, b, c = Stationary(tolerance=1e-3).run(ctx_for(runs), ["a", "b", "c"])
    assert a.passed and a.name == "converged" and "0.0004" in a.detail and "need ≤ 0.001" in a.detail
    assert "final gradient norm relative to its initial one" in a.detail
    assert not b.passed and "0.02" in b.detail
    assert not c.passed and "nan" in c.detail


def test_stationary_names_another_distance_to_the_optimum():
    runs = make_runs({"a": 2}, **{"metrics.optimality_gap": {"a": [2e-7, 3e-5]}})
    [r] = Stationary("optimality_gap", tolerance=1e-5,
                     what="training error above the optimum").run(ctx_for(runs), ["a"])
    assert not r.passed and r.detail.startswith("`a`: training error above the optimum 3e-05")


def test_stationary_without_the_metric_is_missing():
    runs = make_runs({"a": 2}, **{"metrics.other": {"a": [1.0, 1.0]}})
    [r] = Stationary().run(ctx_for(runs), ["a"])
    assert not r.passed and "no finished runs" in r.detail


# -- AboveChance ---------------------------------------------------------------------------------------
def test_above_chance_uses_the_worst_run():
    runs = make_runs({"a": 3, "b": 2}, **{"metrics.test_acc": {"a": [0.9, 0.25, 0.8], "b": [0.35, 0.5]}})
    a, b = AboveChance(chance=0.1, margin=0.2).run(ctx_for(runs), ["a", "b"])
    assert not a.passed and "0.25 in its worst run" in a.detail and "need ≥ 0.3" in a.detail
    assert b.passed and b.name == "trained"


def test_above_chance_boundary_and_missing():
    runs = make_runs({"a": 2}, **{"metrics.acc": {"a": [0.6, 0.7]}})
    [r] = AboveChance(metric="acc", chance=0.5, margin=0.1).run(ctx_for(runs), ["a"])
    assert r.passed                                  # 0.6 ≥ 0.5 + 0.1
    [r] = AboveChance(metric="missing").run(ctx_for(runs), ["a"])
    assert not r.passed and "no finished runs" in r.detail


def test_above_chance_ignores_failed_runs():
    runs = make_runs({"a": 2}, failed={"a-1"}, **{"metrics.test_acc": {"a": [0.9, 0.05]}})
    [r] = AboveChance().run(ctx_for(runs), ["a"])
    assert r.passed


# -- Converged -----------------------------------------------------------------------------------------
def test_converged_passes_on_a_flat_tail():
    runs = make_runs({"a": 2})
    curves = {("a-0", "val"): [5.0, 2.0, 1.005, 1.003, 1.001, 1.0], ("a-1", "val"): [4.0, 3.0, 2.0, 2.0, 2.0, 2.0]}
    [r] = Converged("val", last=3, tolerance=0.01).run(ctx_for(runs, curves), ["a"])
    assert r.passed and r.name == "converged"
    assert "improved 0.50%" in r.detail and "over its last 3 evaluations" in r.detail and "tolerance 1%" in r.detail


def test_converged_still_improving_fails_with_the_percentage():
    runs = make_runs({"a": 2})
    curves = {("a-0", "val"): [5.0, 2.0, 1.005, 1.003, 1.001, 1.0], ("a-1", "val"): [4.0, 3.0, 2.6, 2.4, 2.2, 2.0]}
    [r] = Converged("val", last=3, tolerance=0.01).run(ctx_for(runs, curves), ["a"])
    assert not r.passed
    assert "still improving 30.00%" in r.detail            # (2.6 - 2.0) / 2.0
    assert "the most over 2 runs" in r.detail


def test_converged_counts_a_relogged_final_step_once():
    # The dropout study logs its final test_error again at the last epoch's step; the
    # store keeps the copy or drops it (same timestamp). Either way the check must see
    # the same last 3 evaluations: verify-reports saw 21.48% vs 10.02% before.
    runs = make_runs({"a": 1})
    values = [0.30, 0.20, 0.18, 0.17, 0.16]
    plain = CheckContext(runs, lambda run_id, key: [(step, v) for step, v in enumerate(values, 1)])
    doubled = CheckContext(runs, lambda run_id, key: [(step, v) for step, v in enumerate(values, 1)] + [(5, 0.16)])
    assert plain.curves("a", "val") == doubled.curves("a", "val") == [("a-0", values)]
    [a] = Converged("val", last=3, tolerance=0.01).run(plain, ["a"])
    [b] = Converged("val", last=3, tolerance=0.01).run(doubled, ["a"])
    assert a == b and "still improving 25.00%" in a.detail     # (0.20 - 0.16) / 0.16
    # a step logged twice with different values keeps the later one
    relogged = CheckContext(runs, lambda run_id, key: [(1, 0.3), (2, 0.25), (2, 0.2)])
    assert relogged.curves("a", "val") == [("a-0", [0.3, 0.2])]


def test_converged_higher_is_better():
    runs = make_runs({"a": 1})
    rising = {("a-0", "acc"): [0.5, 0.6, 0.7, 0.8]}
    [r] = Converged("acc", last=2, tolerance=0.05, lower_is_better=False).run(ctx_for(runs, rising), ["a"])
    assert not r.passed and "still improving 25.00%" in r.detail     # (0.8 - 0.6) / 0.8
    [r] = Converged("acc", last=2, tolerance=0.05, lower_is_better=True).run(ctx_for(runs, rising), ["a"])
    assert r.passed                                                  # a rising loss is no improvement


def test_converged_stopped_early_passes():
    runs = make_runs({"a": 2}, **{"metrics.stopped_early": {"a": [1.0, 0.0]}})
    curves = {("a-0", "val"): [4.0, 3.0, 2.0, 1.0], ("a-1", "val"): [4.0, 1.0, 1.0, 1.0, 1.0]}
    [r] = Converged("val", last=3).run(ctx_for(runs, curves), ["a"])
    assert r.passed and "1 run(s) stopped on validation patience" in r.detail
    runs_all = make_runs({"a": 2}, **{"metrics.stopped_early": {"a": [1.0, 1.0]}})
    [r] = Converged("val", last=3).run(ctx_for(runs_all, curves), ["a"])
    assert r.passed and "every run stopped on validation patience" in r.detail


def test_converged_too_few_evaluations_fails():
    runs = make_runs({"a": 2})
    curves = {("a-0", "val"): [2.0, 1.0, 1.0, 1.0, 1.0], ("a-1", "val"): [2.0, 1.0, 1.0]}
    [r] = Converged("val", last=3).run(ctx_for(runs, curves), ["a"])
    assert not r.passed and "3 or fewer evaluations" in r.detail and "convergence unknown" in r.detail


def test_converged_no_finished_runs():
    runs = make_runs({"a": 1}, failed={"a-0"})
    [r] = Converged("val").run(ctx_for(runs, {("a-0", "val"): [1.0] * 5}), ["a"])
    assert not r.passed and "no finished runs" in r.detail


@pytest.mark.parametrize("order", [0, 1])
def test_converged_a_nan_curve_fails_whatever_the_run_order(order):
    runs = make_runs({"a": 2})
    flat, nan = [2.0, 1.0, 1.0, 1.0, 1.0], [2.0, 1.0, 1.0, 1.0, math.nan]
    curves = {("a-0", "val"): [flat, nan][order], ("a-1", "val"): [nan, flat][order]}
    [r] = Converged("val", last=3).run(ctx_for(runs, curves), ["a"])
    assert not r.passed and "nan%" in r.detail


# -- TunedAlike ----------------------------------------------------------------------------------------
def tuning(counts: dict[str, int]) -> pd.DataFrame:
    return make_runs(counts)


def test_tuned_against_untuned_without_a_reason_fails():
    runs = make_runs({"dropout": 2, "plain": 2})
    ctx = ctx_for(runs, tuning_runs=tuning({"dropout": 8}), tuned_arms=frozenset({"dropout"}))
    [r] = TunedAlike().run(ctx, ["dropout", "plain"])
    assert not r.passed and r.name == "tuned-alike" and r.arm == "all"
    assert "`dropout` tuned, `plain` not" in r.detail and "gives no reason" in r.detail


def test_tuned_against_untuned_with_a_reason_passes():
    runs = make_runs({"dropout": 2, "plain": 2})
    ctx = ctx_for(runs, tuning_runs=tuning({"dropout": 8}), tuned_arms=frozenset({"dropout"}))
    [r] = TunedAlike(reason="the plain net has no rate to tune").run(ctx, ["dropout", "plain"])
    assert r.passed and r.detail.endswith("the plain net has no rate to tune")


def test_all_tuned_needs_equal_tuning_budgets():
    runs = make_runs({"a": 2, "b": 2})
    unequal = ctx_for(runs, tuning_runs=tuning({"a": 8, "b": 6}), tuned_arms=frozenset({"a", "b"}))
    [r] = TunedAlike().run(unequal, ["a", "b"])
    assert not r.passed and "`a` 8, `b` 6" in r.detail and "unequal budgets" in r.detail
    equal = ctx_for(runs, tuning_runs=tuning({"a": 8, "b": 8, "c": 3}), tuned_arms=frozenset({"a", "b", "c"}))
    [r] = TunedAlike().run(equal, ["a", "b"])
    assert r.passed and "`a` 8, `b` 8" in r.detail and "unequal" not in r.detail


def test_tunable_arms_at_a_tier_without_tuning_are_not_tuned():
    runs = make_runs({"a": 2, "b": 2})
    [r] = TunedAlike().run(ctx_for(runs, tuning_runs=None, tuned_arms=frozenset({"a", "b"})), ["a", "b"])
    assert r.passed and "no arm tuned" in r.detail


def test_a_tunable_arm_whose_search_ran_no_trial_is_untuned_beside_a_tuned_one():
    runs = make_runs({"a": 2, "b": 2})
    tune = pd.DataFrame({"arm": ["a"] * 3})
    [r] = TunedAlike().run(ctx_for(runs, tuning_runs=tune, tuned_arms=frozenset({"a", "b"})), ["a", "b"])
    assert not r.passed and "`a` tuned, `b` not" in r.detail


def test_none_tuned_passes():
    runs = make_runs({"a": 2, "b": 2})
    [r] = TunedAlike().run(ctx_for(runs), ["a", "b"])
    assert r.passed and "no arm tuned" in r.detail


# -- NoBottleneck --------------------------------------------------------------------------------------
def test_no_bottleneck():
    runs = make_runs({"deep": 2, "wide": 2, "pca": 2},
                     **{"params.config.hidden": {"deep": ["(60, 30, 15)"] * 2, "wide": ["100"] * 2},
                        "params.config.code": {"deep": ["30"] * 2, "wide": ["30"] * 2, "pca": ["30"] * 2}})
    deep, wide, pca = NoBottleneck().run(ctx_for(runs), ["deep", "wide", "pca"])
    assert not deep.passed and deep.name == "not-crippled"
    assert "hidden widths 60-30-15 before a 30-d code" in deep.detail and "[15] narrower" in deep.detail
    assert wide.passed and "hidden widths 100 before a 30-d code" in wide.detail
    assert pca.passed and "no hidden layers" in pca.detail


def test_no_bottleneck_list_syntax_float_code_and_missing_columns():
    runs = make_runs({"ae": 1}, **{"params.config.hidden": {"ae": ["[64, 32]"]},
                                   "params.config.code": {"ae": ["32.0"]}})
    [r] = NoBottleneck().run(ctx_for(runs), ["ae"])
    assert r.passed                                                   # 32 is not narrower than 32
    bare = make_runs({"ae": 1})
    [r] = NoBottleneck().run(ctx_for(bare), ["ae"])
    assert r.passed and "no hidden layers" in r.detail
    named = make_runs({"ae": 1}, **{"params.config.enc": {"ae": ["(8,)"]}, "params.config.k": {"ae": ["16"]}})
    [r] = NoBottleneck(hidden="enc", code="k").run(ctx_for(named), ["ae"])
    assert not r.passed and "[8] narrower" in r.detail


def test_no_bottleneck_for_relu_layers_needs_two_units_per_code_dimension():
    runs = make_runs({"small": 1, "wide": 1}, **{"params.config.hidden": {"small": ["(120, 60, 30)"],
                                                                          "wide": ["(240, 120, 60)"]},
                                                  "params.config.code": {"small": ["30"], "wide": ["30"]}})
    small, wide = NoBottleneck(per_code=2).run(ctx_for(runs), ["small", "wide"])
    assert not small.passed and "[30] narrower than 2 x the code (60)" in small.detail
    assert wide.passed and "none narrower than 2 x the code (60)" in wide.detail
    [plain] = NoBottleneck().run(ctx_for(runs), ["small"])
    assert plain.passed                                               # as wide as the code: enough at per_code 1


# -- run_checks ----------------------------------------------------------------------------------------
def test_run_checks_uses_a_checks_own_arms_when_given():
    runs = make_runs({"a": 1, "b": 1, "c": 1}, **{"metrics.test_acc": {"a": [0.9], "b": [0.05], "c": [0.9]}})
    checks = (AboveChance(), AboveChance(arms=("c",)), TunedAlike())
    results = run_checks(checks, ctx_for(runs), ["a", "b"])
    assert [(r.name, r.arm, r.passed) for r in results] == [
        ("trained", "a", True), ("trained", "b", False), ("trained", "c", True), ("tuned-alike", "all", True)]
    assert run_checks((), ctx_for(runs), ["a"]) == []


def test_run_checks_fails_a_per_arm_check_with_no_arm_to_check_but_not_one_that_finds_its_runs():
    class FindsItsOwnRuns(AboveChance):
        per_arm = False

        def run(self, ctx, arms):
            return [CheckResult("own", "all", True, "read the runs itself")]

    runs = make_runs({"a": 1}, **{"metrics.test_acc": {"a": [0.9]}})
    [empty] = run_checks((AboveChance(),), ctx_for(runs), [])
    assert (empty.name, empty.passed) == ("trained", False) and "nothing to check" in empty.detail
    [own] = run_checks((FindsItsOwnRuns(),), ctx_for(runs), [])
    assert own.passed
