"""Dropout and its relatives: layers, networks, inference and constraints.

Retain probabilities follow Srivastava et al. 2014: ``p`` is the probability
of *keeping* a unit (0.5 hidden, 0.8 input there). torch's ``nn.Dropout``
takes the drop probability 1 − p and rescales kept units by 1/p during
training ("inverted dropout"), which is the same network as the paper's
weight scaling by p at test time; ``mc_predict`` gives the other inference,
Monte-Carlo averaging of sampled networks.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


def _check_retain(p: float, what: str) -> float:
    if not 0.0 < p <= 1.0:
        raise ValueError(f"{what} retain probability must be in (0, 1], got {p}")
    return p


class DropConnectLinear(nn.Linear):
    """A linear layer whose *weights* are kept with probability p (Wan et al. 2013).

    One mask per minibatch by default; ``per_example=True`` draws one per
    example, as Wan et al. do. For the dropout study's 784x512 layer at batch
    128 that is 51M random draws a step instead of 0.4M, and 128 masked copies
    of the weights in place of one matrix product: ``make bench``'s
    ``dropconnect-masks`` times the two. The study keeps the per-batch mask,
    which keeps the expected update and the "random subset of inputs per unit"
    of the seed text. Kept weights are scaled by 1/p in training, so evaluation
    uses the plain (mean) weights.
    """

    def __init__(self, in_features: int, out_features: int, p: float = 0.5, bias: bool = True,
                 per_example: bool = False):
        super().__init__(in_features, out_features, bias)
        self.p = _check_retain(p, "DropConnect")
        self.per_example = per_example

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 1.0:
            return super().forward(x)
        if not self.per_example:
            mask = torch.rand_like(self.weight) < self.p
            return nn.functional.linear(x, self.weight * mask / self.p, self.bias)
        # one (out, in) mask per row of x: each example sees its own subnetwork of weights
        mask = torch.rand((len(x), *self.weight.shape), device=x.device) < self.p
        out = torch.einsum("bi,boi->bo", x, self.weight * mask / self.p)
        return out if self.bias is None else out + self.bias


class DropoutMLP(nn.Module):
    """784-h-…-10 ReLU MLP with dropout on the input (retain ``p_input``) and
    after every hidden layer (retain ``p_hidden``); ``dropconnect=True`` drops
    hidden layers' weights instead of their outputs, at the same rate (one mask
    per minibatch, or per example with ``per_example_masks=True``)."""

    def __init__(self, in_features: int = 784, classes: int = 10, hidden: Sequence[int] = (256, 256),
                 p_input: float = 1.0, p_hidden: float = 1.0, dropconnect: bool = False,
                 per_example_masks: bool = False):
        super().__init__()
        _check_retain(p_input, "input"), _check_retain(p_hidden, "hidden")
        layers: list[nn.Module] = [nn.Dropout(1 - p_input)] if p_input < 1 else []
        width = in_features
        for h in hidden:
            if dropconnect:
                layers += [DropConnectLinear(width, h, p_hidden, per_example=per_example_masks), nn.ReLU()]
            else:
                layers += [nn.Linear(width, h), nn.ReLU()] + ([nn.Dropout(1 - p_hidden)] if p_hidden < 1 else [])
            width = h
        layers.append(nn.Linear(width, classes))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.flatten(1))


class DropoutCNN(nn.Module):
    """conv3x3-ReLU-maxpool blocks with dropout after each conv block (retain
    ``p_conv``) and a fully connected head of ``fc`` units with dropout before
    its read-out (retain ``p_fc``)."""

    def __init__(self, channels: Sequence[int] = (16, 32), fc: int = 128, p_conv: float = 1.0, p_fc: float = 1.0,
                 in_shape: Sequence[int] = (1, 28, 28), classes: int = 10):
        super().__init__()
        _check_retain(p_conv, "conv"), _check_retain(p_fc, "fully connected")
        self.in_shape = tuple(in_shape)
        layers: list[nn.Module] = []
        c, side = in_shape[0], in_shape[1]
        for out in channels:
            layers += [nn.Conv2d(c, out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            if p_conv < 1:
                layers.append(nn.Dropout(1 - p_conv))  # unit-wise (each activation), as Srivastava et al. do
                                                       # for conv layers
            c, side = out, side // 2
        self.features = nn.Sequential(*layers)
        head: list[nn.Module] = [nn.Linear(c * side * side, fc), nn.ReLU()]
        if p_fc < 1:
            head.append(nn.Dropout(1 - p_fc))
        head.append(nn.Linear(fc, classes))
        self.head = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x.view(-1, *self.in_shape)).flatten(1))


@torch.no_grad()
def mc_predict(model: nn.Module, x: torch.Tensor, samples: int) -> torch.Tensor:
    """Class probabilities averaged over ``samples`` networks with freshly
    sampled dropout masks (the "sample average" the weight scaling
    approximates). Leaves the model in eval mode."""
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    model.train()  # dropout active: every forward pass samples a thinned network
    total = sum(torch.softmax(model(x), dim=1) for _ in range(samples))
    model.eval()
    return total / samples


@torch.no_grad()
def apply_max_norm(model: nn.Module, c: float) -> None:
    """Clamp every hidden unit's incoming weight vector to ‖w‖₂ ≤ c (projected
    gradient descent: call after each optimizer step). Applies to Linear
    layers' rows; the read-out layer is left alone, as in Srivastava et al."""
    if not c > 0:
        raise ValueError(f"max-norm bound must be > 0, got {c}")
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    for layer in linears[:-1]:
        layer.weight.copy_(torch.renorm(layer.weight, p=2, dim=0, maxnorm=c))
