"""Dropout, DropConnect, Monte-Carlo inference and max-norm (harness.dropnets)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from harness.dropnets import DropConnectLinear, DropoutCNN, DropoutMLP, apply_max_norm, mc_predict


def test_dropconnect_with_p_one_is_the_plain_layer():
    torch.manual_seed(0)
    layer = DropConnectLinear(6, 4, p=1.0).train()
    plain = nn.Linear(6, 4)
    plain.load_state_dict(layer.state_dict())
    x = torch.randn(5, 6)
    assert torch.equal(layer(x), plain(x))


def test_per_example_dropconnect_gives_each_row_its_own_mask_around_the_mean_weights():
    """4000 copies of one input in one batch: with a mask per example the rows differ, their mean is the
    evaluation output (the same tolerance argument as the per-minibatch test below: SE ~0.009 per output), and
    the gradient reaches the weights through every example's mask."""
    torch.manual_seed(0)
    layer = DropConnectLinear(50, 3, p=0.5, per_example=True).train()
    x = torch.randn(1, 50).expand(4000, 50)
    rows = layer(x)
    assert rows.shape == (4000, 3)
    assert len(torch.unique(rows[:, 0])) > 3000  # distinct masks, not one shared by the batch
    rows.sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
    layer.eval()
    assert torch.allclose(rows.detach().mean(0), layer(x[:1])[0], atol=0.05)
    assert torch.allclose(layer(x[:2])[0], layer(x[:2])[1])  # evaluation: the mean weights, no mask


@pytest.mark.slow  # many sampled masks
def test_dropconnect_drops_weights_in_training_and_uses_the_mean_in_eval():
    """4000 training-mode forward passes, each with its own weight mask. The layer draws one mask per
    call, so the passes are taken as one vmap over the real forward with randomness="different" (every
    element of the vmapped batch draws its own mask): the same 4000 independent samples as a Python
    loop of 4000 calls, without 4000 tiny BLAS calls (several ms each when the 2 cores are shared).

    The tolerance: y_k = sum_j w_kj x_j m_kj / p with m ~ Bernoulli(p = 0.5) has variance
    sum_j w_kj^2 x_j^2 (1 - p) / p ~= 50 * E[w^2] * E[x^2] = 50 * (1/150) * 1 = 1/3 (w ~ U(+-1/sqrt(50))),
    SD ~0.58; the mean of 4000 samples has SE ~0.009, so atol=0.05 is ~5.5 SE per output."""
    torch.manual_seed(0)
    layer = DropConnectLinear(50, 3, p=0.5, bias=False)
    x = torch.randn(2, 50)
    layer.train()
    samples = torch.func.vmap(lambda _: layer(x), randomness="different")(torch.arange(4000))
    assert samples.shape == (4000, 2, 3)
    layer.eval()
    assert torch.allclose(samples.mean(0), layer(x), atol=0.05)  # the expectation of the dropped layer
    assert samples.std(0).min() > 0  # training outputs vary with the mask


@pytest.mark.slow  # many sampled masks
def test_weight_scaling_equals_the_expectation_of_mc_averaging_on_a_linear_layer():
    """For a linear map, the mean over dropout masks of W·(m ⊙ x)/p is W·x, which
    is what weight scaling computes: compare with a large MC average of logits."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Dropout(0.5), nn.Linear(20, 3))
    x = torch.randn(4, 20)
    model.train()
    # 20000 masked passes as one batch: nn.Dropout draws an independent mask entry for every element, so
    # row s of the (20000, 4, 20) input is one pass with its own mask, exactly as 20000 separate calls
    # (which cost 20000 tiny BLAS calls). The tolerance: with keep 0.5 each logit's variance over masks is
    # sum_j w_j^2 x_j^2 ~= 20 * (1/60) * 1 = 1/3 (w ~ U(+-1/sqrt(20))), SD ~0.58, so the mean of 20000 has
    # SE ~0.004 and atol=0.03 is ~7 SE.
    mc = model(x.expand(20000, *x.shape)).mean(0)
    model.eval()
    assert torch.allclose(mc, model(x), atol=0.03)


def test_mc_predict_returns_probabilities_and_leaves_eval_mode():
    torch.manual_seed(0)
    model = DropoutMLP(in_features=8, classes=3, hidden=(16,), p_input=0.8, p_hidden=0.5)
    probabilities = mc_predict(model, torch.randn(5, 8), samples=7)
    assert probabilities.shape == (5, 3)
    assert torch.allclose(probabilities.sum(1), torch.ones(5))
    assert not model.training
    with pytest.raises(ValueError, match="samples"):
        mc_predict(model, torch.randn(5, 8), samples=0)


def test_max_norm_leaves_no_hidden_row_above_c():
    torch.manual_seed(0)
    model = DropoutMLP(in_features=10, classes=3, hidden=(8, 8))
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for layer in linears:
            layer.weight.mul_(50)
    readout_before = linears[-1].weight.clone()
    apply_max_norm(model, 3.0)
    for layer in linears[:-1]:
        assert layer.weight.norm(dim=1).max() <= 3.0 + 1e-5
    assert torch.equal(linears[-1].weight, readout_before)  # the read-out is not constrained
    small = DropoutMLP(in_features=10, classes=3, hidden=(8,))
    before = [p.clone() for p in small.parameters()]
    apply_max_norm(small, 1e6)  # rows already inside the ball are untouched
    assert all(torch.equal(a, b) for a, b in zip(before, small.parameters()))
    with pytest.raises(ValueError, match="max-norm"):
        apply_max_norm(small, 0)


def test_dropout_mlp_places_input_and_hidden_dropout():
    model = DropoutMLP(in_features=10, classes=3, hidden=(8, 8), p_input=0.8, p_hidden=0.5)
    drops = [m.p for m in model.body if isinstance(m, nn.Dropout)]
    assert drops == pytest.approx([0.2, 0.5, 0.5])  # torch takes the drop probability 1 − p
    connect = DropoutMLP(in_features=10, classes=3, hidden=(8, 8), p_input=0.8, p_hidden=0.5, dropconnect=True)
    assert sum(isinstance(m, DropConnectLinear) for m in connect.body) == 2
    assert [m.per_example for m in connect.body if isinstance(m, DropConnectLinear)] == [False, False]
    per_example = DropoutMLP(in_features=10, classes=3, hidden=(8, 8), p_hidden=0.5, dropconnect=True,
                             per_example_masks=True)
    assert [m.per_example for m in per_example.body if isinstance(m, DropConnectLinear)] == [True, True]
    assert [m.p for m in connect.body if isinstance(m, nn.Dropout)] == pytest.approx([0.2])
    with pytest.raises(ValueError, match="retain probability"):
        DropoutMLP(p_hidden=0.0)


def test_dropout_cnn_conv_and_fc_placements():
    conv = DropoutCNN(channels=(4, 8), p_conv=0.75)
    fc = DropoutCNN(channels=(4, 8), p_fc=0.5)
    assert sum(isinstance(m, nn.Dropout) for m in conv.features) == 2 and not any(
        isinstance(m, nn.Dropout) for m in conv.head)
    assert not any(isinstance(m, nn.Dropout) for m in fc.features) and sum(
        isinstance(m, nn.Dropout) for m in fc.head) == 1
    assert conv(torch.rand(3, 784)).shape == (3, 10)
