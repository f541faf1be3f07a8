"""The sweep of a design, look by look: queue a look's replicates, run them,
wait for the other workers' trials of the look, evaluate the claims
(``harness.sequential``), and queue the next look for the arms that undecided
claims read, until every claim stopped.

A fixed design (one look) is one pass: queue everything, run it. Each look is
queued through ``TrialQueue.enqueue``, under the study's queue lock, so
workers on several machines that evaluate the same look queue its keys once;
since the looks are re-derived from the tracking store, a resumed study or a
late worker continues at the stage the study reached.
"""
from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Callable, Mapping

from optuna.trial import TrialState

from harness import sequential
from harness.assessment import cached_history

if TYPE_CHECKING:  # pragma: no cover
    import optuna

    from harness.study import Arm
    from harness.sweep import Runner, SweepOutcome

POLL_SECONDS = 1.0          # how often a worker waits for others' trials of a look
ORPHAN_CHECK_EVERY = 10     # polls between looks for dead workers' trials (it takes the queue lock)


def run_stages(runner: "Runner", arms: list["Arm"], tuned: Mapping[str, dict],
               on_done: Callable[[bool], None] | None = None,
               on_plan: Callable[[int, int], None] | None = None) -> "SweepOutcome":
    """Run the design to its end; returns what this worker ran. ``on_plan(planned,
    finished)`` is called as each look is queued (for a progress bar)."""
    from harness.sweep import SweepOutcome

    budget = runner.budget
    total = SweepOutcome()
    history = cached_history(runner.tracker)
    counts = {a.name: a.replicates_at(budget, 0) for a in arms}
    if budget.sequential:  # resumed, or joining other workers: start at the look the study reached
        counts = sequential.evaluate_store(runner.study, runner.options.budget, runner.tracker, history).counts
    first = True
    while True:
        ostudy, finished = runner.enqueue(arms, counts)
        if first:
            total.skipped = finished
            first = False
        if on_plan:
            on_plan(sum(counts.values()), finished)
        ran = _drain(runner, ostudy, arms, tuned, on_done)
        total.completed += ran.completed
        total.failed += ran.failed
        if not budget.sequential:
            return total
        outcome = sequential.evaluate_store(runner.study, runner.options.budget, runner.tracker, history)
        if outcome.complete:
            return total
        if outcome.counts == counts and not (ran.completed or ran.failed):
            # the look is planned, nothing is queued or running, and it still has no ended run for every
            # key: keys quarantined after repeated failures. Stop instead of spinning; the report says so
            print(f"harness: look {outcome.look + 1} of {len(budget.schedule)} cannot complete: some of its keys are "
                  "quarantined (failed repeatedly, never ran to the end); the report judges what finished",
                  file=sys.stderr)
            return total
        counts = outcome.counts


def _drain(runner: "Runner", ostudy: "optuna.Study", arms, tuned, on_done) -> "SweepOutcome":
    """Claim and run queued trials until the study has none queued or running
    (another worker's included: a look is judged only once all of it ran)."""
    from harness.sweep import SweepOutcome

    total = SweepOutcome()
    polls = 0
    while True:
        ran = runner.work(ostudy, arms, tuned, on_done)
        total.completed += ran.completed
        total.failed += ran.failed
        busy = ostudy.get_trials(deepcopy=False, states=(TrialState.WAITING, TrialState.RUNNING))
        if not busy or not runner.budget.sequential:
            return total
        if any(t.state == TrialState.WAITING for t in busy):
            continue  # queued by another worker meanwhile: claim them
        polls += 1
        if polls % ORPHAN_CHECK_EVERY == 0:
            runner.fail_orphans(ostudy)  # a worker that died on the look's last trial must not hold it forever
        time.sleep(POLL_SECONDS)
