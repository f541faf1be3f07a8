"""The parts of a study's design: arms, budgets, the tuning phase, ensembles,
and the error a malformed declaration raises.

Plain frozen dataclasses, validated on construction, so a malformed study fails
at import with a message naming the field, never halfway through a sweep. This
module imports nothing of the harness: claims, trial contexts and studies all
build on it, and none of them on each other through it.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping

BUDGET_NAMES = ("smoke", "quick", "standard", "full")
REPORT_BUDGET = "standard"  # the tier whose runs make the committed reports: every command's default budget
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


def factorial_cell(replicate: int, factors: int, levels: int) -> tuple[int, ...]:
    """The factorial cell of replicate ``replicate`` of a ``levels``^``factors``
    block: its base-``levels`` digits, factor 0 first (replicate 0 = every
    factor at level 0). A crossed-factorial arm's trials sit at these cells and
    its claim test reads them back from the replicate numbers."""
    if not 0 <= replicate < levels ** factors:
        raise ValueError(f"replicate {replicate} is outside a {levels}^{factors} factorial")
    return tuple((replicate // levels ** (factors - 1 - i)) % levels for i in range(factors))


@dataclass(frozen=True)
class Arm:
    """One condition of the fixed design, e.g. ``deep-ae-30`` or ``pca-30``.

    ``config`` is what the study's trial function receives; it is logged as
    MLflow params. ``seed_group`` gives the arm its own init/noise seeds (see
    ``harness.seeding``); empty means paired with every other arm.
    ``max_replicates`` lets an arm that feeds only a figure run fewer seeds.
    A tuned arm's config may set ``tuning_trials``: its search's trials, in
    place of the budget's (a search whose trials are cheap can afford more).
    """

    name: str
    config: Mapping[str, Any] = field(default_factory=dict)
    seed_group: str = ""
    max_replicates: int | None = None  # cap below the budget's replicates (e.g. for a descriptive curve)

    def __post_init__(self) -> None:
        check_name("arm", self.name)
        if self.max_replicates is not None and self.max_replicates < 1:
            raise StudyDeclarationError(f"arm {self.name!r}: max_replicates must be >= 1")
        trials = self.config.get("tuning_trials")
        if trials is not None and (not isinstance(trials, int) or trials < 1):
            raise StudyDeclarationError(f"arm {self.name!r}: config tuning_trials must be an int >= 1, got {trials!r}")

    def replicates(self, budget: "Budget") -> int:
        return min(budget.replicates, self.max_replicates or budget.replicates)

    def tuning_trials(self, budget: "Budget") -> int:
        """The trials of this arm's search, when the study tunes it and the budget tunes at all."""
        return int(self.config.get("tuning_trials", budget.tuning_trials))

    def replicates_at(self, budget: "Budget", look: int) -> int:
        """The arm's replicates once look ``look`` (0-based) of the budget's schedule has run."""
        return min(budget.schedule[look], self.replicates(budget))


def cap_replicates(design: list[Arm], cap: int | None, *, keep: set[str] | frozenset[str]) -> list[Arm]:
    """Every arm of ``design`` except those named in ``keep`` runs at most ``cap`` seeds.

    Why: an exact sign test on n pairs cannot give p below 2 x 2^-n, so a tier
    may need many seeds for the arms such a test reads while every other claim
    decides at far fewer (``harness.spending.undecidable``). ``cap`` None caps
    nothing; below 2 no paired test could run, so it is refused, as is a name in
    ``keep`` that is not an arm (a typo would silently cap the arm it meant).
    """
    if cap is None:
        return list(design)
    if not isinstance(cap, int) or cap < 2:
        raise StudyDeclarationError(f"a replicate cap must be an int >= 2 (a paired test needs two seeds), got {cap!r}")
    unknown = sorted(set(keep) - {a.name for a in design})
    if unknown:
        raise StudyDeclarationError(f"cap_replicates: {unknown} name no arm of the design")
    return [a if a.name in keep else dataclasses.replace(a, max_replicates=min(cap, a.max_replicates or cap))
            for a in design]


@dataclass(frozen=True)
class Budget:
    """How much compute a tier spends.

    ``replicates`` seeds per arm: the tier's maximum. ``looks`` makes the
    design sequential (``harness.sequential``): the replicate counts after
    which every claim is evaluated, increasing, the last one ``replicates``;
    a claim that is decided stops buying seeds, and an arm gets more only
    while an undecided claim reads it. Without ``looks`` the design is fixed:
    one look at ``replicates`` (what a claim that needs exactly n, e.g. a
    distribution of 100 seeds, declares). ``settings`` are the study's knobs (epochs,
    training-set size, learning rates...) that the trial function reads as
    ``ctx.budget["name"]``: a typed (frozen) dataclass instance, one class per
    study with every field documented, or a plain mapping. Every setting is
    logged as an MLflow param ``settings.<name>`` on each trial's run and is
    part of the design fingerprint. ``tuning_trials`` is the number of search
    trials per tuned arm (0 skips tuning; an arm's config may ask for another
    number, ``Arm.tuning_trials``).
    """

    replicates: int
    settings: Any = field(default_factory=dict)
    tuning_trials: int = 0
    looks: tuple[int, ...] = ()  # empty: one look at ``replicates`` (a fixed design)

    def __post_init__(self) -> None:
        if not isinstance(self.replicates, int) or self.replicates < 1:
            raise StudyDeclarationError(f"a budget needs replicates >= 1, got {self.replicates!r}")
        looks = self.schedule
        if (not all(isinstance(n, int) and n >= 1 for n in looks) or list(looks) != sorted(set(looks))
                or looks[-1] != self.replicates):
            raise StudyDeclarationError(
                f"looks must be increasing positive replicate counts ending at replicates={self.replicates}, "
                f"got {tuple(self.looks)!r} (e.g. looks=(3, 6, {self.replicates}))")
        if not isinstance(self.tuning_trials, int) or self.tuning_trials < 0:
            raise StudyDeclarationError(f"tuning_trials must be >= 0, got {self.tuning_trials!r}")
        typed = dataclasses.is_dataclass(self.settings) and not isinstance(self.settings, type)
        if not (typed or isinstance(self.settings, Mapping)):
            raise StudyDeclarationError(f"budget settings must be a dataclass instance or a mapping, "
                                        f"got {type(self.settings).__name__}")

    @property
    def schedule(self) -> tuple[int, ...]:
        """The replicate count of each look: the declared ``looks``, or one look at ``replicates``."""
        return tuple(self.looks) or (self.replicates,)

    @property
    def sequential(self) -> bool:
        """More than one look: claims may stop before the maximum."""
        return len(self.schedule) > 1

    @property
    def values(self) -> Mapping[str, Any]:
        """Every setting by name (a typed dataclass's fields, in order), read-only."""
        if isinstance(self.settings, Mapping):
            return MappingProxyType(dict(self.settings))
        return MappingProxyType({f.name: getattr(self.settings, f.name) for f in dataclasses.fields(self.settings)})

    def __getitem__(self, key: str) -> Any:
        values = self.values
        try:
            return values[key]
        except KeyError:
            raise KeyError(f"budget has no setting {key!r}; it has {sorted(values)}") from None


@dataclass(frozen=True)
class Tuning:
    """A search per arm on a validation split, before the replicates run.

    ``space(trial)`` suggests hyperparameters with Optuna's define-by-run API
    and returns them as a dict; ``metric`` is the validation metric the trial
    function returns, minimised unless ``direction == "maximize"``. The best
    values are merged into the arm's config for every replicate. The search is
    TPE unless an arm's config says ``"sampler": "random"`` (the seeds study
    compares the two); either sampler is seeded from (study, arm).
    ``spaces`` gives arms a search space of their own (arm -> space, e.g.
    another model's hyperparameters); the others search ``space``.
    """

    arms: tuple[str, ...]
    space: Callable[[Any], dict[str, Any]]
    metric: str
    direction: str = "minimize"
    spaces: Mapping[str, Callable[[Any], dict[str, Any]]] = field(default_factory=dict)

    SAMPLERS = ("tpe", "random")

    def __post_init__(self) -> None:
        if self.direction not in ("minimize", "maximize"):
            raise StudyDeclarationError(f"tuning direction must be minimize or maximize, got {self.direction!r}")
        if set(self.spaces) - set(self.arms):
            raise StudyDeclarationError(f"tuning spaces name arms that are not tuned: "
                                        f"{sorted(set(self.spaces) - set(self.arms))}")

    def space_for(self, arm: str) -> Callable[[Any], dict[str, Any]]:
        """The search space of ``arm``."""
        return self.spaces.get(arm, self.space)

    def all_spaces(self) -> list[Callable[[Any], dict[str, Any]]]:
        """Every distinct search space, the default first."""
        out = [self.space]
        out += [s for s in self.spaces.values() if all(s is not o for o in out)]
        return out


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
    run: Callable[[list[Any]], list[Any]]  # list[TrialContext] -> metrics or exceptions
    max_members: int = 128

    def __post_init__(self) -> None:
        if not isinstance(self.max_members, int) or self.max_members < 1:
            raise StudyDeclarationError(f"Ensemble.max_members must be >= 1, got {self.max_members!r}")
