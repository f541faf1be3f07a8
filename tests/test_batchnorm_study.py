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
