"""Validity checks of the hyperparameter searches (HP-TUNABILITY,
HP-MOMENTUM-BATCH). A search's trials are meant to differ -- a configuration
that does not train is part of what fANOVA splits -- so the per-run checks of
the replicate claims (every run's loss fell) do not apply. What must hold is
that a search's values measure what its configurations can do: it found
configurations that learn, and (where trials stop early) they had trained to
their validation plateau rather than stopping at the epoch cap still
improving."""
from __future__ import annotations

from dataclasses import dataclass

from harness.checks import Check, CheckContext, CheckResult

CHANCE = 0.1      # MNIST-1D has ten balanced classes
AT_CHANCE = 0.15  # a trial below this validation accuracy did not learn (the notes count them too)


@dataclass(frozen=True)
class SearchLearned(Check):
    """Each search's best trial reached at least ``margin`` above chance on
    ``metric``: otherwise every trial sits near chance, and the variance
    fANOVA splits is noise around it. The detail counts the trials at chance."""

    metric: str = "val_accuracy"
    margin: float = 0.1
    at_chance: float = AT_CHANCE
    arms: tuple[str, ...] = ()
    name = "trained"

    def run(self, ctx: CheckContext, arms: list[str]) -> list[CheckResult]:
        out = []
        column = f"metrics.{self.metric}"
        for arm in arms:
            rows = ctx.finished(arm)
            values = rows[column].dropna() if column in rows else []
            if len(values) == 0:
                out.append(CheckResult(self.name, arm, False, f"`{arm}` has no finished trial with {self.metric}"))
                continue
            best, low = float(values.max()), int((values < self.at_chance).sum())
            need = CHANCE + self.margin
            out.append(CheckResult(self.name, arm, best >= need,
                                   f"`{arm}`: best {self.metric} {best:.3f} (need ≥ {need:g}); {low} of "
                                   f"{len(values)} trials at chance (< {self.at_chance:g})"))
        return out


@dataclass(frozen=True)
class SearchConverged(Check):
    """At least ``min_share`` of each search's trials stopped by validation
    patience (``stopped_early``) before the epoch cap. A trial at the cap had
    improved within its last ``patience`` epochs, so its value is how far its
    configuration got in the cap's epochs, not where it would settle; batch
    size sets the steps an epoch takes, so a search of capped trials gives
    batch size a share for speed as well as for performance."""

    min_share: float = 0.9
    arms: tuple[str, ...] = ()
    name = "converged"

    def run(self, ctx: CheckContext, arms: list[str]) -> list[CheckResult]:
        out = []
        for arm in arms:
            rows = ctx.finished(arm)
            stopped = rows["metrics.stopped_early"].dropna() if "metrics.stopped_early" in rows else []
            if len(stopped) == 0:
                out.append(CheckResult(self.name, arm, False, f"`{arm}` has no finished trial that logged "
                                       "stopped_early, so we cannot tell whether its trials converged"))
                continue
            early, n = int(stopped.sum()), len(stopped)
            passed = early >= self.min_share * n
            out.append(CheckResult(self.name, arm, passed,
                                   f"`{arm}`: {early} of {n} trials stopped by validation patience ({early / n:.0%}; "
                                   f"need ≥ {self.min_share:.0%})"
                                   + ("" if passed else f"; {n - early} reached the epoch cap still improving")))
        return out
