"""What a study declares: claims, arms, budgets, an optional tuning phase and
the trial function that trains and measures one (arm, replicate).

Declarations are plain frozen dataclasses, validated when the study is
registered so that a malformed study fails at import with a message naming the
field, never halfway through a sweep. Nothing here imports torch: listing
studies must stay instant.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from harness.registry import Registry

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from harness.claims import Claim
    from harness.context import TrialContext

BUDGET_NAMES = ("smoke", "quick", "full")
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")  # safe in paths, URLs and MLflow names


class StudyDeclarationError(ValueError):
    """A study, arm, budget or claim declaration that cannot run."""


def check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise StudyDeclarationError(
            f"invalid {kind} name {name!r}: use lowercase letters, digits and '-' "
            "(at most 63 characters, no path separators)"
        )
    return name


@dataclass(frozen=True)
class Arm:
    """One condition of the fixed design, e.g. ``deep-ae-30`` or ``pca-30``.

    ``config`` is what the study's trial function receives; it is logged as
    MLflow params. ``seed_group`` gives the arm its own init/noise seeds (see
    ``harness.seeding``); empty means paired with every other arm.
    ``max_replicates`` lets an arm that feeds only a figure run fewer seeds.
    """

    name: str
    config: Mapping[str, Any] = field(default_factory=dict)
    seed_group: str = ""
    max_replicates: int | None = None  # cap below the budget's replicates (e.g. for a descriptive curve)

    def __post_init__(self) -> None:
        check_name("arm", self.name)
        if self.max_replicates is not None and self.max_replicates < 1:
            raise StudyDeclarationError(f"arm {self.name!r}: max_replicates must be >= 1")

    def replicates(self, budget: "Budget") -> int:
        return min(budget.replicates, self.max_replicates or budget.replicates)


@dataclass(frozen=True)
class Budget:
    """How much compute a tier spends.

    ``replicates`` seeds per arm; ``settings`` are study-specific knobs (epochs,
    training-set size...) that the trial function reads; ``tuning_trials`` is
    the number of TPE trials per tuned arm (0 skips tuning).
    """

    replicates: int
    settings: Mapping[str, Any] = field(default_factory=dict)
    tuning_trials: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.replicates, int) or self.replicates < 1:
            raise StudyDeclarationError(f"a budget needs replicates >= 1, got {self.replicates!r}")
        if not isinstance(self.tuning_trials, int) or self.tuning_trials < 0:
            raise StudyDeclarationError(f"tuning_trials must be >= 0, got {self.tuning_trials!r}")

    def __getitem__(self, key: str) -> Any:
        try:
            return self.settings[key]
        except KeyError:
            raise KeyError(f"budget has no setting {key!r}; it has {sorted(self.settings)}") from None


@dataclass(frozen=True)
class Tuning:
    """A search per arm on a validation split, before the replicates run.

    ``space(trial)`` suggests hyperparameters with Optuna's define-by-run API
    and returns them as a dict; ``metric`` is the validation metric the trial
    function returns, minimised unless ``direction == "maximize"``. The best
    values are merged into the arm's config for every replicate. The search is
    TPE unless an arm's config says ``"sampler": "random"`` (the seeds study
    compares the two); either sampler is seeded from (study, arm).
    """

    arms: tuple[str, ...]
    space: Callable[[Any], dict[str, Any]]
    metric: str
    direction: str = "minimize"

    SAMPLERS = ("tpe", "random")

    def __post_init__(self) -> None:
        if self.direction not in ("minimize", "maximize"):
            raise StudyDeclarationError(f"tuning direction must be minimize or maximize, got {self.direction!r}")


@dataclass(frozen=True)
class Ensemble:
    """How a study trains many same-shaped trials at once (``harness.ensemble``).

    ``key(config, budget)`` names the model shape and schedule a trial needs
    (its arm's config with tuned hyperparameters merged); trials whose keys are
    equal can train as one batched model, ``None`` means "train alone".
    ``run(contexts)`` trains the trials of one group together and returns, per
    context and in order, its final metrics or the exception that failed it.
    Each member is still its own Optuna trial and MLflow run; the sweep groups
    queued trials by key, at most ``max_members`` at a time.
    """

    key: Callable[[Mapping[str, Any], Budget], str | None]
    run: Callable[[list["TrialContext"]], list[Any]]
    max_members: int = 128

    def __post_init__(self) -> None:
        if not isinstance(self.max_members, int) or self.max_members < 1:
            raise StudyDeclarationError(f"Ensemble.max_members must be >= 1, got {self.max_members!r}")


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
        return arms


STUDIES: Registry[Study] = Registry("study")


def register(study: Study) -> Study:
    """Register a study declaration; each module in ``studies/`` calls this."""
    STUDIES.add(study.name, study)
    return study


STUDY_MODULES_ENV = "HARNESS_STUDY_MODULES"  # extra, comma-separated modules that register studies


def load_studies() -> Registry[Study]:
    """Import every module of the ``studies`` package so that it registers,
    plus any modules named in $HARNESS_STUDY_MODULES (studies kept outside
    this repository, and the tests' own tiny study)."""
    import importlib
    import os
    import pkgutil

    import studies

    names = [f"studies.{m.name}" for m in pkgutil.iter_modules(studies.__path__) if not m.name.startswith("_")]
    names += [n.strip() for n in os.environ.get(STUDY_MODULES_ENV, "").split(",") if n.strip()]
    for name in names:
        importlib.import_module(name)  # a module registers once: Python caches imports
    return STUDIES


def get_study(name: str) -> Study:
    return load_studies().get(name)
