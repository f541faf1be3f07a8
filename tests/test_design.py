"""harness.design: a study's parts, checked on construction."""
from __future__ import annotations

import dataclasses

import pytest

from harness.design import Arm, Budget, StudyDeclarationError, cap_replicates


@dataclasses.dataclass(frozen=True)
class Settings:
    epochs: int
    lr: float = 0.1


def test_typed_settings_read_like_a_mapping_and_keep_the_dataclass():
    budget = Budget(replicates=2, settings=Settings(epochs=3))
    assert budget["epochs"] == 3 and budget["lr"] == 0.1
    assert dict(budget.values) == {"epochs": 3, "lr": 0.1}
    assert budget.settings == Settings(epochs=3)
    with pytest.raises(KeyError, match=r"no setting 'batch'; it has \['epochs', 'lr'\]"):
        budget["batch"]
    with pytest.raises(TypeError):
        budget.values["epochs"] = 4  # read-only: a tier's settings are its pre-registered design


def test_a_typed_setting_missing_from_a_tier_fails_at_declaration():
    with pytest.raises(TypeError, match="epochs"):
        Budget(replicates=2, settings=Settings())  # the study module fails at import, before any compute


def test_replace_keeps_typed_settings_consistent():
    budget = dataclasses.replace(Budget(replicates=2, settings=Settings(epochs=3)), replicates=4)
    assert budget.replicates == 4 and budget["epochs"] == 3 and budget.settings == Settings(epochs=3)


def test_settings_must_be_a_dataclass_or_a_mapping():
    with pytest.raises(StudyDeclarationError, match="dataclass instance or a mapping"):
        Budget(replicates=1, settings=[("epochs", 3)])
    with pytest.raises(StudyDeclarationError, match="dataclass instance or a mapping"):
        Budget(replicates=1, settings=Settings)   # the class, not an instance


def test_an_arm_may_ask_for_its_own_number_of_tuning_trials():
    budget = Budget(replicates=2, settings=Settings(epochs=3), tuning_trials=20)
    assert Arm("a").tuning_trials(budget) == 20
    assert Arm("b", {"tuning_trials": 80}).tuning_trials(budget) == 80
    for bad in (0, 2.5, "80"):
        with pytest.raises(StudyDeclarationError, match="tuning_trials must be an int >= 1"):
            Arm("c", {"tuning_trials": bad})


def test_a_replicate_cap_spares_the_named_arms_and_keeps_smaller_caps():
    design = [Arm("speed-a"), Arm("speed-b"), Arm("figure", max_replicates=2), Arm("other")]
    budget = Budget(replicates=10)
    capped = {a.name: a.replicates(budget) for a in cap_replicates(design, 3, keep={"speed-a", "speed-b"})}
    assert capped == {"speed-a": 10, "speed-b": 10, "figure": 2, "other": 3}
    assert cap_replicates(design, None, keep={"speed-a"}) == design  # no cap: the design as declared


@pytest.mark.parametrize("cap", [0, 1, 2.5])
def test_a_replicate_cap_below_two_seeds_is_refused(cap):
    with pytest.raises(StudyDeclarationError, match="a paired test needs two seeds"):
        cap_replicates([Arm("a"), Arm("b")], cap, keep={"a"})


def test_a_replicate_cap_names_an_unknown_arm_it_should_spare():
    with pytest.raises(StudyDeclarationError, match=r"\['mlp-bn-6x'\] name no arm"):
        cap_replicates([Arm("mlp-bn-5x"), Arm("mlp")], 3, keep={"mlp-bn-6x"})
