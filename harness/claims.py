"""Claims as data, and the verdict rule that turns evidence into verdicts.

A ``Claim`` carries the source sentence, the primary paper with its own
numbers, a ``ClaimTest`` (``harness.claimtests``) and the validity checks
(``harness.checks``) declared before anything runs. A test reads the study's
runs (one DataFrame, see ``harness.tracking``) and returns ``Evidence``: two
one-sided p-values (support, opposite), an equivalence p where a margin is
declared, the effect, the interval that inverts the test at any level, the
checks the test ran on its own values, and the run ids behind it.

``decide`` is the verdict rule (README, "Verdicts"):

1. A claim whose checks failed is ``inconclusive (invalid: …)`` and is not
   tested: it takes no part in the correction below.
2. Directional p = min(1, 2 × min(p_support, p_opposite)): each direction is
   tested at alpha/2, so under a null effect a directional verdict (reproduced
   or contradicted) comes at most alpha of the time, not 2 alpha.
3. Holm's step-down correction of the directional p across the study's tested
   claims; ``reproduced`` / ``contradicted`` when the adjusted p < alpha, by
   the side the effect lies on. ``not reproduced`` when the equivalence p,
   Holm-adjusted in its own family, is < alpha.
4. The interval shown is the test's own, at the claim's level after Holm,
   alpha_claim = alpha × p / p_Holm: it excludes the null exactly when the
   verdict is directional, on the side of that verdict.
5. An inconclusive claim says how many replicates would settle it, one-sided
   in the claimed direction at its Holm level — or, when the effect opposes
   the claim, how many would likely make it ``contradicted``.

A tolerance check (an identity of an implementation) has no statistics: it is
``reproduced`` when every run is within its tolerance, else ``contradicted``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Sequence

from harness.checks import Check, CheckResult, TunedAlike
from harness.design import StudyDeclarationError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

ALPHA = 0.05
POWER = 0.8               # what a settle line promises
VERDICTS = ("reproduced", "not reproduced", "contradicted", "inconclusive")
STATUS_FINISHED = "FINISHED"
CLAIMED, OPPOSITE = "claimed", "opposite"

Interval = Callable[[float], "tuple[float, float]"]     # alpha -> two-sided (1 - alpha) interval
Settle = Callable[[float, str], "int | None"]           # (one-sided alpha, CLAIMED | OPPOSITE) -> replicates


@dataclass(frozen=True)
class Evidence:
    test: str                 # the test that was run, in words
    effect: float             # point estimate, in the unit ``effect_unit`` names
    n: int                    # replicates (pairs, values, searches…) behind the effect
    p_support: float          # one-sided p in the claimed direction (nan: no test possible)
    p_opposite: float         # one-sided p in the opposite direction (nan: none defined)
    p_equivalence: float = math.nan   # p of the equivalence test (nan: no margin declared)
    runs: tuple[str, ...] = ()        # MLflow run ids used
    measured: dict[str, float] = field(default_factory=dict)  # per-arm numbers, for the report
    interval: Interval | None = None  # the interval that inverts the test, at level 1 - alpha
    ci_method: str = ""               # its name, e.g. "t-interval of the mean paired difference"
    null: float = 0.0                 # the effect's value under "no effect" (0, a bound, 0.5…)
    settle: Settle | None = None      # replicates needed for POWER at a one-sided level
    checks: tuple[CheckResult, ...] = ()  # what the test checked on its own values
    tolerance_passed: bool | None = None  # tolerance checks only: within tolerance in every run
    effect_note: str = ""             # e.g. "ratio of mean steps ≥ 10.7x (censored)"
    lower_bounds: tuple[str, ...] = ()  # keys of ``measured`` that average capped values: bounds, not numbers

    @property
    def tested(self) -> bool:
        return self.tolerance_passed is None and self.n >= 2 and not math.isnan(self.p_support)


@dataclass(frozen=True)
class Verdict:
    verdict: str
    p_value: float            # Holm-adjusted directional p (nan: not tested)
    reason: str
    alpha: float = math.nan   # the claim's two-sided level after Holm (each direction at alpha/2)
    ci: tuple[float, float] | None = None  # the test's interval at 1 - alpha; None: not shown (invalid, untested)
    settle: str = ""          # inconclusive: what would settle it
    checks: tuple[CheckResult, ...] = ()
    ci_alpha: float = math.nan  # the interval's two-sided level when it is not alpha: 2 alpha for an equivalence
                                # verdict (TOST at alpha holds exactly when the 1 - 2 alpha interval is in the margin)

    @property
    def interval_alpha(self) -> float:
        return self.alpha if math.isnan(self.ci_alpha) else self.ci_alpha


class ClaimTest:
    """A pre-registered test. Subclasses say which arms they read; ``phase``
    says which runs it gets: the fixed design's ("replicate", the default) or
    the tuning searches' ("tune", e.g. hyperparameter importance)."""

    metric: str
    phase = "replicate"

    def arms(self) -> set[str]:
        raise NotImplementedError

    def reads(self, arm: str) -> bool:
        """Whether the test reads ``arm``'s runs: the arms a sequential design
        grows at its later looks while the claim is open. Tests that find their
        arms by pattern (a prefix, a study's grid function) and so return no
        names from ``arms`` override it, or the claim would never get more seeds."""
        return arm in self.arms()

    def read_arms(self, runs: "pd.DataFrame") -> list[str]:
        """The arms whose runs the test reads: the declared ones (a declared arm
        without runs is still checked, and fails as such) and every arm in
        ``runs`` that ``reads`` names. The claim's validity checks run on these,
        so a test that finds its arms by pattern gets them checked too."""
        found = {a for a in runs["arm"].unique() if self.reads(a)} if len(runs) else set()
        return sorted(set(self.arms()) | found)

    def p_floor(self, n: int) -> float:
        """The smallest directional p the test can give on ``n`` replicates: 0
        for a continuous statistic, a power of 2 for an exact sign test. A
        design whose floor lies above Holm's first-step level could decide
        the claim only after others (``spending.undecidable`` rejects it)."""
        return 0.0

    def describe(self) -> str:
        raise NotImplementedError

    def evaluate(self, runs: "pd.DataFrame") -> Evidence:
        raise NotImplementedError


def finished_rows(runs: "pd.DataFrame", arm: str, metric: str) -> tuple["pd.DataFrame", str]:
    """An arm's finished runs that recorded ``metric``, and the metric's column."""
    column = f"metrics.{metric}"
    if column not in runs.columns:
        return runs.iloc[0:0], column
    rows = runs[(runs["arm"] == arm) & (runs["status"] == STATUS_FINISHED)]
    return rows[rows[column].notna()], column


def values_by_replicate(runs: "pd.DataFrame", arm: str, metric: str) -> "pd.Series":
    """The metric per replicate for one arm, from finished runs only."""
    import pandas as pd

    rows, column = finished_rows(runs, arm, metric)
    if rows.empty:
        return pd.Series(dtype=float)
    return rows.set_index("replicate")[column].astype(float).sort_index()


def arm_mean(runs: "pd.DataFrame", arm: str, metric: str) -> float:
    """The mean of a metric over an arm's finished runs (NaN when there are none):
    for the computed lines that claims add to a report."""
    values = values_by_replicate(runs, arm, metric)
    return float(values.mean()) if len(values) else math.nan


def no_evidence(test: str, n: int, runs=(), measured=None, why: str = "") -> Evidence:
    """No test possible (too few runs, or ``why``): every number NaN, and a
    failed ``enough-runs`` check that says so, so ``decide`` says inconclusive."""
    nan = float("nan")
    why = why or f"only {n} replicate(s) finished with the measured metric: no test possible"
    return Evidence(test, nan, n, nan, nan, nan, tuple(runs), measured or {},
                    checks=(CheckResult("enough-runs", "all", False, why),))


@dataclass(frozen=True)
class Claim:
    """One sentence of the source text, the test that checks it and the
    validity checks its arms must pass first.

    ``quote`` is verbatim from shared/sources/seed-articles.txt (shortened with
    "…" only); ``source_numbers`` are the primary paper's own numbers, shown
    beside ours; ``notes(runs)`` may add computed lines to the report (for
    example our ratio next to the paper's). ``checks`` run on the test's arms
    unless a check names its own; a comparison of two or more arms gets
    ``TunedAlike()`` unless the claim declares one (with its reason).
    ``reads_also`` names arms outside the test that the notes read (e.g. a
    reference both compared arms are set against): a sequential design runs
    them as long as the test's arms, so the notes see as many seeds; they do
    not enter the test or its share of alpha. A tier may lack some of them
    (not all).
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
    checks: tuple[Check, ...] = ()
    reads_also: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("id", "quote", "article", "section", "source", "measure"):
            if not str(getattr(self, name)).strip():
                raise StudyDeclarationError(f"claim {self.id!r}: field {name!r} is empty")
        if not isinstance(self.test, ClaimTest):
            raise StudyDeclarationError(f"claim {self.id!r}: test must be a ClaimTest, got {type(self.test).__name__}")
        if isinstance(self.reads_also, str) or not all(isinstance(a, str) for a in self.reads_also):
            raise StudyDeclarationError(f"claim {self.id!r}: reads_also must be a tuple of arm names, got "
                                        f"{self.reads_also!r}")
        bad = [c for c in self.checks if not isinstance(c, Check)]
        if bad:
            raise StudyDeclarationError(f"claim {self.id!r}: checks must be harness.checks.Check, got {bad!r}")

    @property
    def all_checks(self) -> tuple[Check, ...]:
        """The declared checks, plus ``tuned-alike`` for a comparison of arms."""
        if len(self.test.arms()) >= 2 and not any(isinstance(c, TunedAlike) for c in self.checks):
            return (*self.checks, TunedAlike())
        return self.checks


def directional_p(e: Evidence) -> float:
    """Each direction at alpha/2: twice the smaller one-sided p (capped at 1)."""
    sides = [p for p in (e.p_support, e.p_opposite) if not math.isnan(p)]
    return min(1.0, 2.0 * min(sides)) if sides else math.nan


def decide(evidence: Sequence[Evidence], checks: Sequence[Sequence[CheckResult]] | None = None,
           alpha: float = ALPHA) -> list[Verdict]:
    """The verdict rule of the module docstring, for one study's claims."""
    from harness import stats

    checks = [list(c) for c in checks] if checks is not None else [[] for _ in evidence]
    all_checks = [tuple(declared) + e.checks for e, declared in zip(evidence, checks)]
    valid = [all(c.passed for c in cs) for cs in all_checks]
    tested = [v and e.tested for v, e in zip(valid, evidence)]
    p_dir = [directional_p(e) if t else math.nan for e, t in zip(evidence, tested)]
    holm = stats.holm(p_dir)
    equivalent = stats.holm([e.p_equivalence if t else math.nan for e, t in zip(evidence, tested)])
    ranked = sorted((p, i) for i, p in enumerate(p_dir) if not math.isnan(p))
    step_level = {i: alpha / (len(ranked) - rank) for rank, (_, i) in enumerate(ranked)}  # Holm's level by rank

    verdicts = []
    for i, e in enumerate(evidence):
        cs = all_checks[i]
        if e.tolerance_passed is not None and valid[i]:
            verdict = "reproduced" if e.tolerance_passed else "contradicted"
            verdicts.append(Verdict(verdict, math.nan,
                                    "tolerance check: every run within tolerance" if e.tolerance_passed
                                    else "tolerance check: some run is outside the tolerance", checks=cs))
            continue
        if not valid[i]:
            failed = "; ".join(c.detail for c in cs if not c.passed)
            verdicts.append(Verdict("inconclusive", math.nan, f"invalid: {failed}", checks=cs))
            continue
        if not tested[i]:
            verdicts.append(Verdict("inconclusive", math.nan, f"only {e.n} replicate(s) finished: no test possible",
                                    checks=cs))
            continue
        p, p_holm = p_dir[i], holm[i]
        level = alpha * (p / p_holm) if p_holm > 0 else step_level[i]
        ci = e.interval(level) if e.interval else None
        against = e.p_opposite < e.p_support
        if p_holm < alpha:
            verdict = "contradicted" if against else "reproduced"
            side = "opposite to the claim" if against else "in the claimed direction"
            verdicts.append(Verdict(verdict, p_holm, f"significant {side}: Holm-adjusted p = {p_holm:.3g} < {alpha} "
                                    f"(each direction at {alpha / 2:g})", level, ci, checks=cs))
        elif not math.isnan(equivalent[i]) and equivalent[i] < alpha:
            # TOST at level a holds exactly when the two-sided 1 - 2a interval lies inside the margin: shown
            margins = sum(not math.isnan(q) for q in equivalent)
            tost = alpha * e.p_equivalence / equivalent[i] if equivalent[i] > 0 else alpha / margins  # Holm's level
            verdicts.append(Verdict("not reproduced", equivalent[i], "equivalence test: the effect lies within the "
                                    f"margin (Holm p = {equivalent[i]:.3g} < {alpha})", tost,
                                    e.interval(2 * tost) if e.interval else None, checks=cs, ci_alpha=2 * tost))
        else:
            verdicts.append(Verdict("inconclusive", p_holm, f"no direction significant after Holm (p = {p_holm:.3g}, "
                                    f"needs < {alpha})", level, ci, settle_line(e, step_level[i] / 2, against), cs))
    return verdicts


def settle_line(e: Evidence, one_sided: float, against: bool, level_name: str = "its Holm level") -> str:
    """How many replicates would settle an inconclusive claim, one-sided at its
    Holm level (``level_name`` says which), with POWER, if the observed effect were the truth."""
    if e.settle is None:
        return "no replicate count can be computed for this test"
    level = (f"one-sided α = {one_sided:.3g} ({level_name}), {POWER:.0%} power, the observed effect taken as "
             "the truth")
    if against:
        n = e.settle(one_sided, OPPOSITE)
        return (f"the observed effect opposes the claim: more replicates would likely give `contradicted` "
                f"(about {n} at {level})" if n else "the observed effect opposes the claim, but too weakly for any "
                                                 "replicate count to decide")
    n = e.settle(one_sided, CLAIMED)
    if n is None:
        return "the observed effect is zero or too small for any replicate count to support the claim"
    if n <= e.n:
        return (f"about {n} replicates would detect the observed effect at {level}, and it has {e.n}: Holm's "
                "step-down stopped at a claim ranked before it, which needs replicates of its own")
    return f"about {n} replicates would settle it ({level}); this run has {e.n}"
