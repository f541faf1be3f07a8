"""Sequential replication: seeds where a verdict needs them.

A budget with ``looks`` (e.g. ``Budget(replicates=12, looks=(3, 6, 12))``)
runs in stages. After each look every claim still open is tested on the runs
of that look; a claim that is decided stops, and an arm gets the next look's
replicates only while an open claim reads it. A claim whose checks fail stops
too (more seeds do not make an unfair comparison fair): it reports the check.

The rule (README, "Verdicts"), at overall level alpha:

1. **Alpha spending per claim.** A claim's information fraction at look k is
   t = n_k / n_max, its arms' replicates at that look over their maximum (a
   claim whose arms are capped below a look, or one that reads the tuning
   searches, is at t = 1 at once and gets its whole alpha there). Its share
   of alpha at the look is a_k = f(t_k) - f(t_{k-1}) with the Lan–DeMets
   O'Brien–Fleming-type spending function
   f(t) = 2 - 2 Phi(z_{1-alpha/2} / sqrt(t)), f(1) = alpha.
2. **Union bound across looks.** The look's test is the claim's own fixed-n
   test at a_k, so the chance of a false directional verdict over all looks
   is at most sum_k a_k = alpha, whatever the test (t, rank, censored,
   bootstrap, trend) and however its statistic depends across looks.
3. **Holm across claims, carried across looks.** With m the claims tested
   (valid, n >= 2) and R those already given a directional verdict (at any
   look), a claim is rejected when its directional p
   (2 min(p_support, p_opposite), as in the fixed rule) is below
   a_k / (m - |R|); rejections repeat until none is left. Until the first
   false rejection R holds only false nulls, so m - |R| >= the true nulls and
   the family-wise error stays at alpha (Holm's argument at each look,
   summed over the looks as in 2). Equivalence (``not reproduced``) is the
   same procedure in its own family. With one look this is
   ``claims.decide`` exactly, which is what a fixed design uses.

Why O'Brien–Fleming-type spending with the union bound rather than exact
group-sequential boundaries: exact boundaries assume a statistic with
independent increments (a z- or t-test); the harness's tests include rank,
censored, bootstrap and trend tests whose joint law across looks is not
known, and the union bound needs none. O'Brien–Fleming spends little early
(0.0007 of 0.05 at t = 1/3), so a claim stops at an early look only on
overwhelming evidence (robust where small-n tests are fragile), and the last
look keeps most of alpha. The price of the union bound is conservatism: the
final look tests at a_K, not at the alpha an exact boundary would give.

The decisions are a function of the runs in the tracking store (nothing is
remembered between invocations): a resumed study or a second worker
re-derives the same looks and continues at the stage reached, and ``harness
report`` rebuilds the same stages. A look is evaluated once every key it
planned has a run that ended (finished, or failed by an exception or a NaN:
missing data at that look, as in the fixed design); an interrupted or killed
trial runs again first.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from harness.assessment import History, assess, cached_history
from harness.checks import CheckResult
from harness.claims import ALPHA, Evidence, Verdict, decide, directional_p, settle_line
from harness.spending import arms_read, information, replicates_by_look, spent

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from harness.study import Study
    from harness.tracking import Tracker

SPENDING = "Lan–DeMets O'Brien–Fleming-type alpha spending, union bound across looks, Holm across claims"
# a failed evidence check that more replicates may cure; any other failed check stops the claim
CURABLE_CHECKS = frozenset({"enough-runs"})

DECIDED, INVALID, MAXIMUM, TOLERANCE, FIXED, RUNNING = (
    "decided", "checks failed", "maximum reached", "tolerance check", "fixed design", "in progress")


@dataclass(frozen=True)
class Stop:
    """Where a claim stopped: its look (1-based) of ``looks``, the replicates
    per arm it read there, and why."""

    look: int
    looks: int
    replicates: Mapping[str, int]
    why: str
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"look": self.look, "looks": self.looks, "replicates": dict(self.replicates), "why": self.why,
                "detail": self.detail}


@dataclass
class Outcome:
    """Every claim's verdict (decided, or as of the last look evaluated), the
    look now running and the replicates per arm it needs."""

    evidence: list[Evidence]
    checks: list[list[CheckResult]]   # declared checks, per claim (the evidence's own are on Evidence)
    verdicts: list[Verdict]
    stops: list[Stop]
    complete: bool                    # every claim stopped
    look: int                         # 0-based: the look running now (the last one when complete)
    counts: dict[str, int]            # replicates per arm that look needs
    looks: tuple[int, ...] = ()
    alpha_spent: list[list[float]] = field(default_factory=list)  # per claim: its share of alpha at each look
    at: list[dict[str, int]] = field(default_factory=list)  # per look, each arm's replicates (empty: a fixed design)

    def runs_at_stop(self, runs: "pd.DataFrame", i: int) -> "pd.DataFrame":
        """The runs as they stood at the look that stopped claim i: the
        replicates its verdict read, not later looks run for other claims (a
        fixed design has one look: every run)."""
        return look_runs(runs, self.at[self.stops[i].look - 1]) if self.at else runs

    def replicates_used(self) -> int:
        """Replicate trials the design needs so far (a key counts once)."""
        return sum(self.counts.values())


ENDED = ("FINISHED", "FAILED")  # KILLED: interrupted, or its worker died; the key runs again


def settled_by_runs(runs: "pd.DataFrame") -> Callable[[Mapping[str, int]], bool]:
    """Whether every key of a look has a run that ended: FINISHED, or FAILED
    (an exception or a NaN: missing data at that look, as in a fixed design),
    from one row per trial (``tracking.latest_per_trial``). A KILLED run
    (Ctrl-C, a dead worker) is re-queued, so its look is still running."""
    replicate = runs[runs["phase"] == "replicate"]
    ended = {(a, int(r)) for a, r, s in zip(replicate["arm"], replicate["replicate"], replicate["status"])
             if s in ENDED}

    def settled(counts: Mapping[str, int]) -> bool:
        return all((arm, r) in ended for arm, n in counts.items() for r in range(n))

    return settled


def look_runs(runs: "pd.DataFrame", counts: Mapping[str, int]) -> "pd.DataFrame":
    """The runs a look reads: each arm's first ``counts[arm]`` replicates, and every tuning run."""
    limit = runs["arm"].map(lambda arm: counts.get(arm, 0))
    return runs[(runs["phase"] != "replicate") | (runs["replicate"] < limit)]


def evaluate(study: "Study", budget: str, runs: "pd.DataFrame", history: History,
             alpha: float = ALPHA) -> Outcome:
    """The design's state from its runs (one row per trial): each look that
    has run is evaluated in order, claims stop as the rule says, and the first
    look not yet run is where the study stands."""
    plan = study.budget(budget)
    arms = study.design(budget)
    settled = settled_by_runs(runs)
    looks = plan.schedule
    at = replicates_by_look(plan, arms)
    if len(looks) == 1:
        return _fixed(study, runs, history, at[0], looks, settled(at[0]), alpha)

    def judge(counts: Mapping[str, int], indices: list[int]):
        return assess(study, look_runs(runs, counts), history, [study.claims[i] for i in indices])

    names = [a.name for a in arms]
    reads = [arms_read(c, names) for c in study.claims]
    grows = [None if r is None else r | {a for a in names if a in c.reads_also} for r, c in zip(reads, study.claims)]
    return SequentialRule(reads, at, looks, alpha, grows).run(settled, judge)


def evaluate_store(study: "Study", budget: str, tracker: "Tracker", history: History | None = None) -> Outcome:
    """``evaluate`` on the study's runs in a tracking store: where the design stands now."""
    from harness.tracking import latest_per_trial

    runs = latest_per_trial(tracker.runs(study.name, budget))
    return evaluate(study, budget, runs, history or cached_history(tracker))


def _fixed(study, runs, history, counts: dict[str, int], looks: tuple[int, ...], complete: bool,
           alpha: float) -> Outcome:
    """One look: the fixed design's rule (``claims.decide``), unchanged."""
    evidence, checks = assess(study, runs, history)
    verdicts = decide(evidence, checks, alpha)
    stops = [Stop(1, 1, {a: counts[a] for a in sorted(counts) if c.test.reads(a)}, FIXED) for c in study.claims]
    return Outcome(evidence, checks, verdicts, stops, complete, 0, dict(counts), looks,
                   [[alpha] for _ in study.claims])


Judge = Callable[[Mapping[str, int], "list[int]"], "tuple[list[Evidence], list[list[CheckResult]]]"]


class SequentialRule:
    """The rule of the module docstring, look by look, on any source of
    evidence: ``judge(counts, claims)`` tests the claims (indices) on the
    first ``counts[arm]`` replicates of each arm. ``reads[i]`` is the set of
    arms claim i reads (None: it reads no replicates, e.g. the tuning
    searches, so it is complete at once); ``at[k]`` the replicates per arm at
    look k. ``grows[i]`` (default ``reads[i]``) adds the arms only claim i's
    notes read (``Claim.reads_also``): they grow with its test's arms but
    leave its information fraction alone. The calibration test drives it
    with simulated evidence."""

    def __init__(self, reads: list[frozenset[str] | None], at: list[dict[str, int]], looks: tuple[int, ...],
                 alpha: float = ALPHA, grows: list[frozenset[str] | None] | None = None):
        self.reads, self.at, self.looks, self.alpha = reads, at, looks, alpha
        self.grows = reads if grows is None else grows
        self.K = len(at)
        n = len(reads)
        self.open = list(range(n))
        self.evidence: list[Evidence | None] = [None] * n
        self.checks: list[list[CheckResult]] = [[] for _ in range(n)]
        self.verdicts: list[Verdict | None] = [None] * n
        self.stops: list[Stop | None] = [None] * n
        self.spent = [[] for _ in range(n)]      # per claim, its share of alpha at each look
        self.tested: set[int] = set()            # in the Holm family: valid and n >= 2 when last tested
        self.with_margin: set[int] = set()       # the equivalence family: tested, with an equivalence p
        self.rejected: set[int] = set()          # directional verdicts so far
        self.equivalent: set[int] = set()        # equivalence verdicts so far
        self.level: dict[int, float] = {}        # per decided claim: the Holm level it was decided at

    def info(self, i: int, k: int) -> float:
        """Information fraction of claim i at look k (``spending.information``)."""
        return information(self.reads[i], self.at, k)

    def counts(self, k: int, previous: dict[str, int]) -> dict[str, int]:
        """Replicates per arm at look k: an arm grows while an open claim reads it."""
        if k == 0:
            return dict(self.at[0])
        live = {a for i in self.open for a in self.grows[i] or ()}
        return {a: (self.at[k][a] if a in live else previous[a]) for a in self.at[k]}

    def run(self, settled: Callable[[Mapping[str, int]], bool], judge: Judge) -> Outcome:
        self.judge = judge
        counts: dict[str, int] = {}
        k = 0
        for k in range(self.K):
            counts = self.counts(k, counts)
            if not settled(counts):
                self.in_progress(k, counts)
                return self.outcome(False, k, counts)
            self.look(k, counts)
            if not self.open:
                break
        return self.outcome(True, k, counts)

    def outcome(self, complete: bool, k: int, counts: dict[str, int]) -> Outcome:
        return Outcome(list(self.evidence), self.checks, list(self.verdicts), list(self.stops), complete, k,
                       counts, self.looks, self.spent, self.at)

    def in_progress(self, k: int, counts: dict[str, int]) -> None:
        """Open claims while look k runs: their test on what has finished so
        far, never a verdict (a look is judged only once it has run)."""
        evidence, checks = self.judge(counts, self.open)
        for i, e, c in zip(self.open, evidence, checks):
            self.evidence[i], self.checks[i] = e, c
            self.verdicts[i] = Verdict("inconclusive", math.nan, f"look {k + 1} of {self.K} in progress: "
                                       "no verdict until its replicates have run", checks=tuple(c) + e.checks)
            self.stops[i] = Stop(k + 1, self.K, self._replicates(i, counts), RUNNING)

    def _replicates(self, i: int, counts: Mapping[str, int]) -> dict[str, int]:
        return {a: counts[a] for a in sorted(self.reads[i] or ()) if a in counts}

    def look(self, k: int, counts: dict[str, int]) -> None:
        evidence, checks = self.judge(counts, self.open)
        share: dict[int, float] = {}
        for i, e, c in zip(self.open, evidence, checks):
            self.evidence[i], self.checks[i] = e, c
            t_now, t_before = self.info(i, k), (self.info(i, k - 1) if k else 0.0)
            share[i] = spent(t_now, self.alpha) - spent(t_before, self.alpha)
            self.spent[i].append(share[i])
        stopped: dict[int, tuple[Verdict, str, str]] = {}
        candidates = []
        for i in self.open:
            e = self.evidence[i]
            everything = tuple(self.checks[i]) + e.checks
            final = self.info(i, k) >= 1.0
            failed = [c for c in everything if not c.passed]
            if e.tolerance_passed is not None and not failed:
                verdict = "reproduced" if e.tolerance_passed else "contradicted"
                why = ("tolerance check: every run within tolerance" if e.tolerance_passed
                       else "tolerance check: some run is outside the tolerance")
                stopped[i] = (Verdict(verdict, math.nan, why, checks=everything), TOLERANCE, "")
            elif any(c.name not in CURABLE_CHECKS for c in failed) or (failed and final):
                reason = "; ".join(c.detail for c in failed)
                stopped[i] = (Verdict("inconclusive", math.nan, f"invalid: {reason}", checks=everything), INVALID,
                              "a failed check is not cured by more replicates" if not final else "")
            elif not e.tested:
                if final:
                    stopped[i] = (Verdict("inconclusive", math.nan, f"only {e.n} replicate(s) finished: no test "
                                          "possible", checks=everything), MAXIMUM, "")
            else:
                self.tested.add(i)
                if not math.isnan(e.p_equivalence):
                    self.with_margin.add(i)
                candidates.append(i)
        self.step_down(candidates, share, k, stopped)
        for i, (verdict, why, detail) in stopped.items():
            self.verdicts[i] = verdict
            self.stops[i] = Stop(k + 1, self.K, self._replicates(i, counts), why, detail)
        for i in self.open:
            if i not in stopped:
                e = self.evidence[i]
                threshold = self._threshold(share[i], self.rejected)
                if e.tested:
                    p = directional_p(e)
                    p_shown, why = min(1.0, p * self.alpha / threshold), (f"directional p = {p:.3g}, needs < "
                                                                          f"{threshold:.3g}")
                else:
                    p_shown, why = math.nan, f"only {e.n} replicate(s) so far: no test possible"
                self.verdicts[i] = Verdict("inconclusive", p_shown, f"undecided at look {k + 1} of {self.K} ({why}): "
                                           "more replicates follow", checks=tuple(self.checks[i]) + e.checks)
                self.stops[i] = Stop(k + 1, self.K, self._replicates(i, counts), RUNNING, "continues")
        self.open = [i for i in self.open if i not in stopped]

    def _threshold(self, share: float, rejected: set[int], family: set[int] | None = None) -> float:
        """Holm's level now: the claim's share of alpha over the claims of its
        family (default: every tested claim) not yet decided in it."""
        size = len(self.tested if family is None else family)
        return share / max(1, size - len(rejected))

    def step_down(self, candidates: list[int], share: dict[int, float], k: int,
                  stopped: dict[int, tuple[Verdict, str, str]]) -> None:
        """Holm's sequentially rejective step at this look, directional then
        equivalence, each in its own family (the equivalence family: the
        claims with a margin, as in ``claims.decide``); the claims it decides,
        and the undecided ones at their maximum, go into ``stopped``. A decided
        claim keeps the level it was decided at: its share over the claims of
        its family left before it (later rejections do not loosen it)."""
        for decided, family, p_of in ((self.rejected, self.tested, directional_p),
                                      (self.equivalent, self.with_margin, lambda e: e.p_equivalence)):
            changed = True
            while changed:
                changed = False
                open_ = [i for i in candidates if i in family and i not in self.rejected | self.equivalent
                         and not math.isnan(p_of(self.evidence[i])) and share[i] > 0]
                # strongest first (p over its share), so that each claim's recorded level is its Holm rank's
                for i in sorted(open_, key=lambda i: (p_of(self.evidence[i]) / share[i], i)):
                    p, level = p_of(self.evidence[i]), self._threshold(share[i], decided, family)
                    if p < level:
                        decided.add(i)
                        self.level[i] = level
                        changed = True
        for i in candidates:
            e = self.evidence[i]
            everything = tuple(self.checks[i]) + e.checks
            p = directional_p(e)
            if i in self.rejected:
                level = self.level[i]
                against = e.p_opposite < e.p_support
                side = "opposite to the claim" if against else "in the claimed direction"
                stopped[i] = (Verdict("contradicted" if against else "reproduced", min(1.0, p * self.alpha / level),
                                      f"significant {side} at look {k + 1} of {self.K}: directional p = {p:.3g} < "
                                      f"{level:.3g}, its share of α = {self.alpha} at this look after Holm",
                                      level, e.interval(level) if e.interval else None, checks=everything),
                              DECIDED, "")
            elif i in self.equivalent:
                level = self.level[i]
                # TOST at `level` holds exactly when the two-sided 1 - 2 level interval lies inside the margin
                stopped[i] = (Verdict("not reproduced", min(1.0, e.p_equivalence * self.alpha / level),
                                      f"equivalence test at look {k + 1} of {self.K}: the effect lies within the "
                                      f"margin (p = {e.p_equivalence:.3g} < {level:.3g})", level,
                                      e.interval(2 * level) if e.interval else None, checks=everything,
                                      ci_alpha=2 * level), DECIDED, "")
            elif self.info(i, k) >= 1.0:
                level = self._threshold(share[i], self.rejected)
                against = e.p_opposite < e.p_support
                stopped[i] = (Verdict("inconclusive", min(1.0, p * self.alpha / level),
                                      f"undecided at its maximum, look {k + 1} of {self.K} (directional p = {p:.3g}, "
                                      f"needs < {level:.3g})", level, e.interval(level) if e.interval else None,
                                      settle_line(e, level / 2, against, "its level at the last look"), everything),
                              MAXIMUM, "")
