"""How the sequential rule spends alpha (README, "Verdicts"), in the plain
terms a declaration can be checked with before any compute: the spending
function, a claim's information fraction at a look, and which claims a
design could decide only after others (``undecidable``, which
``Study.design`` applies). ``harness.sequential`` runs the rule itself.
Standard library only: declaring and listing studies stays instant."""
from __future__ import annotations

import math
from statistics import NormalDist
from typing import TYPE_CHECKING, Mapping, Sequence

from harness.claims import ALPHA

if TYPE_CHECKING:  # pragma: no cover
    from harness.claims import Claim
    from harness.design import Arm, Budget


def spent(t: float, alpha: float = ALPHA) -> float:
    """Cumulative two-sided alpha spent at information fraction ``t``
    (Lan & DeMets 1983, the O'Brien–Fleming-type function)."""
    if t <= 0:
        return 0.0
    if t >= 1:
        return alpha
    normal = NormalDist()
    return 2.0 * (1.0 - normal.cdf(normal.inv_cdf(1.0 - alpha / 2.0) / math.sqrt(t)))


def replicates_by_look(plan: "Budget", arms: "Sequence[Arm]") -> list[dict[str, int]]:
    """Per look of the budget's schedule, each arm's replicates once that look has run."""
    return [{a.name: a.replicates_at(plan, k) for a in arms} for k in range(len(plan.schedule))]


def arms_read(claim: "Claim", names: Sequence[str]) -> frozenset[str] | None:
    """The arms of ``names`` whose replicates the claim reads; None for a claim
    that reads the tuning searches instead (complete at the first look)."""
    return frozenset(n for n in names if claim.test.reads(n)) if claim.test.phase == "replicate" else None


def information(reads: frozenset[str] | None, at: Sequence[Mapping[str, int]], k: int) -> float:
    """Information fraction at look k of a claim that reads the arms ``reads``
    (None: no replicates, e.g. the tuning searches: complete at once), with
    ``at[k]`` the replicates per arm at look k: its arms' largest replicate
    count over its maximum."""
    if reads is None:
        return 1.0
    arms = [a for a in reads if a in at[0]]
    n_k = max((at[k][a] for a in arms), default=1)
    n_max = max((at[-1][a] for a in arms), default=1)
    return min(1.0, n_k / n_max)


def undecidable(claims: "Sequence[Claim]", plan: "Budget", arms: "Sequence[Arm]", alpha: float = ALPHA) -> list[str]:
    """Claims the design cannot decide on their own evidence: a test with a
    floor on its p (an exact sign test: 2 × 2^-n) whose floor at the claim's
    largest replicate count is not below Holm's first-step level there (its
    share of alpha at its last look over every claim of the study). Such a
    claim is decided only if enough other claims are rejected before it, so
    its verdict would hang on theirs. One message per claim, naming the
    replicates that would do."""
    names = [a.name for a in arms]
    at = replicates_by_look(plan, arms)
    problems = []
    for claim in claims:
        reads = arms_read(claim, names)
        if not reads:   # the tuning searches' claims, or none of these arms
            continue
        n = min(at[-1][a] for a in reads)   # pairs: the arm with the fewest replicates bounds them
        last = next(k for k in range(len(at)) if information(reads, at, k) >= 1.0)
        share = alpha - (spent(information(reads, at, last - 1), alpha) if last else 0.0)
        level, floor = share / len(claims), claim.test.p_floor(n)
        if floor >= level:
            needed = n
            while claim.test.p_floor(needed) >= level:
                needed += 1
            problems.append(f"{claim.id}: with {n} replicates its test's p cannot go below {floor:.3g}, above "
                            f"Holm's first-step level at its last look, {share:.3g}/{len(claims)} claims = "
                            f"{level:.3g}; give the arms it reads ({', '.join(sorted(reads))}) at least "
                            f"{needed} replicates")
    return problems
