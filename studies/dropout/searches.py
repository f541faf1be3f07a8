"""DO-RATE's repeated searches of the retain probabilities, and the test on them.

The sentence ("p is usually 0.5; for input nodes it is typically much higher")
describes a convention, so it is tested on what tuning finds: each search
arm ``rate-search-i`` is an independent random search over (input, hidden)
retain probabilities whose every trial trains like a replicate (to its own
validation plateau; short tuning runs favour high retain rates, because
dropout nets converge later). Both rates are drawn from the same range, so a
flat objective gives no difference between them on average. Per search, the
trial with the lowest validation error is the tuned setting; the test is a
one-sample t-test over searches that tuned input retain − tuned hidden retain
is above 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harness.checks import STATUS_FINISHED
from harness.claims import ClaimTest, Evidence, no_evidence
from harness.claimtests import bound_evidence

PREFIX = "rate-search-"
RANGE = (0.2, 1.0)   # the retain probabilities both rates are drawn from (the same range: no built-in difference)


def rate_space(trial) -> dict[str, float]:
    return {"p_input": trial.suggest_float("p_input", *RANGE), "p_hidden": trial.suggest_float("p_hidden", *RANGE)}


def tuned_rates(runs):
    """One row per search, in numeric order: the finished tuning trial with the lowest validation error (ties: the
    earlier trial, as Optuna's best_trial), with its retain probabilities and run id."""
    import pandas as pd

    columns = ["search", "p_input", "p_hidden", "val_error", "trials", "run_id"]
    needed = {"params.hp.p_input", "params.hp.p_hidden", "metrics.val_error"}
    if not len(runs) or not needed <= set(runs.columns):
        return pd.DataFrame(columns=columns)
    done = runs[runs["arm"].str.startswith(PREFIX) & (runs["status"] == STATUS_FINISHED)]
    done = done.dropna(subset=sorted(needed))
    rows = []
    for arm, group in sorted(done.groupby("arm"), key=lambda item: search_number(item[0])):
        best = group.assign(v=group["metrics.val_error"].astype(float)).sort_values(["v", "replicate"]).iloc[0]
        rows.append((arm, float(best["params.hp.p_input"]), float(best["params.hp.p_hidden"]), float(best["v"]),
                     len(group), best["run_id"]))
    return pd.DataFrame(rows, columns=columns)


def search_number(arm: str) -> int:
    """``rate-search-10`` -> 10: searches are listed in numeric order (as strings, 10 would come before 2)."""
    return int(arm[len(PREFIX):])


@dataclass(frozen=True)
class InputAboveHidden(ClaimTest):
    """Over searches, the tuned input retain probability minus the tuned hidden one is above 0."""

    phase = "tune"

    def arms(self) -> set[str]:
        return set()  # the searches are found by prefix, whatever the tier's number of them

    def reads(self, arm: str) -> bool:
        return arm.startswith(PREFIX)

    def describe(self) -> str:
        return ("per search, the retain probabilities of the trial with the lowest validation error; one-sample "
                "t-test over searches that tuned input retain − tuned hidden retain is above 0 (support) or below "
                "(contradicted)")

    def evaluate(self, runs) -> Evidence:
        picks = tuned_rates(runs)
        ids = tuple(picks["run_id"])
        measured = {"tuned input retain": float(picks["p_input"].mean()) if len(picks) else math.nan,
                    "tuned hidden retain": float(picks["p_hidden"].mean()) if len(picks) else math.nan}
        if len(picks) < 2:
            return no_evidence(self.describe(), len(picks), ids, measured)
        difference = picks["p_input"].to_numpy(float) - picks["p_hidden"].to_numpy(float)
        return bound_evidence({"input − hidden": np.asarray(difference)}, 0.0, "above", self.describe(), ids,
                              measured)
