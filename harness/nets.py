"""The torch modules behind the model registry (``harness.models``).

Kept apart from the registry so that listing models does not import torch.
Every model that reconstructs its input -- autoencoders and the PCA baseline --
offers ``encode(x)`` and ``reconstruct(x)`` so that a study measures both with
the same code.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "linear": nn.Identity}


def activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def stack(widths: Sequence[int], act: str, last_act: str) -> nn.Sequential:
    """Linear layers through ``widths``; ``act`` between them, ``last_act`` after the last."""
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        is_last = i == len(widths) - 2
        layers.append(activation(last_act if is_last else act))
    return nn.Sequential(*[m for m in layers if not isinstance(m, nn.Identity)])


INITS = ("torch", "he")  # torch's default (kaiming-uniform with a = sqrt(5)) or He et al. 2015 for ReLU layers


def he_init(layers: nn.Sequential, act: str) -> None:
    """He et al. 2015 initialisation of every linear layer that feeds a ReLU
    (normal, std sqrt(2 / fan_in), zero bias); the others keep torch's default.
    Torch's default shrinks the signal by about sqrt(6) per ReLU layer, so a
    deep ReLU autoencoder starts with a vanishing signal and learns slowly: a
    handicap of depth that the 'modern init' of claims.md removes."""
    modules = list(layers)
    for i, module in enumerate(modules):
        if isinstance(module, nn.Linear) and act == "relu" and i + 1 < len(modules) \
                and isinstance(modules[i + 1], nn.ReLU):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            nn.init.zeros_(module.bias)


class MLP(nn.Module):
    """A fully connected classifier: flatten, hidden layers, logits."""

    def __init__(self, in_features: int, classes: int, hidden: Sequence[int] = (512, 512), act: str = "relu"):
        super().__init__()
        self.body = stack([in_features, *hidden, classes], act, "linear")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.flatten(1))


class Autoencoder(nn.Module):
    """Encoder ``in → hidden… → code`` (linear code layer) and a mirrored decoder.

    ``out_act`` is the output nonlinearity: ``sigmoid`` for pixels in [0, 1]
    (the Hinton & Salakhutdinov setup), ``linear`` for centred data.
    ``code_act`` is the code layer's nonlinearity (linear in Hinton's deep AE;
    sigmoid for the "single sigmoid hidden layer" of the Bourlard–Kamp result).
    """

    def __init__(self, in_features: int, hidden: Sequence[int], code: int, act: str = "relu",
                 out_act: str = "sigmoid", code_act: str = "linear", init: str = "torch"):
        super().__init__()
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; known: {', '.join(INITS)}")
        self.code_size = code
        self.encoder = stack([in_features, *hidden, code], act, code_act)
        self.decoder = stack([code, *reversed(hidden), in_features], act, out_act)
        if init == "he":
            he_init(self.encoder, act)
            he_init(self.decoder, act)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encode(x))

    reconstruct = forward

    def decoder_weight(self) -> torch.Tensor:
        """The last decoder layer's weight, shape (in_features, width before it):
        for a single-hidden-layer AE these columns span the learned subspace."""
        linears = [m for m in self.decoder if isinstance(m, nn.Linear)]
        return linears[-1].weight.detach()


class SequenceClassifier(nn.Module):
    """A recurrent classifier of a 1-D signal read as a sequence (one value
    per step, e.g. MNIST-1D's 40): an LSTM or GRU, its last step's hidden
    state through one linear read-out.

    ``forget_bias`` (LSTM only) starts every layer's forget gate at that bias
    instead of torch's small uniform one: with 1, a cell keeps its state by
    default, the common remedy for an LSTM that does not start learning (Gers,
    Schmidhuber & Cummins 2000; Jozefowicz, Zaremba & Sutskever 2015). On
    MNIST-1D it takes a 32-unit LSTM off a chance plateau that, with torch's
    init, lasts over 1000 Adam steps at batch 32 (lr 5e-3)."""

    def __init__(self, classes: int, hidden: int = 64, cell: str = "lstm", layers: int = 1,
                 forget_bias: float | None = None):
        super().__init__()
        if cell not in ("lstm", "gru"):
            raise ValueError(f"unknown recurrent cell {cell!r}; known: lstm, gru")
        if forget_bias is not None and cell != "lstm":
            raise ValueError(f"forget_bias is an LSTM's; a {cell} has no forget gate")
        self.rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(1, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, classes)
        if forget_bias is not None:
            with torch.no_grad():  # torch's gate order is input, forget, cell, output; the two biases add up
                for name, bias in self.rnn.named_parameters():
                    if name.startswith("bias_"):
                        bias[hidden:2 * hidden].fill_(forget_bias if name.startswith("bias_ih") else 0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x.flatten(1).unsqueeze(-1))  # [batch, steps, hidden]
        return self.head(out[:, -1])


class PCA:
    """Principal component analysis with the autoencoders' measure interface.

    Fitted by an SVD of the centred training data (float64 for accuracy, then
    stored in the input dtype). Checked against scikit-learn in the tests.
    """

    def __init__(self, code: int):
        if code < 1:
            raise ValueError(f"PCA needs code >= 1, got {code}")
        self.code_size = code

    def fit(self, x: torch.Tensor) -> "PCA":
        x = x.flatten(1)
        if self.code_size > min(x.shape):
            raise ValueError(f"PCA code {self.code_size} exceeds min(n, d) = {min(x.shape)}")
        x64 = x.double()
        mean = x64.mean(0)
        _, s, vh = torch.linalg.svd(x64 - mean, full_matrices=False)
        self.mean_ = mean.to(x.dtype)
        self.components_ = vh[: self.code_size].to(x.dtype)            # (code, d), orthonormal rows
        self.explained_variance_ = (s**2 / (x.shape[0] - 1)).to(x.dtype)  # every component, for eigengaps
        return self

    def truncated(self, code: int) -> "PCA":
        """The first ``code`` components of this fit: PCA's solutions are
        nested, so one SVD serves a whole curve of code sizes."""
        if not 1 <= code <= self.code_size:
            raise ValueError(f"can truncate to 1..{self.code_size} components, not {code}")
        other = PCA(code)
        other.mean_, other.components_ = self.mean_, self.components_[:code]
        other.explained_variance_ = self.explained_variance_
        return other

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return (x.flatten(1) - self.mean_) @ self.components_.T

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode(x) @ self.components_ + self.mean_


def weight_layers(model: nn.Module) -> list[nn.Module]:
    """The model's Linear and Conv2d layers in registration order — forward
    order for the sequential models here — for per-layer probes."""
    return [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
