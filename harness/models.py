"""The model registry: names → factory functions whose keyword arguments
override the defaults (timm's ``@register_model`` convention).

Factories import torch only when called, so ``harness list models`` is instant.
Each factory's docstring's first line is its description in ``harness list``.
"""
from __future__ import annotations

import math
from typing import Sequence

from harness.registry import Registry

MODELS = Registry("model")


@MODELS.register("mlp")
def mlp(in_features: int = 784, classes: int = 10, hidden: Sequence[int] = (512, 512), act: str = "relu"):
    """Fully connected classifier (default 784-512-512-10, ReLU)."""
    from harness.nets import MLP

    return MLP(in_features, classes, tuple(hidden), act)


@MODELS.register("lstm")
def lstm(classes: int = 10, hidden: int = 64, cell: str = "lstm", layers: int = 1, forget_bias: float | None = None):
    """Recurrent classifier of a 1-D signal, one value per step (LSTM or GRU, last step -> linear)."""
    from harness.nets import SequenceClassifier

    return SequenceClassifier(classes, hidden, cell, layers, forget_bias)


@MODELS.register("deep-ae")
def deep_ae(in_features: int = 784, hidden: Sequence[int] = (512, 256, 128), code: int = 30,
            act: str = "relu", out_act: str = "sigmoid", init: str = "torch"):
    """Deep autoencoder, mirrored decoder, linear code (default 784-512-256-128-30)."""
    from harness.nets import Autoencoder

    return Autoencoder(in_features, tuple(hidden), code, act, out_act, init=init)


@MODELS.register("shallow-ae")
def shallow_ae(in_features: int = 784, hidden: int = 256, code: int = 30, act: str = "relu", out_act: str = "sigmoid",
               init: str = "torch"):
    """Shallow autoencoder: one hidden layer on each side of the code (in-h-code-h-in)."""
    from harness.nets import Autoencoder

    return Autoencoder(in_features, (hidden,), code, act, out_act, init=init)


@MODELS.register("single-layer-ae")
def single_layer_ae(in_features: int = 64, code: int = 10, code_act: str = "linear", out_act: str = "linear",
                    init: str = "torch"):
    """Autoencoder whose only hidden layer is the code (in-code-in): linear or sigmoid code units."""
    from harness.nets import Autoencoder

    return Autoencoder(in_features, (), code, out_act=out_act, code_act=code_act, init=init)


@MODELS.register("norm-mlp")
def norm_mlp(in_features: int = 784, classes: int = 10, hidden: Sequence[int] = (100, 100, 100), act: str = "sigmoid",
             norm: str = "none"):
    """MLP with optional batch norm before each nonlinearity (default: Ioffe & Szegedy's 3x100 sigmoid check)."""
    from harness.normnets import NormMLP

    return NormMLP(in_features, classes, tuple(hidden), act, norm)


@MODELS.register("small-cnn")
def small_cnn(in_shape: Sequence[int] = (1, 28, 28), classes: int = 10, channels: Sequence[int] = (16, 32),
              norm: str = "none", noise: float = 1.0):
    """Small CNN: conv3x3-norm-ReLU-maxpool blocks and a linear head; norm none, bn or noisy-bn (``noise`` scales
    the injected shift)."""
    from harness.normnets import SmallCNN

    return SmallCNN(tuple(in_shape), classes, tuple(channels), norm, noise)


@MODELS.register("vgg-small")
def vgg_small(in_shape: Sequence[int] = (1, 28, 28), classes: int = 10,
              blocks: Sequence[Sequence[int]] = ((8, 8), (16, 16), (32,)), norm: str = "none", init: str = "torch"):
    """Small VGG-style CNN: blocks of conv3x3-norm-ReLU layers, each closed by a max-pool; norm none or bn; init
    torch or he."""
    from harness.normnets import VGGStyle

    return VGGStyle(tuple(in_shape), classes, tuple(tuple(b) for b in blocks), norm, init)


@MODELS.register("deep-linear")
def deep_linear(in_features: int = 784, classes: int = 10, width: int = 64, depth: int = 25, norm: str = "none",
                init: str = "torch"):
    """Deep linear network (bias-free), optionally with batch norm between layers."""
    from harness.normnets import DeepLinear

    return DeepLinear(in_features, classes, width, depth, norm, init)


@MODELS.register("deep-fc")
def deep_fc(in_features: int = 784, classes: int = 10, width: int = 256, depth: int = 20, act: str = "relu",
            norm: str = "bn", residual: bool = False):
    """Wide deep fully connected net of Linear-BN-act blocks, optionally residual."""
    from harness.normnets import DeepFC

    return DeepFC(in_features, classes, width, depth, act, norm, residual)


@MODELS.register("dropout-mlp")
def dropout_mlp(in_features: int = 784, classes: int = 10, hidden: Sequence[int] = (256, 256), p_input: float = 1.0,
                p_hidden: float = 1.0, dropconnect: bool = False):
    """ReLU MLP with input/hidden dropout (retain probabilities p), or DropConnect on the hidden layers."""
    from harness.dropnets import DropoutMLP

    return DropoutMLP(in_features, classes, tuple(hidden), p_input, p_hidden, dropconnect)


@MODELS.register("dropout-cnn")
def dropout_cnn(in_shape: Sequence[int] = (1, 28, 28), classes: int = 10, channels: Sequence[int] = (16, 32),
                fc: int = 128, p_conv: float = 1.0, p_fc: float = 1.0):
    """CNN with dropout after the conv blocks (p_conv) and/or in the fully connected head (p_fc)."""
    from harness.dropnets import DropoutCNN

    return DropoutCNN(tuple(channels), fc, p_conv, p_fc, tuple(in_shape), classes)


@MODELS.register("pca")
def pca(code: int = 30):
    """Principal component analysis baseline with the autoencoders' encode/reconstruct interface."""
    from harness.nets import PCA

    return PCA(code)


def dense_params(widths: Sequence[int]) -> int:
    """Weights and biases of a chain of linear layers through ``widths``."""
    return sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))


def autoencoder_params(in_features: int, hidden: Sequence[int], code: int) -> int:
    encoder = [in_features, *hidden, code]
    return dense_params(encoder) + dense_params(encoder[::-1])


def widths_for_params(target: int, in_features: int, code: int, depth: int, taper: float = 2.0) -> tuple[int, ...]:
    """Hidden widths (w, w/taper, w/taper², …; ``depth`` of them per side) whose
    autoencoder has about ``target`` parameters — for parameter-matched
    comparisons of shallow and deep autoencoders. Solved by bisection on w."""
    if depth < 1 or target <= autoencoder_params(in_features, (1,) * depth, code):
        raise ValueError(f"cannot build a depth-{depth} autoencoder with ~{target} parameters")

    def widths(w: float) -> tuple[int, ...]:
        return tuple(max(1, round(w / taper**i)) for i in range(depth))

    lo, hi = 1.0, float(target)
    while hi - lo > 0.5:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if autoencoder_params(in_features, widths(mid), code) < target else (lo, mid)
    best = min((widths(w) for w in (math.floor(lo), math.ceil(hi))),
               key=lambda ws: abs(autoencoder_params(in_features, ws, code) - target))
    return best


def describe(name: str) -> str:
    doc = MODELS.get(name).__doc__ or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""
