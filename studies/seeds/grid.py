"""HP-BATCH's grid (batch size m x per-example learning rate η̃, several
seeds): its runs as a table, the learning rate a validation split picks per
batch size and seed, and the check that those picks finished training. The
claim, the notes and a figure all read them."""
from __future__ import annotations

import math
from dataclasses import dataclass

from harness.checks import Check, CheckContext, CheckResult, Converged


def batch_grid(runs):
    """One row per finished grid run: m, η̃, replicate, validation accuracy and
    test error (NaN if diverged)."""
    import pandas as pd

    rows = runs[runs["arm"].str.startswith("batch-") & (runs["status"] == "FINISHED")]
    if rows.empty:
        return pd.DataFrame(columns=["m", "base_lr", "replicate", "val_accuracy", "test_error", "first_train_loss",
                                     "final_train_loss", "run_id"])

    def metric(name):
        column = f"metrics.{name}"
        return (rows[column] if column in rows else pd.Series(math.nan, index=rows.index)).astype(float)

    return pd.DataFrame({"m": rows["params.config.batch_size"].astype(int),
                         "base_lr": rows["params.config.base_lr"].astype(float),
                         "replicate": rows["replicate"].astype(int), "val_accuracy": metric("val_accuracy"),
                         "test_error": metric("test_error"), "first_train_loss": metric("first_train_loss"),
                         "final_train_loss": metric("final_train_loss"), "run_id": rows["run_id"]})


def picked_by_validation(runs):
    """Per batch size and seed, the grid point whose η̃ has the best validation
    accuracy (diverged points cannot be picked), in the columns ``Trend``
    reads: replicate, level (m), value (its test error), run_id; and base_lr
    and the pick's first- and last-epoch training loss."""
    import pandas as pd

    grid = batch_grid(runs).dropna(subset=["val_accuracy", "test_error"])
    if grid.empty:
        return pd.DataFrame(columns=["replicate", "level", "value", "run_id", "base_lr", "first_train_loss",
                                     "final_train_loss"])
    picks = grid.loc[grid.groupby(["m", "replicate"])["val_accuracy"].idxmax()]
    return pd.DataFrame({"replicate": picks["replicate"], "level": picks["m"], "value": picks["test_error"],
                         "run_id": picks["run_id"], "base_lr": picks["base_lr"],
                         "first_train_loss": picks["first_train_loss"],
                         "final_train_loss": picks["final_train_loss"]}).reset_index(drop=True)


@dataclass(frozen=True)
class PicksConverged(Check):
    """``Converged`` on the training loss of the runs the validation split
    picked, per batch size: the claim compares those runs, so each must have
    finished improving (a large batch at a fixed number of epochs takes few
    steps and may not)."""

    last: int = 3
    tolerance: float = 0.01
    name = "converged"

    def run(self, ctx: CheckContext, arms: list[str]) -> list[CheckResult]:
        picks = picked_by_validation(ctx.runs)
        if picks.empty:
            return [CheckResult(self.name, "all", False, "no grid run was picked (none finished)")]
        inner = Converged("train_loss", last=self.last, tolerance=self.tolerance)
        out = []
        for m, rows in picks.groupby("level"):
            chosen = ctx.runs[ctx.runs["run_id"].isin(set(rows["run_id"]))]
            label = f"m={m} picks"
            view = CheckContext(chosen.assign(arm=label), ctx.history, tuning_runs=ctx.tuning_runs)
            out += inner.run(view, [label])
        return out
