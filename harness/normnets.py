"""Networks with and without batch normalization, for the ``batchnorm`` study
and any study that compares normalizations.

Every network takes ``norm``: ``"none"``, ``"bn"`` (torch's BatchNorm, placed
between the affine layer and the nonlinearity, as in Ioffe & Szegedy 2015) or
``"noisy-bn"`` (BN followed by injected covariate shift, Santurkar et al. 2018).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from harness.nets import activation

NORMS = ("none", "bn", "noisy-bn")


class NoisyBatchNorm(nn.Module):
    """Batch norm, then noise with a random non-zero mean and non-unit variance.

    Santurkar et al. 2018 (§2.1) inject covariate shift after every BN layer.
    Here, at every training step, each activation k draws a mean μ_k ~ U(−m, m)
    and a standard deviation σ_k ~ U(0, s); every sample i then gets its own
    n_ik ~ N(μ_k, σ_k²) added. So the output's per-activation mean (μ_k ≠ 0)
    and variance (1 + σ_k²) change every step: per-activation, per-sample,
    re-drawn every step. Identity in eval mode. Draws from torch's global RNG,
    which the engine seeds with the trial's *noise* stream.
    """

    def __init__(self, features: int, dims: int = 1, mean: float = 0.5, std: float = 1.0):
        super().__init__()
        self.bn = nn.BatchNorm1d(features) if dims == 1 else nn.BatchNorm2d(features)
        self.mean, self.std = mean, std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn(x)
        if not self.training:
            return y
        shape = (1, y.shape[1]) + (1,) * (y.dim() - 2)  # one (μ_k, σ_k) per activation/channel
        mu = (torch.rand(shape, device=y.device) * 2 - 1) * self.mean
        sigma = torch.rand(shape, device=y.device) * self.std
        return y + mu + sigma * torch.randn_like(y)


def norm_layer(norm: str, features: int, dims: int = 1, noise: float = 1.0) -> nn.Module:
    """``noise`` scales noisy BN's injected shift: μ_k ~ U(−0.5·noise, 0.5·noise), σ_k ~ U(0, noise)."""
    if norm == "none":
        return nn.Identity()
    if norm == "bn":
        return nn.BatchNorm1d(features) if dims == 1 else nn.BatchNorm2d(features)
    if norm == "noisy-bn":
        return NoisyBatchNorm(features, dims, mean=0.5 * noise, std=noise)
    raise ValueError(f"unknown norm {norm!r}; known: {', '.join(NORMS)}")


class NormMLP(nn.Module):
    """Linear → norm → activation per hidden layer, then a linear read-out."""

    def __init__(self, in_features: int, classes: int, hidden: Sequence[int], act: str = "relu", norm: str = "none"):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), norm_layer(norm, h), activation(act)]
            width = h
        layers.append(nn.Linear(width, classes))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.flatten(1))


class VGGStyle(nn.Module):
    """A small VGG-style CNN: blocks of conv3x3 → norm → ReLU layers, each
    block closed by a 2x2 max-pool, then a linear classifier. ``blocks`` gives
    each block's channels, e.g. ((8, 8), (16, 16), (32,)): five conv layers,
    the depth at which Santurkar et al.'s VGG effects could show on 28x28.
    ``init="he"``: He initialisation of the convs (without BN, torch's default
    leaves this net on a chance-level plateau for hundreds of steps).
    ``noise`` scales noisy BN's shift (``norm_layer``)."""

    def __init__(self, in_shape: Sequence[int] = (1, 28, 28), classes: int = 10,
                 blocks: Sequence[Sequence[int]] = ((8, 8), (16, 16), (32,)), norm: str = "none", init: str = "torch",
                 noise: float = 1.0):
        super().__init__()
        if init not in ("torch", "he"):
            raise ValueError(f"unknown init {init!r}; known: torch, he")
        self.in_shape = tuple(in_shape)
        layers: list[nn.Module] = []
        c, side = in_shape[0], in_shape[1]
        for block in blocks:
            for out in block:
                layers += [nn.Conv2d(c, out, 3, padding=1), norm_layer(norm, out, dims=2, noise=noise), nn.ReLU()]
                c = out
            layers.append(nn.MaxPool2d(2))
            side //= 2
        if side < 1:
            raise ValueError(f"{len(blocks)} pooling blocks leave nothing of a {in_shape[1]}-pixel input")
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c * side * side, classes)
        if init == "he":  # He et al. 2015 for every conv (each feeds a ReLU): torch's default shrinks the signal
            for conv in (m for m in layers if isinstance(m, nn.Conv2d)):
                nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
                nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x.view(-1, *self.in_shape)).flatten(1))


class SmallCNN(VGGStyle):
    """conv3x3 → norm → ReLU → 2x2 max-pool blocks, then a linear classifier:
    the VGG-style net with one conv per block (the same modules in the same
    order, so the same weights from the same seed)."""

    def __init__(self, in_shape: Sequence[int] = (1, 28, 28), classes: int = 10, channels: Sequence[int] = (16, 32),
                 norm: str = "none", noise: float = 1.0):
        super().__init__(in_shape, classes, tuple((c,) for c in channels), norm, noise=noise)


class DeepLinear(nn.Module):
    """A deep linear network (bias-free linear layers), optionally with BN.

    ``init="orthogonal"`` draws every weight as a (semi-)orthogonal matrix
    (Saxe et al. 2014): the product of 25 such layers keeps the signal's norm,
    where torch's default shrinks it ~1.7x per layer and leaves a deep linear
    net without BN frozen at its start."""

    def __init__(self, in_features: int, out_features: int, width: int, depth: int, norm: str = "none",
                 init: str = "torch"):
        super().__init__()
        if init not in ("torch", "orthogonal"):
            raise ValueError(f"unknown init {init!r}; known: torch, orthogonal")
        widths = [in_features] + [width] * (depth - 1) + [out_features]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.Linear(a, b, bias=False))
            if init == "orthogonal":
                nn.init.orthogonal_(layers[-1].weight)
            if i < depth - 1:
                layers.append(norm_layer(norm, b))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.flatten(1))


class DeepFC(nn.Module):
    """A wide, deep fully connected net: ``depth`` blocks Linear → norm → act,
    each optionally wrapped in a skip connection (x + block(x)), as in the
    mean-field study of BN at initialization (Yang et al. 2019)."""

    def __init__(self, in_features: int, classes: int, width: int, depth: int, act: str = "relu",
                 norm: str = "bn", residual: bool = False):
        super().__init__()
        self.stem = nn.Linear(in_features, width)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Linear(width, width), norm_layer(norm, width), activation(act)) for _ in range(depth))
        self.residual = residual
        self.head = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x.flatten(1))
        for block in self.blocks:
            h = h + block(h) if self.residual else block(h)
        return self.head(h)
