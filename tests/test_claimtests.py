"""Every claim test of ``harness.claimtests`` on small runs DataFrames built by
hand, with scipy as the oracle where one exists: the two one-sided p-values,
the effect, the interval's duality with the directional p (it excludes the
null exactly when 2 * min(p_support, p_opposite) < its alpha), the settle
function, the checks a test runs on its own values, and a few verdicts end to
end through ``harness.claims.decide``."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from harness import importance, stats
from harness.checks import CheckResult
from harness.claims import CLAIMED, OPPOSITE, decide, directional_p
from harness.claimtests import (BestOverGrid, Better, BetterEverywhere, Bound, Extrapolated, Faster, FasterAtBest,
                                Importance, RateAbove, ShareOfReference, Shrinks, Similar, Tolerance, Trend,
                                VarianceAbove, VarianceShares, Within, bound_evidence, difference_evidence)
from harness.design import StudyDeclarationError, factorial_cell

M = "mse"
COL = f"metrics.{M}"
LEVELS = (0.001, 0.01, 0.05, 0.1, 0.2, 0.5, 0.9)


def make_runs(values: dict[str, list[float]], metric: str = M, extra: dict[str, dict[str, list[float]]] | None = None,
              failed: set[tuple[str, int]] = frozenset()) -> pd.DataFrame:
    """One row per (arm, replicate i) with run id "<arm>-<i>"; ``extra`` adds
    more metric columns per arm; ``failed`` marks (arm, replicate) FAILED."""
    rows = []
    for arm, vals in values.items():
        for rep, v in enumerate(vals):
            row = {"run_id": f"{arm}-{rep}", "arm": arm, "replicate": int(rep),
                   "status": "FAILED" if (arm, rep) in failed else "FINISHED", f"metrics.{metric}": float(v)}
            for name, per_arm in (extra or {}).items():
                if arm in per_arm:
                    row[f"metrics.{name}"] = float(per_arm[arm][rep])
            rows.append(row)
    return pd.DataFrame(rows)


def check(evidence, name: str) -> CheckResult:
    found = [c for c in evidence.checks if c.name == name]
    assert len(found) == 1, evidence.checks
    return found[0]


def duality_levels(evidence) -> list[float]:
    """A few fixed levels plus the two sides of the boundary a = 2 * min(p)."""
    p2 = directional_p(evidence)
    out = list(LEVELS)
    if 1e-6 < p2 < 1:      # (far out in the tails the t quantiles are not this precise)
        out += [p2 * (1 - 1e-7), p2 * (1 + 1e-7)]
    return [a for a in out if 0 < a < 1]


def assert_point_duality(evidence, p_above: float, p_below: float):
    """The interval lies above the null exactly when 2 * p(effect > null) < a,
    below it exactly when 2 * p(effect < null) < a; and so it excludes the null
    exactly when the directional p is below a."""
    null = evidence.null
    for a in duality_levels(evidence):
        lo, hi = evidence.interval(a)
        assert lo <= hi
        assert (lo > null) == (2 * p_above < a), (a, lo, hi, p_above)
        assert (hi < null) == (2 * p_below < a), (a, lo, hi, p_below)
        assert (lo > null or hi < null) == (directional_p(evidence) < a)


def assert_band_duality(evidence, low: float, high: float):
    """Equivalence tests: the interval lies inside (low, high) exactly when
    2 * p_support < a, wholly outside [low, high] exactly when 2 * p_opposite < a."""
    for a in duality_levels(evidence):
        lo, hi = evidence.interval(a)
        assert (low < lo and hi < high) == (2 * evidence.p_support < a), (a, lo, hi)
        assert (lo > high or hi < low) == (2 * evidence.p_opposite < a), (a, lo, hi)


def walsh_median(d: np.ndarray) -> float:
    return float(np.median([(d[i] + d[j]) / 2 for i in range(len(d)) for j in range(i, len(d))]))


BASE = np.array([1.00, 1.10, 0.95, 1.05, 0.98, 1.02, 1.07, 0.93])
NOISE = np.array([0.031, -0.024, 0.012, -0.017, 0.026, -0.009, 0.004, -0.021])


# -- Better --------------------------------------------------------------------------------------
@pytest.mark.parametrize("shift", [-0.05, -0.004, 0.03])
def test_better_paired_t_matches_scipy(shift):
    x, y = BASE + shift + NOISE, BASE
    e = Better(M, "new", "old").evaluate(make_runs({"new": list(x), "old": list(y)}))
    d = x - y
    assert e.n == 8
    assert e.effect == pytest.approx(d.mean())
    assert e.p_support == pytest.approx(sps.ttest_1samp(d, 0, alternative="less").pvalue, rel=1e-9)
    assert e.p_opposite == pytest.approx(sps.ttest_1samp(d, 0, alternative="greater").pvalue, rel=1e-9)
    assert e.p_support == pytest.approx(sps.ttest_rel(x, y, alternative="less").pvalue, rel=1e-9)
    assert math.isnan(e.p_equivalence)
    assert e.null == 0.0 and e.tested
    assert e.measured == pytest.approx({"new": x.mean(), "old": y.mean()})
    assert set(e.runs) == {f"{a}-{i}" for a in ("new", "old") for i in range(8)}
    assert check(e, "not-degenerate").passed
    assert_point_duality(e, p_above=e.p_opposite, p_below=e.p_support)


def test_better_higher_is_better_swaps_the_sides():
    x, y = BASE + 0.05 + NOISE, BASE
    e = Better("acc", "new", "old", lower_is_better=False).evaluate(
        make_runs({"new": list(x), "old": list(y)}, metric="acc"))
    assert e.p_support == pytest.approx(sps.ttest_rel(x, y, alternative="greater").pvalue)
    assert e.p_opposite == pytest.approx(sps.ttest_rel(x, y, alternative="less").pvalue)
    assert_point_duality(e, p_above=e.p_support, p_below=e.p_opposite)


def test_better_wilcoxon_matches_scipy_and_hodges_lehmann():
    x, y = BASE - 0.02 + NOISE, BASE
    e = Better(M, "new", "old", method="wilcoxon").evaluate(make_runs({"new": list(x), "old": list(y)}))
    d = x - y
    assert e.p_support == pytest.approx(sps.wilcoxon(d, alternative="less").pvalue)
    assert e.p_opposite == pytest.approx(sps.wilcoxon(d, alternative="greater").pvalue)
    assert e.effect == pytest.approx(walsh_median(d))
    assert "Hodges" in e.ci_method
    assert_point_duality(e, p_above=e.p_opposite, p_below=e.p_support)


def test_better_margin_gives_a_tost_equivalence_p():
    x, y = BASE + NOISE * 0.5, BASE
    m = 0.05
    e = Better(M, "new", "old", margin=m).evaluate(make_runs({"new": list(x), "old": list(y)}))
    d = x - y
    tost = max(sps.ttest_1samp(d, -m, alternative="greater").pvalue, sps.ttest_1samp(d, m, alternative="less").pvalue)
    assert e.p_equivalence == pytest.approx(tost)
    assert e.p_equivalence < 0.01
    verdict = decide([e])[0]
    assert verdict.verdict == "not reproduced"


def test_better_pairs_by_replicate_and_drops_failed_runs():
    runs = make_runs({"new": [0.5, 0.6, 0.7, 0.4], "old": [1.0, 1.2, 1.1, 5.0]}, failed={("old", 3)})
    e = Better(M, "new", "old").evaluate(runs)
    assert e.n == 3
    assert "old-3" not in e.runs and "new-3" not in e.runs
    assert e.effect == pytest.approx(np.mean([0.5 - 1.0, 0.6 - 1.2, 0.7 - 1.1]))


def test_better_with_fewer_than_two_pairs_is_untested():
    e = Better(M, "new", "old").evaluate(make_runs({"new": [0.5], "old": [1.0]}))
    assert e.n == 1 and math.isnan(e.p_support) and not e.tested
    verdict = decide([e])[0]
    assert verdict.verdict == "inconclusive" and "no test possible" in verdict.reason


def test_better_identical_arms_fail_not_degenerate():
    runs = make_runs({"new": list(BASE), "old": list(BASE)})
    e = Better(M, "new", "old").evaluate(runs)
    c = check(e, "not-degenerate")
    assert not c.passed and "identical" in c.detail
    assert e.p_support == 1.0 and e.p_opposite == 1.0
    verdict = decide([e])[0]
    assert verdict.verdict == "inconclusive" and verdict.reason.startswith("invalid:")
    assert verdict.ci is None and math.isnan(verdict.p_value)


@pytest.mark.parametrize("method", ["paired_t", "wilcoxon"])
@pytest.mark.parametrize("n", [3, 5])
def test_better_constant_nonzero_differences_use_the_sign_flip_floor(method, n):
    y = BASE[:n]
    e = Better(M, "new", "old", method=method).evaluate(make_runs({"new": list(y - 0.25), "old": list(y)}))
    assert e.p_support == 0.5 ** n and e.p_support > 0
    assert e.p_opposite == 1.0
    assert e.effect == pytest.approx(-0.25)
    c = check(e, "not-degenerate")
    assert c.passed and f"2^-{n}" in c.detail
    # settle: the smallest m with 2^-m below the one-sided level
    assert e.settle(0.025, CLAIMED) == 6 and 0.5 ** 6 < 0.025 < 0.5 ** 5
    assert e.settle(0.025, OPPOSITE) is None


def test_better_constant_differences_interval_on_the_boundary():
    n = 5
    e = Better(M, "new", "old").evaluate(make_runs({"new": list(BASE[:n] - 0.25), "old": list(BASE[:n])}))
    boundary = 2 * 0.5 ** n            # exactly the directional p
    assert directional_p(e) == boundary
    assert e.interval(boundary) == (-math.inf, math.inf)      # 2p < a is false: not excluded
    assert e.interval(boundary * (1 + 1e-12)) == pytest.approx((-0.25, -0.25))
    assert_point_duality(e, p_above=e.p_opposite, p_below=e.p_support)


def test_better_wilcoxon_interval_on_the_boundary():
    d = np.array([0.1, 0.2, 0.3, 0.4, 0.5])               # all positive: exact p = 2^-5
    e = Better(M, "new", "old", method="wilcoxon", lower_is_better=False).evaluate(
        make_runs({"new": list(BASE[:5] + d), "old": list(BASE[:5])}))
    assert e.p_support == 0.5 ** 5
    lo, _ = e.interval(2 * e.p_support)
    assert not lo > 0


def test_better_on_a_censored_metric_fails_the_censored_check():
    x, y = BASE - 0.1 + NOISE, BASE
    runs = make_runs({"new": list(x), "old": list(y)},
                     extra={f"{M}_censored": {"new": [1.0] * 8, "old": [0.0] * 8}})
    e = Better(M, "new", "old").evaluate(runs)
    c = check(e, "censored")
    assert not c.passed and "`new` 8 of 8" in c.detail and "not censoring-aware" in c.detail
    assert decide([e])[0].reason.startswith("invalid:")
    runs_ok = make_runs({"new": list(x), "old": list(y)}, extra={f"{M}_censored": {"new": [0.0] * 8, "old": [0.0] * 8}})
    assert check(Better(M, "new", "old").evaluate(runs_ok), "censored").passed


def test_better_settle():
    x, y = BASE - 0.01 + NOISE, BASE
    e = Better(M, "new", "old").evaluate(make_runs({"new": list(x), "old": list(y)}))
    d = x - y
    n = e.settle(0.025, CLAIMED)
    assert isinstance(n, int) and n == stats.seeds_needed(d, alpha=0.025, alternative="less")
    assert n > e.n          # a weak effect needs more than the 8 replicates it has
    assert e.settle(0.025, OPPOSITE) is None   # the effect lies on the claimed side
    assert e.settle(0.001, CLAIMED) > n        # a stricter level needs more


def test_better_declaration_errors():
    with pytest.raises(StudyDeclarationError):
        Better(M, "a", "b", method="ttest")
    with pytest.raises(StudyDeclarationError):
        Better(M, "a", "b", margin=0)


def test_difference_evidence_directly():
    x, y = np.array([1.0, 2.0, 3.5, 4.0]), np.array([0.5, 1.0, 3.0, 2.5])
    e = difference_evidence(x, y, lower_is_better=False, describe="x beats y", margin=2.0, runs=("a", "b"))
    d = x - y
    assert e.test == "x beats y" and e.runs == ("a", "b") and e.n == 4
    assert e.p_support == pytest.approx(sps.ttest_1samp(d, 0, alternative="greater").pvalue)
    assert e.p_equivalence == pytest.approx(stats.tost_paired(x, y, 2.0).p_value)
    assert_point_duality(e, p_above=e.p_support, p_below=e.p_opposite)


# -- Similar ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("shift,margin", [(0.0, 0.05), (0.004, 0.01), (0.15, 0.05), (-0.15, 0.05)])
def test_similar_matches_scipy_tost(shift, margin):
    x, y = BASE + shift + NOISE, BASE
    e = Similar(M, "new", "old", margin).evaluate(make_runs({"new": list(x), "old": list(y)}))
    d = x - y
    lo_p = sps.ttest_1samp(d, -margin, alternative="greater").pvalue
    hi_p = sps.ttest_1samp(d, margin, alternative="less").pvalue
    assert e.p_support == pytest.approx(max(lo_p, hi_p))
    beyond = min(sps.ttest_1samp(d, margin, alternative="greater").pvalue,
                 sps.ttest_1samp(d, -margin, alternative="less").pvalue)
    assert e.p_opposite == pytest.approx(beyond)
    assert e.effect == pytest.approx(d.mean())
    assert check(e, "not-degenerate").passed
    assert_band_duality(e, -margin, margin)
    which = CLAIMED if abs(d.mean()) < margin else OPPOSITE
    n = e.settle(0.025, which)
    assert n is None or (isinstance(n, int) and n >= 2)
    assert e.settle(0.025, OPPOSITE if which == CLAIMED else CLAIMED) is None


def test_similar_verdicts():
    near = make_runs({"new": list(BASE + NOISE * 0.2), "old": list(BASE)})
    far = make_runs({"new": list(BASE + 0.3 + NOISE * 0.2), "old": list(BASE)})
    e_near, e_far = Similar(M, "new", "old", 0.05).evaluate(near), Similar(M, "new", "old", 0.05).evaluate(far)
    v_near, v_far = decide([e_near, e_far])
    assert v_near.verdict == "reproduced" and v_far.verdict == "contradicted"


def test_similar_identical_constant_arms_fail_not_degenerate():
    e = Similar(M, "new", "old", 0.1).evaluate(make_runs({"new": [1.0] * 4, "old": [1.0] * 4}))
    assert not check(e, "not-degenerate").passed
    assert decide([e])[0].reason.startswith("invalid:")


def test_similar_constant_differences_floor():
    e = Similar(M, "new", "old", 0.1).evaluate(make_runs({"new": list(BASE[:4] + 0.02), "old": list(BASE[:4])}))
    assert e.p_support == 0.5 ** 4 and e.p_opposite == 1.0
    assert e.settle(0.025, CLAIMED) is None       # no spread: no standard error to scale


def test_similar_rejects_a_nonpositive_margin():
    with pytest.raises(StudyDeclarationError):
        Similar(M, "a", "b", 0.0)


# -- Bound -----------------------------------------------------------------------------------------
def test_bound_below_every_arm_matches_scipy():
    a, b = 0.5 + NOISE, 0.55 + NOISE[::-1] * 2
    e = Bound(M, 0.6, "below", ("a", "b")).evaluate(make_runs({"a": list(a), "b": list(b)}))
    sup = [sps.ttest_1samp(v, 0.6, alternative="less").pvalue for v in (a, b)]
    opp = [sps.ttest_1samp(v, 0.6, alternative="greater").pvalue for v in (a, b)]
    assert e.p_support == pytest.approx(max(sup))
    assert e.p_opposite == pytest.approx(min(1.0, 2 * min(opp)))
    assert e.effect == pytest.approx(max(a.mean(), b.mean()))
    assert e.null == 0.6 and e.n == 8
    assert check(e, "not-degenerate").passed
    assert_point_duality(e, p_above=e.p_opposite, p_below=e.p_support)
    assert e.settle(0.025, CLAIMED) == stats.seeds_needed(b - 0.6, alpha=0.025, alternative="less")
    assert e.settle(0.025, OPPOSITE) is None


@pytest.mark.parametrize("centre", [0.58, 0.62, 0.7])
def test_bound_above_duality(centre):
    a, b = centre + NOISE, centre + 0.01 + NOISE[::-1]
    e = Bound(M, 0.6, "above", ("a", "b")).evaluate(make_runs({"a": list(a), "b": list(b)}))
    assert e.p_support == pytest.approx(max(sps.ttest_1samp(v, 0.6, alternative="greater").pvalue for v in (a, b)))
    assert e.p_opposite == pytest.approx(min(1.0, 2 * min(sps.ttest_1samp(v, 0.6, alternative="less").pvalue
                                                           for v in (a, b))))
    assert e.effect == pytest.approx(min(a.mean(), b.mean()))
    assert_point_duality(e, p_above=e.p_support, p_below=e.p_opposite)


def test_better_everywhere_is_an_intersection_union_of_paired_t_tests():
    base_a, base_b = 1.0 + NOISE, 2.0 + NOISE[::-1]
    a, b = base_a - 0.3 + NOISE * 0.5, base_b - 0.1 + NOISE[::-1] * 0.7
    runs = make_runs({"a": list(a), "base-a": list(base_a), "b": list(b), "base-b": list(base_b)})
    test = BetterEverywhere(M, {"a": "base-a", "b": "base-b"})
    e = test.evaluate(runs)
    d = {"a": a - base_a, "b": b - base_b}
    assert e.p_support == pytest.approx(max(sps.ttest_1samp(v, 0.0, alternative="less").pvalue for v in d.values()))
    assert e.p_opposite == pytest.approx(min(1.0, 2 * min(sps.ttest_1samp(v, 0.0, alternative="greater").pvalue
                                                          for v in d.values())))
    assert e.effect == pytest.approx(max(v.mean() for v in d.values()))  # the worst pair
    assert e.measured["a"] == pytest.approx(a.mean()) and e.measured["base-b"] == pytest.approx(base_b.mean())
    assert_point_duality(e, p_above=e.p_opposite, p_below=e.p_support)
    assert test.arms() == {"a", "base-a", "b", "base-b"}
    higher = BetterEverywhere(M, {"base-a": "a", "base-b": "b"}, lower_is_better=False).evaluate(runs)
    assert higher.p_support == pytest.approx(e.p_support)   # the same claim, read the other way round
    with pytest.raises(StudyDeclarationError):
        BetterEverywhere(M, {})


def test_better_everywhere_fails_the_censored_check_when_a_value_is_capped():
    runs = make_runs({"a": [1.0, 1.1, 0.9], "b": [2.0, 2.2, 1.9]},
                     extra={f"{M}_censored": {"a": [0, 1, 0], "b": [0, 0, 0]}})
    e = BetterEverywhere(M, {"a": "b"}).evaluate(runs)
    assert not check(e, "censored").passed


def test_bound_constant_arm_uses_the_sign_flip_floor():
    e = Bound(M, 1.0, "below", ("a",)).evaluate(make_runs({"a": [0.5, 0.5, 0.5, 0.5]}))
    assert e.p_support == 0.5 ** 4
    c = check(e, "not-degenerate")
    assert c.passed and "2^-4" in c.detail
    assert_point_duality(e, p_above=e.p_opposite, p_below=e.p_support)


def test_bound_censored_metric_fails():
    runs = make_runs({"a": [0.5, 0.4, 0.6]}, extra={f"{M}_censored": {"a": [0, 1, 0]}})
    c = check(Bound(M, 1.0, "below", ("a",)).evaluate(runs), "censored")
    assert not c.passed and "`a` 1 of 3" in c.detail


def test_bound_evidence_single_group_method_name():
    e = bound_evidence({"g": np.array([1.0, 2.0, 3.0])}, 0.0, "above", "d")
    assert e.ci_method == "t-interval of the mean"
    assert e.p_support == pytest.approx(sps.ttest_1samp([1, 2, 3], 0, alternative="greater").pvalue)


def test_bound_declaration_errors():
    with pytest.raises(StudyDeclarationError):
        Bound(M, 1.0, "under", ("a",))
    with pytest.raises(StudyDeclarationError):
        Bound(M, 1.0, "below", ())


# -- Tolerance -------------------------------------------------------------------------------------
def test_tolerance_passes_and_fails_without_p_values():
    runs = make_runs({"a": [1e-7, 3e-7], "b": [2e-7, 5e-7]})
    ok = Tolerance(M, 1e-6, ("a", "b")).evaluate(runs)
    bad = Tolerance(M, 4e-7, ("a", "b")).evaluate(runs)
    assert ok.tolerance_passed is True and bad.tolerance_passed is False
    for e in (ok, bad):
        assert math.isnan(e.p_support) and math.isnan(e.p_opposite) and math.isnan(e.p_equivalence)
        assert e.effect == pytest.approx(5e-7) and e.n == 4 and not e.tested
        assert e.interval is None and e.settle is None
    assert "5e-07" in bad.effect_note
    v_ok, v_bad = decide([ok, bad])
    assert v_ok.verdict == "reproduced" and v_bad.verdict == "contradicted"
    assert math.isnan(v_ok.p_value)


def test_tolerance_declaration_errors():
    with pytest.raises(StudyDeclarationError):
        Tolerance(M, 1e-6)
    with pytest.raises(StudyDeclarationError):
        Tolerance(M, 0.0, ("a",))


# -- Faster ----------------------------------------------------------------------------------------
def faster_runs(arm: list[float], base: list[float], arm_cap: list[int], base_cap: list[int]) -> pd.DataFrame:
    return make_runs({"fast": arm, "slow": base}, metric="steps",
                     extra={"steps_censored": {"fast": arm_cap, "slow": base_cap}})


def test_faster_all_baseline_censored_n3():
    runs = faster_runs([100, 120, 90], [500, 500, 500], [0, 0, 0], [1, 1, 1])
    e = Faster("steps", "fast", "slow").evaluate(runs)
    assert e.n == 3
    assert e.p_support == 0.125 == sps.binomtest(3, 3, 0.5, alternative="greater").pvalue
    assert e.p_opposite == 1.0
    assert e.effect == 1.0 and e.null == 0.5
    assert "≥" in e.effect_note and f"{500 / np.mean([100, 120, 90]):.3g}x" in e.effect_note
    c = check(e, "censored")
    assert c.passed and "`slow` 3 of 3" in c.detail
    assert check(e, "not-degenerate").passed
    # Clopper–Pearson on the boundary: a = 2p = 0.25 gives a lower end of exactly 0.5, not excluded
    assert e.interval(0.25)[0] == pytest.approx(0.5)
    assert not e.interval(0.25)[0] > 0.5
    assert_point_duality(e, p_above=e.p_support, p_below=e.p_opposite)
    assert e.settle(0.025, CLAIMED) == 6       # all wins, no ties: 2^-6 < 0.025
    assert e.settle(0.025, OPPOSITE) is None


def test_faster_mixed_pairs_match_binomtest_and_clopper_pearson():
    arm = [100, 130, 90, 200, 80, 110, 95, 300, 70, 85]
    base = [150, 120, 400, 400, 100, 110, 400, 400, 90, 120]
    base_cap = [0, 0, 1, 1, 0, 0, 1, 1, 0, 0]
    arm_cap = [0, 0, 0, 0, 0, 0, 0, 1, 0, 0]
    e = Faster("steps", "fast", "slow").evaluate(faster_runs(arm, base, arm_cap, base_cap))
    # pairs: win, loss, win(capped base), win(capped base), win, tie, win(capped), tie(both capped), win, win
    wins, losses = 7, 1
    assert e.measured["faster pairs"] == wins and e.measured["slower pairs"] == losses
    assert e.measured["tied pairs"] == 2
    assert e.effect == pytest.approx(wins / (wins + losses))
    assert e.p_support == pytest.approx(sps.binomtest(wins, 8, 0.5, alternative="greater").pvalue)
    assert e.p_opposite == pytest.approx(sps.binomtest(wins, 8, 0.5, alternative="less").pvalue)
    assert "undetermined" in e.effect_note
    for a in (0.05, 0.2, 0.5):
        ci = sps.binomtest(wins, 8).proportion_ci(confidence_level=1 - a, method="exact")
        assert e.interval(a) == pytest.approx((ci.low, ci.high))
    assert_point_duality(e, p_above=e.p_support, p_below=e.p_opposite)
    n = e.settle(0.025, CLAIMED)
    assert isinstance(n, int) and n > e.n
    assert n == stats.sign_test_pairs_needed(wins / 8, 2 / 10, 0.025)


def test_faster_uncensored_note_is_an_equality():
    e = Faster("steps", "fast", "slow").evaluate(faster_runs([10, 20, 30], [20, 40, 60], [0] * 3, [0] * 3))
    assert "= 2x" in e.effect_note and e.p_support == 0.125


@pytest.mark.parametrize("arm_cap, base_cap, note, bounds", [
    ([0, 0, 0, 1], [0, 0, 0, 0], "≤", ("fast",)),      # only the arm's mean is a lower bound: the ratio is at most
    ([0, 0, 0, 0], [1, 0, 1, 0], "≥", ("slow",)),      # only the baseline's: at least
    ([0, 0, 0, 1], [0, 1, 0, 0], "undetermined", ("fast", "slow"))])
def test_faster_reports_a_capped_sides_mean_as_a_bound(arm_cap, base_cap, note, bounds):
    e = Faster("steps", "fast", "slow").evaluate(faster_runs([10, 20, 30, 500], [20, 500, 500, 60], arm_cap, base_cap))
    assert note in e.effect_note and e.lower_bounds == bounds
    assert "2 × 2^-" in check(e, "not-degenerate").detail   # the floor of the directional p the verdict reads


def test_faster_every_pair_tied_fails_not_degenerate():
    e = Faster("steps", "fast", "slow").evaluate(faster_runs([500, 500, 500], [500, 500, 500], [1] * 3, [1] * 3))
    c = check(e, "not-degenerate")
    assert not c.passed and "all 3 pairs tied" in c.detail
    assert math.isnan(e.effect)
    assert e.settle(0.025, CLAIMED) is None
    v = decide([e])[0]
    assert v.verdict == "inconclusive" and v.reason.startswith("invalid:")
    equal = Faster("steps", "fast", "slow").evaluate(faster_runs([7, 8, 9], [7, 8, 9], [0] * 3, [0] * 3))
    assert not check(equal, "not-degenerate").passed


def ladder_runs(times: dict[str, list[float]], capped: dict[str, list[int]]) -> pd.DataFrame:
    return make_runs(times, metric="steps", extra={"steps_censored": capped})


def test_faster_at_best_takes_each_sides_fastest_uncapped_rung():
    # replicate 0: bn's best is its uncapped 300 (the capped 100 is a bound, not a time), none's best 200 -> loss
    # replicate 1: both none rungs capped -> bn (150) wins; replicate 2: bn 50 vs none 60 -> win
    runs = ladder_runs({"bn-lo": [100, 150, 50], "bn-hi": [300, 400, 70], "none-lo": [200, 900, 60],
                        "none-hi": [250, 900, 80]},
                       {"bn-lo": [1, 0, 0], "bn-hi": [0, 0, 0], "none-lo": [0, 1, 0], "none-hi": [0, 1, 0]})
    test = FasterAtBest("steps", ("bn-lo", "bn-hi"), ("none-lo", "none-hi"), label="BN", baseline_label="no BN")
    best, capped, rung = test.best(runs, ("bn-lo", "bn-hi"))
    assert list(best) == [300, 150, 50] and not capped.any() and list(rung) == [("bn-hi",), ("bn-lo",), ("bn-lo",)]
    best, capped, rung = test.best(runs, ("none-lo", "none-hi"))
    assert list(best) == [200, 900, 60] and list(capped) == [False, True, False] and rung[1] == ()
    e = test.evaluate(runs)
    assert e.measured["faster pairs"] == 2 and e.measured["slower pairs"] == 1 and e.n == 3
    assert e.measured["BN best at bn-lo"] == 2 and e.measured["no BN best at (none)"] == 1
    tied = ladder_runs({"bn-lo": [100, 100], "bn-hi": [100, 200], "none-lo": [300, 300], "none-hi": [400, 300]},
                       {arm: [0, 0] for arm in ("bn-lo", "bn-hi", "none-lo", "none-hi")})
    shared = test.evaluate(tied).measured  # a tie credits every rung that reached the best time, not the first
    assert shared["BN best at bn-lo = bn-hi"] == 1 and shared["BN best at bn-lo"] == 1
    assert shared["no BN best at none-lo"] == 1 and shared["no BN best at none-lo = none-hi"] == 1
    assert e.p_support == pytest.approx(sps.binomtest(2, 3, 0.5, alternative="greater").pvalue)
    assert e.effect == pytest.approx(2 / 3)
    assert "≥" in e.effect_note  # the baseline side was capped in one pair: the ratio is a bound
    assert test.arms() == {"bn-lo", "bn-hi", "none-lo", "none-hi"}


def test_faster_at_best_matches_faster_on_one_rung_ladders():
    runs = faster_runs([100, 130, 90, 200], [150, 120, 400, 400], [0, 0, 0, 1], [0, 0, 1, 1])
    one = FasterAtBest("steps", ("fast",), ("slow",)).evaluate(runs)
    plain = Faster("steps", "fast", "slow").evaluate(runs)
    assert (one.effect, one.p_support, one.p_opposite) == (plain.effect, plain.p_support, plain.p_opposite)
    assert one.interval(0.1) == plain.interval(0.1)


def test_faster_at_best_declaration_errors():
    with pytest.raises(StudyDeclarationError):
        FasterAtBest("steps", (), ("b",))
    with pytest.raises(StudyDeclarationError):
        FasterAtBest("steps", ("a", "b"), ("b",))


# -- ShareOfReference ------------------------------------------------------------------------------
def test_share_of_reference_is_a_bound_test_on_per_replicate_shares_at_each_sides_best_rung():
    runs = make_runs({"deep-lo": [0.30, 0.20, 0.25, 0.40], "deep-hi": [0.25, 0.25, 0.20, 0.30],
                      "shallow-lo": [0.80, 0.85, 0.70, 0.90], "shallow-hi": [0.85, 0.80, 0.90, 0.80]})
    test = ShareOfReference(M, ("deep-lo", "deep-hi"), ("shallow-lo", "shallow-hi"), floor=0.1, bound=0.5)
    arm, reference, share = test.shares(runs)
    assert list(arm) == pytest.approx([0.30, 0.25, 0.25, 0.40])
    assert list(reference) == pytest.approx([0.85, 0.85, 0.90, 0.90])
    expected = (np.array([0.30, 0.25, 0.25, 0.40]) - 0.1) / (np.array([0.85, 0.85, 0.90, 0.90]) - 0.1)
    assert list(share) == pytest.approx(list(expected))
    e = test.evaluate(runs)
    ref = sps.ttest_1samp(expected, 0.5, alternative="less")
    assert e.p_support == pytest.approx(ref.pvalue) and e.effect == pytest.approx(expected.mean())
    assert e.measured["best of the reference"] == pytest.approx(0.875)
    assert v_verdict(e) == "reproduced"
    above = ShareOfReference(M, ("deep-lo", "deep-hi"), ("shallow-lo", "shallow-hi"), floor=0.1, bound=0.05)
    assert v_verdict(above.evaluate(runs)) == "contradicted"


def v_verdict(e) -> str:
    return decide([e])[0].verdict


def test_share_of_reference_lower_is_better_and_errors():
    runs = make_runs({"a": [2.0, 3.0, 2.5], "b": [4.0, 5.0, 4.5], "r": [1.0, 1.5, 1.2]})
    test = ShareOfReference(M, ("a", "b"), ("r",), floor=10.0, bound=0.5, side="above", higher_is_better=False)
    arm, _, share = test.shares(runs)
    assert list(arm) == [2.0, 3.0, 2.5] and list(share) == pytest.approx([8 / 9, 7 / 8.5, 7.5 / 8.8])
    with pytest.raises(StudyDeclarationError):
        ShareOfReference(M, (), ("r",), floor=0.1, bound=0.5)
    with pytest.raises(StudyDeclarationError):
        ShareOfReference(M, ("a",), ("r",), floor=0.1, bound=0.5, side="sideways")


# -- Trend -----------------------------------------------------------------------------------------
TREND_LEVELS = {"bs32": 32.0, "bs64": 64.0, "bs128": 128.0, "bs256": 256.0}


def trend_runs(slope: float, noise: float, n: int = 6, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    offsets = rng.normal(0, 0.2, n)
    return make_runs({arm: [1.0 + offsets[r] + slope * math.log2(lv) + rng.normal(0, noise) for r in range(n)]
                      for arm, lv in TREND_LEVELS.items()})


@pytest.mark.parametrize("slope", [-0.3, -0.01, 0.2])
def test_trend_known_slope_matches_linregress(slope):
    runs = trend_runs(slope, 0.02)
    e = Trend(M, TREND_LEVELS).evaluate(runs)
    slopes = []
    for r in range(6):
        rows = runs[runs["replicate"] == r]
        slopes.append(sps.linregress(np.log2(rows["arm"].map(TREND_LEVELS)), rows[COL]).slope)
    slopes = np.array(slopes)
    assert e.n == 6
    assert e.effect == pytest.approx(slopes.mean())
    assert e.effect == pytest.approx(slope, abs=0.02)
    assert e.p_support == pytest.approx(sps.ttest_1samp(slopes, 0, alternative="less").pvalue)
    assert e.p_opposite == pytest.approx(sps.ttest_1samp(slopes, 0, alternative="greater").pvalue)
    assert_point_duality(e, p_above=e.p_opposite, p_below=e.p_support)
    towards, away = (CLAIMED, OPPOSITE) if slope < 0 else (OPPOSITE, CLAIMED)
    assert isinstance(e.settle(0.025, towards), int)
    assert e.settle(0.025, away) is None


def test_trend_linear_scale_and_increasing():
    levels = {"a": 1.0, "b": 2.0, "c": 4.0}
    runs = make_runs({"a": [1.0, 1.1, 0.9], "b": [2.0, 2.3, 1.9], "c": [4.1, 4.0, 3.8]})
    e = Trend(M, levels, direction="increasing", scale="linear").evaluate(runs)
    slopes = [np.polyfit([1, 2, 4], runs[runs["replicate"] == r][COL], 1)[0] for r in range(3)]
    assert e.effect == pytest.approx(np.mean(slopes))
    assert e.p_support == pytest.approx(sps.ttest_1samp(slopes, 0, alternative="greater").pvalue)


def test_trend_all_values_equal_fails_not_degenerate():
    e = Trend(M, TREND_LEVELS).evaluate(make_runs({arm: [0.7] * 4 for arm in TREND_LEVELS}))
    assert not check(e, "not-degenerate").passed
    assert decide([e])[0].reason.startswith("invalid:")


def test_trend_identical_replicates_fail_not_degenerate():
    # every replicate gives the same numbers, so every slope is the same: the check on the slopes fails
    # (unlike Better, whose constant nonzero differences fall back to the sign-flip test)
    runs = make_runs({arm: [-0.1 * math.log2(lv)] * 4 for arm, lv in TREND_LEVELS.items()})
    e = Trend(M, TREND_LEVELS).evaluate(runs)
    assert e.effect == pytest.approx(-0.1)
    assert e.p_support == 0.5 ** 4          # the sign-flip floor, never 0
    c = check(e, "not-degenerate")
    assert not c.passed and "`slopes`" in c.detail
    assert decide([e])[0].reason.startswith("invalid:")


@pytest.mark.filterwarnings("ignore:Precision loss occurred")
def test_better_differences_constant_up_to_rounding_keep_the_floor():
    e = Better(M, "new", "old").evaluate(make_runs({"new": list(BASE + 0.1), "old": list(BASE)}))
    assert min(e.p_support, e.p_opposite) >= 0.5 ** 8


def test_trend_over_a_table_reads_its_points_not_arms():
    # e.g. HP-BATCH: per batch size and seed, the test error at the learning rate a validation split picked
    rows = [{"replicate": r, "level": m, "value": 0.3 + 0.01 * math.log2(m) + 0.002 * r * (m == 64),
             "run_id": f"{m}-{r}"} for r in range(4) for m in (2, 8, 64)]

    def table(runs):
        return pd.DataFrame(rows)

    t = Trend("test_error", {}, direction="increasing", table=table, label="m")
    e = t.evaluate(make_runs({"unrelated": [0.5]}))
    slopes = [np.polyfit(np.log2([2, 8, 64]), [r["value"] for r in rows if r["replicate"] == rep], 1)[0]
              for rep in range(4)]
    assert e.effect == pytest.approx(np.mean(slopes)) and e.n == 4
    assert e.p_support == pytest.approx(sps.ttest_1samp(slopes, 0, alternative="greater").pvalue)
    assert e.measured["m 64"] == pytest.approx(np.mean([r["value"] for r in rows if r["level"] == 64]))
    assert set(e.runs) == {r["run_id"] for r in rows} and t.arms() == set()
    assert "log2 of m" in t.describe()
    with pytest.raises(StudyDeclarationError):
        Trend("test_error", {"a": 1.0, "b": 2.0}, table=table)


def test_trend_declaration_errors():
    with pytest.raises(StudyDeclarationError):
        Trend(M, TREND_LEVELS, direction="down")
    with pytest.raises(StudyDeclarationError):
        Trend(M, TREND_LEVELS, scale="sqrt")
    with pytest.raises(StudyDeclarationError):
        Trend(M, {"a": 1.0})


# -- VarianceAbove -----------------------------------------------------------------------------------
SEEDS_A = np.array([0.91, 0.87, 0.95, 0.89, 0.93, 0.84, 0.90, 0.96])
SEEDS_B = np.array([0.80, 0.86, 0.83, 0.79, 0.88, 0.82, 0.85, 0.81, 0.84, 0.87])


@pytest.mark.parametrize("threshold", [0.01, 0.03, 0.06])
def test_variance_above_is_bonetts_test_per_arm(threshold):
    e = VarianceAbove("acc", ("a", "b"), threshold).evaluate(
        make_runs({"a": list(SEEDS_A), "b": list(SEEDS_B)}, metric="acc"))
    above = [stats.sd_test(v, threshold, "greater") for v in (SEEDS_A, SEEDS_B)]
    below = [stats.sd_test(v, threshold, "less") for v in (SEEDS_A, SEEDS_B)]
    assert e.p_support == pytest.approx(max(above))
    assert e.p_opposite == pytest.approx(min(1.0, 2 * min(below)))
    assert e.effect == pytest.approx(min(SEEDS_A.std(ddof=1), SEEDS_B.std(ddof=1)))
    assert e.null == threshold and e.n == 8
    assert e.measured["a SD"] == pytest.approx(SEEDS_A.std(ddof=1))
    assert check(e, "not-degenerate").passed
    assert_point_duality(e, p_above=e.p_support, p_below=e.p_opposite)
    for which in (CLAIMED, OPPOSITE):
        n = e.settle(0.025, which)
        assert n is None or (isinstance(n, int) and n >= 2)
    side = CLAIMED if e.effect > threshold else OPPOSITE
    assert isinstance(e.settle(0.025, side), int)


def test_variance_above_single_arm_interval_is_bonetts():
    e = VarianceAbove("acc", ("a",), 0.02).evaluate(make_runs({"a": list(SEEDS_A)}, metric="acc"))
    lo, hi = e.interval(0.05)
    assert lo == pytest.approx(stats.sd_bound(SEEDS_A, 0.025, "lower"))
    assert hi == pytest.approx(stats.sd_bound(SEEDS_A, 0.025, "upper"))
    assert lo < SEEDS_A.std(ddof=1) < hi


def test_variance_above_checks_each_arm_against_its_published_accuracy():
    runs = make_runs({"a": list(SEEDS_A), "b": list(SEEDS_B)}, metric="acc")
    near = VarianceAbove("acc", ("a", "b"), 0.01, {"a": 0.92, "b": 0.85}, 0.02).evaluate(runs)
    assert check(near, "at-reference").passed  # a: 0.906 vs 0.92; b: 0.835 vs 0.85
    short = VarianceAbove("acc", ("a", "b"), 0.01, {"a": 0.92, "b": 0.86}, 0.02).evaluate(runs)
    failed = check(short, "at-reference")
    assert not failed.passed and "`b` mean 0.8350" in failed.detail
    assert decide([short])[0].verdict == "inconclusive"


def test_variance_above_needs_six_runs_and_spread():
    assert not VarianceAbove("acc", ("a",), 0.02).evaluate(make_runs({"a": [0.9, 0.8, 0.7, 0.85, 0.75]},
                                                                    metric="acc")).tested
    e = VarianceAbove("acc", ("a", "b"), 0.02).evaluate(make_runs({"a": [0.9] * 6, "b": list(SEEDS_A)}, metric="acc"))
    assert not check(e, "not-degenerate").passed and not e.tested


# -- VarianceShares ----------------------------------------------------------------------------------
def factorial_runs(blocks: dict[str, np.ndarray], levels: int, metric: str = "acc") -> pd.DataFrame:
    """One run per cell of each block's cube, replicate j at ``factorial_cell(j)``."""
    rows = []
    for arm, cube in blocks.items():
        for j in range(cube.size):
            rows.append({"run_id": f"{arm}-{j}", "arm": arm, "replicate": j, "status": "FINISHED",
                         f"metrics.{metric}": float(cube[factorial_cell(j, cube.ndim, levels)]),
                         "params.config.levels": str(levels)})
    return pd.DataFrame(rows)


def additive_cube(rng, sds: tuple[float, ...], levels: int, noise: float) -> np.ndarray:
    cube = rng.normal(0, noise, (levels,) * len(sds))
    for axis, sd in enumerate(sds):
        shape = [1] * len(sds)
        shape[axis] = levels
        cube = cube + rng.normal(0, sd, levels).reshape(shape) if sd else cube
    return cube


def test_factorial_cell_counts_in_base_levels():
    assert factorial_cell(0, 4, 3) == (0, 0, 0, 0)
    assert factorial_cell(1, 4, 3) == (0, 0, 0, 1)
    assert factorial_cell(3 ** 4 - 1, 4, 3) == (2, 2, 2, 2)
    assert len({factorial_cell(j, 2, 4) for j in range(16)}) == 16
    with pytest.raises(ValueError):
        factorial_cell(81, 4, 3)


def test_variance_shares_test_every_source_total_share_over_blocks():
    rng = np.random.default_rng(3)
    blocks = {f"src-f{b}": additive_cube(rng, (2.0, 1.0, 0.0), 4, 0.2) for b in range(6)}
    runs = factorial_runs(blocks, 4)
    t = VarianceShares("acc", "src-f", ("init", "order", "mask"), 0.1)
    per_block, incomplete = t.shares(runs)
    assert not incomplete and len(per_block) == 6
    for block, shares in per_block.items():
        mains, interactions, totals = stats.factorial_shares(blocks[block])
        assert shares["order main"] == pytest.approx(mains[1]) and shares["mask total"] == pytest.approx(totals[2])
        assert sum(shares[f"{s} main"] for s in t.factors) + shares["interactions"] == pytest.approx(1.0)
    e = t.evaluate(runs)
    values = {s: np.array([b[f"{s} total"] for b in per_block.values()]) for s in t.factors}
    assert e.p_support == pytest.approx(max(stats.one_sample_t(v, 0.1, "greater").p_value for v in values.values()))
    assert e.effect == pytest.approx(min(v.mean() for v in values.values()))
    assert e.measured["mask total share"] == pytest.approx(values["mask"].mean())
    assert e.p_opposite < 0.05  # mask enters only the residual here (SD 0.2 against effects of 2 and 1)
    assert check(e, "complete-blocks").passed
    assert t.arms() == set()


def test_variance_shares_leave_out_an_incomplete_block_and_say_so():
    rng = np.random.default_rng(4)
    runs = factorial_runs({f"src-f{b}": additive_cube(rng, (1.0, 1.0), 2, 0.5) for b in range(3)}, 2)
    runs.loc[runs["run_id"] == "src-f2-3", "status"] = "FAILED"
    e = VarianceShares("acc", "src-f", ("init", "order"), 0.1).evaluate(runs)
    assert e.n == 2 and not check(e, "complete-blocks").passed and "src-f2" in check(e, "complete-blocks").detail
    one = runs[runs["arm"] != "src-f1"]
    assert not VarianceShares("acc", "src-f", ("init", "order"), 0.1).evaluate(one).tested


# -- RateAbove -------------------------------------------------------------------------------------
def rate_test(hits: list[bool], null_rate: float = 0.05, margin: float = 0.5) -> RateAbove:
    def outcomes(runs):
        return hits, tuple(runs["run_id"])
    return RateAbove(outcomes, ("same",), null_rate, margin, "share of splits with p < 0.05")


@pytest.mark.parametrize("k,n", [(0, 20), (1, 20), (3, 20), (6, 20), (19, 20)])
def test_rate_above_matches_binomtest(k, n):
    hits = [True] * k + [False] * (n - k)
    runs = make_runs({"same": [0.0] * 3})
    e = rate_test(hits).evaluate(runs)
    assert e.effect == k / n and e.n == n and e.null == 0.05
    assert e.p_support == pytest.approx(sps.binomtest(k, n, 0.05, alternative="greater").pvalue)
    assert e.p_opposite == pytest.approx(sps.binomtest(k, n, 0.05, alternative="less").pvalue)
    assert e.p_equivalence == pytest.approx(sps.binomtest(k, n, 0.5, alternative="less").pvalue)
    assert e.runs == ("same-0", "same-1", "same-2")
    assert e.measured == {"trials": float(n), "events": float(k)}
    for a in (0.01, 0.05, 0.2):
        ci = sps.binomtest(k, n).proportion_ci(confidence_level=1 - a, method="exact")
        assert e.interval(a) == pytest.approx((ci.low, ci.high), abs=1e-12)
    # both sides of the duality: the opposite test is "the rate lies below the null rate"
    for a in duality_levels(e):
        assert (e.interval(a)[0] > e.null) == (2 * e.p_support < a)
        assert (e.interval(a)[1] < e.null) == (2 * e.p_opposite < a)
    towards = e.settle(0.025, OPPOSITE)
    assert towards is None if k / n >= 0.05 else isinstance(towards, int)
    settle = e.settle(0.025, CLAIMED)
    assert (settle is None) == (k / n <= 0.05)


def test_rate_above_verdicts():
    many = rate_test([True] * 6 + [False] * 14).evaluate(make_runs({"same": [0.0]}))
    few = rate_test([False] * 20).evaluate(make_runs({"same": [0.0]}))
    v_many, v_few = decide([many, few])
    assert v_many.verdict == "reproduced"
    assert v_few.verdict == "not reproduced"            # significantly below the margin 0.5
    assert not rate_test([True]).evaluate(make_runs({"same": [0.0]})).tested


# -- Extrapolated ------------------------------------------------------------------------------------
FACTORS = {"m1": 1.0, "m2": 2.0, "m4": 4.0, "m8": 8.0}


def extrapolated_runs(limit: float = 0.5, c: float = 0.4, noise: float = 0.01, n: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return make_runs({arm: [limit + c / m + rng.normal(0, noise) for _ in range(n)] for arm, m in FACTORS.items()})


@pytest.mark.parametrize("value,margin", [(0.5, 0.05), (0.52, 0.01), (0.7, 0.05), (0.3, 0.05)])
def test_extrapolated_matches_linregress(value, margin):
    runs = extrapolated_runs()
    e = Extrapolated(M, FACTORS, value, margin).evaluate(runs)
    fit = sps.linregress(1.0 / runs["arm"].map(FACTORS), runs[COL])
    dof = len(runs) - 2
    assert e.effect == pytest.approx(fit.intercept)
    assert e.effect == pytest.approx(0.5, abs=0.02)
    se = fit.intercept_stderr
    low, high = value - margin, value + margin
    inside = max(sps.t.sf((fit.intercept - low) / se, dof), sps.t.cdf((fit.intercept - high) / se, dof))
    beyond = min(sps.t.sf((fit.intercept - high) / se, dof), sps.t.cdf((fit.intercept - low) / se, dof))
    assert e.p_support == pytest.approx(inside)
    assert e.p_opposite == pytest.approx(beyond)
    assert e.n == 12 and e.null == value
    lo, hi = e.interval(0.05)
    assert (lo + hi) / 2 == pytest.approx(fit.intercept)
    assert (hi - lo) / 2 == pytest.approx(sps.t.ppf(0.975, dof) * se)
    assert_band_duality(e, low, high)
    which = CLAIMED if abs(fit.intercept - value) < margin else OPPOSITE
    assert isinstance(e.settle(0.025, which), int)
    assert e.settle(0.025, OPPOSITE if which == CLAIMED else CLAIMED) is None


def test_extrapolated_verdicts_and_degenerate_fits():
    runs = extrapolated_runs()
    right, wrong = Extrapolated(M, FACTORS, 0.5, 0.05), Extrapolated(M, FACTORS, 0.8, 0.05)
    v_right, v_wrong = decide([right.evaluate(runs), wrong.evaluate(runs)])
    assert v_right.verdict == "reproduced" and v_wrong.verdict == "contradicted"
    assert not right.evaluate(runs[runs["arm"] == "m1"]).tested            # one factor: no fit
    assert not right.evaluate(runs.iloc[:3].assign(arm=["m1", "m2", "m4"])).tested   # fewer than 4 runs


def test_extrapolated_exact_fit_is_no_evidence():
    exact = make_runs({arm: [0.5 + 1.0 / m] * 2 for arm, m in FACTORS.items()})
    assert not Extrapolated(M, FACTORS, 0.5, 0.05).evaluate(exact).tested


# -- BestOverGrid ------------------------------------------------------------------------------------
def grid_of(runs: pd.DataFrame) -> pd.DataFrame:
    rows = runs[runs["status"] == "FINISHED"]
    return pd.DataFrame({"factor": rows["params.config.m"].astype(float), "replicate": rows["replicate"],
                         "value": rows[COL], "run_id": rows["run_id"]})


def grid_runs(gain: float) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    rows = []
    for rep in range(6):
        for m in (1, 2, 4, 8, 16, 32):
            value = 0.3 + (gain if m <= 4 else 0.0) + rng.normal(0, 0.01) + 0.002 * m
            rows.append({"run_id": f"m{m}-{rep}", "arm": f"m{m}", "replicate": rep, "status": "FINISHED",
                         COL: value, "params.config.m": str(m)})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("gain", [-0.05, 0.0, 0.05])
def test_best_over_grid_paired_by_replicate(gain):
    runs = grid_runs(gain)
    t = BestOverGrid(grid_of, cut=4, margin=0.01, metric=M)
    e = t.evaluate(runs)
    small = runs[runs["params.config.m"].astype(float) <= 4].groupby("replicate")[COL].min()
    large = runs[runs["params.config.m"].astype(float) > 4].groupby("replicate")[COL].min()
    d = small - large
    assert e.n == 6 and set(e.runs) == set(runs["run_id"])
    assert e.effect == pytest.approx(d.mean())
    assert e.p_support == pytest.approx(sps.ttest_rel(small, large, alternative="less").pvalue)
    assert e.p_opposite == pytest.approx(sps.ttest_rel(small, large, alternative="greater").pvalue)
    assert e.p_equivalence == pytest.approx(stats.tost_paired(small, large, 0.01).p_value)
    assert e.measured["best m<=4"] == pytest.approx(small.mean())
    assert_point_duality(e, p_above=e.p_opposite, p_below=e.p_support)
    towards = CLAIMED if d.mean() < 0 else OPPOSITE
    assert e.settle(0.025, towards) == stats.seeds_needed(d, alpha=0.025,
                                                           alternative="less" if towards == CLAIMED else "greater")
    assert e.settle(0.025, OPPOSITE if towards == CLAIMED else CLAIMED) is None
    if gain < 0:
        assert decide([e])[0].verdict == "reproduced"
    elif gain > 0:
        assert decide([e])[0].verdict == "contradicted"


def test_best_over_grid_needs_two_replicates_on_both_sides():
    runs = grid_runs(0.0)
    t = BestOverGrid(grid_of, cut=64, margin=0.01, metric=M)           # nothing above the cut
    assert not t.evaluate(runs).tested


# -- Importance --------------------------------------------------------------------------------------
def space(trial):
    return {"lr": trial.suggest_float("lr", 1e-3, 1.0, log=True), "wd": trial.suggest_float("wd", 0.0, 1.0)}


def search_runs(n_searches: int = 3, trials: int = 10) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    rows = [{"run_id": "other-0", "arm": "plain", "replicate": 0, "status": "FINISHED", "metrics.acc": 0.5,
             "params.hp.lr": "0.1", "params.hp.wd": "0.1"}]
    for s in range(n_searches):
        for i in range(trials):
            lr, wd = 10 ** rng.uniform(-3, 0), rng.uniform()
            rows.append({"run_id": f"s{s}-{i}", "arm": f"hp-{s}", "replicate": i, "status": "FINISHED",
                         "metrics.acc": 1.0 - (math.log10(lr) + 1.5) ** 2 + 0.001 * wd,
                         "params.hp.lr": repr(lr), "params.hp.wd": repr(wd)})
    return pd.DataFrame(rows)


@pytest.mark.slow  # fANOVA over searches
def test_importance_is_a_bound_test_over_searches():
    runs = search_runs()
    top = Importance("acc", "top", 0.5, space, evaluator="ped-anova")
    vectors = top.vectors(runs)
    assert sorted(vectors) == ["hp-0", "hp-1", "hp-2"]
    for v in vectors.values():
        assert sum(v.values()) == pytest.approx(1.0)
    e = top.evaluate(runs)
    shares = [sum(sorted(v.values())[-2:]) for v in vectors.values()]
    assert e.n == 3 and e.effect == pytest.approx(np.mean(shares))
    assert "other-0" not in e.runs and len(e.runs) == 30
    if np.ptp(shares) > 0:
        assert e.p_support == pytest.approx(sps.ttest_1samp(shares, 0.5, alternative="greater").pvalue)
    named = Importance("acc", ("wd",), 0.9, space, evaluator="ped-anova").evaluate(runs)
    wd = np.array([v["wd"] for v in vectors.values()])
    assert named.effect == pytest.approx(wd.mean())
    assert named.p_support == pytest.approx(
        sps.ttest_1samp(wd, 0.9, alternative="less").pvalue if np.ptp(wd) > 0 else 0.5 ** 3)
    assert_point_duality(named, p_above=named.p_opposite, p_below=named.p_support)
    one = Importance("acc", "top", 0.5, space, evaluator="ped-anova").evaluate(runs[runs["arm"] != "hp-1"].iloc[:11])
    assert not one.tested


@pytest.mark.slow  # fANOVA over searches, twice
def test_importance_noise_control_shuffles_the_objective_within_each_search():
    runs = search_runs(trials=40)  # with 10 trials fANOVA splits even this objective about evenly
    named = Importance("acc", ("wd",), 0.9, space)
    real, control = named.vectors(runs), named.vectors(runs, shuffled=True)
    assert sorted(control) == sorted(real) and control != real
    assert min(v["lr"] for v in real.values()) > 0.9  # the objective depends on lr (almost) alone...
    assert np.mean([v["lr"] for v in control.values()]) < 0.8  # ...which shuffling destroys
    # with two hyperparameters the top two carry everything, shuffled or not: a "top" bound of 0.5 is met by
    # the evaluator alone, and the check says so
    top = Importance("acc", "top", 0.5, space).evaluate(runs)
    failed = check(top, "noise-control")
    assert not failed.passed and "top-2 share 1.000" in failed.detail
    assert decide([top])[0].verdict == "inconclusive"
    # as fractions of the total variance the two shares of noise leave room for the interaction, but with two
    # hyperparameters not much (tests/test_importance.py: six hyperparameters on noise)
    of_total = Importance("acc", "top", 0.5, space, of_total=True)
    shuffled = of_total.tested_values(of_total.vectors(runs, shuffled=True))["top-2 share"]
    assert np.mean(shuffled) < 0.999 and "fraction of the total variance" in of_total.describe()


def noisy_search_runs(n_searches: int, trials: int, noise: float, seed: int = 5) -> pd.DataFrame:
    """Searches of an objective that lr explains in part and wd not at all (the rest is noise)."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_searches):
        for i in range(trials):
            lr, wd = 10 ** rng.uniform(-3, 0), rng.uniform()
            rows.append({"run_id": f"s{s}-{i}", "arm": f"hp-{s}", "replicate": i, "status": "FINISHED",
                         "metrics.acc": -(math.log10(lr) + 1.5) ** 2 + noise * rng.normal(),
                         "params.hp.lr": repr(lr), "params.hp.wd": repr(wd)})
    return pd.DataFrame(rows)


@pytest.mark.slow  # fANOVA over searches, three times
def test_importance_noise_control_of_a_named_hyperparameter_permutes_its_values():
    runs = noisy_search_runs(n_searches=6, trials=40, noise=0.4)
    named = Importance("acc", ("wd",), 0.9, space, of_total=True)
    real, permuted = named.vectors(runs), named.vectors(runs, permuted="wd")
    shuffled = named.vectors(runs, shuffled=True)
    assert sorted(permuted) == sorted(real) and permuted != real
    mean = lambda vectors, name: float(np.mean([v[name] for v in vectors.values()]))
    # the objective is kept: lr explains as much with wd permuted as in the data, and nothing once it is shuffled
    assert mean(permuted, "lr") == pytest.approx(mean(real, "lr"), abs=0.1) and mean(real, "lr") > 0.4
    assert mean(shuffled, "lr") < mean(real, "lr") / 2
    # wd, of no effect, reads in the data about what its permuted self reads, and well under what it reads when
    # the objective is shuffled (then noise is all the variance, and the forest hands wd its part of it)
    assert abs(mean(real, "wd") - mean(permuted, "wd")) < 0.5 * mean(shuffled, "wd") - 0.02
    assert named.control_values(runs) == {"wd": [v["wd"] for v in permuted.values()]}
    passed = check(named.evaluate(runs), "noise-control")
    assert passed.passed and "values permuted within its search" in passed.detail
    # a bound below the permuted reading cannot be shown: the check says why
    floor = mean(permuted, "wd")
    failed = check(Importance("acc", ("wd",), floor * 0.9, space, of_total=True).evaluate(runs), "noise-control")
    assert not failed.passed
    assert "noise floor is above the bound" in failed.detail and f"wd {floor:.3f}" in failed.detail
    with pytest.raises(ValueError, match="searched hyperparameters"):
        named.vectors(runs, permuted="depth")
    with pytest.raises(ValueError, match="not both"):
        named.vectors(runs, shuffled=True, permuted="wd")


@pytest.mark.slow  # fANOVA over searches, several permutations
def test_importance_noise_control_averages_its_permutations_in_trial_order():
    runs = noisy_search_runs(n_searches=3, trials=30, noise=0.4)
    averaged = Importance("acc", ("wd",), 0.9, space, of_total=True, control_permutations=3, control_seed=4)
    # each search's control reading is the mean over the seeds control_seed, control_seed + 1, ...
    by_seed = [[v["wd"] for v in averaged.vectors(runs, permuted="wd", seed=seed).values()] for seed in (4, 5, 6)]
    assert len({tuple(r) for r in by_seed}) == 3  # the permutations differ...
    assert averaged.control_values(runs)["wd"] == pytest.approx(np.mean(by_seed, axis=0))  # ...and are averaged
    assert "mean of 3 permutations a search" in check(averaged.evaluate(runs), "noise-control").detail
    shuffled = [averaged.tested_values(averaged.vectors(runs, shuffled=True, seed=seed))["wd"] for seed in (4, 5, 6)]
    assert averaged.shuffled_values(runs)["wd"] == pytest.approx(np.mean(shuffled, axis=0))
    # every hyperparameter's shuffled reading (the report figure's control marker), averaged the same way
    every = {name: [[v[name] for v in averaged.vectors(runs, shuffled=True, seed=seed).values()] for seed in (4, 5, 6)]
             for name in ("lr", "wd")}
    assert set(averaged.shuffled_importances(runs)) == {"lr", "wd"}
    for name, per_seed in every.items():
        assert averaged.shuffled_importances(runs)[name] == pytest.approx(np.mean(per_seed, axis=0))
    # the rows are put in trial order first: the store's order changes neither the data's reading nor a permutation's
    reordered = runs.sample(frac=1.0, random_state=0)
    assert list(reordered["run_id"]) != list(runs["run_id"])
    before = averaged.vectors(runs), averaged.control_values(runs)
    importance._CACHE.clear()  # the cache is keyed on the run ids, not their order: recompute
    assert (averaged.vectors(reordered), averaged.control_values(reordered)) == before
    with pytest.raises(StudyDeclarationError, match="control_permutations"):
        Importance("acc", ("wd",), 0.9, space, control_permutations=0)


def test_importance_read_by_ped_anova_is_normalised_whatever_the_test_reads():
    test = Importance("acc", "top", 0.5, space, of_total=True)
    assert test.with_evaluator("ped-anova").of_total is False
    assert test.with_evaluator("fanova") == test
    assert Importance("acc", "top", 0.5, space).with_evaluator("fanova").of_total is False


# -- decide, end to end --------------------------------------------------------------------------------
def test_decide_end_to_end_family():
    good = Better(M, "new", "old").evaluate(make_runs({"new": list(BASE - 0.1 + NOISE), "old": list(BASE)}))
    bad = Better(M, "new", "old").evaluate(make_runs({"new": list(BASE + 0.1 + NOISE), "old": list(BASE)}))
    weak = Better(M, "new", "old").evaluate(make_runs({"new": list(BASE[:4] - 0.005 + NOISE[:4]),
                                                       "old": list(BASE[:4])}))
    weak_against = Better(M, "new", "old").evaluate(make_runs({"new": list(BASE[:4] + 0.003 + NOISE[:4]),
                                                               "old": list(BASE[:4])}))
    tied = Better(M, "new", "old").evaluate(make_runs({"new": list(BASE), "old": list(BASE)}))
    declared_fail = [CheckResult("trained", "new", False, "`new`: loss fell 1.0% (need ≥ 10%)")]
    verdicts = decide([good, bad, weak, weak_against, tied, good], [[], [], [], [], [], declared_fail])
    assert [v.verdict for v in verdicts] == ["reproduced", "contradicted", "inconclusive", "inconclusive",
                                             "inconclusive", "inconclusive"]
    assert "about" in verdicts[2].settle and "replicates would settle it" in verdicts[2].settle
    assert "opposes the claim" in verdicts[3].settle
    assert verdicts[4].reason.startswith("invalid:") and "identical" in verdicts[4].reason
    assert verdicts[5].reason == "invalid: `new`: loss fell 1.0% (need ≥ 10%)"
    # Holm over the four tested claims; each shown interval excludes 0 exactly when directional
    tested = [good, bad, weak, weak_against]
    holm = stats.holm([directional_p(e) for e in tested])
    for e, v, p in zip(tested, verdicts, holm):
        assert v.p_value == pytest.approx(p)
        lo, hi = v.ci
        assert (lo > 0 or hi < 0) == (v.verdict in ("reproduced", "contradicted"))
    assert verdicts[0].ci[1] < 0 and verdicts[1].ci[0] > 0


# -- Within ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("shift", [0.0, 0.03, 0.08, 0.2])
def test_within_is_scipys_one_sample_tost_and_its_interval_is_dual(shift):
    values = BASE + shift
    e = Within(M, target=1.0, margin=0.1, over=("ae",)).evaluate(make_runs({"ae": list(values)}))
    lo_p = sps.ttest_1samp(values, 0.9, alternative="greater").pvalue
    hi_p = sps.ttest_1samp(values, 1.1, alternative="less").pvalue
    assert e.p_support == pytest.approx(max(lo_p, hi_p))
    assert e.p_opposite == pytest.approx(min(sps.ttest_1samp(values, 1.1, alternative="greater").pvalue,
                                             sps.ttest_1samp(values, 0.9, alternative="less").pvalue))
    assert e.effect == pytest.approx(values.mean() - 1.0)
    assert_band_duality(e, -0.1, 0.1)


def test_within_takes_the_arm_that_decides_the_intersection_union_test():
    runs = make_runs({"near": list(BASE), "far": list(BASE + 0.07)})
    e = Within(M, target=1.0, margin=0.1, over=("near", "far")).evaluate(runs)
    far = Within(M, target=1.0, margin=0.1, over=("far",)).evaluate(make_runs({"far": list(BASE + 0.07)}))
    assert e.p_support == pytest.approx(far.p_support) and e.effect == pytest.approx(far.effect)
    assert e.p_opposite == pytest.approx(min(1.0, 2 * min(far.p_opposite, Within(
        M, target=1.0, margin=0.1, over=("near",)).evaluate(make_runs({"near": list(BASE)})).p_opposite)))


def test_within_verdicts_and_declaration_errors():
    inside = Within(M, 1.0, 0.1, over=("ae",)).evaluate(make_runs({"ae": list(BASE[:6])}))
    outside = Within(M, 1.0, 0.1, over=("ae",)).evaluate(make_runs({"ae": list(BASE[:6] * 0.2 + 0.5)}))
    v_in, v_out = decide([inside, outside])
    assert v_in.verdict == "reproduced" and v_out.verdict == "contradicted"
    with pytest.raises(StudyDeclarationError, match="margin"):
        Within(M, 1.0, 0.0, over=("ae",))
    with pytest.raises(StudyDeclarationError, match="over"):
        Within(M, 1.0, 0.1)


# -- Shrinks ---------------------------------------------------------------------------------------
def test_shrinks_tests_the_difference_of_the_two_advantages_paired_by_replicate():
    small_deep, small_shallow = BASE, BASE + 0.5 + NOISE          # an advantage of ~0.5 at the small size
    large_deep, large_shallow = BASE + NOISE[::-1], BASE + 0.1    # ~0.1 at the large size
    runs = make_runs({"deep-s": list(small_deep), "shallow-s": list(small_shallow), "deep-l": list(large_deep),
                      "shallow-l": list(large_shallow)})
    e = Shrinks(M, smaller=("deep-s", "shallow-s"), larger=("deep-l", "shallow-l")).evaluate(runs)
    first, second = small_shallow - small_deep, large_shallow - large_deep
    oracle = sps.ttest_rel(first, second, alternative="greater")
    assert e.p_support == pytest.approx(oracle.pvalue) and e.effect == pytest.approx((first - second).mean())
    assert e.measured["advantage deep-s over shallow-s"] == pytest.approx(first.mean())
    assert decide([e])[0].verdict == "reproduced"
    grown = make_runs({"deep-s": list(large_deep), "shallow-s": list(large_shallow), "deep-l": list(small_deep),
                       "shallow-l": list(small_shallow)})
    assert decide([Shrinks(M, ("deep-s", "shallow-s"), ("deep-l", "shallow-l")).evaluate(grown)])[0].verdict \
        == "contradicted"


def test_shrinks_reads_only_replicates_every_arm_has():
    runs = make_runs({"a": [1.0, 1.1, 0.9], "b": [2.0, 2.2, 1.9], "c": [1.0, 1.2], "d": [1.1, 1.25]})
    e = Shrinks(M, ("a", "b"), ("c", "d")).evaluate(runs)
    assert e.n == 2 and "a-2" not in e.runs


def test_trend_of_a_difference_subtracts_each_levels_baseline_per_replicate():
    levels = {"bn-b2": 2.0, "bn-b8": 8.0, "bn-b32": 32.0}
    baselines = {"bn-b2": "none-b2", "bn-b8": "none-b8", "bn-b32": "none-b32"}
    shared = np.array([0.0, 0.05, -0.04, 0.02])   # a replicate effect both arms share: the difference removes it
    bn = {"bn-b2": 0.60 + shared + [0.01, -0.01, 0.0, 0.005], "bn-b8": 0.80 + shared + [0.0, 0.01, -0.005, 0.0],
          "bn-b32": 0.85 + shared + [-0.01, 0.0, 0.01, 0.0]}
    none = {"none-b2": 0.70 + shared, "none-b8": 0.75 + shared, "none-b32": 0.78 + shared + [0, 0, 0, 0.01]}
    runs = make_runs({**{a: list(v) for a, v in bn.items()}, **{a: list(v) for a, v in none.items()}})
    e = Trend(M, levels, direction="increasing", baselines=baselines).evaluate(runs)
    x = np.log2([2.0, 8.0, 32.0])
    slopes = [np.polyfit(x, [bn[a][r] - none[baselines[a]][r] for a in levels], 1)[0] for r in range(4)]
    assert e.effect == pytest.approx(np.mean(slopes))
    assert e.p_support == pytest.approx(sps.ttest_1samp(slopes, 0, alternative="greater").pvalue)
    assert e.measured["bn-b2 − none-b2"] == pytest.approx(-0.1 + np.mean([0.01, -0.01, 0.0, 0.005]))
    assert set(e.runs) == {f"{a}-{r}" for a in (*levels, *baselines.values()) for r in range(4)}
    with pytest.raises(StudyDeclarationError, match="one baseline arm per level arm"):
        Trend(M, levels, baselines={"bn-b2": "none-b2"})
