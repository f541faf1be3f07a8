"""HP-BATCH's grid (batch size m x per-example learning rate η̃, several
seeds): its runs as a table, the learning rate a validation split picks per
batch size and seed, when a batch size's training may stop, and the check
that those picks finished training. The claim, the notes and a figure all
read them.

"Finished" is a plateau of validation accuracy, read so that the noise of a
1000-signal validation split (about 1.5 points) cannot fake or hide it: a run
has plateaued when the best accuracy of its first half is within
``PLATEAU_TOLERANCE`` of its best overall -- doubling its training bought at
most that much. (A patience rule, "no new best for 5 epochs", fires on noise
before the curve flattens and fails on a lucky late maximum after it has.)"""
from __future__ import annotations

import math
from dataclasses import dataclass

from harness.checks import Check, CheckContext, CheckResult


GRID_METRICS = ("val_accuracy", "test_error", "first_train_loss", "final_train_loss", "best_epoch",
                "epochs_trained", "val_accuracy_half", "val_accuracy_fixed", "test_error_fixed")
PLATEAU_TOLERANCE = 0.01  # validation accuracy the second half of a run may add and still count as a plateau


def best_of_first_half(val: list[float]) -> float:
    """The best validation accuracy over the first half of the epochs trained."""
    return max(val[:max(1, len(val) // 2)])


def plateaued(val: list[float], tolerance: float = PLATEAU_TOLERANCE) -> bool:
    """Whether a run's validation curve has plateaued: its first half's best
    is within ``tolerance`` of its best overall."""
    return best_of_first_half(val) >= max(val) - tolerance


def picks_plateaued(min_epochs: int, replicates: list[int], tolerance: float = PLATEAU_TOLERANCE):
    """A stopping rule for one batch size's ensemble (``ensemble.train``'s
    ``stop``): after at least ``min_epochs`` epochs, stop once, for every seed
    (``replicates[k]`` is member k's), the member with the best validation
    accuracy so far -- the one the validation split would pick now -- has
    plateaued. Members not picked may still be improving (a tiny learning
    rate); the ``converged`` check later reads the final picks."""
    def stop(epoch: int, results) -> bool:
        if epoch < min_epochs:
            return False
        best: dict[int, list[float]] = {}
        for replicate, result in zip(replicates, results):
            val = result.tracked.get("val", [])
            if result.diverged or not val:
                continue
            if replicate not in best or max(val) > max(best[replicate]):
                best[replicate] = val
        return all(plateaued(val, tolerance) for val in best.values())
    return stop


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
    """The runs the validation split picked reached their validation plateau
    (``plateaued``): per batch size, every pick's second half of training
    raised its best validation accuracy by at most ``tolerance``. The claim
    compares those runs' test error at their best epoch, so none may still be
    improving when training ends."""

    tolerance: float = PLATEAU_TOLERANCE
    name = "converged"
    per_arm = False  # it reads the grid's validation picks, whichever arms they are in

    def run(self, ctx: CheckContext, arms: list[str]) -> list[CheckResult]:
        picks = picked_by_validation(ctx.runs)
        if picks.empty:
            return [CheckResult(self.name, "all", False, "no grid run was picked (none finished)")]
        out = []
        for m, rows in picks.groupby("level"):
            gain = rows["val_accuracy"] - rows["val_accuracy_half"]
            passed = bool(gain.max() <= self.tolerance + 1e-9)  # accuracies are k/1000: no float-noise failures
            epochs = ", ".join(f"{int(b)} of {int(e)}" for b, e in zip(rows["best_epoch"], rows["epochs_trained"]))
            out.append(CheckResult(self.name, f"m={m}", passed,
                                   f"m = {m}: the picks' best validation epochs {epochs}; their second halves "
                                   f"added at most {gain.max():.3f} validation accuracy"
                                   + ("" if passed else f" (> {self.tolerance:g}): a pick was still improving, "
                                                        "not at its plateau")))
        return out
