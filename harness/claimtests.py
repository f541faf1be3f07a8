"""The pre-registered claim tests a study declares as data.

Each test reads the study's runs (one DataFrame) and returns ``Evidence`` with
two one-sided p-values, the interval that inverts them (``Evidence.interval``,
any level) and what a settle line needs (``Evidence.settle``); the verdict
rule in ``harness.claims`` does the rest. Tests also check their own values:

- ``not-degenerate``: no spread at all (identical arms, every pair tied) is
  no evidence, and fails; zero spread of the differences alone falls back to
  the exact sign-flip test, whose p cannot go below 2**-n;
- ``censored``: a metric with a ``<metric>_censored`` column of 1s was capped
  by the budget; only a censoring-aware test (``Faster``) may read it.

The menu: ``Better`` (paired difference; ``BetterEverywhere`` at every
listed pair), ``Similar`` (equivalence), ``Bound``
(a level in every arm), ``Tolerance`` (an identity, no statistics), ``Faster``
(time to a target with censoring; ``FasterAtBest`` at each side's best
setting), ``Trend`` (over an ordered factor),
``VarianceAbove`` (seed spread above a floor), ``VarianceShares`` (each source's
share of the variance in replicated crossed factorials), ``Importance`` (hyperparameter
importance over repeated searches), ``RateAbove`` (a binomial rate),
``Extrapolated`` (a least-squares limit), ``ShareOfReference`` (a share of
a reference's gain over a floor, each at its best rung), ``BestOverGrid`` (per-seed best over
a grid, paired). Studies keep no statistics of their own.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

import numpy as np

from harness import stats
from harness.checks import CheckResult
from harness.claims import (CLAIMED, ClaimTest, Evidence, STATUS_FINISHED, finished_rows, no_evidence,
                            values_by_replicate)
from harness.design import StudyDeclarationError, factorial_cell

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

T_INTERVAL_DIFF = "t-interval of the mean paired difference"


def _run_ids(runs: "pd.DataFrame", arms, replicates=None) -> tuple[str, ...]:
    rows = runs[runs["arm"].isin(list(arms)) & (runs["status"] == STATUS_FINISHED)]
    if replicates is not None:
        rows = rows[rows["replicate"].isin(list(replicates))]
    return tuple(rows["run_id"])


def _censored_check(runs: "pd.DataFrame", arms, metric: str) -> tuple[CheckResult, ...]:
    """``censored`` for a test that is not censoring-aware: fails when some run
    hit the budget's cap on ``metric`` (recorded by the trial as
    ``<metric>_censored`` = 1); ``Faster`` handles censoring itself."""
    column = f"metrics.{metric}_censored"
    if column not in runs.columns:
        return ()
    capped = {}
    for arm in sorted(arms):
        rows = runs[(runs["arm"] == arm) & (runs["status"] == STATUS_FINISHED)]
        capped[arm] = (int((rows[column] == 1).sum()), len(rows))
    counts = ", ".join(f"`{arm}` {k} of {n}" for arm, (k, n) in capped.items())
    if not any(k for k, _ in capped.values()):
        return (CheckResult("censored", "all", True, f"no run capped by the budget ({counts})"),)
    return (CheckResult("censored", "all", False, f"runs capped by the budget: {counts}; a capped value is a "
                                                  "bound, not a number, and this test is not censoring-aware"),)


def _spread_check(groups: Mapping[str, np.ndarray], scale: float | None = None) -> CheckResult:
    """``not-degenerate`` for a set of value groups: fails when every value of
    every group is the same number, up to rounding at ``scale`` (nothing
    varies: no test can speak)."""
    every = np.concatenate([np.asarray(v, dtype=float) for v in groups.values()]) if groups else np.array([])
    if every.size and stats.is_constant(every, scale):
        return CheckResult("not-degenerate", "all", False, f"every value of {', '.join(f'`{g}`' for g in groups)} "
                                                           f"is {every[0]:g}: no spread, no evidence either way")
    return CheckResult("not-degenerate", "all", True, "values vary")


# -- paired differences -------------------------------------------------------------------------
def difference_evidence(x: np.ndarray, y: np.ndarray, *, lower_is_better: bool, describe: str,
                        method: str = "paired_t", margin: float | None = None, runs: tuple[str, ...] = (),
                        measured: dict[str, float] | None = None,
                        extra_checks: tuple[CheckResult, ...] = ()) -> Evidence:
    """Evidence that ``x`` beats ``y`` (paired by position): the core of
    ``Better`` and ``BestOverGrid``, and what the calibration test drives."""
    d = np.asarray(x, dtype=float) - np.asarray(y, dtype=float)
    test = stats.paired_t if method == "paired_t" else stats.wilcoxon
    claimed, opposite = ("less", "greater") if lower_is_better else ("greater", "less")
    checks = list(extra_checks)
    scale = float(max(np.max(np.abs(x)), np.max(np.abs(y))))
    if stats.is_constant(d, scale) and abs(float(d.mean())) <= stats.SPREAD_RTOL * scale:
        checks.append(CheckResult("not-degenerate", "all", False,
                                  f"every one of the {d.size} paired differences is exactly 0: the arms gave "
                                  "identical results, so no test can speak"))
    elif stats.is_constant(d, scale):
        checks.append(CheckResult("not-degenerate", "all", True,
                                  f"the {d.size} paired differences are all {d[0]:.4g} (zero spread): exact "
                                  f"sign-flip test, whose directional p (twice the smaller one-sided p) cannot go "
                                  f"below 2 × 2^-{d.size} = {2 * 0.5 ** d.size:.3g}"))
    else:
        checks.append(CheckResult("not-degenerate", "all", True, "the paired differences vary"))
    support, against = test(x, y, alternative=claimed), test(x, y, alternative=opposite)
    p_equiv = stats.tost_paired(x, y, margin).p_value if margin else math.nan
    if method == "paired_t":
        interval, ci_method = (lambda a: stats.t_interval(d, 1.0 - a)), T_INTERVAL_DIFF
    else:
        interval, ci_method = (lambda a: stats.hodges_lehmann_interval(d, 1.0 - a)), \
            "Hodges–Lehmann interval of the paired difference (exact signed-rank)"

    def settle(alpha: float, which: str) -> int | None:
        towards = claimed if which == CLAIMED else opposite
        return stats.seeds_needed(d, alpha=alpha, alternative=towards)

    return Evidence(describe, support.effect, len(d), support.p_value, against.p_value, p_equiv, runs,
                    measured or {}, interval, ci_method, 0.0, settle, tuple(checks))


def _paired_arms(runs, arm: str, baseline: str, metric: str):
    a = values_by_replicate(runs, arm, metric)
    b = values_by_replicate(runs, baseline, metric)
    common = a.index.intersection(b.index)
    measured = {arm: float(a.loc[common].mean()) if len(common) else math.nan,
                baseline: float(b.loc[common].mean()) if len(common) else math.nan}
    return a.loc[common].to_numpy(), b.loc[common].to_numpy(), _run_ids(runs, [arm, baseline], common), measured


@dataclass(frozen=True)
class Better(ClaimTest):
    """``arm`` beats ``baseline`` on ``metric``, paired by replicate: paired
    t-test (or Wilcoxon) each way; with a ``margin`` (in the metric's unit), a
    paired TOST for "not reproduced" (the difference lies within ±margin)."""

    metric: str
    arm: str
    baseline: str
    lower_is_better: bool = True
    method: str = "paired_t"
    margin: float | None = None

    def __post_init__(self) -> None:
        if self.method not in ("paired_t", "wilcoxon"):
            raise StudyDeclarationError(f"Better.method must be paired_t or wilcoxon, got {self.method!r}")
        if self.margin is not None and not self.margin > 0:
            raise StudyDeclarationError(f"Better.margin must be > 0, got {self.margin!r}")

    def arms(self) -> set[str]:
        return {self.arm, self.baseline}

    def describe(self) -> str:
        direction = "lower" if self.lower_is_better else "higher"
        name = "paired t-test" if self.method == "paired_t" else "Wilcoxon signed-rank test"
        text = (f"{name} each way, paired by replicate: {self.metric} of `{self.arm}` is {direction} than "
                f"`{self.baseline}`; effect = mean({self.arm} − {self.baseline})")
        if self.method == "wilcoxon":
            text = text.replace("effect = mean", "effect = Hodges–Lehmann shift of")
        if self.margin is not None:
            text += f"; TOST with margin ±{self.margin:g} for 'not reproduced'"
        return text

    def evaluate(self, runs: "pd.DataFrame") -> Evidence:
        x, y, ids, measured = _paired_arms(runs, self.arm, self.baseline, self.metric)
        if len(x) < 2:
            return no_evidence(self.describe(), len(x), ids, measured)
        censored = _censored_check(runs, self.arms(), self.metric)
        return difference_evidence(x, y, lower_is_better=self.lower_is_better, describe=self.describe(),
                                   method=self.method, margin=self.margin, runs=ids, measured=measured,
                                   extra_checks=censored)


@dataclass(frozen=True)
class BetterEverywhere(ClaimTest):
    """``Better`` at every listed pair (e.g. at each learning rate): per pair
    the paired differences arm − baseline, one-sided one-sample t-test each;
    support needs every pair (intersection-union: p = the largest), the
    opposite any pair (Bonferroni over pairs). The interval is the worst
    pair's, as ``Bound``'s, so it excludes 0 exactly when a test rejects."""

    metric: str
    pairs: Mapping[str, str]      # arm -> its baseline
    lower_is_better: bool = True

    def __post_init__(self) -> None:
        if not self.pairs:
            raise StudyDeclarationError("BetterEverywhere needs at least one pair of arms")

    def arms(self) -> set[str]:
        return set(self.pairs) | set(self.pairs.values())

    def describe(self) -> str:
        pairs = ", ".join(f"`{a}` − `{b}`" for a, b in self.pairs.items())
        side = "below" if self.lower_is_better else "above"
        return (f"per pair ({pairs}), the paired differences of {self.metric}; one-sided one-sample t-test that "
                f"their mean is {side} 0, required at every pair (intersection-union test: p = the largest)")

    def evaluate(self, runs: "pd.DataFrame") -> Evidence:
        differences, measured, ids = {}, {}, []
        for arm, baseline in self.pairs.items():
            x, y, pair_ids, means = _paired_arms(runs, arm, baseline, self.metric)
            differences[f"{arm} − {baseline}"] = x - y
            measured.update(means)
            ids += pair_ids
        n = min(len(d) for d in differences.values())
        if n < 2:
            return no_evidence(self.describe(), n, tuple(ids), measured)
        return bound_evidence(differences, 0.0, "below" if self.lower_is_better else "above", self.describe(),
                              tuple(ids), measured, _censored_check(runs, self.arms(), self.metric))


@dataclass(frozen=True)
class Similar(ClaimTest):
    """``arm`` and ``baseline`` differ by less than ``margin``: paired TOST for
    support; for "contradicted", a one-sided t-test that the difference lies
    beyond the margin on its side. Both invert the same t-interval."""

    metric: str
    arm: str
    baseline: str
    margin: float

    def __post_init__(self) -> None:
        if not self.margin > 0:
            raise StudyDeclarationError(f"Similar.margin must be > 0, got {self.margin!r}")

    def arms(self) -> set[str]:
        return {self.arm, self.baseline}

    def describe(self) -> str:
        return (f"paired TOST equivalence test: |mean({self.arm} − {self.baseline})| on {self.metric} "
                f"< {self.margin:g}; 'contradicted' if the difference lies significantly beyond the margin")

    def evaluate(self, runs: "pd.DataFrame") -> Evidence:
        x, y, ids, measured = _paired_arms(runs, self.arm, self.baseline, self.metric)
        if len(x) < 2:
            return no_evidence(self.describe(), len(x), ids, measured)
        d = x - y
        m = self.margin
        tost = stats.tost_paired(x, y, m)
        beyond = min(stats.one_sample_t(d, m, alternative="greater").p_value,
                     stats.one_sample_t(d, -m, alternative="less").p_value)
        sd = float(np.std(d, ddof=1))

        def settle(alpha: float, which: str) -> int | None:
            distance = m - abs(float(d.mean())) if which == CLAIMED else abs(float(d.mean())) - m
            return stats.n_needed_by_se(distance, sd / math.sqrt(len(d)), len(d), alpha) if sd > 0 else None

        checks = (*_censored_check(runs, self.arms(), self.metric),
                  _spread_check({self.arm: x, self.baseline: y}))
        return Evidence(self.describe(), float(d.mean()), len(d), tost.p_value, beyond, math.nan, ids, measured,
                        lambda a: stats.t_interval(d, 1.0 - a),
                        T_INTERVAL_DIFF + " (equivalent when it lies inside ±margin)", 0.0, settle, checks)


def _one_sample_arms(runs: "pd.DataFrame", arms: tuple[str, ...], metric: str):
    """Each arm's values by replicate, their means, the run ids and the
    smallest arm's count: what the per-arm one-sample tests read."""
    per_arm = {arm: values_by_replicate(runs, arm, metric) for arm in arms}
    measured = {arm: float(v.mean()) if len(v) else math.nan for arm, v in per_arm.items()}
    ids = tuple(i for arm, v in per_arm.items() for i in _run_ids(runs, [arm], v.index))
    return per_arm, measured, ids, min(len(v) for v in per_arm.values())


@dataclass(frozen=True)
class Shrinks(ClaimTest):
    """An advantage shrinks: ``arm`` beats ``baseline`` (on a lower-is-better
    ``metric``) by less in the ``larger`` pair than in the ``smaller`` one.
    Per replicate, the advantage (baseline − arm) at the smaller pair minus the
    advantage at the larger pair; a paired t-test each way that it is positive
    (an interaction of the two factors, tested on replicates paired across all
    four arms)."""

    metric: str
    smaller: tuple[str, str]   # (arm, baseline)
    larger: tuple[str, str]    # (arm, baseline)

    def arms(self) -> set[str]:
        return {*self.smaller, *self.larger}

    def describe(self) -> str:
        (a1, b1), (a2, b2) = self.smaller, self.larger
        return (f"paired t-test each way, paired by replicate: the advantage on {self.metric} of `{a1}` over `{b1}` "
                f"exceeds that of `{a2}` over `{b2}`; effect = mean(({b1} − {a1}) − ({b2} − {a2}))")

    def evaluate(self, runs: "pd.DataFrame") -> Evidence:
        values = {arm: values_by_replicate(runs, arm, self.metric) for arm in (*self.smaller, *self.larger)}
        common = None
        for v in values.values():
            common = v.index if common is None else common.intersection(v.index)
        measured = {arm: float(v.loc[common].mean()) if len(common) else math.nan for arm, v in values.items()}
        ids = _run_ids(runs, self.arms(), common)
        if len(common) < 2:
            return no_evidence(self.describe(), len(common), ids, measured)
        (a1, b1), (a2, b2) = self.smaller, self.larger
        first = values[b1].loc[common].to_numpy() - values[a1].loc[common].to_numpy()
        second = values[b2].loc[common].to_numpy() - values[a2].loc[common].to_numpy()
        measured = {**measured, f"advantage {a1} over {b1}": float(first.mean()),
                    f"advantage {a2} over {b2}": float(second.mean())}
        return difference_evidence(first, second, lower_is_better=False, describe=self.describe(), runs=ids,
                                   measured=measured, extra_checks=_censored_check(runs, self.arms(), self.metric))


@dataclass(frozen=True)
class Within(ClaimTest):
    """The metric's mean lies within ``target ± margin`` in every listed arm:
    a one-sample TOST per arm (intersection-union test: p = the largest); for
    "contradicted", a one-sided t-test that some arm's mean lies beyond the
    margin (Bonferroni over arms). Both invert the same t-interval."""

    metric: str
    target: float
    margin: float
    over: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.margin > 0:
            raise StudyDeclarationError(f"Within.margin must be > 0, got {self.margin!r}")
        if not self.over:
            raise StudyDeclarationError("Within needs at least one arm in `over`")

    def arms(self) -> set[str]:
        return set(self.over)

    def describe(self) -> str:
        return (f"one-sample TOST equivalence test per arm: mean {self.metric} within {self.target:g} ± "
                f"{self.margin:g} in every arm ({', '.join(f'`{a}`' for a in self.over)}; intersection-union test: "
                "p = the largest); 'contradicted' if some arm's mean lies significantly beyond the margin")

    def evaluate(self, runs: "pd.DataFrame") -> Evidence:
        per_arm, measured, ids, n = _one_sample_arms(runs, self.over, self.metric)
        if n < 2:
            return no_evidence(self.describe(), n, ids, measured)
        lo, hi = self.target - self.margin, self.target + self.margin
        arrays = {arm: v.to_numpy(dtype=float) for arm, v in per_arm.items()}
        tost = {arm: stats.tost_one_sample(v, lo, hi).p_value for arm, v in arrays.items()}
        support = max(tost.values())
        beyond = min(1.0, len(arrays) * min(min(stats.one_sample_t(v, hi, alternative="greater").p_value,
                                                stats.one_sample_t(v, lo, alternative="less").p_value)
                                            for v in arrays.values()))
        worst = max(tost, key=tost.get)  # the arm that decides the intersection-union test: its interval is shown
        d = arrays[worst] - self.target
        sd = float(np.std(d, ddof=1))

        def settle(alpha: float, which: str) -> int | None:
            distance = self.margin - abs(float(d.mean())) if which == CLAIMED else abs(float(d.mean())) - self.margin
            return stats.n_needed_by_se(distance, sd / math.sqrt(len(d)), len(d), alpha) if sd > 0 else None

        return Evidence(self.describe(), float(d.mean()), n, support, beyond, math.nan, ids, measured,
                        lambda a: stats.t_interval(d, 1.0 - a),
                        f"t-interval of the deciding arm's mean − {self.target:g} (equivalent when it lies inside "
                        f"±{self.margin:g})",
                        0.0, settle, (*_censored_check(runs, self.arms(), self.metric), *_degenerate_groups(arrays)))


def bound_evidence(values: Mapping[str, np.ndarray], bound: float, side: str, describe: str,
                   runs: tuple[str, ...] = (), measured: dict[str, float] | None = None,
                   extra_checks: tuple[CheckResult, ...] = ()) -> Evidence:
    """The mean lies ``side`` ("below"/"above") ``bound`` in every group:
    one-sided one-sample t-tests, intersection-union for support (p = the
    largest), Bonferroni over groups for the opposite. The interval is for the
    worst group's mean (the largest when "below"): its claimed-side end is the
    largest one-sided bound at alpha/2, its other end the largest at
    alpha/(2k), so it excludes ``bound`` exactly when a test rejects."""
    below = side == "below"
    claimed, opposite = ("less", "greater") if below else ("greater", "less")
    k = len(values)
    support = {g: stats.one_sample_t(v, bound, alternative=claimed) for g, v in values.items()}
    against = {g: stats.one_sample_t(v, bound, alternative=opposite).p_value for g, v in values.items()}
    worst = max(support, key=lambda g: support[g].p_value)
    pick = max if below else min

    def interval(a: float) -> tuple[float, float]:
        near = pick(stats.t_bound(v, a / 2, "upper" if below else "lower") for v in values.values())
        far = pick(stats.t_bound(v, a / (2 * k), "lower" if below else "upper") for v in values.values())
        return (far, near) if below else (near, far)

    def settle(alpha: float, which: str) -> int | None:
        if which == CLAIMED:  # the worst group binds
            return stats.seeds_needed(values[worst] - bound, alpha=alpha, alternative=claimed)
        best = min(against, key=against.get)
        return stats.seeds_needed(values[best] - bound, alpha=alpha / k, alternative=opposite)

    checks = (*extra_checks, *(_degenerate_groups(values)))
    effect = pick(float(np.mean(v)) for v in values.values())
    return Evidence(describe, effect, min(len(v) for v in values.values()), support[worst].p_value,
                    min(1.0, k * min(against.values())), math.nan, runs, measured or {}, interval,
                    ("t-bounds over the arms: the claimed side's end is the least favourable arm's, the other end the "
                     "most extreme arm's at the level split over the arms (Bonferroni)") if k > 1
                    else "t-interval of the mean", bound, settle, checks)


def _every_group_varies(groups: Mapping[str, np.ndarray]) -> CheckResult:
    """``not-degenerate`` for variance tests: an arm with zero spread has no
    variance estimate (its variance test would return p = 0)."""
    flat = [g for g, v in groups.items() if len(v) > 1 and stats.is_constant(v)]
    if flat:
        return CheckResult("not-degenerate", "all", False, f"{', '.join(f'`{g}`' for g in flat)}: every run gave the "
                                                           "same value, so its variance is no estimate")
    return CheckResult("not-degenerate", "all", True, "values vary in every arm")


def _degenerate_groups(values: Mapping[str, np.ndarray]) -> tuple[CheckResult, ...]:
    """Groups with zero spread are decided by the sign-flip floor: say so."""
    flat = [g for g, v in values.items() if stats.is_constant(v)]
    if not flat:
        return (CheckResult("not-degenerate", "all", True, "values vary in every arm"),)
    n = min(len(values[g]) for g in flat)
    return (CheckResult("not-degenerate", "all", True, f"{', '.join(f'`{g}`' for g in flat)}: zero spread; exact "
                                                       f"sign-flip test, p ≥ 2^-{n} = {0.5 ** n:.3g}"),)


@dataclass(frozen=True)
class Bound(ClaimTest):
    """The metric's mean lies below (or above) ``bound`` in every listed arm."""

    metric: str
    bound: float
    side: str = "below"
    over: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.side not in ("below", "above"):
            raise StudyDeclarationError(f"Bound.side must be below or above, got {self.side!r}")
        if not self.over:
            raise StudyDeclarationError("Bound needs at least one arm in `over`")

    def arms(self) -> set[str]:
        return set(self.over)

    def describe(self) -> str:
        arms = ", ".join(f"`{a}`" for a in self.over)
        return (f"one-sided one-sample t-test per arm that mean {self.metric} is {self.side} {self.bound:g}, "
                f"required in every arm ({arms}; intersection-union test: p = the largest)")

    def evaluate(self, runs: "pd.DataFrame") -> Evidence:
        per_arm, measured, ids, n = _one_sample_arms(runs, self.over, self.metric)
        if n < 2:
            return no_evidence(self.describe(), n, ids, measured)
        return bound_evidence({a: v.to_numpy() for a, v in per_arm.items()}, self.bound, self.side, self.describe(),
                              ids, measured, _censored_check(runs, self.arms(), self.metric))


def _ladder_values(runs: "pd.DataFrame", ladder: tuple[str, ...], metric: str) -> "pd.DataFrame":
    """A ladder's ``metric`` (one column per rung, e.g. per learning rate) for
    the replicates where every rung finished: what picking each replicate's
    best rung needs (``ShareOfReference``, ``FasterAtBest``)."""
    import pandas as pd

    return pd.DataFrame({a: values_by_replicate(runs, a, metric) for a in ladder}).dropna()


@dataclass(frozen=True)
class ShareOfReference(ClaimTest):
    """How much of a reference's gain over a floor an arm achieves: per
    replicate, (best ``metric`` over ``arms_ladder`` − ``floor``) / (best over
    ``reference_ladder`` − ``floor``), each side at its best rung (e.g. its
    best learning rate); then a one-sided one-sample t-test that the share's
    mean lies ``side`` ``bound``. E.g. "untrainable": a deep net's best
    accuracy closes less than half of a shallow net's gap above chance."""

    metric: str
    arms_ladder: tuple[str, ...]
    reference_ladder: tuple[str, ...]
    floor: float
    bound: float
    side: str = "below"
    higher_is_better: bool = True

    def __post_init__(self) -> None:
        if self.side not in ("below", "above"):
            raise StudyDeclarationError(f"ShareOfReference.side must be below or above, got {self.side!r}")
        if not self.arms_ladder or not self.reference_ladder:
            raise StudyDeclarationError("ShareOfReference needs at least one arm on each side")

    def arms(self) -> set[str]:
        return set(self.arms_ladder) | set(self.reference_ladder)

    def describe(self) -> str:
        best = "highest" if self.higher_is_better else "lowest"
        return (f"per replicate, ({best} {self.metric} over {', '.join(f'`{a}`' for a in self.arms_ladder)} − "
                f"{self.floor:g}) / ({best} over {', '.join(f'`{a}`' for a in self.reference_ladder)} − "
                f"{self.floor:g}); one-sided one-sample t-test that its mean is {self.side} {self.bound:g}")

    def _best(self, runs: "pd.DataFrame", ladder: tuple[str, ...]) -> "pd.Series":
        table = _ladder_values(runs, ladder, self.metric)
        return table.max(axis=1) if self.higher_is_better else table.min(axis=1)

    def shares(self, runs: "pd.DataFrame") -> tuple["pd.Series", "pd.Series", "pd.Series"]:
        """Per replicate (every rung of both ladders finished): the arms' best, the reference's best, the share."""
        arm, reference = self._best(runs, self.arms_ladder), self._best(runs, self.reference_ladder)
        common = arm.index.intersection(reference.index)
        arm, reference = arm.loc[common], reference.loc[common]
        return arm, reference, (arm - self.floor) / (reference - self.floor)

    def evaluate(self, runs: "pd.DataFrame") -> Evidence:
        arm, reference, share = self.shares(runs)
        ids = _run_ids(runs, self.arms(), share.index)
        measured = {"best of the arms": float(arm.mean()) if len(arm) else math.nan,
                    "best of the reference": float(reference.mean()) if len(reference) else math.nan}
        if len(share) < 2:
            return no_evidence(self.describe(), len(share), ids, measured)
        return bound_evidence({"share": share.to_numpy()}, self.bound, self.side, self.describe(), ids, measured,
                              _censored_check(runs, self.arms(), self.metric))


@dataclass(frozen=True)
class Tolerance(ClaimTest):
    """An identity of an implementation (e.g. BN's running variance equals the
    unbiased batch variance): every finished run's ``metric`` is at most
    ``tolerance``. No statistics: one run outside the tolerance contradicts it."""

    metric: str
    tolerance: float
    over: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.over:
            raise StudyDeclarationError("Tolerance needs at least one arm in `over`")
        if not self.tolerance > 0:
            raise StudyDeclarationError(f"Tolerance.tolerance must be > 0, got {self.tolerance!r}")

    def arms(self) -> set[str]:
        return set(self.over)

    def describe(self) -> str:
        return (f"tolerance check, no statistics: {self.metric} ≤ {self.tolerance:g} in every run of "
                f"{', '.join(f'`{a}`' for a in self.over)}")

    def evaluate(self, runs: "pd.DataFrame") -> Evidence:
        values = {arm: values_by_replicate(runs, arm, self.metric) for arm in self.over}
        ids = tuple(i for arm, v in values.items() for i in _run_ids(runs, [arm], v.index))
        every = np.concatenate([v.to_numpy() for v in values.values()])
        measured = {f"{arm} max": float(v.max()) if len(v) else math.nan for arm, v in values.items()}
        if every.size == 0:
            return no_evidence(self.describe(), 0, ids, measured)
        worst = float(every.max())
        empty = [arm for arm, v in values.items() if len(v) == 0]
        complete = CheckResult("complete", "all", not empty, f"no finished run with {self.metric} in "
                                                            f"{', '.join(f'`{a}`' for a in empty)}" if empty else
                               f"{every.size} finished runs with {self.metric} across every listed arm")
        return Evidence(self.describe(), worst, int(every.size), math.nan, math.nan, math.nan, ids, measured,
                        None, "none: a tolerance check", 0.0, None, (complete,), bool(worst <= self.tolerance),
                        f"largest value {worst:.3g} against the tolerance {self.tolerance:g}")


@dataclass(frozen=True)
class Faster(ClaimTest):
    """``arm`` reaches a target in less of ``metric`` (steps, epochs…) than
    ``baseline``, where runs that never reached it within the budget logged
    ``<metric>_censored`` = 1 (their value is the cap, a lower bound). Per
    replicate pair: faster, slower, or tied (both capped, or equal); an exact
    sign test on the untied pairs each way (ties dropped: a permutation test
    on ranks with ties). Effect: the share of untied pairs in which ``arm``
    was faster, with the Clopper–Pearson interval that inverts the sign test;
    the ratio of mean times is reported beside it as a bound where capped."""

    metric: str
    arm: str
    baseline: str

    def arms(self) -> set[str]:
        return {self.arm, self.baseline}

    @property
    def censored_metric(self) -> str:
        return f"{self.metric}_censored"

    def p_floor(self, n: int) -> float:
        return sign_test_floor(n)

    def describe(self) -> str:
        return (f"exact sign test each way on replicate pairs, censoring-aware: does `{self.arm}` reach the target "
                f"in fewer {self.metric} than `{self.baseline}` (a run that never reached it is capped: it ties "
                f"with another capped run and loses to any that reached it); effect = share of untied pairs "
                f"where `{self.arm}` was faster")

    def evaluate(self, runs: "pd.DataFrame") -> Evidence:
        x, y, ids, measured = _paired_arms(runs, self.arm, self.baseline, self.metric)
        if len(x) < 2:
            return no_evidence(self.describe(), len(x), ids, measured)
        common = values_by_replicate(runs, self.arm, self.metric).index.intersection(
            values_by_replicate(runs, self.baseline, self.metric).index)
        cx = values_by_replicate(runs, self.arm, self.censored_metric).reindex(common).fillna(0).to_numpy() == 1
        cy = values_by_replicate(runs, self.baseline, self.censored_metric).reindex(common).fillna(0).to_numpy() == 1
        return censored_time_evidence(x, cx, y, cy, f"`{self.arm}`", f"`{self.baseline}`", self.metric,
                                      self.describe(), ids, measured, (self.arm, self.baseline))


def sign_test_floor(untied: int) -> float:
    """The directional p of an exact sign test (twice the smaller one-sided p)
    when every one of ``untied`` pairs goes one way: its floor."""
    return 2 * 0.5 ** untied


def censored_time_evidence(x: np.ndarray, cx: np.ndarray, y: np.ndarray, cy: np.ndarray, arm: str, baseline: str,
                           metric: str, describe: str, ids: tuple[str, ...], measured: dict[str, float],
                           mean_keys: tuple[str, str]) -> Evidence:
    """The core of ``Faster`` and ``FasterAtBest``: times ``x`` against ``y``
    paired by position, ``cx``/``cy`` True where a time is capped. Per pair:
    faster, slower or tied (both capped, or equal); an exact sign test each way
    on the untied pairs; effect = the share of untied pairs in which ``arm``
    was faster, with the Clopper–Pearson interval that inverts the test.
    ``mean_keys`` name the two sides' means in ``measured``: a side with a
    capped run has a mean that is a lower bound, and is reported as one."""
    wins = int(np.sum((~cx & cy) | (~cx & ~cy & (x < y))))
    losses = int(np.sum((cx & ~cy) | (~cx & ~cy & (x > y))))
    untied, n = wins + losses, len(x)
    checks = [CheckResult("censored", "all", True,
                          f"{arm} {int(cx.sum())} of {n} runs capped, {baseline} {int(cy.sum())} of "
                          f"{n}: capped runs tie with each other and lose to any that reached the target")]
    if untied == 0:
        checks.append(CheckResult("not-degenerate", "all", False, f"all {n} pairs tied (both capped, or equal): "
                                                                   "no evidence either way"))
    else:
        checks.append(CheckResult("not-degenerate", "all", True,
                                  f"{untied} untied pairs; the directional p (twice the smaller one-sided "
                                  f"sign-test p) cannot go below 2 × 2^-{untied} = {sign_test_floor(untied):.3g}"))
    ratio = float(np.mean(y) / np.mean(x))
    if cx.any() and cy.any():
        note = f"ratio of mean {metric} {baseline}/{arm}: undetermined (both sides have capped runs)"
    elif cx.any():  # only the arm's mean is a lower bound: the ratio can only be smaller
        note = f"ratio of mean {metric} {baseline}/{arm} ≤ {ratio:.3g}x ({arm} censored at the cap)"
    elif cy.any():
        note = f"ratio of mean {metric} {baseline}/{arm} ≥ {ratio:.3g}x (censored at the cap)"
    else:
        note = f"ratio of mean {metric} {baseline}/{arm} = {ratio:.3g}x"
    measured = {**measured, "faster pairs": float(wins), "slower pairs": float(losses), "tied pairs": float(n - untied)}
    win_rate = wins / untied if untied else math.nan

    def settle(alpha: float, which: str) -> int | None:
        rate = win_rate if which == CLAIMED else 1.0 - win_rate
        return stats.sign_test_pairs_needed(rate, (n - untied) / n, alpha) if untied else None

    return Evidence(describe, win_rate, n, stats.sign_test(wins, losses, "greater"),
                    stats.sign_test(wins, losses, "less"), math.nan, ids, measured,
                    lambda a: stats.clopper_pearson(wins, untied, 1.0 - a),
                    "Clopper–Pearson interval of the share of untied pairs (inverts the sign test)", 0.5, settle,
                    tuple(checks), None, note, tuple(key for key, capped in zip(mean_keys, (cx, cy)) if capped.any()))


@dataclass(frozen=True)
class FasterAtBest(ClaimTest):
    """``Faster`` with each side at its own best setting: ``arms`` and
    ``baselines`` are ladders (e.g. one arm per learning rate), and per
    replicate each side's time is its fastest over its ladder, capped only
    when every run of the ladder was capped. Both sides pick from their
    ladders the same way, so the selection favours neither; the report counts
    which rung won."""

    metric: str
    arms_ladder: tuple[str, ...]
    baselines_ladder: tuple[str, ...]
    label: str = "arm"
    baseline_label: str = "baseline"

    def __post_init__(self) -> None:
        if not self.arms_ladder or not self.baselines_ladder:
            raise StudyDeclarationError("FasterAtBest needs at least one arm on each side")
        if set(self.arms_ladder) & set(self.baselines_ladder):
            raise StudyDeclarationError("FasterAtBest: an arm cannot be on both sides")

    def arms(self) -> set[str]:
        return set(self.arms_ladder) | set(self.baselines_ladder)

    def p_floor(self, n: int) -> float:
        return sign_test_floor(n)

    def describe(self) -> str:
        def names(ladder):
            return ", ".join(f"`{a}`" for a in ladder)

        return (f"per replicate, the fewest {self.metric} over {self.label}'s runs ({names(self.arms_ladder)}) "
                f"against the fewest over {self.baseline_label}'s ({names(self.baselines_ladder)}), a side capped "
                f"only when all its runs were; exact sign test each way on the pairs, censoring-aware as in "
                f"`Faster`; effect = share of untied pairs where {self.label} was faster")

    def best(self, runs: "pd.DataFrame", ladder: tuple[str, ...]):
        """Per replicate (those every rung finished): the best time, whether it
        is capped, and the rungs that gave it, a tuple in ladder order: rungs
        that tie for it (times are often read at a fixed interval) all, so no
        rung is credited with a win it shares; () when every rung was capped."""
        import pandas as pd

        times = _ladder_values(runs, ladder, self.metric)
        capped = pd.DataFrame({a: values_by_replicate(runs, a, f"{self.metric}_censored") for a in ladder})
        capped = capped.reindex(index=times.index, columns=list(ladder)).fillna(0) == 1
        best, all_capped, rung = {}, {}, {}
        for replicate in times.index:
            reached = {a: times.at[replicate, a] for a in ladder if not capped.at[replicate, a]}
            all_capped[replicate] = not reached  # a capped time is a bound: it never beats one that reached the target
            fastest = min(reached.values()) if reached else None
            rung[replicate] = tuple(a for a, t in reached.items() if t == fastest)
            best[replicate] = fastest if reached else float(times.loc[replicate].max())
        return pd.Series(best, dtype=float), pd.Series(all_capped, dtype=bool), pd.Series(rung, dtype=object)

    def evaluate(self, runs: "pd.DataFrame") -> Evidence:
        x, cx, rung_x = self.best(runs, self.arms_ladder)
        y, cy, rung_y = self.best(runs, self.baselines_ladder)
        common = x.index.intersection(y.index)
        ids = _run_ids(runs, self.arms(), common)
        measured = {f"{self.label} best": float(x.loc[common].mean()) if len(common) else math.nan,
                    f"{self.baseline_label} best": float(y.loc[common].mean()) if len(common) else math.nan}
        for side, rungs in ((self.label, rung_x), (self.baseline_label, rung_y)):
            named = rungs.loc[common].map(lambda tied: " = ".join(tied) or "(none)")  # tied rungs named together
            for rung, count in named.value_counts().sort_index().items():
                measured[f"{side} best at {rung}"] = float(count)
        if len(common) < 2:
            return no_evidence(self.describe(), len(common), ids, measured)
        return censored_time_evidence(x.loc[common].to_numpy(), cx.loc[common].to_numpy(), y.loc[common].to_numpy(),
                                      cy.loc[common].to_numpy(), self.label, self.baseline_label, self.metric,
                                      self.describe(), ids, measured,
                                      (f"{self.label} best", f"{self.baseline_label} best"))


@dataclass(frozen=True)
class Trend(ClaimTest):
    """``metric`` rises or falls along an ordered factor (e.g. batch size): per
    replicate, the least-squares slope of the metric on the factor's value
    (``log`` scale by default: the factor doubles from arm to arm); then a
    one-sample t-test of the slopes against 0 each way.

    ``table(runs)``, when given, replaces ``levels``: a DataFrame with one row
    per (replicate, level) -- columns replicate, level, value, run_id -- for a
    value that is not one arm's metric (e.g. the test error at the learning
    rate a validation split picked, per batch size)."""

    metric: str
    levels: Mapping[str, float]        # arm -> the factor's value
    direction: str = "decreasing"
    scale: str = "log"
    # arm -> the arm whose value it is measured against at the same level, per replicate: the trend of a
    # difference (e.g. BN's accuracy minus no-BN's along the batch size); {} for the metric itself
    baselines: Mapping[str, str] = field(default_factory=dict)
    table: Callable[["pd.DataFrame"], "pd.DataFrame"] | None = None
    label: str = "the factor"

    def __post_init__(self) -> None:
        if self.table is not None and (self.levels or self.baselines):
            raise StudyDeclarationError("Trend reads either arms (levels, baselines) or a table, not both")
        if self.table is not None:
            return
        if self.baselines and set(self.baselines) != set(self.levels):
            raise StudyDeclarationError("Trend.baselines must name one baseline arm per level arm")
        if self.direction not in ("decreasing", "increasing"):
            raise StudyDeclarationError(f"Trend.direction must be decreasing or increasing, got {self.direction!r}")
        if self.scale not in ("log", "linear"):
            raise StudyDeclarationError(f"Trend.scale must be log or linear, got {self.scale!r}")
        if len(self.levels) < 2:
            raise StudyDeclarationError("Trend needs at least two levels")

    def arms(self) -> set[str]:
        return set(self.levels) | set(self.baselines.values())

    def _values(self, runs: "pd.DataFrame", arm: str) -> "pd.Series":
        """The arm's values by replicate, minus its baseline's where one is declared."""
        values = values_by_replicate(runs, arm, self.metric)
        if not self.baselines:
            return values
        baseline = values_by_replicate(runs, self.baselines[arm], self.metric)
        common = values.index.intersection(baseline.index)
        return values.loc[common] - baseline.loc[common]

    def describe(self) -> str:
        axis = f"log2 of {self.label}" if self.scale == "log" else self.label
        if self.table is not None:
            return (f"per replicate, least-squares slope of {self.metric} on {axis}; one-sample t-test each way that "
                    f"the mean slope is {'negative' if self.direction == 'decreasing' else 'positive'}; "
                    f"effect = mean slope")
        subject = self.metric if not self.baselines else \
            f"{self.metric} minus its baseline's ({', '.join(f'`{a}` − `{b}`' for a, b in self.baselines.items())})"
        return (f"per replicate, least-squares slope of {subject} on {axis} over "
                f"{', '.join(f'`{a}`' for a in self.levels)}; one-sample t-test each way that the mean slope is "
                f"{'negative' if self.direction == 'decreasing' else 'positive'}; effect = mean slope")

    def points(self, runs: "pd.DataFrame") -> tuple["pd.DataFrame", tuple[str, ...]]:
        """One row per (replicate, level) -- replicate, level, value -- and the
        run ids behind them. A table is built once per call: a study's table
        may scan every run of a grid."""
        import pandas as pd

        if self.table is not None:
            table = self.table(runs)
            return table[["replicate", "level", "value"]].dropna(), tuple(table["run_id"])
        frames = [pd.DataFrame({"replicate": v.index, "level": level, "value": v.to_numpy()})
                  for arm, level in self.levels.items() for v in [self._values(runs, arm)]]
        points = pd.concat(frames) if frames else pd.DataFrame(columns=["replicate", "level", "value"])
        return points, _run_ids(runs, self.arms())

    def slopes(self, points: "pd.DataFrame") -> np.ndarray:
        """Per replicate with two or more levels, the least-squares slope of value on the level's scale."""
        x = points["level"].astype(float)
        x = np.log2(x) if self.scale == "log" else x
        slopes = []
        for _, group in points.assign(x=x).groupby("replicate"):
            if group["x"].nunique() >= 2:
                slopes.append(float(np.polyfit(group["x"].to_numpy(float), group["value"].to_numpy(float), 1)[0]))
        return np.array(slopes)

    def evaluate(self, runs: "pd.DataFrame") -> Evidence:
        points, ids = self.points(runs)
        slopes = self.slopes(points)
        if self.table is not None:
            measured = {f"{self.label} {level:g}": float(group["value"].mean())
                        for level, group in points.groupby("level")}
        else:
            measured = {(f"{arm} − {self.baselines[arm]}" if self.baselines else arm):
                        float(self._values(runs, arm).mean()) for arm in self.levels}
        if len(slopes) < 2:
            return no_evidence(self.describe(), len(slopes), ids, measured)
        claimed, opposite = ("less", "greater") if self.direction == "decreasing" else ("greater", "less")
        support = stats.one_sample_t(slopes, 0.0, alternative=claimed)

        def settle(alpha: float, which: str) -> int | None:
            return stats.seeds_needed(slopes, alpha=alpha, alternative=claimed if which == CLAIMED else opposite)

        scale = max(abs(v) for v in measured.values() if math.isfinite(v))  # slopes of rounding noise are ~0
        return Evidence(self.describe(), support.effect, len(slopes), support.p_value,
                        stats.one_sample_t(slopes, 0.0, alternative=opposite).p_value, math.nan, ids, measured,
                        lambda a: stats.t_interval(slopes, 1.0 - a), "t-interval of the mean slope", 0.0, settle,
                        (_spread_check({"slopes": slopes}, scale),))


@dataclass(frozen=True)
class VarianceAbove(ClaimTest):
    """The seed-to-seed SD of ``metric`` exceeds ``threshold`` in every listed
    arm: Bonett's (2006) test of the SD per arm, which does not assume normal
    data (seed distributions are skewed: a tail of bad seeds), intersection-
    union for support, Bonferroni for "contradicted" (SD significantly below).
    Interval: Bonett bounds of the smallest SD, inverting both tests.

    ``references``: arm -> the published accuracy of that model on that data;
    the ``at-reference`` check fails when an arm's mean lies more than
    ``reference_gap`` below it (an under-trained model's seed spread is not
    the trained model's)."""

    metric: str
    over: tuple[str, ...]
    threshold: float
    references: Mapping[str, float] = field(default_factory=dict)
    reference_gap: float = 0.02

    def arms(self) -> set[str]:
        return set(self.over)

    def describe(self) -> str:
        return (f"Bonett's test per arm that the seed-to-seed SD of {self.metric} exceeds {self.threshold:g} "
                f"(no normality assumed; arms {', '.join(self.over)}; support needs every arm: p = the largest; "
                f"'contradicted' if some arm's SD is significantly below, Bonferroni); effect = the smallest SD")

    def _reference_check(self, per_arm: Mapping[str, np.ndarray]) -> tuple[CheckResult, ...]:
        if not self.references:
            return ()
        short = {a: (float(per_arm[a].mean()), ref) for a, ref in self.references.items()
                 if a in per_arm and len(per_arm[a]) and per_arm[a].mean() < ref - self.reference_gap}
        text = "; ".join(f"`{a}` mean {float(per_arm[a].mean()):.4f} against the published {ref:.4f}"
                         for a, ref in self.references.items() if a in per_arm and len(per_arm[a]))
        if short:
            return (CheckResult("at-reference", "all", False, f"trained below its published accuracy by more than "
                                                              f"{self.reference_gap:g}: {text}"),)
        return (CheckResult("at-reference", "all", True, f"within {self.reference_gap:g} of (or above) the published "
                                                         f"accuracy: {text}"),)

    def evaluate(self, runs: "pd.DataFrame") -> Evidence:
        per_arm, ids = {}, []
        for arm in self.over:
            rows, column = finished_rows(runs, arm, self.metric)
            per_arm[arm] = rows[column].to_numpy(dtype=float)
            ids += list(rows["run_id"])
        n = min(len(v) for v in per_arm.values())
        measured = {f"{arm} SD": float(v.std(ddof=1)) if len(v) > 1 else math.nan for arm, v in per_arm.items()}
        checks = (_every_group_varies(per_arm), *self._reference_check(per_arm))
        if n < 6:  # Bonett's kurtosis estimate trims 1/(2 sqrt(n - 4)) of each tail
            return no_evidence(self.describe(), n, ids, measured)
        if any(stats.is_constant(v) for v in per_arm.values()):
            return Evidence(self.describe(), math.nan, n, math.nan, math.nan, math.nan, tuple(ids), measured,
                            checks=checks)
        k = len(per_arm)
        sds = {arm: float(v.std(ddof=1)) for arm, v in per_arm.items()}
        above = {a: stats.sd_test(v, self.threshold, "greater") for a, v in per_arm.items()}
        below = {a: stats.sd_test(v, self.threshold, "less") for a, v in per_arm.items()}
        smallest = min(sds, key=sds.get)

        def interval(a: float) -> tuple[float, float]:
            return (min(stats.sd_bound(v, a / 2, "lower") for v in per_arm.values()),
                    min(stats.sd_bound(v, a / (2 * k), "upper") for v in per_arm.values()))

        def settle(alpha: float, which: str) -> int | None:  # Bonett's SE of log SD shrinks as 1/sqrt(n)
            worst = max(above, key=above.get) if which == CLAIMED else min(below, key=below.get)
            distance = math.log(sds[worst] / self.threshold) * (1 if which == CLAIMED else -1)
            v = per_arm[worst]
            return stats.n_needed_by_se(distance, stats.log_sd_se(v), len(v), alpha if which == CLAIMED else alpha / k)

        return Evidence(self.describe(), sds[smallest], n, max(above.values()), min(1.0, k * min(below.values())),
                        math.nan, tuple(ids), measured, interval,
                        "Bonett interval of the smallest SD (no normality assumed; other end Bonferroni over arms)",
                        self.threshold, settle, checks)


@dataclass(frozen=True)
class VarianceShares(ClaimTest):
    """Each source of randomness moves ``metric``: its total-effect share of
    the variance (its main effect and every interaction it enters:
    ``stats.factorial_shares``) exceeds ``floor``. Each arm whose name starts
    with ``prefix`` is one crossed factorial (a block; the tier decides how
    many): every ``factors`` source at the same number of random levels
    (seeds; the arm's config ``levels``, read from its runs' params), one run
    per cell, replicate j at cell ``factorial_cell(j)``. The blocks are
    independent replicates of the design, so each source's share is tested as
    ``Bound``'s mean over blocks (t over blocks): intersection-union for
    support, Bonferroni for "contradicted". ``shares`` also gives the
    decomposition that sums to one (main effects and the interactions)."""

    metric: str
    prefix: str
    factors: tuple[str, ...]
    floor: float

    def arms(self) -> set[str]:
        return set()  # the blocks are found by prefix, whatever the tier's number of them

    def reads(self, arm: str) -> bool:
        return arm.startswith(self.prefix)

    def blocks(self, runs: "pd.DataFrame") -> list[str]:
        return sorted(a for a in runs["arm"].unique() if self.reads(a)) if len(runs) else []

    def describe(self) -> str:
        return (f"per crossed factorial block over {', '.join(self.factors)}, each source's total-effect share of "
                f"the variance of {self.metric} (random-effects variance components: its main effect and every "
                f"interaction it enters, over the sum of all components); one-sample t-test over blocks that every "
                f"source's share exceeds {self.floor:g} (p = the largest); effect = the smallest mean share")

    def shares(self, runs: "pd.DataFrame") -> tuple[dict[str, dict[str, float]], list[str]]:
        """block -> {"<source> main", "<source> total" for each source,
        "interactions"} for every complete block; and the blocks left out (a
        cell without a finished run)."""
        out, incomplete = {}, []
        f = len(self.factors)
        for block in self.blocks(runs):
            rows = runs[runs["arm"] == block]
            levels = int(float(rows["params.config.levels"].dropna().iloc[0]))
            values = values_by_replicate(runs, block, self.metric)
            values = values[values.index < levels ** f]
            if len(values) < levels ** f:
                incomplete.append(block)
                continue
            cube = np.empty((levels,) * f)
            for replicate, value in values.items():
                cube[factorial_cell(int(replicate), f, levels)] = value
            try:
                mains, interactions, totals = stats.factorial_shares(cube)
            except ValueError:
                incomplete.append(block)
                continue
            out[block] = {**{f"{s} main": m for s, m in zip(self.factors, mains)},
                          **{f"{s} total": t for s, t in zip(self.factors, totals)}, "interactions": interactions}
        return out, incomplete

    def evaluate(self, runs: "pd.DataFrame") -> Evidence:
        per_block, incomplete = self.shares(runs)
        blocks = self.blocks(runs)
        ids = _run_ids(runs, blocks)
        values = {s: np.array([b[f"{s} total"] for b in per_block.values()]) for s in self.factors}
        measured = {f"{s} total share": float(v.mean()) if len(v) else math.nan for s, v in values.items()}
        if len(per_block) < 2:
            return no_evidence(self.describe(), len(per_block), ids, measured,
                               f"{len(per_block)} complete factorial block(s) (incomplete: "
                               f"{', '.join(incomplete) or 'none'}): no test over blocks possible")
        complete = CheckResult("complete-blocks", "all", not incomplete,
                               f"{len(per_block)} of {len(blocks)} blocks have a finished run in every cell"
                               + (f"; incomplete: {', '.join(incomplete)}" if incomplete else ""))
        evidence = bound_evidence(values, self.floor, "above", self.describe(), ids, measured, (complete,))
        return dataclasses.replace(evidence, ci_method="t-interval over blocks of the smallest source's mean total "
                                                       "share (other end Bonferroni over sources)")


@dataclass(frozen=True)
class Importance(ClaimTest):
    """Hyperparameter importance (Optuna's fANOVA or PED-ANOVA, normalised to
    sum 1) per repeated search, from the tuning runs of the arms whose name
    starts with ``prefix``; one-sample t-tests over searches, as ``Bound``.
    ``of_total``: fANOVA's fractions of the objective's total variance instead
    (``importance.importances``), whose noise floor falls with the number of
    trials where the normalised shares' does not.

    ``what="top"``: the summed importance of the two most important
    hyperparameters exceeds ``bound``. ``what=(names…)``: each named
    hyperparameter's importance lies below ``bound`` (every one: p = the largest).

    The ``noise-control`` check reads the same searches under a null that fits
    the test. "top": each search's objective shuffled among its trials -- what
    the top two take when nothing matters. Named: each named hyperparameter's
    values permuted among its search's trials, the objective and the others
    kept -- what one of no effect reads beside those that matter. (Shuffling
    the objective there leaves all the variance to noise, which the forest
    spreads over every hyperparameter: on a synthetic LSTM-like objective at
    60 trials, a momentum of no effect reads 0.04 of the total variance in the
    data, 0.05 with its values permuted and 0.23 with the objective shuffled;
    ``python -m studies.seeds.control_design``.) One permutation's reading
    moves with its seed (on 8 LSTM searches of 60 trials a null momentum read
    0.084-0.150 over 20 seeds), so the control reads each search as the mean
    over ``control_permutations`` permutations (seeds ``control_seed``,
    ``control_seed`` + 1, ...).
    """

    metric: str
    what: Any
    bound: float
    space: Callable[[Any], dict[str, Any]]
    evaluator: str = "fanova"
    direction: str = "maximize"
    prefix: str = "hp-"
    control_seed: int = 0  # the noise control's first permutation seed
    control_permutations: int = 1  # permutations the noise control averages per search
    of_total: bool = False
    phase = "tune"

    def arms(self) -> set[str]:
        return set()  # the search arms are found by prefix, whatever the budget's number of searches

    def reads(self, arm: str) -> bool:
        return arm.startswith(self.prefix)

    def with_evaluator(self, evaluator: str) -> "Importance":
        """The same test read by another evaluator (for the notes): PED-ANOVA has no fraction of the total
        variance, so it is always normalised."""
        return dataclasses.replace(self, evaluator=evaluator, of_total=self.of_total and evaluator == "fanova")

    def describe(self) -> str:
        scope = ("the summed importance of the two most important hyperparameters" if self.what == "top"
                 else f"the importance of {' and of '.join(self.what)}")
        side = "above" if self.what == "top" else "below"
        kind = ("each hyperparameter's main-effect variance as a fraction of the total variance" if self.of_total
                else "normalised to sum 1")
        return (f"{self.evaluator} importance (Optuna, {kind}) of {self.metric} per repeated search; "
                f"one-sample t-test over searches that {scope} is {side} {self.bound:g}"
                + ("" if self.what == "top" else " (every named one: p = the largest)"))

    def __post_init__(self) -> None:
        if not isinstance(self.control_permutations, int) or self.control_permutations < 1:
            raise StudyDeclarationError(f"Importance.control_permutations must be an int >= 1, got "
                                        f"{self.control_permutations!r}")

    def vectors(self, runs: "pd.DataFrame", shuffled: bool = False, permuted: str | None = None,
                seed: int | None = None) -> dict[str, dict[str, float]]:
        """search -> importance per hyperparameter; ``shuffled``: each search's
        objective permuted among its trials; ``permuted``: only this
        hyperparameter's values permuted (``importance.per_search``), with
        ``seed`` (default ``control_seed``)."""
        from harness import importance

        if shuffled and permuted is not None:
            raise ValueError("a noise control either shuffles the objective or permutes one hyperparameter, not both")
        rows = runs[runs["arm"].str.startswith(self.prefix)] if len(runs) else runs
        if rows.empty:
            return {}
        control = shuffled or permuted is not None
        return importance.per_search(rows, importance.search_space(self.space), self.metric, self.direction,
                                     self.evaluator, shuffle_seed=(self.control_seed if seed is None else seed)
                                     if control else None, of_total=self.of_total, permute=permuted)

    def _averaged(self, read: Callable[[int], dict[str, list[float]]]) -> dict[str, list[float]]:
        """``read(seed)``'s values per search, averaged over the control's permutation seeds."""
        reads = [read(self.control_seed + k) for k in range(self.control_permutations)]
        return {name: [float(np.mean(column)) for column in zip(*(r[name] for r in reads))] for name in reads[0]}

    def shuffled_importances(self, runs: "pd.DataFrame") -> dict[str, list[float]]:
        """Every hyperparameter's importance, per search, with each search's objective shuffled, the mean over
        ``control_permutations`` permutations (what nothing mattering reads as; the report's figure shows it)."""
        return self._averaged(lambda seed: self._by_hyperparameter(self.vectors(runs, shuffled=True, seed=seed)))

    @staticmethod
    def _by_hyperparameter(vectors: Mapping[str, Mapping[str, float]],
                           names: Iterable[str] | None = None) -> dict[str, list[float]]:
        """search -> hyperparameter -> importance, turned into hyperparameter -> [importance per search], for
        ``names`` (default: every hyperparameter)."""
        names = next(iter(vectors.values()), {}) if names is None else names
        return {name: [v[name] for v in vectors.values()] for name in names}

    def shuffled_values(self, runs: "pd.DataFrame") -> dict[str, list[float]]:
        """What the test reads, per search, with each search's objective shuffled (averaged as the control is)."""
        return self._averaged(lambda seed: self.tested_values(self.vectors(runs, shuffled=True, seed=seed)))

    def control_values(self, runs: "pd.DataFrame") -> dict[str, list[float]]:
        """What the test reads, per search, under the noise control's null (the class docstring says which),
        each search's reading the mean over ``control_permutations`` permutations."""
        if self.what == "top":
            return self.shuffled_values(runs)
        return self._averaged(lambda seed: {name: [v[name] for v in self.vectors(runs, permuted=name, seed=seed)
                                                   .values()] for name in self.what})

    def control_text(self) -> str:
        mean = "" if self.control_permutations == 1 else f"; mean of {self.control_permutations} permutations a search"
        return ("objective shuffled within each search" if self.what == "top" else
                "each named hyperparameter's values permuted within its search, the objective and the others "
                "kept") + mean

    def tested_values(self, vectors: Mapping[str, Mapping[str, float]]) -> dict[str, list[float]]:
        """What the test reads from each search's importances: the top-2 share, or the named ones'."""
        if self.what == "top":
            return {"top-2 share": [sum(sorted(v.values())[-2:]) for v in vectors.values()]}
        return self._by_hyperparameter(vectors, self.what)

    def _control_check(self, runs: "pd.DataFrame") -> CheckResult:
        """What the evaluator reports under the control's null; the check fails
        when the controlled searches' mean reaches the bound. For "top" the bound
        would then be met by the evaluator's bias alone; for "below", a factor
        that cannot matter already reads above it, so no true share below the
        bound could be shown at this many trials (the estimate's noise floor)."""
        control = {k: float(np.mean(v)) for k, v in self.control_values(runs).items() if v}
        text = ", ".join(f"{k} {v:.3f}" for k, v in control.items()) or "n/a"
        passed = bool(control) and all(v < self.bound for v in control.values())
        why = ("" if passed or self.what == "top" else
               ": the noise floor is above the bound, so a share below it cannot be shown with this many trials")
        return CheckResult("noise-control", "all", passed,
                           f"{self.control_text()}: {text} (must stay below {self.bound:g}){why}")

    def evaluate(self, runs: "pd.DataFrame") -> Evidence:
        vectors = self.vectors(runs)
        ids = tuple(runs[runs["arm"].str.startswith(self.prefix) & (runs["status"] == STATUS_FINISHED)]["run_id"]) \
            if len(runs) else ()
        values = self.tested_values(vectors)
        measured = {k: float(np.mean(v)) if v else math.nan for k, v in values.items()}
        if len(vectors) < 2:
            return no_evidence(self.describe(), len(vectors), ids, measured)
        return bound_evidence({k: np.array(v) for k, v in values.items()}, self.bound,
                              "above" if self.what == "top" else "below", self.describe(), ids, measured,
                              (self._control_check(runs),))


@dataclass(frozen=True)
class RateAbove(ClaimTest):
    """A rate of events exceeds ``null_rate``: ``outcomes(runs)`` returns one
    boolean per independent trial (e.g. "p < 0.05" for each disjoint split of
    identical runs); exact binomial test that the rate exceeds ``null_rate``
    (support); "not reproduced" when it is significantly below ``margin``.
    Interval: Clopper–Pearson, which inverts the one-sided binomial tests."""

    outcomes: Callable[["pd.DataFrame"], tuple[list[bool], tuple[str, ...]]]
    over: tuple[str, ...]
    null_rate: float
    margin: float
    description: str
    metric: str = ""

    def arms(self) -> set[str]:
        return set(self.over)

    def describe(self) -> str:
        return (f"{self.description}; one-sided exact binomial tests that the rate exceeds {self.null_rate:g} "
                f"(support) or falls below it ('contradicted'), and that it is below {self.margin:g} "
                f"('not reproduced'); effect = the rate")

    def evaluate(self, runs: "pd.DataFrame") -> Evidence:
        from scipy import stats as sps

        hits_list, ids = self.outcomes(runs)
        n, hits = len(hits_list), int(sum(hits_list))
        if n < 2:
            return no_evidence(self.describe(), n, ids)
        rate = hits / n

        def settle(alpha: float, which: str) -> int | None:
            distance = (rate - self.null_rate) * (1 if which == CLAIMED else -1)
            return stats.n_needed_by_se(distance, math.sqrt(max(rate * (1 - rate), 1e-12) / n), n, alpha)

        return Evidence(self.describe(), rate, n,
                        float(sps.binomtest(hits, n, self.null_rate, alternative="greater").pvalue),
                        float(sps.binomtest(hits, n, self.null_rate, alternative="less").pvalue),
                        float(sps.binomtest(hits, n, self.margin, alternative="less").pvalue), ids,
                        {"trials": float(n), "events": float(hits)},
                        lambda a: stats.clopper_pearson(hits, n, 1.0 - a), "Clopper–Pearson interval of the rate",
                        self.null_rate, settle,
                        (CheckResult("not-degenerate", "all", True, f"{n} independent splits, {hits} events"),))


@dataclass(frozen=True)
class Extrapolated(ClaimTest):
    """The large-``m`` limit of ``metric``: λ(m) = λ∞ + c/m fitted by least
    squares over the arms' runs (``factors``: arm -> m); support: TOST that
    λ∞ lies within ±``margin`` of ``value``; "contradicted": λ∞ lies
    significantly beyond the margin. Both invert λ∞'s t-interval."""

    metric: str
    factors: Mapping[str, float]
    value: float
    margin: float

    def arms(self) -> set[str]:
        return set(self.factors)

    def describe(self) -> str:
        return (f"least-squares fit {self.metric}(m) = λ∞ + c/m over m = {sorted(self.factors.values())}; TOST that "
                f"λ∞ is within ±{self.margin:g} of {self.value:.4g} (support); one-sided t-test that it lies beyond "
                "the margin (contradicted); effect = λ∞")

    def evaluate(self, runs: "pd.DataFrame") -> Evidence:
        from scipy import stats as sps

        rows = runs[runs["arm"].isin(list(self.factors)) & (runs["status"] == STATUS_FINISHED)]
        column = f"metrics.{self.metric}"
        rows = rows[rows[column].notna()] if column in rows else rows.iloc[0:0]
        measured = {arm: float(rows[rows["arm"] == arm][column].mean()) for arm in self.factors if column in rows}
        ids, n = tuple(rows["run_id"]), len(rows)
        if n < 4 or rows["arm"].nunique() < 2:
            return no_evidence(self.describe(), n, ids, measured)
        inv = 1.0 / rows["arm"].map(self.factors).to_numpy(dtype=float)
        lam = rows[column].to_numpy(dtype=float)
        design = np.column_stack([np.ones(n), inv])
        coef, *_ = np.linalg.lstsq(design, lam, rcond=None)
        resid = lam - design @ coef
        dof = n - 2
        se = math.sqrt(max(float(resid @ resid) / dof, 0.0) * np.linalg.inv(design.T @ design)[0, 0])
        limit, low, high = float(coef[0]), self.value - self.margin, self.value + self.margin
        if se <= stats.SPREAD_RTOL * max(abs(limit), float(np.max(np.abs(lam)))):
            return no_evidence(self.describe(), n, ids, measured,
                               "the fit has no residual spread (the values lie exactly on the curve): no test")
        p_inside = max(sps.t.sf((limit - low) / se, dof), sps.t.cdf((limit - high) / se, dof))
        p_beyond = min(sps.t.sf((limit - high) / se, dof), sps.t.cdf((limit - low) / se, dof))

        def interval(a: float) -> tuple[float, float]:
            half = float(sps.t.ppf(1 - a / 2, dof)) * se
            return limit - half, limit + half

        def settle(alpha: float, which: str) -> int | None:
            off = abs(limit - self.value)
            return stats.n_needed_by_se(self.margin - off if which == CLAIMED else off - self.margin, se, n, alpha)

        return Evidence(self.describe(), limit, n, float(p_inside), float(p_beyond), math.nan, ids, measured, interval,
                        "t-interval of the fitted limit λ∞", self.value, settle)


@dataclass(frozen=True)
class BestOverGrid(ClaimTest):
    """Per replicate, the best ``metric`` over a grid's runs whose factor is at
    most ``cut`` against the best over the rest; paired t-test each way that
    the small side is better, TOST within ±``margin`` for "not reproduced".
    ``grid(runs)`` returns a DataFrame with columns factor, replicate, value,
    run_id (one row per finished grid run). ``sides`` names the two sides in
    the report's measured numbers (default "best m<=cut" and "best m>cut").
    A study's subclass overrides ``reads`` with the arms its ``grid`` reads, so
    that a sequential design's later looks give them more seeds."""

    grid: Callable[["pd.DataFrame"], "pd.DataFrame"]
    cut: float
    margin: float
    label: str = "m"
    metric: str = "test_error"
    sides: tuple[str, str] | None = None

    def arms(self) -> set[str]:
        return set()  # the grid's arms are found by the study's ``grid`` function; a subclass says which in ``reads``

    def describe(self) -> str:
        return (f"per replicate, the best {self.metric} over the grid with {self.label} ≤ {self.cut:g} minus the best "
                f"with {self.label} > {self.cut:g}; paired t-test each way that it is negative; TOST with margin "
                f"±{self.margin:g} for 'not reproduced'")

    def per_replicate(self, runs: "pd.DataFrame"):
        grid = self.grid(runs).dropna(subset=["value"])
        small = grid[grid["factor"] <= self.cut].groupby("replicate")["value"].min()
        large = grid[grid["factor"] > self.cut].groupby("replicate")["value"].min()
        common = small.index.intersection(large.index)
        return small.loc[common], large.loc[common], tuple(grid["run_id"])

    def evaluate(self, runs: "pd.DataFrame") -> Evidence:
        small, large, ids = self.per_replicate(runs)
        below, above = self.sides or (f"best {self.label}<={self.cut:g}", f"best {self.label}>{self.cut:g}")
        measured = {below: float(small.mean()) if len(small) else math.nan,
                    above: float(large.mean()) if len(large) else math.nan}
        if len(small) < 2:
            return no_evidence(self.describe(), len(small), ids, measured)
        return difference_evidence(small.to_numpy(), large.to_numpy(), lower_is_better=True, describe=self.describe(),
                                   margin=self.margin, runs=ids, measured=measured)
