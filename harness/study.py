"""What a study declares: claims, arms, budgets, an optional tuning phase and
the trial function that trains and measures one (arm, replicate).

``Study`` gathers the parts of ``harness.design`` (re-exported here, so a study
module imports its whole vocabulary from one place) and checks them against
each other. Finding and registering studies is ``harness.discovery``'s job.
Nothing here imports torch: listing studies must stay instant.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping

from harness.design import (BUDGET_NAMES, NAME_PATTERN, Arm, Budget, Ensemble, StudyDeclarationError,  # noqa: F401
                            Tuning, cap_replicates, check_name)
from harness.spending import undecidable

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from harness.claims import Claim
    from harness.context import TrialContext


@dataclass(frozen=True)
class Study:
    """A study family: the claims it tests and the experiment that tests them.

    ``arms(budget)`` returns the fixed design for a tier (arms may differ by
    tier, e.g. more code sizes at ``full``). ``run_trial(ctx)`` trains and
    measures one (arm, replicate) and returns its final metrics; per-epoch
    metrics and artifacts go through ``ctx``. ``ensemble`` lets the sweep train
    same-shaped trials together (see ``Ensemble``). ``figures(ctx)`` draws the
    report's figures from the tracking store only. ``check(budget)`` rejects
    budget settings that cannot run (e.g. more training images than exist)
    before any compute.
    """

    name: str
    title: str
    summary: str
    claims: tuple["Claim", ...]
    arms: Callable[[Budget], list[Arm]]
    budgets: Mapping[str, Budget]
    run_trial: Callable[["TrialContext"], Mapping[str, float]]
    datasets: tuple[str, ...] = ()
    figures: Callable[[Any], list[Any]] | None = None
    tuning: Tuning | None = None
    root_seed: int = 0
    check: Callable[[Budget], None] | None = None  # raises StudyDeclarationError for an impossible budget
    ensemble: Ensemble | None = None  # train same-shaped trials as one batched model
    sections: Callable[[Any], list[str]] | None = None  # extra report sections (markdown lines) from the store
    # the claim whose arms' seed-to-seed spread is the reference, per data set, for reports/index.md's table of
    # effects beside seed noise (harness.seednoise)
    seed_noise_reference: str | None = None
    # a learning-curve PNG per run beside the CSV: ~0.2 s a run here (6% of a 3 s trial), and MLflow's UI
    # already charts every logged metric, so it is opt-in
    curve_plots: bool = False

    def __post_init__(self) -> None:
        check_name("study", self.name)
        missing = [b for b in BUDGET_NAMES if b not in self.budgets]
        extra = [b for b in self.budgets if b not in BUDGET_NAMES]
        if missing or extra:
            raise StudyDeclarationError(
                f"study {self.name!r} must declare exactly the budgets {BUDGET_NAMES}; "
                f"missing {missing}, unknown {extra}"
            )
        if not self.claims:
            raise StudyDeclarationError(f"study {self.name!r} declares no claims")
        ids = [c.id for c in self.claims]
        if len(set(ids)) != len(ids):
            raise StudyDeclarationError(f"study {self.name!r} repeats a claim id: {ids}")
        if self.seed_noise_reference is not None and self.seed_noise_reference not in ids:
            raise StudyDeclarationError(f"study {self.name!r}: seed_noise_reference {self.seed_noise_reference!r} "
                                        f"is not one of its claims {ids}")
        if not callable(self.run_trial) or not callable(self.arms):
            raise StudyDeclarationError(f"study {self.name!r}: arms and run_trial must be callables")

    def budget(self, name: str) -> Budget:
        if name not in self.budgets:
            raise StudyDeclarationError(f"unknown budget {name!r}; choose one of {', '.join(BUDGET_NAMES)}")
        return self.budgets[name]

    def design(self, budget: str) -> list[Arm]:
        """The arms of a tier, checked: unique names, and every arm that a
        claim or the tuning phase names is present."""
        arms = list(self.arms(self.budget(budget)))
        names = [a.name for a in arms]
        if not arms:
            raise StudyDeclarationError(f"study {self.name!r} has no arms at budget {budget!r}")
        if len(set(names)) != len(names):
            raise StudyDeclarationError(f"study {self.name!r} repeats an arm name at budget {budget!r}: {names}")
        if self.check:
            self.check(self.budget(budget))
        needed = {arm for claim in self.claims for arm in claim.test.arms()}
        # the arms a claim's notes read (reads_also) absent at this tier are skipped (a tier may have fewer sizes),
        # but not all of them: a claim whose notes find none of theirs names arms of no tier, or misspells them
        blind = [c.id for c in self.claims if c.reads_also and not set(c.reads_also) & set(names)]
        if blind:
            raise StudyDeclarationError(f"study {self.name!r} at budget {budget!r}: claims {blind} name arms in "
                                        f"reads_also of which the design has none (it has {names})")
        if self.tuning and not set(self.tuning.arms) & set(names):
            # tuned arms absent at this tier are skipped (a tier may run fewer searches), but not all of them
            raise StudyDeclarationError(f"study {self.name!r} at budget {budget!r}: none of the tuned arms "
                                        f"{list(self.tuning.arms)} is in the design (it has {names})")
        if self.tuning:
            bad = [a.name for a in arms if a.name in self.tuning.arms
                   and a.config.get("sampler", "tpe") not in Tuning.SAMPLERS]
            if bad:
                raise StudyDeclarationError(f"study {self.name!r}: tuned arms {bad} name an unknown sampler; "
                                            f"known: {', '.join(Tuning.SAMPLERS)}")
        absent = sorted(needed - set(names))
        if absent:
            raise StudyDeclarationError(
                f"study {self.name!r} at budget {budget!r}: claims name arms {absent} "
                f"that the design lacks (it has {names})"
            )
        if len(self.budget(budget).schedule) > 1:
            # a sequential design grows only the arms an open claim reads: one that reads none would be taken
            # to be at its maximum after the first look, silently
            blind = [c.id for c in self.claims if c.test.phase == "replicate" and not any(map(c.test.reads, names))]
            if blind:
                raise StudyDeclarationError(
                    f"study {self.name!r} at budget {budget!r}: claims {blind} read none of the design's arms, so "
                    "their later looks would add no seeds; a test that finds its arms by pattern must override "
                    "ClaimTest.reads to say which")
        if budget != "smoke":  # smoke checks the machinery on 2 replicates: its verdicts are never results
            problems = undecidable(self.claims, self.budget(budget), arms)
            if problems:
                raise StudyDeclarationError(f"study {self.name!r} at budget {budget!r} has claims it could decide "
                                            "only after others (their verdicts would hang on the others'):\n  "
                                            + "\n  ".join(problems))
        return arms

