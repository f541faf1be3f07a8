"""Validation before compute: study declarations, budgets and search spaces."""
from __future__ import annotations

import dataclasses

import pytest

from harness.claimtests import Better
from harness.claims import Claim
from harness.design import BUDGET_NAMES
from harness.run import QUICK_MAX_WORKERS, InputError, RunRequest, check_tuning_space, default_workers, prepare
from harness.discovery import get_study, load_studies
from harness.study import Arm, Budget, Study, StudyDeclarationError, Tuning
from harness.tracking import study_runs

CLAIM = Claim(id="X", quote="q", article="a", section="s", source="src", source_numbers="n", measure="m",
              test=Better("loss", "a", "b"))
BUDGETS = {b: Budget(replicates=2) for b in ("smoke", "quick", "standard", "full")}


def make(**overrides) -> Study:
    fields = dict(name="x", title="t", summary="s", claims=(CLAIM,), arms=lambda b: [Arm("a"), Arm("b")],
                  budgets=BUDGETS, run_trial=lambda ctx: {})
    fields.update(overrides)
    return Study(**fields)


def test_malformed_declarations_fail_with_the_field_named():
    with pytest.raises(StudyDeclarationError, match="budgets"):
        make(budgets={"quick": Budget(replicates=1)})
    with pytest.raises(StudyDeclarationError, match="no claims"):
        make(claims=())
    with pytest.raises(StudyDeclarationError, match="repeats a claim id"):
        make(claims=(CLAIM, CLAIM))
    with pytest.raises(StudyDeclarationError, match="invalid study name"):
        make(name="../x")
    with pytest.raises(StudyDeclarationError, match="replicates >= 1"):
        Budget(replicates=0)
    with pytest.raises(StudyDeclarationError, match="lacks"):
        make(arms=lambda b: [Arm("a")]).design("quick")
    with pytest.raises(StudyDeclarationError, match="repeats an arm"):
        make(arms=lambda b: [Arm("a"), Arm("b"), Arm("a")]).design("quick")
    with pytest.raises(StudyDeclarationError, match="unknown budget"):
        make().design("medium")


def test_a_budget_check_runs_when_the_design_is_made():
    def check(budget):
        raise StudyDeclarationError("too many images")

    with pytest.raises(StudyDeclarationError, match="too many images"):
        make(check=check).design("quick")


def test_arm_replicate_cap():
    assert Arm("a", max_replicates=2).replicates(Budget(replicates=5)) == 2
    assert Arm("a").replicates(Budget(replicates=5)) == 5


def test_bad_search_range_fails_before_compute():
    bad = make(tuning=Tuning(arms=("a",), metric="loss",
                             space=lambda t: {"lr": t.suggest_float("lr", 1e-1, 1e-3, log=True)}))
    with pytest.raises(InputError, match="bad tuning search space"):
        check_tuning_space(bad)
    good = dataclasses.replace(bad, tuning=dataclasses.replace(
        bad.tuning, space=lambda t: {"lr": t.suggest_float("lr", 1e-3, 1e-1, log=True)}))
    check_tuning_space(good)  # no error


@pytest.mark.parametrize("name", load_studies().names())
def test_every_studys_tiers_are_possible_and_can_decide_each_claim_on_its_own(name):
    # design() checks the budget (data sizes, ladders) and, above smoke, that no claim's p has a floor above
    # Holm's first step (spending.undecidable): batchnorm's speed MLPs at 10 seeds, dropout's at 9 (8 at quick)
    study = get_study(name)
    for budget in BUDGET_NAMES:
        assert study.design(budget)


@pytest.mark.parametrize("name", load_studies().names())
def test_full_gives_no_arm_fewer_seeds_than_standard(name):
    """The paper-scale tier may take every arm as far as standard does, so no claim decided at standard is left
    open at full for want of seeds (the arms' most replicates over a sequential tier's looks)."""
    from harness.spending import replicates_by_look

    study = get_study(name)
    standard, full = (replicates_by_look(study.budget(t), study.design(t))[-1] for t in ("standard", "full"))
    fewer = {arm: (n, full.get(arm)) for arm, n in standard.items() if full.get(arm, 0) < n}
    assert not fewer, f"arm: (standard, full) {fewer}"


def test_a_too_large_ae_vs_pca_budget_fails_at_declaration():
    study = get_study("ae-vs-pca")
    huge = dataclasses.replace(study.budgets["quick"], settings={**study.budgets["quick"].values, "n_train": 59_000})
    broken = dataclasses.replace(study, budgets={**study.budgets, "quick": huge})
    with pytest.raises(StudyDeclarationError, match="Fashion-MNIST has 60000"):
        broken.design("quick")


def test_prepare_rejects_bad_workers(home):
    with pytest.raises(InputError, match="--workers"):
        prepare(RunRequest("tiny", "smoke", workers=0))


def test_quick_defaults_to_a_worker_per_core_and_every_other_tier_to_one():
    assert [default_workers("quick", cores=c) for c in (1, 2, 16)] == [1, 2, min(16, QUICK_MAX_WORKERS)]
    assert {default_workers(b, cores=2) for b in BUDGET_NAMES if b != "quick"} == {1}  # the committed float path
    assert {default_workers(b, cores=64) for b in BUDGET_NAMES if b != "quick"} == {1}


@pytest.mark.slow  # runs a study
def test_study_runs_is_the_public_dataframe(home):
    from harness.run import run_study

    run_study(RunRequest("tiny", "smoke", progress=False))
    frame = study_runs("tiny", "smoke")
    assert len(frame) == 4
    assert {"run_id", "arm", "replicate", "status", "metrics.test_error", "params.seed.init",
            "tags.harness.dataset_digest"} <= set(frame.columns)
    assert study_runs("tiny", "quick").empty


def test_unknown_model_or_dataset_names_in_arms_fail_before_compute():
    from harness.run import check_registry_names

    study = make()
    with pytest.raises(InputError, match=r"arm 'a': unknown model 'deep-aee'\. Did you mean 'deep-ae'\?"):
        check_registry_names(study, [Arm("a", {"model": "deep-aee"})])
    with pytest.raises(InputError, match=r"arm 'b': unknown dataset 'fashion-mnistt'"):
        check_registry_names(study, [Arm("a", {"model": "deep-ae"}), Arm("b", {"dataset": "fashion-mnistt"})])
    check_registry_names(study, [Arm("a", {"model": "pca", "dataset": "digits"}), Arm("b", {"width": 2})])
    check_registry_names(get_study("ae-vs-pca"), get_study("ae-vs-pca").design("quick"))  # the real studies pass


def test_bad_devices_are_input_errors():
    from harness.run import check_device

    with pytest.raises(InputError, match="is not a torch device"):
        check_device("gpu")
    with pytest.raises(InputError, match="CUDA is not available|CUDA device"):
        check_device("cuda:99")
    check_device("cpu")
    check_device(None)
