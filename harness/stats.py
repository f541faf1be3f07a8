"""Pre-registered statistics for checking deep-learning claims.

Every claim the harness checks is settled by one of the small, fixed tests
below, chosen *before* the numbers are seen.  Keeping the menu short and the
semantics explicit (what ``effect`` means, which CI is reported, what happens
in degenerate cases) is what makes a verdict reproducible and auditable.

Conventions shared by all tests:

* Inputs are 1-D sequences of finite floats.  NaN or inf raise ``ValueError``
  instead of propagating silently: a missing run is a harness bug, not data.
* ``alternative`` is one of ``"two-sided"``, ``"less"``, ``"greater"`` and,
  for paired tests, always refers to ``a - b`` relative to zero (scipy's
  ``ttest_rel`` semantics).
* Each test reports the interval that inverts it (a t-interval for a t-test,
  Hodges–Lehmann for Wilcoxon, Clopper–Pearson for a sign or binomial test),
  so an interval and its test never tell two stories. Percentile bootstraps
  remain for statistics with no parametric interval, deterministic for a
  given ``seed`` so that reports are byte-for-byte reproducible.
* Degenerate inputs where every difference is identical (zero variance) get
  the exact sign-flip p-value, whose floor is ``2**-n`` (never 0); see
  :func:`_degenerate_p`.

Only numpy and scipy are used; scipy submodules are imported lazily so that
importing this module stays cheap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np

__all__ = [
    "ALTERNATIVES",
    "TestResult",
    "bootstrap_ci",
    "paired_t",
    "wilcoxon",
    "one_sample_t",
    "tost_paired",
    "tost_one_sample",
    "ratio_ci",
    "covers",
    "holm",
    "seeds_needed",
    "sign_test",
    "clopper_pearson",
    "t_interval",
    "hodges_lehmann_interval",
    "sign_test_pairs_needed",
    "n_needed_by_se",
    "expected_max_z",
    "sd_bound",
    "sd_test",
    "log_sd_se",
    "factorial_components",
    "factorial_shares",
]

ALTERNATIVES: tuple[str, ...] = ("two-sided", "less", "greater")

# Upper bound on the number of float64 cells materialised per bootstrap chunk
# (~32 MiB).  Chunking keeps memory flat for large samples while staying
# vectorised; results depend only on (data, n_boot, seed).
_CHUNK_CELLS = 1 << 22

ArrayLike = Sequence[float] | np.ndarray


@dataclass(frozen=True)
class TestResult:
    """Outcome of one pre-registered test.

    Attributes:
        test: name of the test that produced this result (e.g. ``"paired_t"``).
        statistic: the test statistic as scipy reports it (t, W, ...).
        p_value: p-value for the stated alternative, in ``[0, 1]``.
        effect: point estimate in the natural unit of the test (mean
            difference, median difference, mean); each function documents it.
        ci: confidence interval of ``effect``; 95 % percentile bootstrap unless
            the function documents otherwise (TOST reports the 90 % t-interval).
        n: number of observations (pairs, for paired tests).
    """

    # Stop pytest from trying to collect this class when a test module
    # imports it by name (it starts with "Test").
    __test__ = False

    test: str
    statistic: float
    p_value: float
    effect: float
    ci: tuple[float, float]
    n: int


# --------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------


def _as_1d(values: ArrayLike, name: str, min_len: int = 1) -> np.ndarray:
    """Coerce to a finite 1-D float array, failing loudly on bad input.

    Why: silently dropping NaNs (or letting them turn a p-value into NaN)
    would let a crashed run masquerade as evidence.
    """
    try:
        x = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from None
    if x.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {x.shape}")
    if x.size == 0:
        raise ValueError(f"{name} is empty; need at least {min_len} value(s)")
    if np.isnan(x).any():
        raise ValueError(f"{name} contains NaN at index {int(np.flatnonzero(np.isnan(x))[0])}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains inf")
    if x.size < min_len:
        raise ValueError(f"{name} has {x.size} value(s); need at least {min_len}")
    return x


def _paired(a: ArrayLike, b: ArrayLike, min_len: int = 2) -> np.ndarray:
    """Validate a paired sample and return the differences ``a - b``."""
    xa = _as_1d(a, "a")
    xb = _as_1d(b, "b")
    if xa.size != xb.size:
        raise ValueError(
            f"paired samples must have equal length: len(a)={xa.size}, len(b)={xb.size}"
        )
    if xa.size < min_len:
        raise ValueError(f"paired test needs at least {min_len} pairs, got {xa.size}")
    return xa - xb


def _pair_scale(a: ArrayLike, b: ArrayLike) -> float:
    """The magnitude against which paired differences count as rounding."""
    return float(max(np.max(np.abs(np.asarray(a, dtype=float))), np.max(np.abs(np.asarray(b, dtype=float)))))


def _check_alternative(alternative: str) -> None:
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")


def _check_level(level: float) -> None:
    if not (0.0 < level < 1.0):
        raise ValueError(f"level must be in (0, 1), got {level}")


def _check_n_boot(n_boot: int) -> None:
    if int(n_boot) != n_boot or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot}")


SPREAD_RTOL = 1e-10  # spread below this fraction of the values' magnitude is rounding, not variation


def is_constant(x: np.ndarray, scale: float | None = None) -> bool:
    """True if the values do not vary beyond float rounding: their range is at
    most ``SPREAD_RTOL`` times their magnitude (``scale``, default the largest
    |value|). Why not ``== 0``: differences such as ``(b + 0.1) - b`` differ in
    the 17th digit, and a t-test on that noise returns p ~ 1e-100."""
    x = np.asarray(x, dtype=float)
    magnitude = float(np.max(np.abs(x))) if scale is None else scale
    return bool(np.ptp(x) <= SPREAD_RTOL * magnitude)




def _degenerate_p(shift: float, alternative: str, n: int) -> tuple[float, float]:
    """(statistic, p) for a zero-variance sample of ``n`` values whose mean sits
    ``shift`` from H0.

    Why: with identical observations the t statistic is c/0 (scipy gives NaN or
    inf), and taking the limit p = 0 claims certainty from three tied numbers.
    Zero spread says nothing about the spread a new seed would show, so we fall
    back to the exact sign-flip (permutation) test, which needs no variance:
    all ``n`` values on the tested side is one of ``2**n`` equally likely sign
    patterns, so the one-sided p is ``2**-n`` — its true floor (0.125 at n = 3),
    never 0. The statistic is reported as +-inf for a nonzero shift, 0 otherwise.
    """
    if shift == 0.0:
        return 0.0, 1.0
    stat = math.copysign(math.inf, shift)
    floor = 0.5 ** n
    if alternative == "two-sided":
        return stat, min(1.0, 2.0 * floor)
    if alternative == "greater":
        return stat, floor if shift > 0 else 1.0
    return stat, floor if shift < 0 else 1.0  # "less"


def _t_test(x: np.ndarray, mu: float, alternative: str) -> tuple[float, float]:
    """(t, p) of the one-sample t-test of ``mean(x)`` against ``mu`` — the
    numbers ``scipy.stats.ttest_1samp`` gives (tested to 1e-12), computed
    directly: scipy's wrapper costs ~1 ms a call, and the calibration test
    makes tens of thousands."""
    from scipy import special

    n = x.size
    t = (float(np.mean(x)) - mu) / (float(np.std(x, ddof=1)) / math.sqrt(n))
    df = n - 1
    if alternative == "greater":
        return t, float(special.stdtr(df, -t))
    if alternative == "less":
        return t, float(special.stdtr(df, t))
    return t, float(min(1.0, 2.0 * special.stdtr(df, -abs(t))))


def t_interval(values: ArrayLike, level: float = 0.95) -> tuple[float, float]:
    """Two-sided ``level`` t-interval of the mean: the interval that inverts the
    one-sample (or paired, on differences) t-test, so the two never disagree.

    Zero spread: the sign-flip test that replaces the t-test there (see
    :func:`_degenerate_p`) rejects a value other than the observed one only
    when ``2**-n`` is below the one-sided level, so the interval is the point
    itself then, and unbounded otherwise.
    """
    from scipy import special

    x = _as_1d(values, "values", min_len=2)
    _check_level(level)
    mean = float(np.mean(x))
    if is_constant(x):
        return (mean, mean) if 0.5 ** x.size < (1.0 - level) / 2.0 else (-math.inf, math.inf)
    # special.stdtrit is scipy.stats.t.ppf without its ~0.2 ms of argument handling per call
    half = float(special.stdtrit(x.size - 1, 0.5 + level / 2.0)) * float(np.std(x, ddof=1)) / math.sqrt(x.size)
    return mean - half, mean + half


def t_bound(values: ArrayLike, alpha: float, side: str) -> float:
    """One-sided ``1 - alpha`` t confidence bound of the mean: the ``"upper"``
    or ``"lower"`` end of the two-sided ``1 - 2*alpha`` interval."""
    lo, hi = t_interval(values, 1.0 - 2.0 * alpha)
    return hi if side == "upper" else lo


# --------------------------------------------------------------------------
# bootstrap
# --------------------------------------------------------------------------


def _boot_index_chunks(n: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Yield resampling index matrices of shape (rows, n), n_boot rows total.

    Chunked so that memory stays bounded; the stream is a pure function of
    (n, n_boot, seed), which is all determinism requires.
    """
    rng = np.random.default_rng(seed)
    rows_per_chunk = max(1, _CHUNK_CELLS // max(n, 1))
    done = 0
    while done < n_boot:
        rows = min(rows_per_chunk, n_boot - done)
        yield rng.integers(0, n, size=(rows, n))
        done += rows


def _apply_rowwise(stat: Callable[..., object], samples: np.ndarray) -> np.ndarray:
    """Apply ``stat`` to each row, using its ``axis`` argument when it has one."""
    try:
        out = np.asarray(stat(samples, axis=1), dtype=float)
        if out.shape == (samples.shape[0],):
            return out
    except TypeError:
        pass
    return np.array([float(stat(row)) for row in samples], dtype=float)


def _percentile_interval(boot: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1.0 - level) / 2.0 * 100.0
    lo, hi = np.nanpercentile(boot, [tail, 100.0 - tail])
    return float(lo), float(hi)


def bootstrap_ci(
    values: ArrayLike,
    stat: Callable[..., object] = np.mean,
    n_boot: int = 10_000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap CI of ``stat(values)``.

    Why percentile bootstrap: it makes no normality assumption about the
    per-seed metric, works for any statistic (mean, median, ...), and with a
    fixed seed it is exactly reproducible.  Resampling is vectorised through an
    index matrix; ``stat`` is called with ``axis=1`` when it supports it.

    A single value has no sampling variability we can estimate, so ``(v, v)``
    is returned rather than an error.

    Raises:
        ValueError: on empty input, NaN/inf, bad ``level`` or ``n_boot``.
    """
    x = _as_1d(values, "values")
    _check_level(level)
    _check_n_boot(n_boot)
    if x.size == 1:
        v = float(x[0])
        return v, v
    boot = np.concatenate(
        [_apply_rowwise(stat, x[idx]) for idx in _boot_index_chunks(x.size, n_boot, seed)]
    )
    return _percentile_interval(boot, level)


# --------------------------------------------------------------------------
# location tests
# --------------------------------------------------------------------------


def paired_t(a: ArrayLike, b: ArrayLike, alternative: str = "two-sided") -> TestResult:
    """Paired t-test on ``d = a - b`` (seed-matched runs of two methods).

    ``effect`` is ``mean(d)``; ``ci`` is the 95 % t-interval of that mean (the
    interval that inverts this test).  The p-value follows
    ``scipy.stats.ttest_rel(a, b, alternative)``, i.e. ``alternative`` is about
    ``mean(a - b)`` relative to 0.

    Zero-variance differences (all ``d`` identical): the exact sign-flip p,
    ``2**-n`` if ``mean(d)`` is nonzero in the tested direction, else 1.0
    (scipy would give NaN/inf); see :func:`_degenerate_p`.

    Raises:
        ValueError: if lengths differ, fewer than 2 pairs, or NaN/inf present.
    """
    from scipy import stats as sps

    _check_alternative(alternative)
    d = _paired(a, b, min_len=2)
    mean_d = float(np.mean(d))
    if is_constant(d, _pair_scale(a, b)):
        statistic, p = _degenerate_p(mean_d, alternative, d.size)
    else:
        statistic, p = _t_test(d, 0.0, alternative)
    return TestResult("paired_t", statistic, p, mean_d, t_interval(d), int(d.size))


def wilcoxon(a: ArrayLike, b: ArrayLike, alternative: str = "two-sided") -> TestResult:
    """Wilcoxon signed-rank test on ``d = a - b`` (robust to heavy tails).

    ``effect`` is the Hodges–Lehmann estimate (the median of the Walsh
    averages), ``ci`` its 95 % interval from the exact signed-rank
    distribution (:func:`hodges_lehmann_interval`): the estimate and interval
    that belong to this test.  The statistic and p-value are those of
    ``scipy.stats.wilcoxon(d, alternative=alternative)`` with scipy's defaults
    (zero differences dropped).  ``n`` counts all pairs.

    Degenerate cases: every difference zero → nothing to rank, p = 1.0; every
    difference the same nonzero value → all ranks tie, and the exact
    sign-flip p of :func:`_degenerate_p` is used (``2**-n``, never 0).

    Raises:
        ValueError: if lengths differ, fewer than 2 pairs, or NaN/inf present.
    """
    from scipy import stats as sps

    _check_alternative(alternative)
    d = _paired(a, b, min_len=2)
    if is_constant(d, _pair_scale(a, b)):
        statistic, p = _degenerate_p(float(d[0]), alternative, d.size)
    else:
        res = sps.wilcoxon(d, alternative=alternative)
        statistic, p = float(res.statistic), float(res.pvalue)
    return TestResult("wilcoxon", statistic, p, hodges_lehmann(d), hodges_lehmann_interval(d), int(d.size))


def _walsh_averages(d: np.ndarray) -> np.ndarray:
    i, j = np.triu_indices(d.size)
    return np.sort((d[i] + d[j]) / 2.0)


def hodges_lehmann(d: ArrayLike) -> float:
    """The Hodges–Lehmann location estimate: median of the Walsh averages."""
    return float(np.median(_walsh_averages(_as_1d(d, "d"))))


def signed_rank_cdf(n: int) -> np.ndarray:
    """P(T+ <= t) for t = 0 .. n(n+1)/2 under H0, exactly (subset-sum counts
    of 1..n, a dynamic programme; fine for the n of seed studies)."""
    total = n * (n + 1) // 2
    counts = np.zeros(total + 1)
    counts[0] = 1.0
    for k in range(1, n + 1):
        counts[k:] = counts[k:] + counts[: total + 1 - k].copy()
    return np.cumsum(counts) / 2.0 ** n


def hodges_lehmann_interval(d: ArrayLike, level: float = 0.95) -> tuple[float, float]:
    """Two-sided ``level`` interval for the location shift that inverts the
    exact signed-rank test: order statistics of the Walsh averages. Unbounded
    (+-inf) where ``n`` is too small for any Walsh average to be excluded."""
    x = _as_1d(d, "d", min_len=2)
    _check_level(level)
    walsh = _walsh_averages(x)
    cdf = signed_rank_cdf(x.size)
    tail = (1.0 - level) / 2.0
    c = int(np.searchsorted(cdf, tail, side="left"))  # number of t with P(T <= t) < tail: the test rejects at p < tail
    if c == 0:
        return -math.inf, math.inf
    # theta below the c-th smallest Walsh average leaves at most c-1 of them below it: rejected
    return float(walsh[c - 1]), float(walsh[walsh.size - c])


def sign_test(wins: int, losses: int, alternative: str = "greater") -> float:
    """Exact sign test: ``wins`` of ``wins + losses`` untied pairs favour the
    claimed side; ties carry no information and are dropped (as in a
    permutation test on ranks with ties). One-sided p that wins exceed chance
    (``"greater"``) or fall short of it (``"less"``)."""
    from scipy import stats as sps

    n = wins + losses
    if n == 0:
        return 1.0
    if alternative == "two-sided":
        return float(sps.binomtest(wins, n, 0.5).pvalue)
    return float(sps.binomtest(wins, n, 0.5, alternative=alternative).pvalue)


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper–Pearson) interval of a proportion: it inverts the two
    one-sided exact binomial tests, each at ``(1 - level) / 2``."""
    from scipy import stats as sps

    _check_level(level)
    if n == 0:
        return 0.0, 1.0
    tail = (1.0 - level) / 2.0
    lo = 0.0 if k == 0 else float(sps.beta.ppf(tail, k, n - k + 1))
    hi = 1.0 if k == n else float(sps.beta.ppf(1.0 - tail, k + 1, n - k))
    return lo, hi


def censored_median(values: Sequence[float], censored: Sequence[bool],
                    level: float = 0.95) -> tuple[float, float, float, float]:
    """Median of right-censored values (a censored value is only known to exceed the largest observed, e.g. a
    crossover beyond the largest k tried) with the distribution-free order-statistic interval: the r-th smallest
    and the r-th largest value, r the largest with P(Binomial(n, 1/2) < r) <= (1 - level)/2; its exact coverage is
    returned (with few values it is below ``level``: n = 3 gives 75%). Censored values rank above every observed
    one and read as inf: an interval end that lands on one is "not reached". Returns (median, low, high, coverage)."""
    from scipy import stats as sps

    ranked = sorted(math.inf if c else float(v) for v, c in zip(values, censored))
    n = len(ranked)
    if n == 0:
        return math.nan, math.nan, math.nan, math.nan
    middle = (ranked[(n - 1) // 2] + ranked[n // 2]) / 2 if n % 2 == 0 else ranked[n // 2]
    r = 1
    while r + 1 <= n // 2 and sps.binom.cdf(r, n, 0.5) <= (1 - level) / 2:
        r += 1
    coverage = 1 - 2 * float(sps.binom.cdf(r - 1, n, 0.5))
    return float(middle), ranked[r - 1], ranked[n - r], coverage


def one_sample_t(values: ArrayLike, mu: float, alternative: str = "two-sided") -> TestResult:
    """One-sample t-test of ``mean(values)`` against a claimed number ``mu``.

    ``effect`` is ``mean(values)`` itself, *not* ``mean - mu``: reports quote
    the reproduced number next to the claimed one, so the raw mean is the
    useful quantity.  ``ci`` is the 95 % t-interval of the mean.
    The p-value follows ``scipy.stats.ttest_1samp(values, mu, alternative)``.

    Zero variance: the exact sign-flip p, ``2**-n`` if ``mean - mu`` is nonzero
    in the tested direction, else 1.0.

    Raises:
        ValueError: fewer than 2 values, NaN/inf, or non-finite ``mu``.
    """
    from scipy import stats as sps

    _check_alternative(alternative)
    x = _as_1d(values, "values", min_len=2)
    if not math.isfinite(mu):
        raise ValueError(f"mu must be finite, got {mu}")
    mean = float(np.mean(x))
    if is_constant(x):
        statistic, p = _degenerate_p(mean - float(mu), alternative, x.size)
    else:
        statistic, p = _t_test(x, float(mu), alternative)
    return TestResult("one_sample_t", statistic, p, mean, t_interval(x), int(x.size))


# --------------------------------------------------------------------------
# equivalence (TOST)
# --------------------------------------------------------------------------


def tost_one_sample(
    values: ArrayLike,
    low: float,
    high: float,
    alpha: float = 0.05,
) -> TestResult:
    """Schuirmann's two one-sided t-tests: is the mean inside ``(low, high)``?

    Why: "we reproduce the number" is an equivalence claim, and failing to
    reject a difference is not evidence of equality.  TOST rejects
    non-equivalence only if both ``H0: mean <= low`` and ``H0: mean >= high``
    are rejected, so ``p_value = max(p_low, p_high)``.

    ``effect`` is ``mean(values)``; ``statistic`` is the t statistic of the
    binding (larger-p) one-sided test; ``ci`` is the ``1 - 2*alpha`` (90 % by
    default) t-interval of the mean, because TOST at level alpha rejects
    exactly when that interval lies inside ``(low, high)``.

    Zero variance: both one-sided tests fall back to the exact sign-flip test,
    so p = ``2**-n`` if ``low < mean < high`` (never 0) and 1.0 otherwise.

    Raises:
        ValueError: ``low >= high``, non-finite bounds, bad ``alpha``, fewer
            than 2 values, or NaN/inf.
    """
    from scipy import stats as sps

    x = _as_1d(values, "values", min_len=2)
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"equivalence bounds must be finite, got ({low}, {high})")
    if not low < high:
        raise ValueError(f"equivalence bounds need low < high, got ({low}, {high})")
    if not (0.0 < alpha < 0.5):
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")

    n = int(x.size)
    mean = float(np.mean(x))
    if is_constant(x):
        inside = low < mean < high
        stat = math.inf if inside else -math.inf
        return TestResult("tost", stat, 0.5 ** n if inside else 1.0, mean, t_interval(x, 1.0 - 2.0 * alpha), n)

    lower = sps.ttest_1samp(x, float(low), alternative="greater")
    upper = sps.ttest_1samp(x, float(high), alternative="less")
    p_low, p_high = float(lower.pvalue), float(upper.pvalue)
    statistic = float(lower.statistic) if p_low >= p_high else float(upper.statistic)

    se = float(np.std(x, ddof=1)) / math.sqrt(n)
    half = float(sps.t.ppf(1.0 - alpha, n - 1)) * se
    return TestResult("tost", statistic, max(p_low, p_high), mean, (mean - half, mean + half), n)


def tost_paired(
    a: ArrayLike,
    b: ArrayLike,
    margin: float,
    alpha: float = 0.05,
) -> TestResult:
    """Paired TOST: is ``mean(a - b)`` within ``(-margin, +margin)``?

    Used for "method A matches method B" claims on seed-matched runs.  This is
    :func:`tost_one_sample` applied to ``d = a - b`` with bounds
    ``(-margin, margin)``; ``effect`` is ``mean(d)`` and ``ci`` the 90 %
    (``1 - 2*alpha``) t-interval, see there.

    Raises:
        ValueError: ``margin`` not a positive finite number, lengths differ,
            fewer than 2 pairs, or NaN/inf.
    """
    if not (math.isfinite(margin) and margin > 0):
        raise ValueError(f"margin must be a positive finite number, got {margin}")
    d = _paired(a, b, min_len=2)
    res = tost_one_sample(d, -float(margin), float(margin), alpha=alpha)
    return TestResult("tost_paired", res.statistic, res.p_value, res.effect, res.ci, res.n)


# --------------------------------------------------------------------------
# ratios and coverage
# --------------------------------------------------------------------------


def ratio_ci(
    a: ArrayLike,
    b: ArrayLike,
    n_boot: int = 10_000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, tuple[float, float]]:
    """Ratio of means ``mean(a) / mean(b)`` with a paired bootstrap CI.

    Used for "k times faster" claims: ``a`` and ``b`` are matched measurements
    (same seed / same hardware slot), so pairs are resampled jointly to keep
    their correlation.  Returns ``(ratio, (lo, hi))``.  Bootstrap replicates
    whose resampled denominator is exactly zero are ignored.

    Raises:
        ValueError: lengths differ, empty, NaN/inf, or ``mean(b) == 0``.
    """
    xa = _as_1d(a, "a")
    xb = _as_1d(b, "b")
    if xa.size != xb.size:
        raise ValueError(
            f"paired samples must have equal length: len(a)={xa.size}, len(b)={xb.size}"
        )
    _check_n_boot(n_boot)
    _check_level(level)
    mean_b = float(np.mean(xb))
    if mean_b == 0.0:
        raise ValueError("mean(b) is zero; ratio of means is undefined")
    ratio = float(np.mean(xa)) / mean_b
    if xa.size == 1:
        return ratio, (ratio, ratio)

    parts = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for idx in _boot_index_chunks(xa.size, n_boot, seed):
            num = xa[idx].mean(axis=1)
            den = xb[idx].mean(axis=1)
            parts.append(np.where(den == 0.0, np.nan, num / den))
    return ratio, _percentile_interval(np.concatenate(parts), level)


def covers(
    values: ArrayLike,
    target: float,
    level: float = 0.95,
    seed: int = 0,
    n_boot: int = 10_000,
) -> tuple[bool, tuple[float, float]]:
    """Does the bootstrap CI of the mean contain a claimed number?

    A lenient reproduction check ("the paper's 76.1 % is plausible given our
    seeds").  Returns ``(lo <= target <= hi, (lo, hi))``.

    Raises:
        ValueError: empty input, NaN/inf, or non-finite ``target``.
    """
    if not math.isfinite(target):
        raise ValueError(f"target must be finite, got {target}")
    lo, hi = bootstrap_ci(values, np.mean, n_boot=n_boot, level=level, seed=seed)
    return bool(lo <= target <= hi), (lo, hi)


# --------------------------------------------------------------------------
# multiplicity
# --------------------------------------------------------------------------


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the input order.

    Why Holm: a study checks several claims at once; Holm controls the
    family-wise error rate with no independence assumption and is uniformly
    more powerful than plain Bonferroni.

    Step-down: with the ``m`` non-NaN p-values sorted ascending,
    ``adj_(i) = min(1, max_{j <= i} (m - j) * p_(j))`` (0-based ``j``), which
    makes the adjusted values monotone in the raw ones.  NaN entries (tests
    that could not be run) are returned as NaN and do not count towards ``m``.

    Raises:
        ValueError: if a non-NaN value lies outside ``[0, 1]``.
    """
    p = np.asarray(p_values, dtype=float).reshape(-1)
    out = np.full(p.shape, np.nan)
    valid = ~np.isnan(p)
    pv = p[valid]
    if pv.size and ((pv < 0.0) | (pv > 1.0)).any():
        raise ValueError(f"p-values must lie in [0, 1], got {pv[(pv < 0) | (pv > 1)].tolist()}")
    m = pv.size
    if m == 0:
        return out.tolist()
    order = np.argsort(pv, kind="stable")
    scaled = (m - np.arange(m)) * pv[order]
    adjusted_sorted = np.minimum(np.maximum.accumulate(scaled), 1.0)
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    out[valid] = adjusted
    return out.tolist()


# --------------------------------------------------------------------------
# power / extreme values
# --------------------------------------------------------------------------

_MAX_SEEDS = 100_000


def paired_t_power(n: int, dz: float, alpha: float, alternative: str) -> float:
    """Exact power of a paired (one-sample) t-test via the noncentral t
    (scipy.special's functions: the distribution objects cost ~0.2 ms a call)."""
    from scipy import special

    df = n - 1
    nc = dz * math.sqrt(n)
    if alternative == "two-sided":
        crit = float(special.stdtrit(df, 1.0 - alpha / 2.0))
        return float(1.0 - special.nctdtr(df, nc, crit) + special.nctdtr(df, nc, -crit))
    crit = float(special.stdtrit(df, 1.0 - alpha))
    if alternative == "greater":
        return float(1.0 - special.nctdtr(df, nc, crit))
    return float(special.nctdtr(df, nc, -crit))


def seeds_needed(
    d_values: ArrayLike,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: str = "two-sided",
) -> int | None:
    """Paired replicates needed to detect the observed mean difference.

    Why: an inconclusive comparison should say how much more compute would
    settle it ("about N seeds").  Treats the observed standardized effect
    ``dz = mean(d) / sd(d)`` as the truth and returns the smallest
    ``n in [2, 100000]`` whose exact paired-t power (noncentral t, the same
    computation as G*Power) reaches ``power``.  Power increases with ``n``, so
    the scan over ``n`` is done by doubling then bisection; the answer equals
    a linear scan from 2.  Example: ``dz = 1``, two-sided, alpha 0.05,
    power 0.8 gives 10 (textbook value).

    Returns ``None`` when there are fewer than 2 values, ``mean(d) == 0``, the
    effect points against a one-sided ``alternative`` (no n will ever detect
    it), or more than 100000 replicates would be needed.  A nonzero mean with
    zero spread is decided by the exact sign-flip test, whose p cannot go below
    ``2**-n``: the smallest n with ``2**-n`` under the one-sided level.

    Raises:
        ValueError: on NaN/inf, bad ``alpha``/``power``/``alternative``.
    """
    _check_alternative(alternative)
    if not (0.0 < alpha < 1.0):
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if not (0.0 < power < 1.0):
        raise ValueError(f"power must be in (0, 1), got {power}")
    d = _as_1d(d_values, "d_values")
    if d.size < 2:
        return None
    mean = float(np.mean(d))
    if mean == 0.0:
        return None
    if (alternative == "greater" and mean < 0) or (alternative == "less" and mean > 0):
        return None
    sd = float(np.std(d, ddof=1))
    if sd == 0.0:  # the sign-flip test's floor 2**-n must fall below the one-sided level
        one_sided = alpha / 2.0 if alternative == "two-sided" else alpha
        return max(2, math.ceil(math.log2(1.0 / one_sided) + 1e-12))
    dz = abs(mean) / sd if alternative == "two-sided" else mean / sd

    def enough(n: int) -> bool:
        return paired_t_power(n, dz, alpha, alternative) >= power

    # The normal approximation lands within a few of the exact answer; power
    # rises with n, so step from there (a handful of noncentral-t evaluations
    # instead of a bisection's dozen: decide() calls this for every
    # inconclusive claim, the calibration test thousands of times).
    from scipy import special

    one_sided = alpha / 2.0 if alternative == "two-sided" else alpha
    guess = ((special.ndtri(1.0 - one_sided) + special.ndtri(power)) / dz) ** 2
    if guess > _MAX_SEEDS:
        return None
    n = max(2, math.ceil(guess))
    while not enough(n):
        if n >= _MAX_SEEDS:
            return None
        n += 1
    while n > 2 and enough(n - 1):
        n -= 1
    return n


def _smallest_n(enough: Callable[[int], bool], start: int = 2) -> int | None:
    """Smallest n >= start with ``enough(n)``, for ``enough`` monotone in n;
    None beyond 100000 (doubling, then bisection)."""
    if enough(start):
        return start
    lo, hi = start, 2 * start
    while not enough(hi):
        if hi >= _MAX_SEEDS:
            return None
        lo, hi = hi, min(2 * hi, _MAX_SEEDS)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if enough(mid) else (mid, hi)
    return hi


def sign_test_pairs_needed(win_rate: float, tie_rate: float, alpha: float, power: float = 0.8) -> int | None:
    """Pairs an exact one-sided sign test at ``alpha`` needs for ``power``, if a
    fraction ``tie_rate`` of pairs tie and the rest favour the claimed side
    with probability ``win_rate`` (both taken from the data as the truth).
    None when ``win_rate <= 0.5`` (no n detects it) or every pair ties."""
    from scipy import stats as sps

    if not win_rate > 0.5 or tie_rate >= 1.0:
        return None

    def enough(pairs: int) -> bool:
        untied = max(1, round(pairs * (1.0 - tie_rate)))
        k = np.arange(untied + 1)
        rejects = sps.binom.sf(k - 1, untied, 0.5) < alpha  # P(X >= k | 0.5) < alpha
        return float(sps.binom.pmf(k, untied, win_rate)[rejects].sum()) >= power

    return _smallest_n(enough)


def n_needed_by_se(distance: float, se: float, n: int, alpha: float, power: float = 0.8) -> int | None:
    """Approximate replicates for a one-sided z-test at ``alpha`` to reach
    ``power``, when the estimate's standard error ``se`` (at ``n``) shrinks as
    1/sqrt(n) and ``distance`` (estimate minus the null, signed so that the
    claimed direction is positive) is taken as the truth. For tests with no
    exact power formula here (variances, fits, importances). None when the
    estimate is not on the claimed side."""
    from scipy import stats as sps

    if not (distance > 0 and se > 0 and n >= 1):
        return None
    z = float(sps.norm.ppf(1.0 - alpha) + sps.norm.ppf(power))
    needed = math.ceil(n * (z * se / distance) ** 2)
    return max(2, needed) if needed <= _MAX_SEEDS else None


def expected_max_z(n: int) -> float:
    """Expected maximum of ``n`` iid standard normals.

    Why: a paper that reports its best of ``n`` seeds is expected to sit about
    ``expected_max_z(n)`` standard deviations above the mean seed; comparing
    the claimed number with ``mean + sd * expected_max_z(n)`` tells whether
    the claim is plausibly a cherry-picked seed.

    Computed as ``int x * n * phi(x) * Phi(x)**(n-1) dx`` with
    ``scipy.integrate.quad`` over a finite window that contains all the mass,
    with ``Phi**(n-1)`` evaluated in log space for large ``n``.
    ``expected_max_z(1) == 0``, ``expected_max_z(2) == 1/sqrt(pi)``.

    Raises:
        ValueError: if ``n`` is not an integer >= 1.
    """
    from scipy import integrate
    from scipy import special

    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n}")
    n = int(n)
    if n == 1:
        return 0.0
    log_n = math.log(n)
    mode = math.sqrt(2.0 * log_n)

    def integrand(x: float) -> float:
        log_pdf = -0.5 * x * x - 0.5 * math.log(2.0 * math.pi)
        return x * math.exp(log_n + log_pdf + (n - 1) * float(special.log_ndtr(x)))

    lower, upper = -12.0, mode + 12.0
    value, _ = integrate.quad(integrand, lower, upper, points=[0.0, mode], limit=200)
    return float(value)


# --------------------------------------------------------------------------
# a standard deviation without assuming normal data
# --------------------------------------------------------------------------


def _bonett_scale(x: np.ndarray) -> tuple[float, float]:
    """``(ln s², A)`` of Bonett (2006): the standard error of ``ln s²`` is
    ``c·A`` with ``c = n / (n − z)``; ``A`` carries the sample's kurtosis
    (estimated about a trimmed mean, trim 1 / (2·sqrt(n − 4))), so heavy or
    skewed tails widen the interval instead of breaking it."""
    from scipy import stats as sps

    n = len(x)
    mean = float(x.mean())
    ss = float(((x - mean) ** 2).sum())
    trimmed = float(sps.trim_mean(x, 1.0 / (2.0 * math.sqrt(n - 4))))
    kurtosis = n * float(((x - trimmed) ** 4).sum()) / ss ** 2
    return math.log(ss / (n - 1)), math.sqrt(max(kurtosis - (n - 3) / n, 1e-12) / (n - 1))


def sd_bound(values: ArrayLike, alpha: float, side: str) -> float:
    """One-sided ``1 − alpha`` bound of the population SD (Bonett 2006):
    ``exp((ln s² ∓ z·c·A) / 2)``, z the normal quantile. Valid without normal
    data (its coverage holds for skewed and heavy-tailed samples, where the
    chi-square interval does not)."""
    from scipy import stats as sps

    x = _as_1d(values, "values", min_len=6)
    if side not in ("lower", "upper"):
        raise ValueError(f"side must be lower or upper, got {side!r}")
    log_var, scale = _bonett_scale(x)
    z = float(sps.norm.ppf(1.0 - alpha))
    half = z * scale * len(x) / (len(x) - z)
    return math.exp((log_var - half if side == "lower" else log_var + half) / 2.0)


def log_sd_se(values: ArrayLike) -> float:
    """Bonett's large-sample standard error of ln SD (half that of ln s²),
    for sizing: how many runs would put a bound at a given distance."""
    return _bonett_scale(_as_1d(values, "values", min_len=6))[1] / 2.0


def sd_test(values: ArrayLike, sd0: float, alternative: str) -> float:
    """p of the one-sided test that the population SD is ``greater`` (or
    ``less``) than ``sd0``, found by inverting :func:`sd_bound`: the alpha at
    which the bound reaches ``sd0``, so the test rejects at alpha exactly when
    the bound excludes ``sd0``. Solving ``D = z·n·A/(n − z)`` for z, with
    ``D = ±ln(s²/sd0²)``, gives ``z = D·n/(n·A + D)``."""
    from scipy import stats as sps

    if alternative not in ("greater", "less"):
        raise ValueError(f"alternative must be greater or less, got {alternative!r}")
    if not sd0 > 0:
        raise ValueError(f"sd0 must be positive, got {sd0}")
    x = _as_1d(values, "values", min_len=6)
    log_var, scale = _bonett_scale(x)
    n = len(x)
    distance = (log_var - 2.0 * math.log(sd0)) * (1 if alternative == "greater" else -1)
    z = distance * n / (n * scale + distance) if n * scale + distance > 0 else -math.inf
    return float(sps.norm.sf(z))


# --------------------------------------------------------------------------
# variance components of a crossed random-effects factorial
# --------------------------------------------------------------------------


def _check_factorial(cube) -> np.ndarray:
    x = np.asarray(cube, dtype=float)
    if x.ndim < 2 or min(x.shape) < 2 or not np.all(np.isfinite(x)):
        raise ValueError(f"a factorial needs >= 2 factors with >= 2 levels each and finite values, got shape "
                         f"{x.shape}")
    if not float(x.var()) > 0:
        raise ValueError("the factorial's values do not vary: no shares")
    return x


def factorial_components(cube: np.ndarray) -> dict[tuple[int, ...], float]:
    """Variance components of a balanced crossed factorial with one run per
    cell (``cube[i, j, …]``: factor 0 at level i, factor 1 at level j, …),
    every factor's levels a random draw (e.g. seeds): term -> σ², a term
    being a tuple of factor axes (``(0,)`` a main effect, ``(0, 2)`` an
    interaction). The full interaction also holds the run-to-run residual
    (one run per cell cannot tell them apart).

    Method of moments from the ANOVA mean squares: in this random model
    ``E[MS_T] = Σ_{U ⊇ T} c_U σ²_U`` with ``c_U`` the cells per level
    combination of U, so ``c_T σ²_T = Σ_{U ⊇ T} (−1)^{|U|−|T|} MS_U``
    (Möbius inversion over the terms containing T). Unbiased, hence
    sometimes negative; kept as is (truncating at 0 would bias sums up)."""
    from itertools import combinations

    x = _check_factorial(cube)
    axes, n = range(x.ndim), x.size
    terms = [t for k in range(1, x.ndim + 1) for t in combinations(axes, k)]
    effects: dict[tuple[int, ...], np.ndarray] = {(): np.array(x.mean())}
    mean_squares = {}
    for term in terms:  # by size: every sub-term's effect is known before the term's
        marginal = x.mean(axis=tuple(a for a in axes if a not in term), keepdims=True)
        effect = marginal - sum(effects[v] for v in effects if set(v) < set(term))
        effects[term] = effect
        cells = n / math.prod(x.shape[a] for a in term)
        dof = math.prod(x.shape[a] - 1 for a in term)
        mean_squares[term] = cells * float((effect ** 2).sum()) / dof
    components = {}
    for term in terms:
        cells = n / math.prod(x.shape[a] for a in term)
        signed = sum((-1) ** (len(u) - len(term)) * mean_squares[u] for u in terms if set(term) <= set(u))
        components[term] = signed / cells
    return components


def factorial_shares(cube: np.ndarray) -> tuple[list[float], float, list[float]]:
    """Shares of the variance of a crossed factorial (``factorial_components``
    over their sum): ``([main effect per factor], every interaction together,
    [total effect per factor])``. The main effects and the interactions sum
    to one; a factor's total effect (Sobol's total index) adds to its main
    effect every interaction it enters, so it is the share that varying that
    factor alone moves -- and totals need not sum to one (an interaction
    counts for each of its factors). A factor the outcome ignores has 0."""
    components = factorial_components(cube)
    total = sum(components.values())
    if not total > 0:
        raise ValueError("the variance components sum to zero or less: no shares")
    factors = range(np.ndim(cube))
    mains = [components[(f,)] / total for f in factors]
    interactions = sum(v for t, v in components.items() if len(t) > 1) / total
    totals = [sum(v for t, v in components.items() if f in t) / total for f in factors]
    return mains, interactions, totals
