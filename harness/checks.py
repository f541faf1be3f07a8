"""Validity checks: is a comparison fair before we ask whether it is significant?

A claim declares its checks beside its test (``Claim.checks``); the report runs
them before the test's verdict counts. A failed check makes the verdict
``inconclusive (invalid: …)`` with the check's own words, and the claim takes
no part in the study's multiple-testing correction (it was not tested).

The checks read what the runs recorded: final metrics and params from the runs
DataFrame, learning curves from the tracking store's metric histories. Tests
add their own checks on the values they test (``censored``, ``not-degenerate``,
see ``harness.claimtests``); ``tuned-alike`` is added to every comparison of
two or more arms unless the claim declares it.

- ``trained``       the training loss fell by a declared fraction from its
                    first evaluation (``Trained``), or the accuracy is a
                    declared margin above chance (``AboveChance``)
- ``converged``     the relative improvement of a metric over the last k
                    evaluations is below a tolerance, or the run stopped on
                    validation patience (a ``stopped_early`` metric of 1);
                    for a step size annealed to 0, the final gradient norm
                    is a small fraction of the first (``Stationary``)
- ``tuned-alike``   every compared arm got the same tuning budget on the same
                    split — or the claim says in words why not
- ``not-crippled``  no hidden layer narrower than the code it feeds
"""
from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

STATUS_FINISHED = "FINISHED"


@dataclass(frozen=True)
class CheckResult:
    name: str       # trained, converged, tuned-alike, censored, not-degenerate, not-crippled
    arm: str        # the arm it is about ("all" for checks of the comparison as a whole)
    passed: bool
    detail: str     # in words, with the numbers: shown in the report under the claim

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "arm": self.arm, "passed": self.passed, "detail": self.detail}


@dataclass
class CheckContext:
    """What a check may read: the replicate runs, the tuning runs, which arms
    the study tunes, and the metric histories of the tracking store."""

    runs: "pd.DataFrame"
    history: Callable[[str, str], list[tuple[int, float]]]
    tuning_runs: "pd.DataFrame | None" = None
    tuned_arms: frozenset[str] = frozenset()

    def finished(self, arm: str) -> "pd.DataFrame":
        return self.runs[(self.runs["arm"] == arm) & (self.runs["status"] == STATUS_FINISHED)]

    def curves(self, arm: str, metric: str) -> list[tuple[str, list[float]]]:
        """(run id, one value per step in step order) of each finished run of the arm.

        A step logged twice (a final metric repeating the last epoch's value)
        counts once, with its last logged value, so the same store always gives
        the same curve. A final metric that would end its curve on another
        value fails its trial (``sweep.clashes_with_curves``): the curve's end
        is always the last evaluation. Stores written before that refusal
        (batchnorm's best val_acc before its curve was named epoch_val_acc)
        end such a curve on the result."""
        out = []
        for run_id in self.finished(arm)["run_id"]:
            by_step: dict[int, float] = {}
            for step, value in self.history(run_id, metric):  # log order: a later value wins
                by_step[step] = value
            out.append((run_id, [by_step[step] for step in sorted(by_step)]))
        return out


class Check:
    """A validity check; ``arms`` empty means the arms the claim's test reads.
    ``per_arm``: it checks the arms it is given, so with none to check it fails
    (a check that passes on nothing could not fail); a check that finds its
    runs itself (e.g. a grid's validation picks) sets it False."""

    name = "check"
    arms: tuple[str, ...] = ()
    per_arm = True

    def run(self, ctx: CheckContext, arms: list[str]) -> list[CheckResult]:
        raise NotImplementedError


def _missing(name: str, arm: str) -> CheckResult:
    return CheckResult(name, arm, False, f"`{arm}` has no finished runs to check")


@dataclass(frozen=True)
class Trained(Check):
    """Every run's ``metric`` (a loss) fell by at least ``fell_by`` (a fraction)
    from its first logged evaluation to its last: a net that never moved
    (e.g. a deep linear net whose signal vanishes at init) is no comparison."""

    metric: str = "train_loss"
    fell_by: float = 0.1
    arms: tuple[str, ...] = ()
    name = "trained"

    def run(self, ctx: CheckContext, arms: list[str]) -> list[CheckResult]:
        out = []
        for arm in arms:
            falls = []
            for _, values in ctx.curves(arm, self.metric):
                if len(values) < 2 or not math.isfinite(values[0]) or values[0] == 0:
                    falls.append(math.nan)
                else:
                    falls.append((values[0] - values[-1]) / abs(values[0]))
            if not falls:
                out.append(_missing(self.name, arm))
                continue
            least = min(falls, key=lambda f: -math.inf if math.isnan(f) else f)
            if math.isnan(least):
                out.append(CheckResult(self.name, arm, False, f"`{arm}`: a run logged fewer than two evaluations "
                                       f"of {self.metric}, so we cannot tell whether it trained"))
                continue
            passed = least >= self.fell_by
            out.append(CheckResult(self.name, arm, passed,
                                   f"`{arm}`: {self.metric} fell {100 * least:.1f}% from its first evaluation "
                                   f"(the least over {len(falls)} runs; need ≥ {100 * self.fell_by:g}%)"))
        return out


@dataclass(frozen=True)
class AboveChance(Check):
    """Every run's final ``metric`` (an accuracy) is at least ``margin`` above ``chance``."""

    metric: str = "test_acc"
    chance: float = 0.1
    margin: float = 0.1
    arms: tuple[str, ...] = ()
    name = "trained"

    def run(self, ctx: CheckContext, arms: list[str]) -> list[CheckResult]:
        out = []
        column = f"metrics.{self.metric}"
        for arm in arms:
            rows = ctx.finished(arm)
            values = rows[column].dropna().to_numpy(dtype=float) if column in rows else []
            if len(values) == 0:
                out.append(_missing(self.name, arm))
                continue
            worst = float(min(values))
            out.append(CheckResult(self.name, arm, worst >= self.chance + self.margin,
                                   f"`{arm}`: {self.metric} {worst:.3g} in its worst run against chance "
                                   f"{self.chance:g} (need ≥ {self.chance + self.margin:g})"))
        return out


@dataclass(frozen=True)
class Converged(Check):
    """Every run's ``metric`` improved by less than ``tolerance`` (relative)
    over its last ``last`` evaluations — or stopped on validation patience
    (the run logged ``stopped_early`` = 1). A claim about what a method *can*
    do is not tested by a run that is still improving."""

    metric: str
    last: int = 3
    tolerance: float = 0.01
    lower_is_better: bool = True
    arms: tuple[str, ...] = ()
    name = "converged"

    def run(self, ctx: CheckContext, arms: list[str]) -> list[CheckResult]:
        out = []
        for arm in arms:
            rows = ctx.finished(arm)
            stopped = (dict(zip(rows["run_id"], rows["metrics.stopped_early"])) if "metrics.stopped_early" in rows
                       else {})
            gains, patience = [], 0
            for run_id, values in ctx.curves(arm, self.metric):
                if stopped.get(run_id) == 1:
                    patience += 1
                    continue
                if len(values) <= self.last or values[-1] == 0:
                    gains.append(math.inf)
                    continue
                change = (values[-1 - self.last] - values[-1]) / abs(values[-1])
                gains.append(change if self.lower_is_better else -change)
            if not gains and not patience:
                out.append(_missing(self.name, arm))
                continue
            if not gains:
                out.append(CheckResult(self.name, arm, True, f"`{arm}`: every run stopped on validation patience"))
                continue
            worst = max(gains, key=lambda g: math.inf if math.isnan(g) else g)  # a NaN curve is the worst
            if math.isinf(worst):
                detail = f"`{arm}`: a run logged {self.last} or fewer evaluations of {self.metric}: convergence unknown"
            else:
                state = "still improving" if worst >= self.tolerance else "improved"
                detail = (f"`{arm}`: {state} {100 * worst:.2f}% over its last {self.last} evaluations of "
                          f"{self.metric} (the most over {len(gains)} runs; tolerance {100 * self.tolerance:g}%)")
                if patience:
                    detail += f"; {patience} run(s) stopped on validation patience"
            out.append(CheckResult(self.name, arm, worst < self.tolerance, detail))
        return out


@dataclass(frozen=True)
class Stationary(Check):
    """Every run ended at a stationary point: its final gradient norm relative
    to its first (``metric``, logged by the trial) is at most ``tolerance``;
    or any other final measure of distance to the optimum (``what`` says it).
    The ``converged`` check for runs whose step size is annealed to 0: there
    a flat tail of the loss says only that the steps got small, while the
    gradient says whether the optimiser got where it was going."""

    metric: str = "grad_norm_ratio"
    tolerance: float = 1e-3
    arms: tuple[str, ...] = ()
    what: str = "final gradient norm relative to its initial one"  # the metric in words, for the report
    name = "converged"

    def run(self, ctx: CheckContext, arms: list[str]) -> list[CheckResult]:
        out = []
        column = f"metrics.{self.metric}"
        for arm in arms:
            rows = ctx.finished(arm)
            values = rows[column].to_numpy(dtype=float) if column in rows else []
            if len(values) == 0:
                out.append(_missing(self.name, arm))
                continue
            worst = float(max(values, key=lambda v: math.inf if math.isnan(v) else v))  # a NaN is the worst
            out.append(CheckResult(self.name, arm, worst <= self.tolerance,
                                   f"`{arm}`: {self.what} {worst:.3g} (the largest over {len(values)} runs; "
                                   f"need ≤ {self.tolerance:g})"))
        return out


@dataclass(frozen=True)
class TunedAlike(Check):
    """The compared arms got the same tuning: all tuned with the same number of
    search trials (on the same validation split: ``TrialContext.data_split``
    carves it identically for every arm), or none tuned. A claim that compares
    a tuned arm with one that has nothing to tune says so in ``reason``."""

    reason: str = ""
    arms: tuple[str, ...] = ()
    name = "tuned-alike"

    def run(self, ctx: CheckContext, arms: list[str]) -> list[CheckResult]:
        tune = ctx.tuning_runs
        # an arm is tuned when search trials ran for it: a tunable arm at a tier without tuning is not
        trials = {a: int((tune["arm"] == a).sum()) if tune is not None and len(tune) else 0 for a in arms}
        tuned = [a for a in arms if a in ctx.tuned_arms and trials[a]]
        untuned = [a for a in arms if a not in tuned]
        if tuned and untuned:
            if self.reason:
                return [CheckResult(self.name, "all", True, f"{_names(tuned)} tuned, {_names(untuned)} not: "
                                                           f"{self.reason}")]
            return [CheckResult(self.name, "all", False, f"{_names(tuned)} tuned, {_names(untuned)} not, and the "
                                                        "claim gives no reason: the comparison favours the tuned arm")]
        if not tuned:
            return [CheckResult(self.name, "all", True, f"no arm tuned: {_names(arms)} use their declared settings")]
        counts = {a: trials[a] for a in tuned}
        alike = len(set(counts.values())) == 1
        summary = ", ".join(f"`{a}` {c}" for a, c in counts.items())
        return [CheckResult(self.name, "all", alike,
                            f"tuning trials per arm on the same validation split: {summary}"
                            + ("" if alike else " — unequal budgets"))]


@dataclass(frozen=True)
class NoBottleneck(Check):
    """No hidden layer narrower than ``per_code`` times the code: an
    autoencoder whose hidden widths squeeze below its own code (e.g. 60-30-15
    before a 30-d code) is structurally crippled, and its error says nothing
    about depth. ``per_code`` = 2 for ReLU layers: a ReLU layer passes a signed
    d-dimensional signal only with 2d units (z = relu(z) − relu(−z)), so only
    then does a deep ReLU AE contain the linear AE of its code."""

    hidden: str = "hidden"
    code: str = "code"
    arms: tuple[str, ...] = ()
    per_code: int = 1
    name = "not-crippled"

    def run(self, ctx: CheckContext, arms: list[str]) -> list[CheckResult]:
        out = []
        for arm in arms:
            rows = ctx.finished(arm)
            hidden_col, code_col = f"params.config.{self.hidden}", f"params.config.{self.code}"
            if rows.empty or hidden_col not in rows or code_col not in rows or rows[hidden_col].isna().all():
                out.append(CheckResult(self.name, arm, True, f"`{arm}` has no hidden layers before its code"))
                continue
            widths = _as_widths(rows[hidden_col].iloc[0])
            code = int(float(rows[code_col].iloc[0]))
            need = self.per_code * code
            narrow = [w for w in widths if w < need]
            limit = "the code" if self.per_code == 1 else f"{self.per_code} x the code ({need})"
            out.append(CheckResult(self.name, arm, not narrow,
                                   f"`{arm}`: hidden widths {'-'.join(map(str, widths))} before a {code}-d code"
                                   + (f": {narrow} narrower than {limit}" if narrow else
                                      f", none narrower than {limit}" if self.per_code > 1 else "")))
        return out


def _as_widths(value: Any) -> list[int]:
    parsed = ast.literal_eval(str(value))
    return [int(w) for w in (parsed if isinstance(parsed, (list, tuple)) else [parsed])]


def _names(arms: list[str]) -> str:
    return ", ".join(f"`{a}`" for a in arms)


def run_checks(checks: tuple[Check, ...], ctx: CheckContext, test_arms: list[str]) -> list[CheckResult]:
    """Every declared check on its arms (the arms the test reads by default), in order."""
    results = []
    for check in checks:
        arms = list(check.arms) or test_arms
        if check.per_arm and not arms:
            results.append(CheckResult(check.name, "all", False, "no arm the test reads has runs: nothing to check"))
            continue
        results += check.run(ctx, arms)
    return results
