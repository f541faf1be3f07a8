"""Oracle tests for harness.stats against scipy and hand-derived references."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

# Make the repo root importable when pytest is run without PYTHONPATH.
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from harness import stats as st  # noqa: E402

ALTS = ("two-sided", "less", "greater")


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    b = rng.normal(0.70, 0.02, size=12)
    a = b + rng.normal(0.02, 0.015, size=12)
    return a, b


# --------------------------------------------------------------------------
# TestResult
# --------------------------------------------------------------------------


def test_result_is_frozen(pair):
    res = st.paired_t(*pair)
    assert isinstance(res, st.TestResult)
    with pytest.raises(AttributeError):
        res.p_value = 0.5  # type: ignore[misc]


# --------------------------------------------------------------------------
# bootstrap_ci
# --------------------------------------------------------------------------


def test_bootstrap_deterministic_and_seed_dependent():
    x = np.random.default_rng(1).normal(size=40)
    assert st.bootstrap_ci(x, seed=3) == st.bootstrap_ci(x, seed=3)
    assert st.bootstrap_ci(x, seed=3) != st.bootstrap_ci(x, seed=4)


def test_bootstrap_covers_true_mean_on_large_sample():
    rng = np.random.default_rng(0)
    x = rng.normal(5.0, 2.0, size=2000)
    lo, hi = st.bootstrap_ci(x, n_boot=2000)
    assert lo < 5.0 < hi
    assert lo < x.mean() < hi
    # Width should be close to the normal-theory 2 * 1.96 * sd / sqrt(n).
    expected = 2 * 1.96 * x.std(ddof=1) / math.sqrt(x.size)
    assert (hi - lo) == pytest.approx(expected, rel=0.1)


def test_bootstrap_coverage_rate_is_near_nominal():
    rng = np.random.default_rng(2)
    hits = sum(
        lo <= 0.0 <= hi
        for lo, hi in (
            st.bootstrap_ci(rng.normal(size=50), n_boot=500, seed=i) for i in range(200)
        )
    )
    assert 0.88 <= hits / 200 <= 0.99


def test_bootstrap_level_widens_interval_and_median_stat():
    x = np.random.default_rng(3).normal(size=30)
    lo90, hi90 = st.bootstrap_ci(x, level=0.90)
    lo99, hi99 = st.bootstrap_ci(x, level=0.99)
    assert lo99 < lo90 < hi90 < hi99
    mlo, mhi = st.bootstrap_ci(x, stat=np.median)
    assert mlo <= np.median(x) <= mhi


def test_bootstrap_stat_without_axis_kwarg():
    x = np.arange(10.0)
    ci_axis = st.bootstrap_ci(x, stat=np.mean, n_boot=300)
    ci_plain = st.bootstrap_ci(x, stat=lambda v: float(np.mean(v)), n_boot=300)
    assert ci_axis == pytest.approx(ci_plain)


def test_bootstrap_single_value():
    assert st.bootstrap_ci([3.5]) == (3.5, 3.5)


@pytest.mark.parametrize(
    "values, match",
    [([], "empty"), ([1.0, float("nan")], "NaN"), ([1.0, float("inf")], "inf"), ([[1.0]], "1-D")],
)
def test_bootstrap_rejects_bad_input(values, match):
    with pytest.raises(ValueError, match=match):
        st.bootstrap_ci(values)


def test_bootstrap_rejects_bad_level():
    with pytest.raises(ValueError, match="level"):
        st.bootstrap_ci([1.0, 2.0], level=1.5)


# --------------------------------------------------------------------------
# paired_t / wilcoxon / one_sample_t vs scipy
# --------------------------------------------------------------------------


@pytest.mark.parametrize("alt", ALTS)
def test_paired_t_matches_scipy(pair, alt):
    a, b = pair
    ref = sps.ttest_rel(a, b, alternative=alt)
    res = st.paired_t(a, b, alternative=alt)
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-12)
    assert res.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert res.effect == pytest.approx(np.mean(a - b))
    d = a - b
    half = sps.t.ppf(0.975, len(d) - 1) * np.std(d, ddof=1) / math.sqrt(len(d))
    assert res.ci == pytest.approx((d.mean() - half, d.mean() + half))  # the t-interval that inverts the test
    assert res.n == len(a) and res.test == "paired_t"


def test_paired_t_direction(pair):
    a, b = pair
    assert st.paired_t(a, b, "greater").p_value < 0.05
    assert st.paired_t(a, b, "less").p_value > 0.95


@pytest.mark.parametrize(
    "alt, shift, expected",
    [
        ("two-sided", 1.0, 2 / 16),   # the exact sign-flip test: never 0, its floor is 2**-n
        ("greater", 1.0, 1 / 16),
        ("less", 1.0, 1.0),
        ("less", -1.0, 1 / 16),
        ("two-sided", 0.0, 1.0),
        ("greater", 0.0, 1.0),
    ],
)
def test_paired_t_zero_variance(alt, shift, expected):
    b = np.array([1.0, 2.0, 3.0, 4.0])
    res = st.paired_t(b + shift, b, alternative=alt)
    assert res.p_value == expected
    assert res.effect == shift
    # 2**-4 > 0.025: the sign-flip test can exclude no value at 95%; at n = 6 (2**-6 < 0.025) every other one
    assert res.ci == (-math.inf, math.inf)
    six = st.paired_t(np.arange(6.0) + shift, np.arange(6.0), alternative=alt)
    assert six.ci == (shift, shift)


def test_zero_spread_at_three_pairs_cannot_go_below_an_eighth():
    res = st.paired_t([2.0, 2.0, 2.0], [1.0, 1.0, 1.0], alternative="greater")
    assert res.p_value == 0.125
    assert res.ci == (-math.inf, math.inf)  # 0.125 > 0.025: no value can be excluded at 95%


@pytest.mark.parametrize(
    "a, b, match",
    [
        ([1.0, 2.0], [1.0], "equal length"),
        ([1.0], [2.0], "at least 2"),
        ([1.0, float("nan")], [1.0, 2.0], "NaN"),
    ],
)
def test_paired_t_errors(a, b, match):
    with pytest.raises(ValueError, match=match):
        st.paired_t(a, b)


def test_bad_alternative_rejected(pair):
    with pytest.raises(ValueError, match="alternative"):
        st.paired_t(*pair, alternative="bigger")


@pytest.mark.parametrize("alt", ALTS)
def test_wilcoxon_matches_scipy(pair, alt):
    a, b = pair
    ref = sps.wilcoxon(a - b, alternative=alt)
    res = st.wilcoxon(a, b, alternative=alt)
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-12)
    assert res.statistic == pytest.approx(ref.statistic)
    d = a - b
    walsh = [(d[i] + d[j]) / 2 for i in range(len(d)) for j in range(i, len(d))]
    assert res.effect == pytest.approx(np.median(walsh))  # Hodges–Lehmann
    assert res.ci == st.hodges_lehmann_interval(d)


def test_wilcoxon_all_zero_differences():
    x = np.array([1.0, 2.0, 3.0])
    res = st.wilcoxon(x, x)
    assert res.p_value == 1.0 and res.effect == 0.0


def test_wilcoxon_constant_nonzero_uses_the_sign_flip_floor():
    b = np.arange(6.0)
    res = st.wilcoxon(b + 1.0, b)
    assert res.p_value == 2 / 64  # two-sided: 2 * 2**-6


def test_hodges_lehmann_interval_inverts_the_exact_signed_rank_test():
    rng = np.random.default_rng(3)
    for _ in range(50):
        d = rng.normal(0.3, 1.0, size=9)
        lo, hi = st.hodges_lehmann_interval(d, 0.9)
        for theta, inside in ((lo - 1e-9, False), (lo + 1e-9, True), (hi - 1e-9, True), (hi + 1e-9, False)):
            p = sps.wilcoxon(d - theta, method="exact").pvalue
            assert (p > 0.1) == inside


def test_signed_rank_cdf_small_n():
    # n = 3: T+ takes 0..6 with counts 1,1,1,2,1,1,1 over 8 sign patterns
    assert st.signed_rank_cdf(3) == pytest.approx(np.cumsum([1, 1, 1, 2, 1, 1, 1]) / 8)


def test_hodges_lehmann_interval_unbounded_at_tiny_n():
    assert st.hodges_lehmann_interval([1.0, 2.0, 3.0]) == (-math.inf, math.inf)


def test_sign_test_and_clopper_pearson_agree():
    assert st.sign_test(3, 0, "greater") == 0.125
    assert st.sign_test(0, 0) == 1.0
    for k, n in ((0, 5), (3, 5), (5, 5), (7, 20)):
        ref = sps.binomtest(k, n).proportion_ci(0.95, method="exact")
        assert st.clopper_pearson(k, n, 0.95) == pytest.approx((ref.low, ref.high))
        lo, hi = st.clopper_pearson(k, n, 0.9)
        # the interval excludes 0.5 on the low side exactly when the one-sided test rejects at 0.05
        assert (lo > 0.5) == (st.sign_test(k, n - k, "greater") < 0.05)
        assert (hi < 0.5) == (st.sign_test(k, n - k, "less") < 0.05)


def test_t_interval_inverts_the_t_test():
    x = np.random.default_rng(1).normal(0.2, 1.0, 7)
    for level in (0.8, 0.95, 0.99):
        lo, hi = st.t_interval(x, level)
        for mu, inside in ((lo - 1e-7, False), (lo + 1e-7, True), (hi + 1e-7, False)):
            assert (sps.ttest_1samp(x, mu).pvalue > 1 - level) == inside
    assert st.t_bound(x, 0.025, "upper") == pytest.approx(st.t_interval(x, 0.95)[1])


def test_sign_test_pairs_needed_reaches_its_power():
    n = st.sign_test_pairs_needed(1.0, 0.0, 0.025)
    assert n == 6  # 2**-6 < 0.025 <= 2**-5
    assert st.sign_test_pairs_needed(0.5, 0.0, 0.025) is None
    assert st.sign_test_pairs_needed(0.9, 0.5, 0.025) > st.sign_test_pairs_needed(0.9, 0.0, 0.025)


def test_n_needed_by_se_scales_with_the_square_of_the_noise():
    small = st.n_needed_by_se(1.0, 0.5, 4, 0.025)
    assert st.n_needed_by_se(1.0, 1.0, 4, 0.025) == pytest.approx(4 * small, rel=0.1)
    assert st.n_needed_by_se(-1.0, 0.5, 4, 0.025) is None


@pytest.mark.parametrize("alt", ALTS)
def test_one_sample_t_matches_scipy(alt):
    x = np.random.default_rng(0).normal(0.76, 0.01, size=8)
    ref = sps.ttest_1samp(x, 0.761, alternative=alt)
    res = st.one_sample_t(x, 0.761, alternative=alt)
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-12)
    assert res.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert res.effect == pytest.approx(x.mean())  # the mean itself, not mean - mu
    assert res.ci == st.t_interval(x)


def test_one_sample_t_zero_variance():
    assert st.one_sample_t([2.0, 2.0, 2.0], 1.0, "greater").p_value == 0.125
    assert st.one_sample_t([2.0, 2.0, 2.0], 1.0, "less").p_value == 1.0
    assert st.one_sample_t([2.0, 2.0, 2.0], 2.0).p_value == 1.0


def test_one_sample_t_errors():
    with pytest.raises(ValueError, match="at least 2"):
        st.one_sample_t([1.0], 0.0)
    with pytest.raises(ValueError, match="mu"):
        st.one_sample_t([1.0, 2.0], float("nan"))


# --------------------------------------------------------------------------
# TOST
# --------------------------------------------------------------------------


def test_tost_paired_matches_independent_one_sided_tests(pair):
    a, b = pair
    d = a - b
    margin = 0.02
    p_low = sps.ttest_1samp(d, -margin, alternative="greater").pvalue
    p_high = sps.ttest_1samp(d, margin, alternative="less").pvalue
    res = st.tost_paired(a, b, margin)
    assert res.p_value == pytest.approx(max(p_low, p_high), rel=1e-12)
    assert res.effect == pytest.approx(d.mean())
    # CI is the 90 % t-interval of the mean difference.
    ref_ci = sps.t.interval(0.90, len(d) - 1, loc=d.mean(), scale=sps.sem(d))
    assert res.ci == pytest.approx(ref_ci, rel=1e-10)


def test_tost_one_sample_matches_independent_tests():
    x = np.random.default_rng(4).normal(0.5, 0.1, size=15)
    p_low = sps.ttest_1samp(x, 0.45, alternative="greater").pvalue
    p_high = sps.ttest_1samp(x, 0.6, alternative="less").pvalue
    res = st.tost_one_sample(x, 0.45, 0.6)
    assert res.p_value == pytest.approx(max(p_low, p_high), rel=1e-12)


def test_tost_decisions():
    rng = np.random.default_rng(0)
    b = rng.normal(0.7, 0.02, size=10)
    near = b + rng.normal(0.0, 0.001, size=10)
    far = b + 0.05 + rng.normal(0.0, 0.001, size=10)
    good = st.tost_paired(near, b, margin=0.01)
    bad = st.tost_paired(far, b, margin=0.01)
    assert good.p_value < 0.05
    assert good.ci[0] > -0.01 and good.ci[1] < 0.01  # 90 % CI inside margin
    assert bad.p_value > 0.5


def test_tost_zero_variance():
    b = np.array([1.0, 2.0, 3.0])
    assert st.tost_paired(b + 0.001, b, margin=0.01).p_value == 0.125  # the sign-flip floor, never 0
    assert st.tost_paired(b + 0.1, b, margin=0.01).p_value == 1.0


@pytest.mark.parametrize("margin", [0.0, -1.0, float("nan")])
def test_tost_bad_margin(pair, margin):
    with pytest.raises(ValueError, match="margin"):
        st.tost_paired(*pair, margin=margin)


def test_tost_bad_bounds():
    with pytest.raises(ValueError, match="low < high"):
        st.tost_one_sample([1.0, 2.0], 1.0, 1.0)


# --------------------------------------------------------------------------
# ratio_ci / covers
# --------------------------------------------------------------------------


def test_ratio_ci_exact_ratio():
    b = np.random.default_rng(0).uniform(1.0, 2.0, size=10)
    ratio, (lo, hi) = st.ratio_ci(2.0 * b, b, n_boot=2000, seed=0)
    assert ratio == pytest.approx(2.0)
    assert lo == pytest.approx(2.0) and hi == pytest.approx(2.0)


def test_ratio_ci_noisy_brackets_point_estimate():
    rng = np.random.default_rng(5)
    b = rng.uniform(1.0, 2.0, size=20)
    a = 3.0 * b * rng.normal(1.0, 0.05, size=20)
    ratio, (lo, hi) = st.ratio_ci(a, b, n_boot=2000)
    assert lo < ratio < hi
    assert ratio == pytest.approx(3.0, abs=0.1)
    assert hi - lo < 0.3


def test_ratio_ci_errors():
    with pytest.raises(ValueError, match="mean\\(b\\) is zero"):
        st.ratio_ci([1.0, 2.0], [1.0, -1.0])
    with pytest.raises(ValueError, match="equal length"):
        st.ratio_ci([1.0, 2.0], [1.0])


def test_covers():
    x = np.random.default_rng(0).normal(10.0, 1.0, size=200)
    ok, (lo, hi) = st.covers(x, 10.0)
    assert ok and lo < 10.0 < hi
    bad, ci = st.covers(x, 11.0)
    assert not bad and ci == (lo, hi)


# --------------------------------------------------------------------------
# holm
# --------------------------------------------------------------------------


def test_holm_known_example():
    # Hand reference: sorted p = .005,.01,.03,.04 scaled by 4,3,2,1 ->
    # .02,.03,.06,.04; running max -> .02,.03,.06,.06; back to input order.
    assert st.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_nan_passthrough_and_cap():
    out = st.holm([0.01, float("nan"), 0.6])
    assert out[0] == pytest.approx(0.02)
    assert math.isnan(out[1])
    assert out[2] == 0.6
    assert st.holm([0.5, 0.9]) == [1.0, 1.0]  # capped, then kept monotone
    assert st.holm([]) == []


def test_holm_monotone_and_dominates_raw():
    p = np.random.default_rng(0).uniform(0, 0.2, size=25)
    adj = np.array(st.holm(p))
    order = np.argsort(p)
    assert np.all(np.diff(adj[order]) >= 0)
    assert np.all(adj >= p) and np.all(adj <= 1.0)
    assert np.all(adj <= np.minimum(len(p) * p, 1.0) + 1e-15)  # never worse than Bonferroni


def test_holm_rejects_out_of_range():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        st.holm([0.5, 1.5])


# --------------------------------------------------------------------------
# seeds_needed
# --------------------------------------------------------------------------


def _with_dz(dz: float) -> np.ndarray:
    """Two values with sample sd 1 and mean dz."""
    return np.array([-1.0, 1.0]) / math.sqrt(2.0) + dz


def test_seeds_needed_textbook_value():
    # Paired t, dz = 1, two-sided alpha .05, power .8: n = 10 (Cohen / G*Power).
    assert st.seeds_needed(_with_dz(1.0)) == 10
    # dz = 0.5 -> 34 in G*Power.
    assert st.seeds_needed(_with_dz(0.5)) == 34


def test_seeds_needed_is_minimal_by_direct_power_check():
    n = st.seeds_needed(_with_dz(0.8))
    assert n is not None

    def power(k: int) -> float:
        crit = sps.t.ppf(0.975, k - 1)
        nc = 0.8 * math.sqrt(k)
        return sps.nct.sf(crit, k - 1, nc) + sps.nct.cdf(-crit, k - 1, nc)

    assert power(n) >= 0.8 > power(n - 1)


def test_seeds_needed_monotone_in_effect():
    ns = [st.seeds_needed(_with_dz(dz)) for dz in (2.0, 1.0, 0.5, 0.2)]
    assert all(isinstance(n, int) for n in ns)
    assert ns == sorted(ns) and len(set(ns)) == len(ns)


def test_seeds_needed_one_sided_and_degenerate():
    assert st.seeds_needed(_with_dz(0.5), alternative="greater") < st.seeds_needed(_with_dz(0.5))
    assert st.seeds_needed(_with_dz(0.5), alternative="less") is None
    assert st.seeds_needed(_with_dz(0.0)) is None
    assert st.seeds_needed([0.3]) is None
    assert st.seeds_needed([0.3, 0.3, 0.3]) == 6  # zero spread: the sign-flip floor 2**-n must beat 0.025
    assert st.seeds_needed(_with_dz(1e-4)) is None  # would need > 100000


def test_seeds_needed_errors():
    with pytest.raises(ValueError, match="power"):
        st.seeds_needed(_with_dz(1.0), power=1.0)
    with pytest.raises(ValueError, match="NaN"):
        st.seeds_needed([1.0, float("nan")])


# --------------------------------------------------------------------------
# expected_max_z
# --------------------------------------------------------------------------


def test_expected_max_z_known_values():
    assert st.expected_max_z(1) == pytest.approx(0.0, abs=1e-12)
    assert st.expected_max_z(2) == pytest.approx(1.0 / math.sqrt(math.pi), rel=1e-9)
    assert st.expected_max_z(3) == pytest.approx(1.5 / math.sqrt(math.pi), rel=1e-9)
    assert st.expected_max_z(100) == pytest.approx(2.5076, abs=1e-4)


def test_expected_max_z_increasing():
    vals = [st.expected_max_z(n) for n in (1, 2, 5, 10, 1000, 10**6)]
    assert all(x < y for x, y in zip(vals, vals[1:]))


@pytest.mark.parametrize("n", [0, -3, 2.5])
def test_expected_max_z_rejects_bad_n(n):
    with pytest.raises(ValueError, match="integer >= 1"):
        st.expected_max_z(n)


# -- Bonett's SD interval and test ---------------------------------------------------------------------
def test_sd_bound_keeps_its_coverage_on_skewed_data_where_chi_square_does_not():
    rng = np.random.default_rng(0)
    bonett = chi2 = 0
    reps = 600
    for _ in range(reps):
        x = rng.exponential(1.0, 60)  # SD 1, strongly skewed
        bonett += st.sd_bound(x, 0.05, "lower") < 1.0
        chi2 += math.sqrt(59 / sps.chi2.ppf(0.95, 59)) * x.std(ddof=1) < 1.0
    assert bonett / reps >= 0.93  # nominal 95%
    assert chi2 / reps < 0.88     # the normal-theory bound undercovers


def test_sd_test_inverts_sd_bound():
    rng = np.random.default_rng(1)
    x = rng.normal(0.8, 0.011, 50)
    for sd0 in (0.008, 0.0105, 0.013):
        p = st.sd_test(x, sd0, "greater")
        assert st.sd_bound(x, p, "lower") == pytest.approx(sd0)
        q = st.sd_test(x, sd0, "less")
        if q < 0.5:
            assert st.sd_bound(x, q, "upper") == pytest.approx(sd0)
    assert st.sd_test(x, 0.001, "greater") < 1e-6 and st.sd_test(x, 0.1, "less") < 1e-6
    with pytest.raises(ValueError):
        st.sd_test(x[:5], 0.01, "greater")


def test_log_sd_se_shrinks_as_one_over_root_n():
    rng = np.random.default_rng(4)
    small, large = rng.normal(0, 1, 50), rng.normal(0, 1, 5000)
    assert st.log_sd_se(small) == pytest.approx(1 / math.sqrt(2 * 49), rel=0.35)  # normal data: 1/sqrt(2(n-1))
    assert st.log_sd_se(large) < st.log_sd_se(small) / 5


# -- variance components of a crossed factorial -----------------------------------------------------
def random_cube(rng, levels: int, sds: dict[tuple[int, ...], float], factors: int = 3) -> np.ndarray:
    """A crossed random-effects factorial: for each term, an independent normal
    effect per level combination of its factors (SD ``sds[term]``)."""
    cube = np.zeros((levels,) * factors)
    for term, sd in sds.items():
        shape = [levels if a in term else 1 for a in range(factors)]
        cube = cube + rng.normal(0, sd, shape)
    return cube


def test_factorial_components_are_unbiased_for_mains_and_interactions():
    rng = np.random.default_rng(2)
    sds = {(0,): 2.0, (1,): 1.0, (0, 1): 1.0, (0, 1, 2): 1.0}  # factor 2 enters only the full interaction
    draws = [st.factorial_components(random_cube(rng, 4, sds)) for _ in range(400)]
    mean = {term: np.mean([d[term] for d in draws]) for term in draws[0]}
    for term, value in mean.items():
        assert value == pytest.approx(sds.get(term, 0.0) ** 2, abs=0.25), term
    assert min(d[(2,)] for d in draws) < 0  # no main effect of factor 2: estimates on both sides of 0, kept


def test_factorial_shares_sum_to_one_and_totals_count_interactions_for_each_factor():
    rng = np.random.default_rng(3)
    cube = random_cube(rng, 3, {(0,): 1.0, (0, 1): 1.0, (0, 1, 2): 0.5})
    mains, interactions, totals = st.factorial_shares(cube)
    components = st.factorial_components(cube)
    whole = sum(components.values())
    assert sum(mains) + interactions == pytest.approx(1.0)
    assert totals[1] == pytest.approx(sum(v for t, v in components.items() if 1 in t) / whole)
    assert sum(totals) > 1.0  # the (0, 1) and (0, 1, 2) interactions count for each of their factors
    # a factor the outcome ignores moves nothing: every term it enters is exactly 0
    ignored = np.repeat(rng.normal(size=(3, 3))[:, :, None], 3, axis=2)
    assert st.factorial_shares(ignored)[2][2] == pytest.approx(0.0, abs=1e-12)


def test_factorial_shares_reject_what_is_not_a_factorial():
    with pytest.raises(ValueError):
        st.factorial_shares(np.ones((3,)))
    with pytest.raises(ValueError):
        st.factorial_shares(np.ones((3, 3)))
    with pytest.raises(ValueError):
        st.factorial_shares(np.array([[1.0, np.nan], [0.0, 1.0]]))


# -- censored_median: a censored value is a bound, never averaged (DO-SCALING's crossover k) ---------------
def test_censored_median_of_observed_values_and_its_exact_coverage():
    median, low, high, coverage = st.censored_median([20, 50, 10], [False, False, False])
    assert (median, low, high) == (20, 10, 50)
    assert coverage == pytest.approx(0.75)  # n = 3: 1 - 2 * (1/2)^3


def test_censored_values_rank_above_every_observed_one():
    median, low, high, _ = st.censored_median([100, 20, 100], [True, False, True])
    assert median == math.inf and low == 20 and high == math.inf  # "not reached", not 100 and not a mean
    # a censored value recorded below an observed one still ranks above it
    assert st.censored_median([5, 50], [True, False])[2] == math.inf


def test_censored_median_interval_narrows_with_more_values():
    values = list(range(1, 21))
    median, low, high, coverage = st.censored_median(values, [False] * 20)
    assert median == 10.5 and low > 1 and high < 20 and coverage >= 0.95
