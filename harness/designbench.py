"""Sequential vs fixed design on the registered studies at one budget: seeds
spent and claims decided (``make bench``, its own section of ``reports/bench.md``).

For each study whose tier declares looks, the tier runs once as a fixed design
at its maximum (every arm to its cap, in a temporary home), and both rules
judge those runs: the fixed rule all of them, the sequential rule look by look
on the replicates each look would have queued. A key has the same seeds in
both designs, so a look's runs are the very runs a sequential sweep trains,
and the comparison costs one sweep. Seeds spent: the replicate trials each
design needs. Claims decided: reproduced, contradicted or not reproduced. A
tier without looks is a fixed design by declaration (its claims need exactly
n): listed, not run.
"""
from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from harness.design import REPORT_BUDGET

DECIDED = ("reproduced", "contradicted", "not reproduced")


@dataclass
class DesignComparison:
    study: str
    looks: tuple[int, ...]
    claims: int
    fixed_trials: int = 0
    fixed_decided: int = 0
    sequential_trials: int = 0
    sequential_decided: int = 0
    changed: list[str] = field(default_factory=list)   # "CLAIM: fixed verdict -> sequential verdict (look k)"
    minutes: float = 0.0

    @property
    def staged(self) -> bool:
        return len(self.looks) > 1

    @property
    def status(self) -> str:
        """The issue's target: at least as many decided with fewer seeds, or more with the same."""
        if not self.staged:
            return "fixed by declaration"
        fewer, same = self.sequential_trials < self.fixed_trials, self.sequential_trials <= self.fixed_trials
        if (fewer and self.sequential_decided >= self.fixed_decided) or (
                same and self.sequential_decided > self.fixed_decided):
            return "met"
        return "NOT met"


def compare(names: list[str], budget: str = REPORT_BUDGET, progress: bool = False) -> list[DesignComparison]:
    import time

    from harness import sequential
    from harness.assessment import cached_history
    from harness.discovery import STUDIES, get_study
    from harness.run import RunRequest, run_study
    from harness.paths import home_at
    from harness.tracking import Tracker, latest_per_trial

    rows = []
    for name in names:
        study = get_study(name)
        plan = study.budget(budget)
        row = DesignComparison(name, plan.schedule, len(study.claims))
        rows.append(row)
        if not plan.sequential:
            continue
        fixed = dataclasses.replace(study, budgets={**study.budgets, budget: dataclasses.replace(plan, looks=())})
        started = time.time()
        with tempfile.TemporaryDirectory(prefix=f"designs-{name}-") as tmp, home_at(Path(tmp)), \
                STUDIES.replaced(name, fixed):
            # explicit stores: an earlier benchmark may have left $MLFLOW_TRACKING_URI at its own (deleted) one
            uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
            run_study(RunRequest(name, budget, progress=progress, report=False, tracking_uri=uri,
                                 storage=f"journal:{Path(tmp) / 'optuna.journal'}"))
            tracker = Tracker(uri)
            runs = latest_per_trial(tracker.runs(name, budget))
            history = cached_history(tracker)
            as_fixed = sequential.evaluate(fixed, budget, runs, history)
            as_staged = sequential.evaluate(study, budget, runs, history)
        row.minutes = (time.time() - started) / 60
        row.fixed_trials, row.sequential_trials = as_fixed.replicates_used(), as_staged.replicates_used()
        row.fixed_decided = sum(v.verdict in DECIDED for v in as_fixed.verdicts)
        row.sequential_decided = sum(v.verdict in DECIDED for v in as_staged.verdicts)
        for claim, a, b, stop in zip(study.claims, as_fixed.verdicts, as_staged.verdicts, as_staged.stops):
            if a.verdict != b.verdict:
                row.changed.append(f"{claim.id}: {a.verdict} → {b.verdict} (look {stop.look}, {stop.why})")
    return rows


def render(rows: list[DesignComparison], budget: str) -> list[str]:
    lines = ["", f"## Sequential vs fixed design at the {budget} budget", "",
             "Each study's tier ran once as a fixed design at its maximum (a temporary home), and both rules judged "
             "those runs: the fixed rule all of them, the sequential rule (README, \"Verdicts\", 4) the replicates "
             "each look queues — the same keys, so the same seeds, as a sequential sweep. Target: at least as many "
             "claims decided (reproduced, contradicted or not reproduced) with fewer replicate trials, or more "
             "decided with no more.", "",
             "| study | looks | claims | fixed: trials | decided | sequential: trials | decided | status |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        if not r.staged:
            lines.append(f"| {r.study} | {r.looks[0]} (fixed) | {r.claims} | — | — | — | — | {r.status} |")
            continue
        lines.append(f"| {r.study} | {', '.join(map(str, r.looks))} | {r.claims} | {r.fixed_trials} | "
                     f"{r.fixed_decided} | {r.sequential_trials} | {r.sequential_decided} | {r.status} |")
    lines.append("")
    for r in rows:
        if r.staged:
            changed = "; ".join(r.changed) or "no verdict differs"
            lines.append(f"- **{r.study}** ({r.minutes:.1f} min for the fixed sweep): {changed}.")
    return lines
