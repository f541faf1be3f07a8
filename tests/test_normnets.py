"""The normalization layers and networks of harness.normnets."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from harness.models import MODELS
from harness.nets import weight_layers
from harness.normnets import NoisyBatchNorm, norm_layer


def test_noisy_bn_is_plain_bn_in_eval_mode():
    torch.manual_seed(0)
    noisy, plain = NoisyBatchNorm(6), nn.BatchNorm1d(6)
    x = torch.randn(32, 6) * 3 + 1
    noisy.train(), plain.train()
    noisy(x), plain(x)  # same running statistics
    noisy.eval(), plain.eval()
    assert torch.equal(noisy(x), plain(x))


def test_noisy_bn_shifts_mean_and_variance_per_activation_and_redraws_each_step():
    torch.manual_seed(0)
    layer = NoisyBatchNorm(8, mean=0.5, std=1.0).train()
    x = torch.randn(4096, 8)
    first, second = layer(x), layer(x)
    # BN alone would give mean 0 and variance 1 per activation; the noise moves both
    assert first.mean(0).abs().max() > 0.05
    assert (first.var(0) - 1).abs().max() > 0.05
    assert not torch.allclose(first.mean(0), second.mean(0))  # a new draw every step
    noise = first - layer.bn(x)  # per-sample: the noise differs between samples of one activation
    assert noise[:, 0].std() > 0


def test_noisy_bn_draws_from_the_global_rng():
    layer = NoisyBatchNorm(4).train()
    x = torch.randn(16, 4)
    torch.manual_seed(3)
    a = layer(x)
    torch.manual_seed(3)
    assert torch.equal(a, layer(x))


def test_noisy_bn_2d_noise_is_per_channel():
    torch.manual_seed(0)
    layer = NoisyBatchNorm(3, dims=2).train()
    assert layer(torch.randn(8, 3, 5, 5)).shape == (8, 3, 5, 5)


def test_unknown_norm_names_the_known_ones():
    with pytest.raises(ValueError, match="none, bn, noisy-bn"):
        norm_layer("layer", 4)


@pytest.mark.parametrize("norm,count", [("none", 0), ("bn", 3), ("noisy-bn", 3)])
def test_norm_mlp_places_one_norm_per_hidden_layer(norm, count):
    model = MODELS.get("norm-mlp")(in_features=10, hidden=(5, 5, 5), norm=norm)
    assert sum(isinstance(m, (nn.BatchNorm1d, NoisyBatchNorm)) for m in model.body) == count
    assert len(weight_layers(model)) == 4


def test_deep_linear_is_linear_and_bias_free():
    model = MODELS.get("deep-linear")(in_features=6, classes=3, width=4, depth=5).double()
    assert all(layer.bias is None for layer in weight_layers(model)) and len(weight_layers(model)) == 5
    x, y = torch.randn(7, 6, dtype=torch.float64), torch.randn(7, 6, dtype=torch.float64)
    assert torch.allclose(model(2 * x - 3 * y), 2 * model(x) - 3 * model(y))


def test_deep_fc_residual_adds_the_identity():
    torch.manual_seed(0)
    plain = MODELS.get("deep-fc")(in_features=6, width=8, depth=3, residual=False)
    skip = MODELS.get("deep-fc")(in_features=6, width=8, depth=3, residual=True)
    skip.load_state_dict(plain.state_dict())
    for block in (*plain.blocks, *skip.blocks):  # zero blocks: the residual net becomes stem → head
        nn.init.zeros_(block[0].weight), nn.init.zeros_(block[0].bias)
        nn.init.zeros_(block[1].weight), nn.init.zeros_(block[1].bias)
    x = torch.randn(4, 6)
    assert torch.allclose(skip(x), skip.head(skip.stem(x)))
    assert not torch.allclose(plain(x), skip(x))


def test_small_cnn_weight_layers_in_forward_order():
    model = MODELS.get("small-cnn")(channels=(4, 8), norm="bn")
    kinds = [type(m).__name__ for m in weight_layers(model)]
    assert kinds == ["Conv2d", "Conv2d", "Linear"]
    assert model(torch.rand(2, 784)).shape == (2, 10)


def test_noise_scales_noisy_bns_shift_in_the_small_cnn():
    quiet = MODELS.get("small-cnn")(channels=(4,), norm="noisy-bn", noise=0.25)
    loud = MODELS.get("small-cnn")(channels=(4,), norm="noisy-bn", noise=4.0)
    (q,), (l,) = ([m for m in net.modules() if isinstance(m, NoisyBatchNorm)] for net in (quiet, loud))
    assert (q.mean, q.std) == (0.125, 0.25) and (l.mean, l.std) == (2.0, 4.0)
    default = [m for m in MODELS.get("small-cnn")(channels=(4,), norm="noisy-bn").modules()
               if isinstance(m, NoisyBatchNorm)][0]
    assert (default.mean, default.std) == (0.5, 1.0)  # the layer's own defaults: scale 1
    x = torch.randn(256, 4, 5, 5)
    torch.manual_seed(0)
    shift_q = (q.train()(x) - q.bn(x)).std()
    torch.manual_seed(0)
    shift_l = (l.train()(x) - l.bn(x)).std()
    assert shift_l > 8 * shift_q  # 16x the scale; the draws are the same


def test_vgg_small_stacks_conv_norm_relu_blocks_and_classifies():
    model = MODELS.get("vgg-small")(blocks=((4, 4), (8,)), norm="bn")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert [c.out_channels for c in convs] == [4, 4, 8] and len(norms) == 3
    assert len([m for m in model.modules() if isinstance(m, nn.MaxPool2d)]) == 2  # one per block
    assert model.head.in_features == 8 * 7 * 7
    assert model(torch.randn(5, 784)).shape == (5, 10)
    plain = MODELS.get("vgg-small")(blocks=((4, 4), (8,)))
    assert not [m for m in plain.modules() if isinstance(m, nn.BatchNorm2d)]
    with pytest.raises(ValueError, match="pooling blocks"):
        MODELS.get("vgg-small")(blocks=((2,),) * 5)


def test_vgg_small_he_init_keeps_the_signal_of_a_plain_relu_stack():
    torch.manual_seed(0)
    x = torch.randn(64, 784)

    def feature_std(init: str) -> float:
        torch.manual_seed(1)
        return float(MODELS.get("vgg-small")(init=init).features(x.view(-1, 1, 28, 28)).std().detach())

    assert feature_std("he") > 3 * feature_std("torch")  # torch's default shrinks it ~sqrt(6)/sqrt(2) per layer
    with pytest.raises(ValueError, match="unknown init"):
        MODELS.get("vgg-small")(init="xavier")
