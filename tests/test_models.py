"""Tests for harness.models and harness.nets: every registered model builds and
runs (timm's test_models style), PCA matches scikit-learn, and the
parameter-matching helpers agree with the modules they describe."""
from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import torch
from torch import nn

from harness import datasets, models, nets
from harness.models import MODELS

IN_FEATURES = 64  # small inputs, so every model runs in milliseconds
BATCH = 5
PARAM_CAP = 5_000_000  # defaults must stay small enough for the CPU budgets


def build_small(name: str):
    """Model ``name`` with in_features=IN_FEATURES where it takes one; PCA fitted on random data."""
    factory = MODELS.get(name)
    parameters = inspect.signature(factory).parameters
    kwargs = {"in_features": IN_FEATURES} if "in_features" in parameters else {}
    if "in_shape" in parameters:  # image models: the same 64 inputs as one 8x8 channel
        kwargs["in_shape"] = (1, 8, 8)
    model = factory(**kwargs)
    if hasattr(model, "fit"):
        model.fit(torch.randn(100, IN_FEATURES, generator=torch.Generator().manual_seed(0)))
    return model


def test_registry_has_the_core_models():
    assert {"mlp", "deep-ae", "shallow-ae", "single-layer-ae", "pca"} <= set(MODELS.names())


@pytest.mark.parametrize("name", MODELS.names())
def test_model_builds_and_runs(name):
    model = build_small(name)
    x = torch.rand(BATCH, IN_FEATURES, generator=torch.Generator().manual_seed(1))
    assert models.describe(name), f"{name} needs a docstring: its first line is its description"
    if hasattr(model, "reconstruct"):
        recon = model.reconstruct(x)
        assert recon.shape == x.shape
        assert torch.isfinite(recon).all()
        code = model.encode(x)
        assert code.shape == (BATCH, model.code_size)
    else:
        out = model(x)
        classes = inspect.signature(MODELS.get(name)).parameters["classes"].default
        assert out.shape == (BATCH, classes)
        assert torch.isfinite(out).all()
    if isinstance(model, nn.Module):
        loss = model(x).square().mean()
        loss.backward()
        assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("name", MODELS.names())
def test_model_defaults_below_parameter_cap(name):
    model = MODELS.get(name)()
    if isinstance(model, nn.Module):
        n = nets.count_parameters(model)
        assert 0 < n < PARAM_CAP
    else:  # a fitted baseline (PCA): nothing to train, the measure interface instead
        assert callable(model.fit) and callable(model.reconstruct) and callable(model.encode)


def test_count_parameters_by_hand():
    model = MODELS.get("mlp")(in_features=4, classes=2, hidden=(3,))
    assert nets.count_parameters(model) == (4 * 3 + 3) + (3 * 2 + 2)


# --------------------------------------------------------------------------- PCA against scikit-learn


@pytest.fixture(scope="module")
def synthetic():
    return datasets.load("synthetic")


@pytest.mark.parametrize("code", [1, 5, 16])
def test_pca_matches_sklearn(synthetic, code):
    from sklearn.decomposition import PCA as SkPCA

    x_train, x_test = synthetic.x_train, synthetic.x_test
    ours = MODELS.get("pca")(code=code).fit(torch.tensor(x_train))
    ref = SkPCA(n_components=code, svd_solver="full").fit(x_train.astype(np.float64))

    components = ours.components_.numpy().astype(np.float64)
    assert components.shape == (code, synthetic.n_features)
    signs = np.sign(np.sum(components * ref.components_, axis=1, keepdims=True))
    assert np.all(signs != 0)
    np.testing.assert_allclose(components * signs, ref.components_, atol=1e-4)

    np.testing.assert_allclose(ours.mean_.numpy(), ref.mean_, atol=1e-6)
    np.testing.assert_allclose(ours.explained_variance_[:code].numpy(), ref.explained_variance_, rtol=1e-4)

    recon = ours.reconstruct(torch.tensor(x_test)).numpy()
    expected = ref.inverse_transform(ref.transform(x_test.astype(np.float64)))
    np.testing.assert_allclose(recon, expected, atol=1e-4)

    codes = ours.encode(torch.tensor(x_test)).numpy()
    np.testing.assert_allclose(codes * signs.T, ref.transform(x_test.astype(np.float64)), atol=1e-4)


def test_pca_explained_variance_covers_every_component(synthetic):
    from sklearn.decomposition import PCA as SkPCA

    ours = MODELS.get("pca")(code=3).fit(torch.tensor(synthetic.x_train))
    ref = SkPCA(svd_solver="full").fit(synthetic.x_train.astype(np.float64))
    assert ours.explained_variance_.shape == (synthetic.n_features,)
    np.testing.assert_allclose(ours.explained_variance_.numpy(), ref.explained_variance_, rtol=1e-4)


def test_pca_full_code_reconstructs_exactly(synthetic):
    x = torch.tensor(synthetic.x_test)
    ours = MODELS.get("pca")(code=synthetic.n_features).fit(torch.tensor(synthetic.x_train))
    torch.testing.assert_close(ours.reconstruct(x), x, atol=1e-5, rtol=0)


def test_pca_rejects_bad_code():
    with pytest.raises(ValueError, match="code >= 1"):
        nets.PCA(0)
    with pytest.raises(ValueError, match="exceeds"):
        nets.PCA(11).fit(torch.randn(10, 20))


# --------------------------------------------------------------------------- parameter matching


@pytest.mark.parametrize("hidden", [(512, 256, 128), (100, 50), (7,)])
def test_autoencoder_params_matches_deep_ae(hidden):
    model = MODELS.get("deep-ae")(in_features=784, hidden=hidden, code=30)
    assert models.autoencoder_params(784, hidden, 30) == nets.count_parameters(model)


@pytest.mark.parametrize("hidden", [256, 33])
def test_autoencoder_params_matches_shallow_ae(hidden):
    model = MODELS.get("shallow-ae")(in_features=784, hidden=hidden, code=30)
    assert models.autoencoder_params(784, (hidden,), 30) == nets.count_parameters(model)


def test_autoencoder_params_by_hand():
    # 10-4-2 encoder and 2-4-10 decoder
    assert models.autoencoder_params(10, (4,), 2) == (10 * 4 + 4 + 4 * 2 + 2) + (2 * 4 + 4 + 4 * 10 + 10)
    assert models.dense_params([3, 2]) == 3 * 2 + 2


@pytest.mark.parametrize("depth", [1, 3])
@pytest.mark.parametrize("target", [100_000, 1_140_000])
def test_widths_for_params_hits_target(depth, target):
    widths = models.widths_for_params(target, in_features=784, code=30, depth=depth)
    assert len(widths) == depth
    assert all(isinstance(w, int) and w >= 1 for w in widths)
    assert list(widths) == sorted(widths, reverse=True)  # tapering
    if depth == 1:
        model = MODELS.get("shallow-ae")(in_features=784, hidden=widths[0], code=30)
    else:
        model = MODELS.get("deep-ae")(in_features=784, hidden=widths, code=30)
    n = nets.count_parameters(model)
    assert abs(n - target) / target <= 0.02, (widths, n)


def test_widths_for_params_taper():
    widths = models.widths_for_params(1_140_000, in_features=784, code=30, depth=3, taper=2.0)
    assert abs(widths[1] - widths[0] / 2) <= 1
    assert abs(widths[2] - widths[0] / 4) <= 1


@pytest.mark.parametrize("target,depth", [(100, 1), (1000, 3), (100_000, 0)])
def test_widths_for_params_impossible_target_raises(target, depth):
    with pytest.raises(ValueError, match="cannot build"):
        models.widths_for_params(target, in_features=784, code=30, depth=depth)


# --------------------------------------------------------------------------- autoencoder structure


def test_single_layer_ae_code_activation():
    sigmoid = MODELS.get("single-layer-ae")(code_act="sigmoid")
    linear = MODELS.get("single-layer-ae")(code_act="linear")
    assert any(isinstance(m, nn.Sigmoid) for m in sigmoid.encoder)
    assert not any(isinstance(m, nn.Sigmoid) for m in linear.encoder)
    assert [type(m) for m in linear.encoder] == [nn.Linear]
    assert [type(m) for m in linear.decoder] == [nn.Linear]  # out_act linear by default


def test_deep_ae_code_is_linear_and_output_sigmoid():
    model = MODELS.get("deep-ae")(in_features=20, hidden=(8, 4), code=2)
    assert isinstance(model.encoder[-1], nn.Linear)
    assert model.encoder[-1].out_features == 2
    assert isinstance(model.decoder[-1], nn.Sigmoid)
    linears = [m.out_features for m in model.decoder if isinstance(m, nn.Linear)]
    assert linears == [4, 8, 20]  # mirrored
    out = model(torch.randn(3, 20) * 100)
    assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("in_features,code", [(64, 10), (20, 3)])
def test_decoder_weight_shape(in_features, code):
    model = MODELS.get("single-layer-ae")(in_features=in_features, code=code)
    weight = model.decoder_weight()
    assert weight.shape == (in_features, code)
    assert not weight.requires_grad
    assert torch.equal(weight, model.decoder[0].weight)


def test_autoencoder_accepts_image_shaped_input():
    model = MODELS.get("shallow-ae")(in_features=16, hidden=8, code=2)
    x = torch.rand(3, 1, 4, 4)
    assert model.reconstruct(x).shape == (3, 16)


def test_unknown_activation_lists_known():
    with pytest.raises(ValueError) as info:
        nets.activation("gelu")
    message = str(info.value)
    assert "'gelu'" in message
    for name in nets.ACTIVATIONS:
        assert name in message
    with pytest.raises(ValueError, match="unknown activation"):
        MODELS.get("mlp")(act="swish")


def test_he_init_scales_the_layers_that_feed_a_relu_and_leaves_the_others():
    torch.manual_seed(0)
    he = MODELS.get("deep-ae")(in_features=784, hidden=(512, 256, 128), code=30, init="he")
    torch.manual_seed(0)
    default = MODELS.get("deep-ae")(in_features=784, hidden=(512, 256, 128), code=30)
    he_linears = [m for m in he.modules() if isinstance(m, torch.nn.Linear)]
    default_linears = [m for m in default.modules() if isinstance(m, torch.nn.Linear)]
    # encoder 784-512-256-128 feed ReLUs, 128->30 is the linear code; decoder 30-128-256-512 feed ReLUs,
    # 512->784 sigmoid
    feeds_relu = [True, True, True, False, True, True, True, False]
    for layer, reference, relu in zip(he_linears, default_linears, feeds_relu):
        if relu:
            assert float(layer.weight.detach().std()) == pytest.approx(math.sqrt(2 / layer.in_features), rel=0.05)
            assert float(layer.bias.detach().abs().max()) == 0.0
        else:
            assert torch.equal(layer.weight, reference.weight)  # torch's default, drawn in the same order
    with pytest.raises(ValueError, match="unknown init 'xavier'; known: torch, he"):
        MODELS.get("shallow-ae")(init="xavier")


def test_he_init_keeps_a_deep_relu_autoencoders_signal_alive():
    x = torch.rand(512, 784)
    scale = {}
    for init in ("torch", "he"):
        torch.manual_seed(1)
        model = MODELS.get("deep-ae")(in_features=784, hidden=(512, 256, 128), code=30, init=init)
        scale[init] = float(model.encode(x).detach().std())
    assert scale["he"] > 3 * scale["torch"]  # torch's default shrinks the signal ~2.4x per ReLU layer
