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
    long_arms = {"mlp-bn-5x", *faster_ladder("mlp"), *faster_ladder("mlp-bn")}
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
