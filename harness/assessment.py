"""A study's claims against its runs: each claim's evidence (its
pre-registered test) and the validity checks of its arms.

What the report (``harness.report``) and the sequential design
(``harness.sequential``) both read, so a look during the sweep and the report
afterwards judge the same runs the same way. Metric histories (what the
``trained`` and ``converged`` checks read) are fetched once per run and metric.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from harness.checks import CheckContext, CheckResult, run_checks
from harness.claims import Evidence

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from harness.study import Study
    from harness.tracking import Tracker

History = Callable[[str, str], list]


def cached_history(tracker: "Tracker") -> History:
    """``tracker.metric_history``, remembered per (run, metric): a sequential
    study reads the same curves at every look."""
    seen: dict[tuple[str, str], list] = {}

    def history(run_id: str, key: str) -> list:
        if (run_id, key) not in seen:
            seen[run_id, key] = tracker.metric_history(run_id, key)
        return seen[run_id, key]

    return history


def assess(study: "Study", runs: "pd.DataFrame", history: History,
           claims=None) -> tuple[list[Evidence], list[list[CheckResult]]]:
    """Evidence and declared checks of ``claims`` (default: all the study's),
    from ``runs`` (one row per trial: ``tracking.latest_per_trial``)."""
    claims = study.claims if claims is None else claims
    by_phase = {phase: runs[runs["phase"] == phase] for phase in ("replicate", "tune")}
    tuned = frozenset(study.tuning.arms) if study.tuning else frozenset()
    contexts = {phase: CheckContext(by_phase[phase], history, by_phase["tune"], tuned) for phase in by_phase}
    evidence = [claim.test.evaluate(by_phase[claim.test.phase]) for claim in claims]
    checks = [run_checks(claim.all_checks, contexts[claim.test.phase], claim.test.read_arms(by_phase[claim.test.phase]))
              for claim in claims]
    return evidence, checks
