"""HP-BATCH's grid (batch size m x per-example learning rate η̃, several
seeds): its runs as a table, the learning rate a validation split picks per
batch size and seed, and the check that those picks finished training. The
claim, the notes and a figure all read them."""
from __future__ import annotations

import math
from dataclasses import dataclass

from harness.checks import Check, CheckContext, CheckResult


GRID_METRICS = ("val_accuracy", "test_error", "first_train_loss", "final_train_loss", "best_epoch",
                "epochs_trained", "val_accuracy_fixed", "test_error_fixed")


def batch_grid(runs):
    """One row per finished grid run: m, η̃, replicate, run_id and the run's
    ``GRID_METRICS`` (NaN if it diverged): validation accuracy and test error
    at its best validation epoch, and both at the fixed epoch budget."""
    import pandas as pd

    rows = runs[runs["arm"].str.startswith("batch-") & (runs["status"] == "FINISHED")]
    if rows.empty:
        return pd.DataFrame(columns=["m", "base_lr", "replicate", *GRID_METRICS, "run_id"])

    def metric(name):
        column = f"metrics.{name}"
        return (rows[column] if column in rows else pd.Series(math.nan, index=rows.index)).astype(float)

    return pd.DataFrame({"m": rows["params.config.batch_size"].astype(int),
                         "base_lr": rows["params.config.base_lr"].astype(float),
                         "replicate": rows["replicate"].astype(int), **{name: metric(name) for name in GRID_METRICS},
                         "run_id": rows["run_id"]})


def picked_by_validation(runs, fixed: bool = False):
    """Per batch size and seed, the grid point whose η̃ has the best validation
    accuracy (diverged points cannot be picked), in the columns ``Trend``
    reads: replicate, level (m), value (its test error), run_id; with base_lr
    and the rest of the pick's row. Each run is read at its best validation
    epoch, or with ``fixed`` at the end of the fixed epoch budget (the
    source's protocol)."""
    import pandas as pd

    val, test = ("val_accuracy_fixed", "test_error_fixed") if fixed else ("val_accuracy", "test_error")
    grid = batch_grid(runs).dropna(subset=[val, test])
    if grid.empty:
        return pd.DataFrame(columns=["replicate", "level", "value", "run_id", "base_lr", *GRID_METRICS])
    picks = grid.loc[grid.groupby(["m", "replicate"])[val].idxmax()]
    return picks.assign(level=picks["m"], value=picks[test]).drop(columns=["m"]).reset_index(drop=True)


@dataclass(frozen=True)
class PicksConverged(Check):
    """The runs the validation split picked reached their validation plateau:
    per batch size, every pick's best validation epoch lies at least
    ``patience`` epochs before its last (early stopping with this patience
    would have stopped it). The claim compares those runs' test error at
    their best epoch, so none may still be improving when training ends."""

    patience: int = 5
    name = "converged"

    def run(self, ctx: CheckContext, arms: list[str]) -> list[CheckResult]:
        picks = picked_by_validation(ctx.runs)
        if picks.empty:
            return [CheckResult(self.name, "all", False, "no grid run was picked (none finished)")]
        out = []
        for m, rows in picks.groupby("level"):
            margin = rows["epochs_trained"] - rows["best_epoch"]
            worst = rows.loc[margin.idxmin()]
            passed = bool(margin.min() >= self.patience)
            epochs = ", ".join(str(int(e)) for e in rows["best_epoch"])
            out.append(CheckResult(self.name, f"m={m}", passed,
                                   f"m = {m}: the picks' best validation epochs {epochs} of "
                                   f"{int(worst['epochs_trained'])}"
                                   + ("" if passed else f" -- a pick still improved within its last {self.patience} "
                                                        "epochs: not at its plateau")))
        return out
