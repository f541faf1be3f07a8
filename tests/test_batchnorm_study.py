"""studies.batchnorm: pieces of its trials that are checked without a run."""
from __future__ import annotations

import pytest
import torch

from harness.models import MODELS
from studies.batchnorm.trials import _gradient_alignment

BUDGET = {"noniid_grad_ref": 1000, "noniid_grad_draws": 20}


@pytest.mark.parametrize("norm", ["none", "bn"])
def test_gradient_alignment_is_one_for_the_whole_set_and_lower_for_small_batches(norm):
    torch.manual_seed(0)
    x, y = torch.randn(64, 20), torch.randint(0, 10, (64,))
    model = MODELS.get("norm-mlp")(in_features=20, hidden=(16, 16), act="relu", norm=norm)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    # a batch of every example is the reference itself (fewer rows than noniid_grad_ref: all of them)
    assert _gradient_alignment(model, x, y, 64, BUDGET, seed=1) == pytest.approx(1.0, abs=1e-5)
    assert _gradient_alignment(model, x, y, 2, BUDGET, seed=1) < 0.9
    # the weights and BN's running statistics are as they were (harness.probes restores them)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_standard_gives_the_speed_and_stability_mlps_20_seeds_and_keeps_every_other_claims_looks():
    """BN-STABLE's ladder and the speed MLPs (faster_ladder's arms, and the 5x arm) may run to 20 seeds; every other
    arm stops at 10, so the claims that read only those keep the information fractions of the design before
    (3/10, 6/10, then complete at 10) and spend their alpha as they did; the preview is unchanged."""
    from harness.spending import arms_read, information, replicates_by_look
    from studies.batchnorm import STUDY
    from studies.batchnorm.settings import faster_ladder

    plan = STUDY.budget("standard")
    design = STUDY.design("standard")
    names = [a.name for a in design]
    at = replicates_by_look(plan, design)
    long_arms = {*faster_ladder("mlp"), *faster_ladder("mlp-bn")}
    assert plan.schedule == (3, 6, 10, 20)
    assert {a: at[-1][a] for a in names} == {a: 20 if a in long_arms else 10 for a in names}
    fractions = {c.id: [information(arms_read(c, names), at, k) for k in range(4)] for c in STUDY.claims}
    for claim_id, fraction in fractions.items():
        if claim_id in ("BN-STABLE", "BN-FASTER", "BN-FASTER-5X", "BN-FASTER-BEST"):
            assert fraction == [0.15, 0.3, 0.5, 1.0], claim_id
        else:
            assert fraction == [0.3, 0.6, 1.0, 1.0], claim_id
    quick = {a.name: a.replicates(STUDY.budget("quick")) for a in STUDY.design("quick")}
    assert quick == {a: 10 if a in long_arms else 3 for a in quick}


def test_full_is_sequential():
    # that it gives no arm fewer seeds than standard: tests/test_run.py, for every study
    from studies.batchnorm import STUDY

    assert STUDY.budget("full").schedule == (5, 10, 20)


def _ladder_runs(best_bn: list[str], best_none: list[str]):
    """Finished runs of both BN-FASTER-BEST ladders: per seed, the named rungs
    ("a = b": a tie) reach the target in 100 steps and every other in 500
    ("(none)": every rung capped at the 3000-step budget)."""
    import pandas as pd

    from studies.batchnorm.settings import faster_ladder

    rows = []
    for ladder, bests in ((faster_ladder("mlp-bn"), best_bn), (faster_ladder("mlp"), best_none)):
        for replicate, best in enumerate(bests):
            for arm in ladder:
                capped = best == "(none)"
                rows.append({"arm": arm, "replicate": replicate, "status": "FINISHED",
                             "metrics.steps_to_target": 3000.0 if capped else 100.0 if arm in best.split(" = ")
                             else 500.0,
                             "metrics.steps_to_target_censored": float(capped)})
    return pd.DataFrame(rows)


def test_faster_best_note_says_whether_each_sides_optimum_lies_inside_the_ladder():
    from studies.batchnorm.notes import faster_best_note
    from studies.batchnorm.settings import faster_ladder, faster_rates

    bn, none = faster_ladder("mlp-bn"), faster_ladder("mlp")
    rates = faster_rates()
    lines = faster_best_note(_ladder_runs([bn[0], bn[0], bn[1], f"{bn[0]} = {bn[1]}"],
                                          [none[2], none[2], none[3], "(none)"]))
    assert lines[0].startswith(f"BN's fastest rate per seed (a tie counts for each rate in it) — {rates[0]:g} in 3 "
                               f"(1 tied), {rates[1]:g} in 2 (1 tied), {rates[2]:g} in 0")
    assert "not bracketed: 2 at the lowest rate alone" in lines[0]
    assert "(none reached the target in 1)" in lines[1] and "its optimum is bracketed" in lines[1]
    assert lines[2].startswith("Seed by seed, BN's fastest rates all lay below no BN's in 3 of 3 seeds and all above "
                               "in 0")
    # a tie with the next rate brackets the optimum: the lowest rate is not faster than every other
    assert "its optimum is bracketed" in faster_best_note(_ladder_runs([f"{bn[0]} = {bn[1]}"] * 2, [none[1]] * 2))[0]
    top = faster_best_note(_ladder_runs([bn[-1]] * 3, [none[1]] * 3))
    assert "not bracketed: 3 at the highest rate alone" in top[0] and "lowest" not in top[0]
    assert "all above in 3" in top[2]
    unreached = faster_best_note(_ladder_runs(["(none)"] * 2, ["(none)"] * 2))
    assert len(unreached) == 2 and all("unknown: no seed reached the target" in line for line in unreached)


@pytest.mark.parametrize("changes, words", [
    ({"faster_lrs_below": ()}, "BN-FASTER-BEST's ladder reads the rates"),   # the rung below mlp_lr left out
    ({"stability_lrs": (0.5, 2.0)}, "BN-STABLE's trend reads the rates"),
])
def test_a_budget_without_a_rung_of_the_ladders_fails_early_with_the_reason(changes, words):
    import dataclasses

    from harness.design import StudyDeclarationError
    from studies.batchnorm import STUDY, check_budget

    for budget in STUDY.budgets.values():
        check_budget(budget)
    budget = STUDY.budgets["standard"]
    with pytest.raises(StudyDeclarationError, match=words):
        check_budget(dataclasses.replace(budget, settings=dataclasses.replace(budget.settings, **changes)))


def test_bn_faster_5x_reads_bn_stables_lowest_rung_instead_of_running_the_same_seeds_twice():
    from studies.batchnorm import STUDY
    from studies.batchnorm.settings import FASTER_5X_ARM, Settings

    design = {a.name: a for a in STUDY.design("standard")}
    (claim,) = [c for c in STUDY.claims if c.id == "BN-FASTER-5X"]
    assert claim.test.arms() == {FASTER_5X_ARM, "mlp"}
    five_x = design[FASTER_5X_ARM]
    assert five_x.config == {"kind": "stability", "norm": "bn", "lr": 5 * Settings.mlp_lr}
    assert five_x.replicates(STUDY.budget("standard")) == design["mlp"].replicates(STUDY.budget("standard"))
    # no other arm trains the BN MLP at that rate
    assert [n for n, a in design.items() if a.config.get("norm") == "bn" and a.config.get("lr") == 5 * Settings.mlp_lr
            and a.config.get("kind") in ("mlp", "stability")] == [FASTER_5X_ARM]
