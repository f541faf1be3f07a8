"""The ae-vs-pca study's own pieces (studies/ae_vs_pca): the alternating
least squares that brings Fashion-MNIST's p = 30 linear AE to its optimum, and
which arms use it. No data set is loaded; the data are synthetic."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from scipy.linalg import subspace_angles

from harness.design import StudyDeclarationError
from harness.models import MODELS
from studies.ae_vs_pca import STUDY, check_budget
from studies.ae_vs_pca.trials import _alternating_least_squares, _gradient_norm


class Logged:
    def __init__(self):
        self.metrics: list[tuple[str, float, int]] = []

    def log_metric(self, key, value, step=None):
        self.metrics.append((key, value, step))


def _centred(n=400, d=20, seed=0):
    """Data whose covariance has a known spectrum with a small gap at p = 4 (eigenvalues 10, 8, 6, 5, 4.8, 1...)."""
    rng = np.random.default_rng(seed)
    scales = np.sqrt(np.array([10, 8, 6, 5, 4.8] + [1.0] * (d - 5)))
    basis, _ = np.linalg.qr(rng.normal(size=(d, d)))
    x = (rng.normal(size=(n, d)) * scales) @ basis.T
    return x - x.mean(0)


def test_als_reaches_the_pca_subspace_and_its_error_never_rises():
    x = _centred()
    p = 4
    torch.manual_seed(0)
    model = MODELS.get("single-layer-ae")(in_features=x.shape[1], code=p)
    xt = torch.as_tensor(x, dtype=torch.float32)
    start = _gradient_norm(model, xt)
    ctx = Logged()
    _alternating_least_squares(model, xt, sweeps=400, every=50, ctx=ctx)
    losses = [v for k, v, _ in ctx.metrics if k == "train_loss"]
    steps = [s for k, _, s in ctx.metrics if k == "train_loss"]
    assert steps[0] == 0 and steps[-1] == 400 and len(steps) == 9
    assert all(b <= a + 1e-12 for a, b in zip(losses, losses[1:]))         # exact block minimisation
    eigenvalues, vectors = np.linalg.eigh(x.T @ x)
    pcs = vectors[:, ::-1][:, :p]
    decoder = model.decoder_weight().double().numpy()
    assert np.degrees(subspace_angles(decoder, pcs).max()) < 1e-3
    optimum = np.sort(eigenvalues)[: x.shape[1] - p].sum() / x.size           # PCA's mean squared error
    assert losses[-1] == pytest.approx(optimum, rel=1e-9)
    assert _gradient_norm(model, xt) / start < 1e-3                           # what the Stationary check reads
    assert all(float(m.bias.detach().abs().max()) == 0 for m in model.modules() if isinstance(m, torch.nn.Linear))
    unit = decoder / np.linalg.norm(decoder, axis=0)
    assert np.abs(unit.T @ unit - np.eye(p)).max() > 0.05   # an invertible mixing of the PCs, not the PCs


def test_als_hands_each_logged_sweeps_weights_to_on_log_for_the_gradient_curve():
    x = _centred()
    torch.manual_seed(0)
    model = MODELS.get("single-layer-ae")(in_features=x.shape[1], code=4)
    xt = torch.as_tensor(x, dtype=torch.float32)
    ctx, seen = Logged(), []

    def on_log(sweep):  # the model's own error must be the one the sweep logged: its weights are that sweep's
        seen.append((sweep, float(torch.nn.functional.mse_loss(model(xt), xt).detach()), _gradient_norm(model, xt)))

    _alternating_least_squares(model, xt, sweeps=200, every=50, ctx=ctx, on_log=on_log)
    logged = [(s, v) for k, v, s in ctx.metrics if k == "train_loss"]
    assert [s for s, _, _ in seen] == [s for s, _ in logged] == [0, 50, 100, 150, 200]
    for (_, loss, _), (_, value) in zip(seen, logged):
        assert loss == pytest.approx(value, rel=1e-5)
    gradients = [g for _, _, g in seen]
    assert gradients[-1] < 1e-3 * gradients[0]                  # the curve falls to the stationary point
    assert gradients[-1] == pytest.approx(_gradient_norm(model, xt))  # and the model ends at the last sweep's weights


def test_only_fashion_mnist_at_p30_is_trained_by_least_squares():
    design = {arm.name: arm.config for arm in STUDY.design("standard")}
    solved = {name for name, config in design.items() if config.get("solver") == "als"}
    assert solved == {"linear-fashion-p30"} and design["linear-fashion-p30"]["code"] == 30
    claim = next(c for c in STUDY.claims if c.id == "AE-LIN-SUBSPACE")
    assert "linear-fashion-p30" in claim.test.arms()


@pytest.mark.parametrize("changes, words", [
    ({"als_arms": ("l2-fashion-p10",)}, "als_arms must name plain linear AEs"),   # it would drop the weight decay
    ({"als_arms": ("no-such-arm",)}, "als_arms must name plain linear AEs"),
    ({"als_sweeps": 0}, "als_sweeps must be >= 1"),
    ({"subspace_n_fashion": 70_000}, "Fashion-MNIST has 60000"),
])
def test_budget_check_names_the_bad_setting(changes, words):
    check_budget(STUDY.budgets["standard"])
    budget = STUDY.budgets["standard"]
    bad = dataclasses.replace(budget, settings=dataclasses.replace(budget.settings, **changes))
    with pytest.raises(StudyDeclarationError, match=words):
        check_budget(bad)


def test_the_size_note_reads_a_negative_effect_as_a_shrinking_deficit():
    # effect = (shallow - deep at ~454k) - (shallow - deep at ~1.14M): with the deep AE behind at both sizes, a
    # negative effect means it is less far behind at the larger size
    import pandas as pd

    from studies.ae_vs_pca.notes import shrinks_note

    rows = [("deep-ae-small", 9.0), ("shallow-ae-small", 7.5), ("deep-ae-30", 7.7), ("shallow-ae-1m", 7.0)]
    runs = pd.DataFrame({"arm": [a for a, _ in rows], "status": "FINISHED", "metrics.test_sse": [v for _, v in rows]})
    (text,) = shrinks_note(runs)
    assert "a negative one that it shrinks (here from 1.500 to 0.700)" in text


def test_the_learning_rate_pilot_runs_the_studys_trial_on_validation_data(tmp_path):
    from studies.ae_vs_pca.lr_pilot import pilot_run

    run = pilot_run("deep-ae-small", 3e-3, "smoke", tmp_path)
    assert run.arm == "deep-ae-small" and run.lr == 3e-3
    assert 0 < run.best_val_sse < 200 and run.epochs == 3  # smoke: 3 epochs, the plateau rule cannot stop it earlier


def test_standard_sizes_the_depth_and_subspace_arms_to_their_settle_lines_and_keeps_other_claims_looks():
    """AE-DEPTH's arms (and the PCA and linear AE paired with them) go to 12 seeds, the plain linear AEs of
    AE-LIN-SUBSPACE and AE-LIN-NONORTHOGONAL to 20; every other arm stops at 6, so the claims that read only those
    keep the information fractions of the design before (1/2 at 3 seeds, then complete at 6) and spend their alpha
    as they did."""
    from harness.spending import arms_read, information, replicates_by_look
    from studies.ae_vs_pca.settings import SUBSPACE_ARMS

    plan = STUDY.budget("standard")
    design = STUDY.design("standard")
    names = [a.name for a in design]
    at = replicates_by_look(plan, design)
    fashion_ae = {"pca-30", "deep-ae-30", "shallow-ae-1m", "deep-ae-small", "shallow-ae-small", "linear-ae-30"}
    assert plan.schedule == (3, 6, 12, 20)
    assert {a: at[-1][a] for a in names} == {
        a: 12 if a in fashion_ae else 20 if a in SUBSPACE_ARMS else 6 for a in names}
    fractions = {c.id: [information(arms_read(c, names), at, k) for k in range(4)] for c in STUDY.claims}
    for claim_id, fraction in fractions.items():
        if claim_id.startswith("AE-DEPTH") or claim_id == "AE-PCA-30":
            assert fraction == [0.25, 0.5, 1.0, 1.0], claim_id
        elif claim_id in ("AE-LIN-SUBSPACE", "AE-LIN-NONORTHOGONAL"):
            assert fraction == [0.15, 0.3, 0.6, 1.0], claim_id
        else:
            assert fraction == [0.5, 1.0, 1.0, 1.0], claim_id
    # the preview is unchanged: 3 seeds of every arm. The paper-scale tier is sequential too (looks at 5, 10, 20):
    # the arms standard takes past 10 go to 20 there, every other arm to 10, the code-size curve's to 3
    assert {a.replicates(STUDY.budget("quick")) for a in STUDY.design("quick")} == {3}
    full_plan = STUDY.budget("full")
    full = {a.name: a.replicates(full_plan) for a in STUDY.design("full")}
    curve = {f"deep-ae-{k}" for k in (2, 4, 8, 16, 60)}
    assert full_plan.schedule == (5, 10, 20)
    assert full == {a: 3 if a in curve else 20 if a in fashion_ae | set(SUBSPACE_ARMS) else 10 for a in full}
