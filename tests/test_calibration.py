"""Calibration of the verdict rule, by simulation through the real path
(``claimtests.difference_evidence`` → ``claims.decide``).

1. Null claims: two arms with no effect (their outcomes exchangeable within a
   replicate pair), normal or skewed (lognormal) per-arm noise, at n = 3, 5,
   10, 30. A directional verdict (reproduced or contradicted) must come at
   most alpha of the time, up to Monte-Carlo error. With each direction at
   alpha (not alpha/2) this fails: about 2 alpha.
2. True effects at the replicate count the settle line predicts: the share
   reproduced is its promised power (80%), up to Monte-Carlo error.
3. The sequential design (``harness.sequential``): null claims, one or
   several per study, tested at every look with stopping: a directional
   verdict on any of them comes at most alpha of the time over all looks.

Why exchangeable arms: "no effect" of a paired comparison means the two arms'
outcomes are exchangeable within a pair, so the paired differences are
symmetric about 0 however skewed each arm is. (A skewed *difference* with
mean 0 admits no valid small-n test of its mean at all.)
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from harness import stats
from harness.claims import ALPHA, CLAIMED, POWER, decide
from harness.claimtests import bound_evidence, difference_evidence
from harness.sequential import SequentialRule

pytestmark = pytest.mark.slow  # simulations through the verdict rule: in `make test`, not `make check`

SIMULATIONS = 2000
MC_SE = math.sqrt(ALPHA * (1 - ALPHA) / SIMULATIONS)


def _noise(rng: np.random.Generator, shape: tuple[int, int], kind: str) -> np.ndarray:
    if kind == "normal":
        return rng.standard_normal(shape)
    return rng.lognormal(0.0, 1.0, shape)  # skewness about 6


def _directional_rate(x: np.ndarray, y: np.ndarray) -> float:
    hits = 0
    for a, b in zip(x, y):
        verdict = decide([difference_evidence(a, b, lower_is_better=True, describe="null")])[0].verdict
        hits += verdict in ("reproduced", "contradicted")
    return hits / len(x)


@pytest.mark.parametrize("kind", ["normal", "skewed"])
@pytest.mark.parametrize("n", [3, 5, 10, 30])
def test_null_claims_get_a_directional_verdict_at_most_alpha_of_the_time(n, kind):
    rng = np.random.default_rng(1000 * n + (kind == "skewed"))
    pair_effect = rng.normal(0.0, 2.0, (SIMULATIONS, 1))  # shared by both arms of a replicate (same data, init…)
    x = pair_effect + _noise(rng, (SIMULATIONS, n), kind)
    y = pair_effect + _noise(rng, (SIMULATIONS, n), kind)
    rate = _directional_rate(x, y)
    assert rate <= ALPHA + 3 * MC_SE, f"n={n}, {kind}: {rate:.4f} directional verdicts under the null"


@pytest.mark.parametrize("n", [3, 10])
def test_null_bounds_at_the_bound_are_calibrated(n):
    rng = np.random.default_rng(7 + n)
    values = rng.normal(0.5, 0.1, (SIMULATIONS, n))
    hits = sum(decide([bound_evidence({"a": v}, 0.5, "below", "null")])[0].verdict in ("reproduced", "contradicted")
               for v in values)
    assert hits / SIMULATIONS <= ALPHA + 3 * MC_SE


def _exact(dz: float, n: int) -> np.ndarray:
    """n paired differences whose mean is exactly dz and sample SD exactly 1: the truth as a pilot."""
    z = np.linspace(-1.0, 1.0, n)
    return dz + (z - z.mean()) / z.std(ddof=1)


@pytest.mark.parametrize("dz", [0.6, 1.2])
def test_true_effects_at_the_settle_lines_n_are_found_with_its_power(dz):
    pilot = difference_evidence(-_exact(dz, 8), np.zeros(8), lower_is_better=True, describe="pilot")
    n = pilot.settle(ALPHA / 2, CLAIMED)  # one claim: Holm level alpha, one-sided alpha/2
    assert n is not None and n > 2
    rng = np.random.default_rng(int(100 * dz))
    d = rng.normal(-dz, 1.0, (SIMULATIONS, n))
    found = sum(decide([difference_evidence(row, np.zeros(n), lower_is_better=True, describe="true")])[0].verdict
                == "reproduced" for row in d)
    rate = found / SIMULATIONS
    power_se = math.sqrt(POWER * (1 - POWER) / SIMULATIONS)
    exact = stats.paired_t_power(n, -dz, ALPHA / 2, "less")
    assert exact >= POWER > stats.paired_t_power(n - 1, -dz, ALPHA / 2, "less")  # the smallest n that has it
    assert abs(rate - exact) <= 3 * power_se, f"dz={dz}, n={n}: found {rate:.3f}, promised {exact:.3f}"


# -- the sequential design (harness.sequential): looks, stopping, Holm across claims -----------------------
def _sequential_outcomes(x: np.ndarray, y: np.ndarray, looks: tuple[int, ...]) -> list:
    """The rule run on simulated studies: x, y are (simulations, claims, max n); claim j reads
    arms aj and bj; each look tests it on the first n replicates through the real evidence path."""
    claims = x.shape[1]
    reads = [frozenset({f"a{j}", f"b{j}"}) for j in range(claims)]
    at = [{arm: n for r in reads for arm in r} for n in looks]
    outcomes = []
    for xs, ys in zip(x, y):
        def judge(counts, indices, xs=xs, ys=ys):
            evidence = [difference_evidence(xs[j, :counts[f"a{j}"]], ys[j, :counts[f"b{j}"]], lower_is_better=True,
                                            describe="simulated") for j in indices]
            return evidence, [[] for _ in indices]

        outcomes.append(SequentialRule(reads, at, looks).run(lambda counts: True, judge))
    return outcomes


@pytest.mark.parametrize("kind", ["normal", "skewed"])
@pytest.mark.parametrize("looks, claims", [((3, 6, 9), 1), ((3, 6, 9), 3), ((5, 10, 20), 2)])
def test_sequential_null_claims_get_a_directional_verdict_at_most_alpha_of_the_time(looks, claims, kind):
    """Whatever the stopping: over all looks and all claims of a study, a directional verdict
    on a null claim comes at most alpha of the time (the family-wise rate, up to Monte-Carlo error)."""
    rng = np.random.default_rng(100 * looks[0] + 10 * claims + (kind == "skewed"))
    shape = (SIMULATIONS, claims, looks[-1])
    pair_effect = rng.normal(0.0, 2.0, shape)
    x = pair_effect + _noise(rng, shape, kind)
    y = pair_effect + _noise(rng, shape, kind)
    outcomes = _sequential_outcomes(x, y, looks)
    rate = np.mean([any(v.verdict in ("reproduced", "contradicted") for v in o.verdicts) for o in outcomes])
    print(f"looks {looks}, {claims} claim(s), {kind}: {rate:.4f} family-wise")
    assert rate <= ALPHA + 3 * MC_SE, f"looks {looks}, {claims} claim(s), {kind}: {rate:.4f} family-wise"
    assert all(o.complete for o in outcomes)


def test_a_large_true_effect_stops_early_and_a_null_one_runs_to_the_maximum():
    """What the design buys: a claim with a large effect stops before the maximum most of the
    time; a null claim spends every look (the seeds go where the verdict needs them)."""
    rng = np.random.default_rng(11)
    looks = (3, 6, 9)
    shape = (SIMULATIONS // 4, 1, looks[-1])
    large = _sequential_outcomes(rng.normal(-4.0, 1.0, shape), np.zeros(shape), looks)
    null = _sequential_outcomes(rng.normal(0.0, 1.0, shape), rng.normal(0.0, 1.0, shape), looks)
    early = np.mean([o.stops[0].look < len(looks) for o in large])
    print(f"large effect stopped before the maximum in {early:.3f} of the runs")
    assert early > 0.5 and all(o.verdicts[0].verdict == "reproduced" for o in large if o.stops[0].look < 3)
    assert np.mean([o.stops[0].look == len(looks) for o in null]) > 0.9
