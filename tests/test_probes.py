"""Tests for harness.probes against cases with known answers (a quadratic, a
deep linear network, hand-run backward passes, synthetic geometric norms), and
for the probes' promise to leave the model exactly as they found it."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from harness import probes


class Quadratic(nn.Module):
    """L(w) = ½ wᵀ diag(a) w, whatever the input: gradient a ⊙ w, Hessian diag(a)."""

    def __init__(self, a: torch.Tensor, w: torch.Tensor):
        super().__init__()
        self.register_buffer("a", a)
        self.w = nn.Parameter(w.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (self.w * self.a * self.w).sum()


def output(out: torch.Tensor, _target: torch.Tensor) -> torch.Tensor:
    return out


DUMMY = torch.zeros(1, dtype=torch.float64)
A = torch.tensor([0.5, 1.0, 2.0, 4.0], dtype=torch.float64)


def snapshot(model: nn.Module) -> dict[str, torch.Tensor | None]:
    state = {f"param:{n}": p.detach().clone() for n, p in model.named_parameters()}
    state.update({f"grad:{n}": None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()})
    state.update({f"buffer:{n}": b.clone() for n, b in model.named_buffers()})
    return state


def assert_same(before: dict, after: dict) -> None:
    assert before.keys() == after.keys()
    for key in before:
        if before[key] is None:
            assert after[key] is None, key
        else:
            assert torch.equal(before[key], after[key]), key


def bn_net(dropout: float = 0.0) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(dropout), nn.Linear(8, 1)).double()


def batch(n: int = 16, d: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return (torch.randn(n, d, generator=gen, dtype=torch.float64),
            torch.randn(n, 1, generator=gen, dtype=torch.float64))


# ---------------------------------------------------------------- landscape


def test_landscape_on_a_quadratic_matches_the_closed_form():
    w = torch.tensor([1.0, -2.0, 0.5, 0.25], dtype=torch.float64)
    etas = (0.0, 0.05, 0.1, -0.2, 0.3)
    result = probes.landscape(Quadratic(A, w), output, DUMMY, DUMMY, etas)
    g = A * w
    ag = A * g                                          # ∇L(w − ηg) − ∇L(w) = −ηAg
    losses = [float(0.5 * ((w - e * g) * A * (w - e * g)).sum()) for e in etas]
    assert result.etas == etas
    assert result.loss_range == pytest.approx(max(losses) - min(losses), rel=1e-5)
    assert result.grad_predictiveness == pytest.approx(0.3 * float(ag.norm()), rel=1e-5)
    assert result.beta_smoothness == pytest.approx(float(ag.norm() / g.norm()), rel=1e-5)
    assert result.beta_smoothness <= float(A.max())


def test_beta_smoothness_is_the_eigenvalue_along_an_eigenvector():
    w = torch.tensor([0.0, 0.0, 3.0, 0.0], dtype=torch.float64)  # g = 2·3·e₂, eigenvalue 2
    result = probes.landscape(Quadratic(A, w), output, DUMMY, DUMMY, (0.01, 0.1))
    assert result.beta_smoothness == pytest.approx(2.0, rel=1e-5)


def test_landscape_beta_is_nan_without_a_nonzero_step():
    w = torch.tensor([1.0, 1.0, 1.0, 1.0], dtype=torch.float64)
    result = probes.landscape(Quadratic(A, w), output, DUMMY, DUMMY, (0.0,))
    assert result.loss_range == 0.0 and result.grad_predictiveness == 0.0
    assert math.isnan(result.beta_smoothness)
    with pytest.raises(ValueError):
        probes.landscape(Quadratic(A, w), output, DUMMY, DUMMY, ())


def test_scale_free_landscape_on_a_quadratic_matches_the_closed_form():
    w = torch.tensor([1.0, -2.0, 0.5, 0.25], dtype=torch.float64)
    rhos = (0.01, 0.05, 0.2)
    result = probes.scale_free_landscape(Quadratic(A, w), output, DUMMY, DUMMY, rhos)
    g = A * w
    # a step of ρ‖w‖ along −g is η = ρ‖w‖/‖g‖; the gradient changes by ηAg, relative to ‖g‖
    etas = [r * float(w.norm() / g.norm()) for r in rhos]
    changes = [e * float((A * g).norm() / g.norm()) for e in etas]
    assert result.rhos == rhos and result.weight_norm == pytest.approx(float(w.norm()))
    assert result.grad_norm == pytest.approx(float(g.norm()))
    assert result.grad_change == pytest.approx(max(changes), rel=1e-6)
    # on a quadratic the ratio is the same at every ρ: β·‖w‖/‖g‖ with β = ‖Ag‖/‖g‖
    assert result.beta == pytest.approx(float((A * g).norm() / g.norm()) * float(w.norm() / g.norm()), rel=1e-6)
    losses = [float(0.5 * ((w - e * g) * A * (w - e * g)).sum()) for e in etas]
    assert result.loss_range == pytest.approx(max(losses) - min(losses), rel=1e-6)
    with pytest.raises(ValueError):
        probes.scale_free_landscape(Quadratic(A, w), output, DUMMY, DUMMY, (0.0, 0.1))


def test_scale_free_landscape_does_not_move_when_a_scale_invariant_net_is_rescaled():
    """L(cW) = L(W) for W followed by BN without affine parameters: the raw
    β shrinks as 1/c², the scale-free one stays (the reason it exists)."""
    x, y = batch(32, 4)
    torch.manual_seed(0)
    base = nn.Sequential(nn.Linear(4, 3, bias=False), nn.BatchNorm1d(3, affine=False, eps=1e-12)).double().train()
    scaled = copy.deepcopy(base)
    with torch.no_grad():
        scaled[0].weight.mul_(10.0)
    target = y.repeat(1, 3)
    with torch.no_grad():
        assert float(F.mse_loss(scaled(x), target)) == pytest.approx(float(F.mse_loss(base(x), target)), rel=1e-9)
    raw = [probes.landscape(m, F.mse_loss, x, target, (0.01, 0.1)).beta_smoothness for m in (base, scaled)]
    free = [probes.scale_free_landscape(m, F.mse_loss, x, target, (0.001, 0.01, 0.1)) for m in (base, scaled)]
    assert raw[1] < raw[0] / 10                             # raw β moves with the weight norm (here ~1/c²)
    assert free[1].beta == pytest.approx(free[0].beta, rel=1e-6)
    assert free[1].grad_change == pytest.approx(free[0].grad_change, rel=1e-6)
    assert free[1].loss_range == pytest.approx(free[0].loss_range, rel=1e-6)
    assert free[1].weight_norm == pytest.approx(10 * free[0].weight_norm)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_landscape_leaves_the_model_as_found(mode):
    model = bn_net()
    x, y = batch()
    F.mse_loss(model(x), y).backward()                  # non-trivial .grad to preserve
    getattr(model, mode)()
    before = snapshot(model)
    result = probes.landscape(model, F.mse_loss, x, y, (0.01, 0.1, 1.0))
    assert model.training == (mode == "train")
    assert all(m.training == (mode == "train") for m in model.modules())
    assert_same(before, snapshot(model))               # params, grads, BN running stats
    assert result.loss_range > 0 and result.beta_smoothness > 0


def test_landscape_uses_the_callers_mode():
    x, y = batch()
    train = probes.landscape(bn_net().train(), F.mse_loss, x, y, (0.0, 0.5))
    evaluated = probes.landscape(bn_net().eval(), F.mse_loss, x, y, (0.0, 0.5))
    assert train.loss_range != pytest.approx(evaluated.loss_range, rel=1e-3)


def test_landscape_replays_noise_and_restores_the_rng():
    model = bn_net(dropout=0.5).train()
    x, y = batch()
    torch.manual_seed(7)
    result = probes.landscape(model, F.mse_loss, x, y, (0.0, 0.0))
    assert result.loss_range == 0.0 and result.grad_predictiveness == 0.0  # same dropout mask each time
    after_probe = torch.rand(3)
    torch.manual_seed(7)
    assert torch.equal(after_probe, torch.rand(3))      # training's noise stream is untouched


# ---------------------------------------------------------------- internal covariate shift


def deep_linear(bias: bool = False) -> tuple[nn.Module, list[nn.Module]]:
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(4, 6, bias=bias), nn.Linear(6, 5, bias=bias), nn.Linear(5, 2, bias=bias)).double()
    return model, list(model)


def expected_shift(model: nn.Module, x, y, lr: float) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(G, G′) per layer by hand: step-t gradients by backward, then a copy whose
    earlier layers took an SGD step, differentiated again."""
    model = copy.deepcopy(model)
    model.zero_grad()
    F.mse_loss(model(x), y).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    pairs = []
    for i in range(len(model)):
        moved = copy.deepcopy(model)
        with torch.no_grad():
            for j in range(i):
                for n, p in moved[j].named_parameters():
                    p -= lr * grads[f"{j}.{n}"]
        moved.zero_grad()
        F.mse_loss(moved(x), y).backward()
        pairs.append((grads[f"{i}.weight"], moved[i].weight.grad.clone()))
    return pairs


@pytest.mark.parametrize("bias", [False, True])
def test_ics_matches_a_hand_computed_update(bias):
    model, layers = deep_linear(bias)
    x, y = batch(d=4)
    y = y.repeat(1, 2)
    before = snapshot(model)
    shifts = probes.internal_covariate_shift(model, layers, F.mse_loss, x, y, lr=0.5)
    assert_same(before, snapshot(model))
    assert [s.layer for s in shifts] == ["0", "1", "2"]
    assert shifts[0].ics == 0.0 and shifts[0].cosine == 1.0
    for shift, (g, g_shift) in zip(shifts, expected_shift(model, x, y, 0.5)):
        assert shift.ics == pytest.approx(float((g - g_shift).norm()), rel=1e-9, abs=1e-15)
        cosine = float((g * g_shift).sum() / (g.norm() * g_shift.norm()))
        assert shift.cosine == pytest.approx(cosine, rel=1e-9)
        assert shift.grad_norm == pytest.approx(float(g.norm()), rel=1e-6)
    assert shifts[1].ics > 0 and shifts[2].ics > 0


def test_ics_is_zero_without_a_step():
    model, layers = deep_linear()
    x, y = batch(d=4)
    shifts = probes.internal_covariate_shift(model, layers, F.mse_loss, x, y.repeat(1, 2), lr=0.0,
                                             names=["a", "b", "c"])
    assert [s.layer for s in shifts] == ["a", "b", "c"]
    assert all(s.ics == 0.0 and s.cosine == 1.0 for s in shifts)
    with pytest.raises(ValueError):
        probes.internal_covariate_shift(model, layers, F.mse_loss, x, y, lr=0.1, names=["a"])


# ---------------------------------------------------------------- gradient norms and growth


def test_gradient_norms_match_a_plain_backward_pass():
    model = bn_net().train()
    x, y = batch()
    layers = [model[0], model[4]]
    by_hand = copy.deepcopy(model)
    F.mse_loss(by_hand(x), y).backward()
    expected = [float(by_hand[0].weight.grad.norm()), float(by_hand[4].weight.grad.norm())]
    before = snapshot(model)
    assert probes.gradient_norms(model, layers, F.mse_loss, x, y) == pytest.approx(expected, rel=1e-12)
    assert_same(before, snapshot(model))


def test_growth_rate_recovers_lambda():
    depth, lam = 12, 1.467
    norms = [3.0 * lam ** (depth - l) for l in range(depth)]
    fitted, se = probes.fit_growth_rate(norms)
    assert fitted == pytest.approx(lam, rel=1e-9)
    assert se == pytest.approx(0.0, abs=1e-12)
    squared, _ = probes.fit_growth_rate([n**2 for n in norms])
    assert squared == pytest.approx(lam**2, rel=1e-9)


def test_growth_rate_with_noise_has_a_standard_error():
    rng = np.random.default_rng(0)
    norms = [1.467 ** (20 - l) * math.exp(rng.normal(0, 0.1)) for l in range(20)]
    fitted, se = probes.fit_growth_rate(norms)
    assert se > 0
    assert abs(math.log(fitted) - math.log(1.467)) < 4 * se + 1e-3


def test_growth_rate_skips_the_edges():
    lam = 1.467
    middle = [lam ** (10 - l) for l in range(10)]
    norms = [0.0, float("nan"), *middle[2:8], 1e9, -1.0]
    fitted, se = probes.fit_growth_rate(norms, skip_first=2, skip_last=2)
    assert fitted == pytest.approx(lam, rel=1e-9) and se == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError):
        probes.fit_growth_rate(norms)
    with pytest.raises(ValueError):
        probes.fit_growth_rate(norms, skip_first=5, skip_last=4)


def test_gradient_alignment_is_one_for_the_reference_rows_and_leaves_the_model_as_found():
    model = bn_net().train()
    x, y = batch(n=32)
    F.mse_loss(model(x), y).backward()                  # non-trivial .grad to preserve
    before, rng = snapshot(model), torch.get_rng_state()
    whole = probes.gradient_alignment(model, F.mse_loss, x, y, 32, 32, 3, torch.Generator().manual_seed(0))
    small = probes.gradient_alignment(model, F.mse_loss, x, y, 2, 32, 20, torch.Generator().manual_seed(0))
    assert whole == pytest.approx(1.0, abs=1e-12)     # a batch of every row is the reference, in any order
    assert small < 0.99
    assert_same(before, snapshot(model))               # params, grads, BN running stats
    assert torch.equal(rng, torch.get_rng_state())     # the batches come from the caller's generator
