"""Measurement probes a study attaches to training: loss landscape, internal
covariate shift, per-layer gradient norms and their growth rate.

Each probe is a pure measurement: it perturbs the weights to look around, then
puts everything back, so attaching it does not change the run it observes.
Concretely every public function here

* restores the parameters bit for bit (copied back from clones, never
  "subtract what was added", which would round);
* never touches ``.grad`` (gradients come from ``torch.autograd.grad``) and
  re-attaches the caller's ``.grad`` tensors anyway, as a guard;
* restores the buffers (BatchNorm running statistics and batch counter), which
  forward passes in train mode would otherwise update once per evaluation;
* replays the same global RNG state for every evaluation, so dropout or
  injected noise draw the same masks at every probed point (one loss function,
  not a fresh sample per point), and restores the RNG afterwards so the
  training run's noise stream is the one it would have been without the probe;
* never calls ``train()`` or ``eval()``: the caller chooses the mode (in train
  mode BatchNorm normalises with the probe batch's own statistics, as in
  Santurkar et al. 2018).

Norms are accumulated in float64 whatever the model's dtype. torch only here
(numpy for the regression); nothing is logged: studies log what they return.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["Landscape", "LayerShift", "ScaleFreeLandscape", "landscape", "scale_free_landscape",
           "internal_covariate_shift", "gradient_norms", "gradient_alignment", "fit_growth_rate"]

LossFn = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class Landscape:
    """Santurkar et al. 2018, Fig. 4, at one point w along g = ∇L(w).

    loss_range: max − min of L(w − ηg) over ``etas`` (loss units).
    grad_predictiveness: max over η of ‖∇L(w) − ∇L(w − ηg)‖₂ (the paper plots
        the range over η; the max is the worst case, which is what "less
        predictive" is about; loss units per weight unit).
    beta_smoothness: max over η ≠ 0 of ‖∇L(w) − ∇L(w − ηg)‖₂ / ‖ηg‖₂, the
        "effective β-smoothness" (loss units per weight unit squared); NaN when
        g = 0 or every η is 0.
    etas: the step sizes probed, as given.
    """

    loss_range: float
    grad_predictiveness: float
    beta_smoothness: float
    etas: tuple[float, ...]


@dataclass(frozen=True)
class LayerShift:
    """Santurkar et al. 2018, Def. 2.1, for one layer's weight (bias excluded).

    ics: ‖G − G′‖₂ (Frobenius), G the gradient at step t, G′ after the earlier
        layers took their SGD step.
    cosine: cos(G, G′); 1 means the earlier layers' update left the direction
        unchanged; NaN when G or G′ is zero.
    grad_norm: ‖G‖.
    """

    layer: str
    ics: float
    cosine: float
    grad_norm: float = math.nan  # ‖G‖, to read ics relative to the gradient's own size


# ---------------------------------------------------------------- internals


def _trainable(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def _weight(layer: nn.Module) -> nn.Parameter:
    weight = getattr(layer, "weight", None)
    if not isinstance(weight, nn.Parameter) or not weight.requires_grad:
        raise ValueError(f"{type(layer).__name__} has no trainable .weight to probe")
    return weight


def _rng_devices(model: nn.Module) -> list[int]:
    """CUDA device indices the model lives on (their RNGs drive dropout there)."""
    return sorted({t.device.index or 0 for t in [*model.parameters(), *model.buffers()] if t.is_cuda})


@contextlib.contextmanager
def _probe_state(model: nn.Module) -> Iterator[Callable[[], None]]:
    """Snapshot parameters, buffers, ``.grad`` and RNG; restore them on exit.

    Yields ``replay()``, which resets the global RNG to the snapshot: call it
    before each loss evaluation so stochastic layers draw the same masks.
    """
    params = list(model.parameters())
    saved_params = [p.detach().clone() for p in params]
    saved_grads = [p.grad for p in params]  # the tensors themselves: re-attached, not copied
    buffers = list(model.buffers())
    saved_buffers = [b.detach().clone() for b in buffers]
    devices = _rng_devices(model)
    cpu_rng = torch.get_rng_state()
    cuda_rng = [torch.cuda.get_rng_state(d) for d in devices]

    def replay() -> None:
        torch.set_rng_state(cpu_rng)
        for d, state in zip(devices, cuda_rng):
            torch.cuda.set_rng_state(state, d)

    try:
        yield replay
    finally:
        with torch.no_grad():
            for p, saved in zip(params, saved_params):
                p.copy_(saved)
            for b, saved in zip(buffers, saved_buffers):
                b.copy_(saved)
        for p, grad in zip(params, saved_grads):
            p.grad = grad
        replay()


def _loss_and_grads(model: nn.Module, loss_fn: LossFn, inputs: Tensor, targets: Tensor,
                    wrt: Sequence[Tensor], replay: Callable[[], None]) -> tuple[float, list[Tensor]]:
    """L and ∂L/∂wrt at the current weights, without touching ``.grad``.
    Parameters the loss does not depend on get a zero gradient."""
    replay()
    with torch.enable_grad():
        loss = loss_fn(model(inputs), targets)
        grads = torch.autograd.grad(loss, list(wrt), allow_unused=True)
    grads = [torch.zeros_like(w) if g is None else g.detach() for w, g in zip(wrt, grads)]
    return float(loss.detach()), grads


def _flat64(tensors: Sequence[Tensor]) -> Tensor:
    return torch.cat([t.reshape(-1).double() for t in tensors])


# ---------------------------------------------------------------- probes


def landscape(model: nn.Module, loss_fn: LossFn, inputs: Tensor, targets: Tensor,
              etas: Sequence[float]) -> Landscape:
    """Loss variation, gradient predictiveness and effective β-smoothness along
    the gradient at the current weights (Santurkar et al. 2018, Fig. 4).

    g = ∇L(w) over every parameter with ``requires_grad``, flattened into one
    vector; for each η the weights move to w − ηg, where the loss and gradient
    are evaluated on the same batch. η = 0 counts for the loss range and
    predictiveness but not for β (0/0). Costs 1 + len(etas) forward/backward
    passes. Non-finite losses at large η propagate into the result (they are
    a finding, not an error). These are raw, scale-dependent measures: with BN
    the loss is invariant to the scale of the weights before it, so compare
    arms at matched weight norms or relate η to ‖w‖ (``scale_free_landscape``).
    """
    etas = tuple(float(e) for e in etas)
    if not etas or not all(math.isfinite(e) for e in etas):
        raise ValueError(f"etas must be a non-empty sequence of finite numbers, got {etas}")
    losses, deltas, steps, _, _ = _along_gradient(model, loss_fn, inputs, targets, lambda g_norm, w_norm: etas)
    betas = [d / step for d, step in zip(deltas, steps) if step > 0]
    return Landscape(
        loss_range=max(losses) - min(losses),
        grad_predictiveness=max(deltas),
        beta_smoothness=max(betas) if betas else math.nan,
        etas=etas,
    )


@dataclass(frozen=True)
class ScaleFreeLandscape:
    """Santurkar et al.'s three measures in a form that does not move when the
    weights are rescaled (a BN network's loss is invariant to the scale of
    the weights before each BN, so its raw β shrinks as ‖w‖² grows): steps
    are fractions ρ of the weight norm, ‖ηg‖ = ρ‖w‖, and gradients are
    measured relative to ‖g‖.

    loss_range: max − min of L(w − ηg) over the ρ grid (loss units).
    grad_change: max over ρ of ‖∇L(w) − ∇L(w − ηg)‖ / ‖∇L(w)‖.
    beta: max over ρ of that relative change / ρ, i.e. β·‖w‖/‖g‖ for the
        effective β-smoothness β: unchanged when w → cw for a scale-invariant
        loss (β → β/c², ‖w‖ → c‖w‖, ‖g‖ → ‖g‖/c).
    weight_norm, grad_norm: ‖w‖ and ‖g‖ over every trainable parameter.
    """

    loss_range: float
    grad_change: float
    beta: float
    weight_norm: float
    grad_norm: float
    rhos: tuple[float, ...]


def scale_free_landscape(model: nn.Module, loss_fn: LossFn, inputs: Tensor, targets: Tensor,
                         rhos: Sequence[float]) -> ScaleFreeLandscape:
    """``ScaleFreeLandscape`` at the current weights; ``rhos`` > 0 are the
    steps as fractions of ‖w‖ (over every trainable parameter). Costs
    1 + len(rhos) forward/backward passes; NaN measures when g = 0."""
    rhos = tuple(float(r) for r in rhos)
    if not rhos or not all(math.isfinite(r) and r > 0 for r in rhos):
        raise ValueError(f"rhos must be a non-empty sequence of positive numbers, got {rhos}")
    losses, deltas, _, g_norm, w_norm = _along_gradient(
        model, loss_fn, inputs, targets, lambda g_norm, w_norm: tuple(r * w_norm / g_norm if g_norm > 0 else 0.0
                                                                      for r in rhos))
    if not g_norm > 0:
        return ScaleFreeLandscape(max(losses) - min(losses), math.nan, math.nan, w_norm, g_norm, rhos)
    changes = [d / g_norm for d in deltas]
    return ScaleFreeLandscape(loss_range=max(losses) - min(losses), grad_change=max(changes),
                              beta=max(c / r for c, r in zip(changes, rhos)), weight_norm=w_norm, grad_norm=g_norm,
                              rhos=rhos)


def _along_gradient(model: nn.Module, loss_fn: LossFn, inputs: Tensor, targets: Tensor,
                    step_sizes: Callable[[float, float], Sequence[float]]):
    """The loss and ‖∇L(w) − ∇L(w − ηg)‖ at each η = ``step_sizes(‖g‖, ‖w‖)``,
    the step lengths ‖ηg‖, ‖g‖ and ‖w‖; every parameter, buffer, ``.grad``
    and the RNG are restored afterwards."""
    params = _trainable(model)
    if not params:
        raise ValueError("model has no parameter with requires_grad")
    with _probe_state(model) as replay:
        _, g = _loss_and_grads(model, loss_fn, inputs, targets, params, replay)
        g_flat = _flat64(g)
        g_norm = float(g_flat.norm())
        origin = [p.detach().clone() for p in params]
        w_norm = float(_flat64(origin).norm())
        losses, deltas, steps = [], [], []
        for eta in step_sizes(g_norm, w_norm):
            with torch.no_grad():
                for p, w, gp in zip(params, origin, g):
                    p.copy_(w - eta * gp)
            loss, g_eta = _loss_and_grads(model, loss_fn, inputs, targets, params, replay)
            losses.append(loss)
            deltas.append(float((g_flat - _flat64(g_eta)).norm()))
            steps.append(abs(eta) * g_norm)  # ‖ηg‖₂, weight units
    return losses, deltas, steps, g_norm, w_norm


def internal_covariate_shift(model: nn.Module, layers: Sequence[nn.Module], loss_fn: LossFn,
                             inputs: Tensor, targets: Tensor, lr: float,
                             names: Sequence[str] | None = None) -> list[LayerShift]:
    """ICS of each layer's weight (Santurkar et al. 2018, Def. 2.1).

    ``layers`` are in forward order. All gradients are taken once at step t;
    for layer i, layers 0..i−1 (all of their trainable parameters, weight and
    bias) take a plain SGD step ``p − lr·∂L/∂p`` with those step-t gradients,
    while layer i, the later layers and every parameter outside ``layers``
    (e.g. BN's affine ones) stay at step t; G′ is then the gradient of layer
    i's weight on the same batch. Only the weight enters ICS and the cosine
    (bias excluded). The first layer has G′ = G: ics 0, cosine 1. Costs
    len(layers) forward/backward passes. ``names`` default to the layers'
    names in ``model`` (``layer{i}`` when not found).
    """
    layers = list(layers)
    if not layers:
        raise ValueError("layers is empty")
    if names is None:
        found = {id(m): n for n, m in model.named_modules()}
        names = [found.get(id(m)) or f"layer{i}" for i, m in enumerate(layers)]
    if len(names) != len(layers):
        raise ValueError(f"{len(names)} names for {len(layers)} layers")
    if not math.isfinite(lr):
        raise ValueError(f"lr must be finite, got {lr}")
    weights = [_weight(m) for m in layers]
    own = [[p for p in m.parameters() if p.requires_grad] for m in layers]  # what each layer updates
    with _probe_state(model) as replay:
        every = [p for ps in own for p in ps]
        _, grads = _loss_and_grads(model, loss_fn, inputs, targets, every, replay)
        step_t = dict(zip(map(id, every), grads))
        shifts = []
        for i, (name, weight) in enumerate(zip(names, weights)):
            if i > 0:  # layers 0..i-1 have taken their step: add layer i-1's now
                with torch.no_grad():
                    for p in own[i - 1]:
                        p.sub_(lr * step_t[id(p)])
            g = step_t[id(weight)]
            (g_shift,) = _loss_and_grads(model, loss_fn, inputs, targets, [weight], replay)[1]
            if torch.equal(g, g_shift):
                shifts.append(LayerShift(name, 0.0, 1.0 if bool(g.any()) else math.nan, float(g.double().norm())))
                continue
            a, b = g.reshape(-1).double(), g_shift.reshape(-1).double()
            norms = float(a.norm()) * float(b.norm())
            cosine = max(-1.0, min(1.0, float(a @ b) / norms)) if norms > 0 else math.nan
            shifts.append(LayerShift(name, float((a - b).norm()), cosine, float(a.norm())))
    return shifts


def gradient_norms(model: nn.Module, layers: Sequence[nn.Module], loss_fn: LossFn,
                   inputs: Tensor, targets: Tensor) -> list[float]:
    """‖∂L/∂W_l‖₂ (Frobenius, weight only) for each layer, from one backward
    pass at the current weights; ``.grad``, buffers and RNG are left as found."""
    weights = [_weight(m) for m in layers]
    with _probe_state(model) as replay:
        _, grads = _loss_and_grads(model, loss_fn, inputs, targets, weights, replay)
    return [float(g.double().norm()) for g in grads]


def gradient_alignment(model: nn.Module, loss_fn: LossFn, inputs: Tensor, targets: Tensor, batch: int,
                       reference_rows: int, draws: int, generator: torch.Generator) -> float:
    """How well a minibatch estimates the gradient: the mean over ``draws``
    random batches of ``batch`` rows of cos(∇L on the batch, ∇L on the first
    ``reference_rows`` rows, a stand-in for the full-data gradient), every
    trainable parameter in one vector. 1 = the batch's gradient points where
    the large batch's does. Batches come from ``generator`` (the run's own
    RNG, ``.grad`` and buffers are left as found); the caller chooses the mode
    (in train mode BatchNorm normalises each batch by its own statistics, as
    SGD sees it)."""
    wrt = _trainable(model)
    cosines = []
    with _probe_state(model) as replay:
        rows = min(reference_rows, len(targets))
        reference = _flat64(_loss_and_grads(model, loss_fn, inputs[:rows], targets[:rows], wrt, replay)[1])
        for _ in range(draws):
            pick = torch.randperm(len(targets), generator=generator)[:batch].to(inputs.device)
            g = _flat64(_loss_and_grads(model, loss_fn, inputs[pick], targets[pick], wrt, replay)[1])
            norms = float(g.norm()) * float(reference.norm())
            cosines.append(max(-1.0, min(1.0, float(g @ reference) / norms)) if norms > 0 else math.nan)
    return float(np.mean(cosines))


def fit_growth_rate(norms: Sequence[float], skip_first: int = 0, skip_last: int = 0) -> tuple[float, float]:
    """Per-layer growth factor λ of the gradient norm towards the input.

    ``norms`` run from the first layer (input side, l = 0) to the last
    (l = L−1). Least squares of log norm_l = a + slope·l over the kept layers
    (``skip_first`` and ``skip_last`` drop edge layers; indices keep their
    original positions), and λ = exp(−slope), so that norm_l ∝ λ^(L−l):
    λ > 1 is explosion towards the input. Returns (λ, standard error of log λ)
    — the OLS standard error of the slope; NaN with only two layers kept.
    Squared norms give λ² (log-linear fit): say which one a claim's λ is.
    """
    if skip_first < 0 or skip_last < 0:
        raise ValueError(f"skip_first and skip_last must be >= 0, got {skip_first}, {skip_last}")
    values = np.asarray(norms, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError("norms must be a 1-D sequence")
    layer = np.arange(values.size, dtype=np.float64)
    keep = slice(skip_first, values.size - skip_last)
    layer, values = layer[keep], values[keep]
    if values.size < 2:
        raise ValueError(f"need at least 2 layers after skipping, got {values.size}")
    if not (np.all(np.isfinite(values)) and np.all(values > 0)):
        raise ValueError("norms must be finite and positive (a zero norm has no logarithm)")
    y = np.log(values)
    centred = layer - layer.mean()
    sxx = float(centred @ centred)
    slope = float(centred @ (y - y.mean())) / sxx
    residual = y - y.mean() - slope * centred
    dof = values.size - 2
    se = math.sqrt(float(residual @ residual) / dof / sxx) if dof > 0 else math.nan
    return math.exp(-slope), se
