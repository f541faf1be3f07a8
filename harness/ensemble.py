"""Ensemble mode: K same-shaped networks with independent seeds trained as one model.

Seed studies need hundreds of runs of a small network, and on a CPU a small
network is bound by per-step overhead, not arithmetic (design.md). Stacking
K members' weights along a leading dimension and running every linear layer
as one ``torch.baddbmm`` (every conv layer as one convolution grouped by
member) pays that overhead once per step for all K.

Each member keeps everything a single run has:

- its own initial weights: member k is built as ``harness.nets.MLP`` (or
  ``harness.normnets.SmallCNN``) right after ``torch.manual_seed(init_k)``
  (the engine's single-run recipe) and its weights are copied into the
  stack, so the starting point is the single run's;
- its own minibatch order (a generator seeded with its ``data_order``), and
  optionally its own training rows (a bootstrap resample);
- its own dropout masks (a generator seeded with its ``noise``);
- its own learning rate, momentum and weight decay;
- its own loss: the summed objective has block-diagonal gradients, so no
  member's gradient depends on another's, and a member whose loss turns NaN
  diverges alone (the others train on; it is reported as diverged).

The families (``Shape``): classifier MLPs, with dropout or DropConnect
(``harness.dropnets.DropoutMLP``) or with batch norm (``NormMLP``);
autoencoders (``harness.nets.Autoencoder``, trained on squared error); and
small CNNs with or without batch norm (``SmallCNN``), whose per-member
statistics come for free: the members' channels sit side by side, and batch
norm's statistics are per channel.

The optimisers are written out here, elementwise, with per-member
hyperparameters; they follow ``torch.optim.SGD``/``Adam`` step for step.
Member k of an ensemble equals the K=1 run with k's seeds to float rounding
(the batched matmul may sum in another order); tests/test_ensemble.py states
the tolerance and checks it, and checks K=1 against ``engine.fit`` on the
plain ``nn.Module``.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from harness.engine import cpu_generator, divergence
from harness.nets import MLP

# in place: a layer's matmul output is not needed by its backward, so the activation may overwrite it
ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"relu": torch.relu_, "tanh": torch.tanh_,
                                                                  "sigmoid": torch.sigmoid_, "linear": lambda x: x}


@dataclass(frozen=True)
class Member:
    """One seed's run inside an ensemble: its seeds and its hyperparameters."""

    init: int
    data_order: int
    noise: int
    lr: float
    momentum: float = 0.0
    weight_decay: float = 0.0
    rows: np.ndarray | None = field(default=None, compare=False)  # training rows (e.g. a bootstrap); all when None

    def __post_init__(self) -> None:
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"learning rate must be a positive number, got {self.lr}")
        if not 0 <= self.momentum < 1 or self.weight_decay < 0:
            raise ValueError("momentum must be in [0, 1) and weight decay >= 0, "
                             f"got {self.momentum}, {self.weight_decay}")


@dataclass(frozen=True)
class Shape:
    """What members of one ensemble share: the architecture and the schedule.

    - An MLP classifier (``harness.nets.MLP``) through ``hidden``; with
      ``retain_*`` < 1 dropout (``harness.dropnets.DropoutMLP``), with
      ``dropconnect`` its hidden layers' *weights* dropped instead of their
      outputs, one mask per minibatch (``DropConnectLinear``); with
      ``norm="bn"`` the batch-norm MLP (``harness.normnets.NormMLP``: linear →
      batch norm → activation, each member normalising over its own batch and
      keeping its own running statistics).
    - With ``code``, an autoencoder (``harness.nets.Autoencoder``: encoder
      through ``hidden`` to a ``code``-wide layer with ``code_act``, mirrored
      decoder with ``out_act``), trained on mean squared error; ``classes`` is
      then the reconstruction's width, ``in_features``.
    - With ``channels``, the small CNN of ``harness.normnets.SmallCNN``
      (conv3x3 → [batch norm] → ReLU → 2x2 max-pool per entry of
      ``channels``, then one linear read-out) on inputs of ``in_shape`` (C, H,
      W), its convolutions grouped by member.
    """

    in_features: int
    classes: int
    hidden: tuple[int, ...]
    act: str = "relu"
    retain_input: float = 1.0    # dropout retain probabilities (Srivastava et al.'s p; 1 = no dropout)
    retain_hidden: float = 1.0
    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "sgd"       # "sgd" (with momentum/weight decay) or "adam"
    channels: tuple[int, ...] = ()                  # conv blocks (the CNN); empty: an MLP
    in_shape: tuple[int, int, int] | None = None    # (C, H, W) of an input row, for the CNN
    norm: str = "none"           # "bn": batch norm after each hidden linear (or conv) layer, statistics per member
    dropconnect: bool = False    # drop hidden layers' weights (retain_hidden) instead of their outputs
    code: int = 0                # an autoencoder's code width; 0: a classifier
    code_act: str = "linear"     # the autoencoder's code-layer nonlinearity
    out_act: str = "sigmoid"     # the autoencoder's output nonlinearity (pixels in [0, 1])

    def __post_init__(self) -> None:
        for name in (self.act, self.code_act, self.out_act):
            if name not in ACTIVATIONS:
                raise ValueError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}")
        if self.code:
            if self.classes != self.in_features or self.channels or self.norm != "none" or self.dropconnect \
                    or self.retain_input < 1 or self.retain_hidden < 1:
                raise ValueError("the ensemble autoencoder is Autoencoder: classes = in_features (its reconstruction), "
                                 "no channels, batch norm or dropout")
        if self.dropconnect and (self.channels or not self.hidden):
            raise ValueError("DropConnect drops an MLP's hidden-layer weights: it needs hidden layers and no channels")
        if self.channels:
            if self.in_shape is None or math.prod(self.in_shape) != self.in_features:
                raise ValueError(f"a CNN needs in_shape (C, H, W) with C*H*W = in_features ({self.in_features}), "
                                 f"got {self.in_shape}")
            if self.hidden or self.act != "relu" or self.retain_input < 1 or self.retain_hidden < 1:
                raise ValueError("the ensemble CNN is SmallCNN: ReLU, one linear read-out (hidden=()), no dropout")
        if self.norm not in ("none", "bn"):
            raise ValueError(f"norm must be none or bn, got {self.norm!r}")
        if self.norm == "bn" and (self.retain_input < 1 or self.retain_hidden < 1):
            raise ValueError("the ensemble's batch norm is NormMLP's or SmallCNN's (without dropout)")
        if not (0 < self.retain_input <= 1 and 0 < self.retain_hidden <= 1):
            raise ValueError("retain probabilities must be in (0, 1]")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {self.epochs}, {self.batch_size}")
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be sgd or adam, got {self.optimizer!r}")


    @property
    def reconstructs(self) -> bool:
        """An autoencoder: targets are the inputs, the loss squared error."""
        return self.code > 0

    def layer_activations(self) -> list[str | None]:
        """The nonlinearity after each linear layer, in order (None: the logits)."""
        if self.reconstructs:
            return [self.act] * len(self.hidden) + [self.code_act] + [self.act] * len(self.hidden) + [self.out_act]
        return [self.act] * len(self.hidden) + [None]


@dataclass
class MemberResult:
    train_loss: list[float]            # mean training loss per epoch (up to divergence)
    test_accuracy: float = math.nan    # classifiers
    test_loss: float = math.nan        # the training objective on the test set (cross-entropy or squared error)
    test_sse: float = math.nan         # autoencoders: summed squared error per test example (engine.sse_per_example)
    # classifiers given ``tracked`` sets: the accuracy on each after every epoch (NaN once diverged)
    tracked: dict[str, list[float]] = field(default_factory=dict)
    diverged: str = ""                 # why the member stopped being finite; empty when it trained through


class EnsembleNet(nn.Module):
    """K networks of one ``Shape`` as stacked weights; ``forward`` maps
    ``[K, B, in_features]`` to ``[K, B, classes]``. Linear layer l holds
    ``weight[K, fan_in, fan_out]`` and ``bias[K, 1, fan_out]`` (one
    ``baddbmm``); conv layer l holds ``weight[K, C_out, C_in, 3, 3]`` and runs
    as one convolution with ``groups=K`` over the members' channels side by side.

    Every parameter (and its gradient) is a view into one ``[K, P]`` buffer,
    ``flat`` (``flat_grad``), so that the optimiser updates all layers of all
    members in a handful of tensor operations per step instead of a handful
    per layer (small models are bound by per-operation overhead).
    """

    def __init__(self, shape: Shape, init_seeds: Sequence[int], device: torch.device | str = "cpu"):
        super().__init__()
        self.shape = shape
        self.members = K = len(init_seeds)
        reference = [_reference_layers(shape, seed) for seed in init_seeds]
        layers = reference[0]
        size = sum(m.weight.numel() + m.bias.numel() for m in layers)
        self.flat = torch.zeros(K, size, device=device)
        self.flat_grad = torch.zeros(K, size, device=device)
        tensors, offset = [], 0
        for i, layer in enumerate(layers):
            conv = isinstance(layer, nn.Conv2d)
            row = isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d))  # scale and shift: [1, width] rows, like a bias
            for name in ("weight", "bias"):
                # a linear weight is stored transposed ([fan_in, fan_out]) for baddbmm, a bias as a [1, fan_out] row
                one = getattr(layer, name)
                one_shape = tuple(one.shape) if conv else (
                    tuple(one.t().shape) if name == "weight" and not row else (1, one.numel()))
                n = one.numel()
                view = self.flat[:, offset:offset + n].view(K, *one_shape)
                with torch.no_grad():
                    view.copy_(torch.stack([(getattr(member[i], name).t() if name == "weight" and not (conv or row)
                                             else getattr(member[i], name)).detach().reshape(one_shape)
                                            for member in reference]))
                param = nn.Parameter(view)  # shares the buffer's memory: flat updates are parameter updates
                param.grad = self.flat_grad[:, offset:offset + n].view(K, *one_shape)
                tensors.append(param)
                offset += n
        convs = 2 * len(shape.channels)
        norms = 2 * len(shape.channels or shape.hidden) if shape.norm == "bn" else 0
        linear = tensors[convs:len(tensors) - norms]
        self.conv_weights = nn.ParameterList(tensors[0:convs:2])
        self.conv_biases = nn.ParameterList(tensors[1:convs:2])
        self.weights = nn.ParameterList(linear[0::2])
        self.biases = nn.ParameterList(linear[1::2])
        # batch norm's scale and shift ([K, 1, width]) and running statistics, per member, as BatchNorm1d keeps them
        # (the CNN's: [K * channels], its members' channels side by side, as the grouped convolutions lay them out)
        self.bn_weights = nn.ParameterList(tensors[len(tensors) - norms::2] if norms else [])
        self.bn_biases = nn.ParameterList(tensors[len(tensors) - norms + 1::2] if norms else [])
        for i, width in enumerate((shape.channels or shape.hidden) if norms else ()):
            stats = (K * width,) if shape.channels else (K, 1, width)
            self.register_buffer(f"running_mean{i}", torch.zeros(*stats, device=device))
            self.register_buffer(f"running_var{i}", torch.ones(*stats, device=device))
        self.activations = shape.layer_activations()

    def forward(self, x: torch.Tensor, masks: Sequence[torch.Tensor | None] = (),
                weight_masks: Sequence[torch.Tensor | None] = ()) -> torch.Tensor:
        """``masks[i]``: dropout on layer i's input ``[K, B, fan_in]``;
        ``weight_masks[i]``: DropConnect on its weight ``[K, fan_in, fan_out]``
        (both already scaled by 1/retain)."""
        if self.shape.channels:
            x = self._features(x)
        norm_mlp = bool(self.bn_weights) and not self.shape.channels
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            if i < len(masks) and masks[i] is not None:
                x = x * masks[i]
            if i < len(weight_masks) and weight_masks[i] is not None:
                w = w * weight_masks[i]
            x = torch.baddbmm(b, x, w)
            act = self.activations[i]
            if act is not None:
                if norm_mlp:
                    x = self._batch_norm(i, x)
                x = ACTIVATIONS[act](x)
        return x

    def _batch_norm(self, i: int, x: torch.Tensor, eps: float = 1e-5, momentum: float = 0.1) -> torch.Tensor:
        """BatchNorm1d per member over its own batch (dim 1): biased variance to
        normalise, unbiased into the running average, as torch does."""
        mean_buf, var_buf = getattr(self, f"running_mean{i}"), getattr(self, f"running_var{i}")
        if self.training:
            var, mean = torch.var_mean(x, dim=1, keepdim=True, correction=0)
            with torch.no_grad():
                n = x.shape[1]
                mean_buf.lerp_(mean, momentum)
                var_buf.lerp_(var * (n / (n - 1)), momentum)
        else:
            mean, var = mean_buf, var_buf
        return (x - mean) * torch.rsqrt(var + eps) * self.bn_weights[i] + self.bn_biases[i]

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        """The conv blocks: members' images side by side as channels, ``groups=K``;
        batch norm per channel is then batch norm per member (BatchNorm2d's own
        function, with each member's channels' running statistics)."""
        K, B = x.shape[:2]
        h = x.reshape(K, B, *self.shape.in_shape).transpose(0, 1).reshape(B, -1, *self.shape.in_shape[1:])
        for i, (w, b) in enumerate(zip(self.conv_weights, self.conv_biases)):
            h = F.conv2d(h, w.reshape(-1, *w.shape[2:]), b.reshape(-1), padding=1, groups=K)
            if self.bn_weights:
                h = F.batch_norm(h, getattr(self, f"running_mean{i}"), getattr(self, f"running_var{i}"),
                                 self.bn_weights[i].reshape(-1), self.bn_biases[i].reshape(-1), self.training,
                                 momentum=0.1, eps=1e-5)
            h = F.max_pool2d(torch.relu_(h), 2)
        return h.reshape(B, K, -1).transpose(0, 1)  # [K, B, C*h*w]: each member's features in SmallCNN's order


def _reference_layers(shape: Shape, seed: int) -> list[nn.Module]:
    """The layers of the single-run model with this init seed, built as
    ``engine.build_model`` builds it, so member k starts where it would alone."""
    from harness.nets import Autoencoder
    from harness.normnets import NormMLP, SmallCNN

    torch.manual_seed(seed)
    if shape.channels:
        model: nn.Module = SmallCNN(shape.in_shape, shape.classes, shape.channels, norm=shape.norm)
    elif shape.reconstructs:
        model = Autoencoder(shape.in_features, shape.hidden, shape.code, shape.act, shape.out_act, shape.code_act)
    elif shape.norm == "bn":
        model = NormMLP(shape.in_features, shape.classes, shape.hidden, shape.act, norm="bn")
    else:  # DropoutMLP (dropout or DropConnect) draws its initial weights as MLP does
        model = MLP(shape.in_features, shape.classes, shape.hidden, shape.act)
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    # the flat buffer's order: convolutions, linear layers, then the batch norms' scales and shifts
    return layers + [m for m in model.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]


class _Optimizer:
    """SGD (momentum, L2 weight decay) or Adam with one learning rate, momentum
    and weight decay per member, written as torch.optim writes them, on the
    model's flat ``[K, P]`` parameter and gradient buffers."""

    def __init__(self, model: EnsembleNet, members: Sequence[Member], kind: str):
        def column(values):  # shape [K, 1]: broadcasts over a member's parameters
            return torch.tensor(values, dtype=torch.float32, device=model.flat.device).view(-1, 1)

        self.param, self.grad, self.kind = model.flat, model.flat_grad, kind
        self.lr = column([m.lr for m in members])
        self.neg_lr = -self.lr
        self.momentum = column([m.momentum for m in members])
        self.decay = column([m.weight_decay for m in members])
        self.use_momentum = any(m.momentum for m in members)
        self.use_decay = any(m.weight_decay for m in members)
        self.buf, self.sq = torch.zeros_like(self.param), torch.zeros_like(self.param)
        self.steps = 0

    def zero_grad(self) -> None:
        self.grad.zero_()  # autograd then accumulates into the views in place

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        p, grad, buf = self.param, self.grad, self.buf
        if self.use_decay:
            grad = torch.addcmul(grad, p, self.decay)
        if self.kind == "sgd":
            if self.use_momentum:
                torch.addcmul(grad, buf, self.momentum, out=buf)  # torch: buf = grad on step 1, then
                                                                  # momentum*buf + grad
                grad = buf
            p.addcmul_(grad, self.neg_lr)
        else:  # Adam with torch's defaults (betas 0.9/0.999, eps 1e-8), in torch's order of operations
            beta1, beta2, eps = 0.9, 0.999, 1e-8
            buf.lerp_(grad, 1 - beta1)
            self.sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            correction1 = 1 - beta1 ** self.steps
            correction2 = 1 - beta2 ** self.steps
            denom = (self.sq.sqrt() / math.sqrt(correction2)).add_(eps)
            p.sub_((buf / denom) * (self.lr / correction1))  # addcdiv's order: (m / denom) * step


def _dropout_mask(generators: Sequence[torch.Generator], shape: tuple[int, int], retain: float,
                  device: torch.device) -> torch.Tensor:
    """Inverted-dropout masks ``[K, B, width]``, each member's drawn from its own generator."""
    masks = torch.stack([torch.empty(shape).bernoulli_(retain, generator=g) for g in generators])
    return masks.to(device).div_(retain)


def _dropconnect_mask(generators: Sequence[torch.Generator], shape: tuple[int, int], retain: float,
                      device: torch.device) -> torch.Tensor:
    """DropConnect weight masks ``[K, fan_in, fan_out]`` for one minibatch, as
    ``DropConnectLinear`` draws them (uniform < retain, kept weights scaled by
    1/retain), each member's from its own generator."""
    masks = torch.stack([torch.rand(shape, generator=g) < retain for g in generators])
    return masks.to(device=device, dtype=torch.float32).div_(retain)


def train(
    shape: Shape,
    members: Sequence[Member],
    x_train: torch.Tensor,
    y_train: torch.Tensor | None,
    x_test: torch.Tensor | None = None,
    y_test: torch.Tensor | None = None,
    on_epoch: Callable[[int, torch.Tensor], None] | None = None,
    progress: Callable[[range], range] = lambda epochs: epochs,
    tracked: Mapping[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
    stop: Callable[[int, list[MemberResult]], bool] | None = None,
) -> list[MemberResult]:
    """Train every member on ``x_train``/``y_train`` (shared tensors on the
    device) and measure it on the test tensors; returns one result per member.
    An autoencoder (``shape.code``) reconstructs its inputs: ``y_train`` and
    ``y_test`` are then None.

    ``on_epoch(epoch, losses)`` receives each epoch's per-member mean training
    loss ``[K]`` (for logging). A member whose epoch loss is not finite is
    marked diverged at that epoch and excluded from the rest of the bookkeeping.
    ``tracked`` (name -> a classifier's held-out inputs and labels, e.g. a
    validation split) is measured after every epoch, into ``tracked[name]``:
    what picking the best epoch on validation (early stopping with the best
    weights restored) needs. ``stop(epoch, results)``, asked after every
    epoch's bookkeeping, ends training for every member when it returns True
    (``shape.epochs`` is then the cap): a stopping rule over the whole
    ensemble, since its members share every step.
    """
    if not members:
        raise ValueError("an ensemble needs at least one member")
    if (y_train is None) != shape.reconstructs:
        raise ValueError("an autoencoder's targets are its inputs (y_train=None); a classifier needs labels")
    if tracked and shape.reconstructs:
        raise ValueError("tracked sets measure a classifier's accuracy; an autoencoder has none")
    device = x_train.device
    n = x_train.shape[0]
    sizes = {len(m.rows) if m.rows is not None else n for m in members}
    if len(sizes) != 1:
        raise ValueError(f"members must train on the same number of rows, got {sorted(sizes)}")
    n_rows = sizes.pop()
    rows = torch.stack([torch.as_tensor(m.rows, dtype=torch.long) if m.rows is not None else torch.arange(n)
                        for m in members]).to(device)                          # [K, n_rows]: each member's data
    model = EnsembleNet(shape, [m.init for m in members], device)
    optimizer = _Optimizer(model, members, shape.optimizer)
    orders = [cpu_generator(m.data_order) for m in members]
    noises = [cpu_generator(m.noise) for m in members]
    K = len(members)
    widths = [shape.in_features, *shape.hidden]
    # dropout on each linear layer's input: the input, then (unless DropConnect drops weights instead)
    # each hidden output
    retain = [shape.retain_input] + [1.0 if shape.dropconnect else shape.retain_hidden] * len(shape.hidden)
    connect = list(zip(widths, shape.hidden)) if shape.dropconnect and shape.retain_hidden < 1 else []
    results = [MemberResult(train_loss=[]) for _ in members]
    with warnings.catch_warnings():
        # the parameters are strided views of one buffer (EnsembleNet), which autograd's gradient-layout
        # check notes on the first backward; the gradients are views of the matching buffer, so it does not apply
        warnings.filterwarnings("ignore", message="grad and param do not obey the gradient layout contract")
        for epoch in progress(range(1, shape.epochs + 1)):
            permutation = torch.stack([torch.randperm(n_rows, generator=g) for g in orders]).to(device)
            order = rows.gather(1, permutation)                                    # [K, n_rows] rows of x_train
            total = torch.zeros(K, dtype=torch.float64, device=device)  # summed as engine.train sums
            steps = 0
            for start in range(0, n_rows, shape.batch_size):
                index = order[:, start:start + shape.batch_size]                   # [K, B]
                batch = index.shape[1]
                masks = [_dropout_mask(noises, (batch, w), p, device) if p < 1 else None
                         for w, p in zip(widths, retain)]
                weight_masks = [_dropconnect_mask(noises, pair, shape.retain_hidden, device) for pair in connect]
                inputs = x_train[index]
                outputs = model(inputs, masks, weight_masks)                       # [K, B, classes]
                losses = _losses(shape, outputs, inputs if shape.reconstructs else y_train[index])
                optimizer.zero_grad()
                losses.sum().backward()  # block-diagonal: member k's gradient is that of its own loss
                optimizer.step()
                total += losses.detach().to(torch.float64)
                steps += 1
            epoch_loss = total / steps  # one device sync per epoch
            for k, value in enumerate(epoch_loss.tolist()):
                if results[k].diverged:
                    continue
                if math.isfinite(value):
                    results[k].train_loss.append(value)
                else:
                    results[k].diverged = divergence(value, "epoch", epoch)
            for name, (xs, ys) in (tracked or {}).items():
                accuracy = evaluate(model, xs, ys)[0].tolist()
                for k, r in enumerate(results):
                    r.tracked.setdefault(name, []).append(math.nan if r.diverged else accuracy[k])
            if on_epoch is not None:
                on_epoch(epoch, epoch_loss)
            if stop is not None and stop(epoch, results):
                break
    if x_test is not None and (y_test is not None or shape.reconstructs):
        measured = evaluate(model, x_test, y_test)
        for k, r in enumerate(results):
            if not r.diverged:
                if shape.reconstructs:
                    r.test_loss, r.test_sse = float(measured[0][k]), float(measured[1][k])
                else:
                    r.test_accuracy, r.test_loss = float(measured[0][k]), float(measured[1][k])
    return results


def _losses(shape: Shape, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Each member's mean loss ``[K]``: cross-entropy on labels, or (an
    autoencoder) squared error averaged over examples and features, as
    ``F.mse_loss`` averages it for one run."""
    K, batch = outputs.shape[:2]
    if shape.reconstructs:
        return F.mse_loss(outputs, targets, reduction="none").view(K, -1).mean(1)
    return F.cross_entropy(outputs.reshape(K * batch, -1), targets.reshape(-1), reduction="none").view(K, batch).mean(1)


@torch.no_grad()
def evaluate(model: EnsembleNet, x: torch.Tensor, y: torch.Tensor | None,
             chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """Per member, on shared test tensors: a classifier's accuracy and mean
    cross-entropy; an autoencoder's mean squared error and summed squared
    error per example (``engine.sse_per_example``'s unit), ``y`` None."""
    K = model.members
    was_training = model.training
    model.eval()  # batch norm: the running statistics
    # float32 sums for a classifier (what the seeds study's committed numbers came from), float64 for squared error
    first = torch.zeros(K, device=x.device)
    second = torch.zeros(K, dtype=torch.float64 if model.shape.reconstructs else torch.float32, device=x.device)
    for start in range(0, x.shape[0], chunk):
        xs = x[start:start + chunk]
        outputs = model(xs.unsqueeze(0).expand(K, -1, -1).contiguous())
        if model.shape.reconstructs:
            sse = ((outputs - xs.flatten(1)) ** 2).sum(-1)            # [K, B]
            second += sse.sum(1, dtype=torch.float64)
        else:
            ys = y[start:start + chunk]
            first += (outputs.argmax(-1) == ys).sum(1)
            second += F.cross_entropy(outputs.transpose(1, 2), ys.expand(K, -1), reduction="none").sum(1)
    model.train(was_training)
    n = x.shape[0]
    if model.shape.reconstructs:
        return second / (n * x[0].numel()), second / n
    return first / n, second / n
