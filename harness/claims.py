"""Claims as data, and the pre-registered tests that turn runs into verdicts.

A ``Claim`` carries the source sentence, the primary paper with its own
numbers, and a ``ClaimTest`` declared before anything runs. Tests read the
study's runs (one DataFrame, see ``harness.runs``) and return ``Evidence``:
three one-family p-values (support, opposite, equivalence), an effect with its
95% CI and the run ids behind it. ``decide`` applies Holm's correction across
the claims of one study, family by family, and maps the adjusted p-values to
the four verdicts of design.md:

- reproduced      the test supports the claim (adjusted support p < alpha)
- contradicted    significant in the opposite direction
- not reproduced  an equivalence test shows the effect is absent / below the margin
- inconclusive    none of the above; we say how many seeds would settle it
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Sequence

from harness.study import StudyDeclarationError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

ALPHA = 0.05
VERDICTS = ("reproduced", "not reproduced", "contradicted", "inconclusive")
STATUS_FINISHED = "FINISHED"


@dataclass(frozen=True)
class Evidence:
    test: str                 # the test that was run, in words
    effect: float             # point estimate, in the metric's unit
    ci: tuple[float, float]   # 95% CI of the effect
    n: int                    # replicates (pairs, or values) behind the effect
    p_support: float          # p of the test in the claimed direction
    p_opposite: float         # p of the test in the opposite direction (nan: not applicable)
    p_equivalence: float      # p of the equivalence test (nan: no margin declared)
    runs: tuple[str, ...]     # MLflow run ids used
    measured: dict[str, float] = field(default_factory=dict)  # per-arm means, for the report
    seeds_needed: int | None = None  # replicates a paired test would need, if inconclusive


@dataclass(frozen=True)
class Verdict:
    verdict: str
    p_value: float            # Holm-adjusted p of the family that decided (support p otherwise)
    reason: str


class ClaimTest:
    """A pre-registered test. Subclasses say which arms they read; ``phase``
    says which runs it gets: the fixed design's ("replicate", the default) or
    the tuning searches' ("tune", e.g. hyperparameter importance)."""

    metric: str
    phase = "replicate"

    def arms(self) -> set[str]:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def evaluate(self, runs: "pd.DataFrame") -> Evidence:
        raise NotImplementedError


def _metric_column(metric: str) -> str:
    return f"metrics.{metric}"


def finished_rows(runs: "pd.DataFrame", arm: str, metric: str) -> tuple["pd.DataFrame", str]:
    """An arm's finished runs that recorded ``metric``, and the metric's column
    (for custom tests in studies too)."""
    column = _metric_column(metric)
    if column not in runs.columns:
        return runs.iloc[0:0], column
    rows = runs[(runs["arm"] == arm) & (runs["status"] == STATUS_FINISHED)]
    return rows[rows[column].notna()], column


def _values_by_replicate(runs: "pd.DataFrame", arm: str, metric: str) -> "pd.Series":
    """The metric per replicate for one arm, from finished runs only."""
    import pandas as pd

    rows, column = finished_rows(runs, arm, metric)
    if rows.empty:
        return pd.Series(dtype=float)
    return rows.set_index("replicate")[column].astype(float).sort_index()


def arm_mean(runs: "pd.DataFrame", arm: str, metric: str) -> float:
    """The mean of a metric over an arm's finished runs (NaN when there are none):
    for the computed lines that claims add to a report."""
    values = _values_by_replicate(runs, arm, metric)
    return float(values.mean()) if len(values) else math.nan


def _run_ids(runs: "pd.DataFrame", arms: Sequence[str], replicates) -> tuple[str, ...]:
    rows = runs[runs["arm"].isin(list(arms)) & runs["replicate"].isin(list(replicates))]
    rows = rows[rows["status"] == STATUS_FINISHED]
    return tuple(rows["run_id"])


def _paired_means(values: dict[str, "pd.Series"], replicates) -> dict[str, float]:
    """Per-arm means over the paired replicates only, so they match the effect."""
    return {arm: float(v.loc[replicates].mean()) if len(replicates) else math.nan for arm, v in values.items()}


def no_evidence(test: str, n: int, runs=(), measured=None) -> Evidence:
    """Too few runs for the test: every number NaN, so ``decide`` says inconclusive
    (for custom tests in studies too)."""
    nan = float("nan")
    return Evidence(test, nan, (nan, nan), n, nan, nan, nan, tuple(runs), measured or {})


@dataclass(frozen=True)
class Better(ClaimTest):
    """``arm`` beats ``baseline`` on ``metric``, paired by replicate.

    One-sided paired t-test (or Wilcoxon) in the claimed direction; the
    opposite one-sided test for "contradicted"; with a ``margin`` (in the
    metric's unit), a paired TOST for "not reproduced" (the difference lies
    within +-margin, i.e. smaller than the smallest effect that would count).
    """

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
        text = (f"one-sided {name}, paired by replicate: {self.metric} of `{self.arm}` is {direction} "
                f"than `{self.baseline}`; effect = mean({self.arm} − {self.baseline})")
        if self.margin is not None:
            text += f"; TOST with margin ±{self.margin:g} for 'not reproduced'"
        return text

    def evaluate(self, runs: "pd.DataFrame") -> Evidence:
        from harness import stats

        a = _values_by_replicate(runs, self.arm, self.metric)
        b = _values_by_replicate(runs, self.baseline, self.metric)
        common = a.index.intersection(b.index)
        measured = _paired_means({self.arm: a, self.baseline: b}, common)
        ids = _run_ids(runs, [self.arm, self.baseline], common)
        if len(common) < 2:
            return no_evidence(self.describe(), len(common), ids, measured)
        x, y = a.loc[common].to_numpy(), b.loc[common].to_numpy()
        test = stats.paired_t if self.method == "paired_t" else stats.wilcoxon
        claimed, opposite = ("less", "greater") if self.lower_is_better else ("greater", "less")
        support = test(x, y, alternative=claimed)
        against = test(x, y, alternative=opposite)
        p_equiv = stats.tost_paired(x, y, self.margin).p_value if self.margin else math.nan
        return Evidence(self.describe(), support.effect, support.ci, len(common), support.p_value,
                        against.p_value, p_equiv, ids, measured, stats.seeds_needed(x - y))


@dataclass(frozen=True)
class Similar(ClaimTest):
    """``arm`` and ``baseline`` do not differ by more than ``margin``.

    Paired TOST for support; for "contradicted", a one-sided test that the
    difference exceeds the margin (the larger side, Bonferroni x2).
    """

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
                f"< {self.margin:g}; 'contradicted' if the difference significantly exceeds the margin")

    def evaluate(self, runs: "pd.DataFrame") -> Evidence:
        from harness import stats

        a = _values_by_replicate(runs, self.arm, self.metric)
        b = _values_by_replicate(runs, self.baseline, self.metric)
        common = a.index.intersection(b.index)
        measured = _paired_means({self.arm: a, self.baseline: b}, common)
        ids = _run_ids(runs, [self.arm, self.baseline], common)
        if len(common) < 2:
            return no_evidence(self.describe(), len(common), ids, measured)
        d = a.loc[common].to_numpy() - b.loc[common].to_numpy()
        tost = stats.tost_paired(a.loc[common].to_numpy(), b.loc[common].to_numpy(), self.margin)
        above = stats.one_sample_t(d, self.margin, alternative="greater").p_value
        below = stats.one_sample_t(d, -self.margin, alternative="less").p_value
        effect_ci = stats.bootstrap_ci(d)
        return Evidence(self.describe(), float(d.mean()), effect_ci, len(common), tost.p_value,
                        min(1.0, 2 * min(above, below)), math.nan, ids, measured)


@dataclass(frozen=True)
class Bound(ClaimTest):
    """The metric's mean lies below (or above) ``bound`` in every listed arm.

    One-sided one-sample t-test per arm; the claim must hold in all arms, so
    the support p is the largest of them (an intersection-union test) and the
    reported effect is the worst arm's mean. "Contradicted" if some arm is
    significantly on the wrong side (Bonferroni over arms).
    """

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
        from harness import stats

        claimed, opposite = ("less", "greater") if self.side == "below" else ("greater", "less")
        per_arm = {arm: _values_by_replicate(runs, arm, self.metric) for arm in self.over}
        measured = {arm: float(v.mean()) if len(v) else math.nan for arm, v in per_arm.items()}
        ids = tuple(i for arm, v in per_arm.items() for i in _run_ids(runs, [arm], v.index))
        n = min(len(v) for v in per_arm.values())
        if n < 2:
            return no_evidence(self.describe(), n, ids, measured)
        support = {arm: stats.one_sample_t(v.to_numpy(), self.bound, alternative=claimed) for arm, v in per_arm.items()}
        against = [stats.one_sample_t(v.to_numpy(), self.bound, alternative=opposite).p_value for v in per_arm.values()]
        sign = 1 if self.side == "below" else -1
        worst = max(support, key=lambda arm: sign * support[arm].effect)
        return Evidence(self.describe(), support[worst].effect, support[worst].ci, n,
                        max(r.p_value for r in support.values()),
                        min(1.0, len(against) * min(against)), math.nan, ids, measured)


@dataclass(frozen=True)
class Claim:
    """One sentence of the source text and the test that checks it.

    ``quote`` is verbatim from shared/sources/seed-articles.txt (shortened with
    "…" only); ``source_numbers`` are the primary paper's own numbers, shown
    beside ours; ``notes(runs)`` may add computed lines to the report (for
    example our ratio next to the paper's).
    """

    id: str
    quote: str
    article: str
    section: str
    source: str
    source_numbers: str
    measure: str
    test: ClaimTest
    notes: Callable[["pd.DataFrame"], list[str]] | None = None

    def __post_init__(self) -> None:
        for name in ("id", "quote", "article", "section", "source", "measure"):
            if not str(getattr(self, name)).strip():
                raise StudyDeclarationError(f"claim {self.id!r}: field {name!r} is empty")
        if not isinstance(self.test, ClaimTest):
            raise StudyDeclarationError(f"claim {self.id!r}: test must be a ClaimTest, got {type(self.test).__name__}")


def decide(evidence: Sequence[Evidence], alpha: float = ALPHA) -> list[Verdict]:
    """Holm-adjust each p-value family across the study's claims, then map to verdicts."""
    from harness import stats

    support = stats.holm([e.p_support for e in evidence])
    opposite = stats.holm([e.p_opposite for e in evidence])
    equivalent = stats.holm([e.p_equivalence for e in evidence])
    verdicts = []
    for e, ps, po, pe in zip(evidence, support, opposite, equivalent):
        if e.n < 2 or math.isnan(ps):
            verdicts.append(Verdict("inconclusive", ps, f"only {e.n} replicate(s) finished: no test possible"))
        elif ps < alpha:
            verdicts.append(Verdict("reproduced", ps, f"Holm-adjusted p = {ps:.3g} < {alpha}"))
        elif not math.isnan(po) and po < alpha:
            verdicts.append(Verdict("contradicted", po, f"significant in the opposite direction (Holm p = {po:.3g})"))
        elif not math.isnan(pe) and pe < alpha:
            verdicts.append(Verdict("not reproduced", pe, f"equivalence test: effect within the margin (Holm p = {pe:.3g})"))
        else:
            more = f"; about {e.seeds_needed} paired seeds would detect the observed effect" if e.seeds_needed else ""
            verdicts.append(Verdict("inconclusive", ps, f"no test significant at {alpha} after Holm (p = {ps:.3g}){more}"))
    return verdicts
