"""Training on in-memory tensors: seeded, device-aware, fail-fast on NaN.

Data sets here fit in memory, so each is one tensor on the device and batches
are index slices of it (no DataLoader workers, design.md). Randomness comes
from the trial's seed streams: the model is built right after seeding torch's
global RNG with the *init* seed; minibatch order uses its own generator seeded
with *data_order*; the global RNG is then re-seeded with *noise* for dropout
masks and injected noise. The same inputs give identical metrics on CPU.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
import torch
from torch import nn

from harness.context import TrialContext


class TrialDiverged(RuntimeError):
    """The loss became NaN or infinite: the trial fails with this reason."""


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    batch_size: int = 128        # examples per step
    lr: float = 1e-3             # Adam's default step size
    optimizer: str = "adam"      # "adam" or "sgd"
    momentum: float = 0.0        # SGD only
    weight_decay: float = 0.0    # L2 coefficient, decoupled from nothing: plain torch semantics

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {self.epochs}, {self.batch_size}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"learning rate must be a positive number, got {self.lr}")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be adam or sgd, got {self.optimizer!r}")


def pick_device(preferred: str | None = None) -> torch.device:
    """CUDA when present (or as asked via HARNESS_DEVICE / ``preferred``), else CPU."""
    name = preferred or os.environ.get("HARNESS_DEVICE")
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """⌊cores / workers⌋, at least 1: workers × threads never exceeds the cores
    (two processes × 2 threads ran 9x slower than two × 1 thread here)."""
    cores = cores if cores is not None else (os.cpu_count() or 1)
    return max(1, cores // max(1, workers))


def configure_torch(threads: int) -> None:
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)


def as_tensor(array: np.ndarray, device: torch.device | str) -> torch.Tensor:
    """A device copy (data sets hand out read-only arrays shared by every trial)."""
    return torch.tensor(array, device=device)


def build_model(factory: Callable[[], nn.Module], ctx: TrialContext) -> nn.Module:
    """Build a model under the trial's init seed, on the trial's device."""
    torch.manual_seed(ctx.seeds.init)
    return factory().to(ctx.device)


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def fit(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    cfg: TrainConfig,
    ctx: TrialContext,
    evaluate: Callable[[int], Mapping[str, float]] | None = None,
    log_every: int = 1,
) -> list[float]:
    """Minibatch training; logs ``train_loss`` (mean over the epoch's steps)
    and whatever ``evaluate(epoch)`` returns, every ``log_every`` epochs and
    at the last (step = epoch). Full-batch runs of thousands of "epochs" log
    sparsely so the run stays light in the tracking store.

    Raises TrialDiverged at the end of the first epoch whose mean loss is
    non-finite, naming the epoch (checked per epoch, not per step, to avoid a
    device sync on every step).
    """
    if log_every < 1:
        raise ValueError(f"log_every must be >= 1, got {log_every}")
    order = torch.Generator(device="cpu").manual_seed(ctx.seeds.data_order)
    torch.manual_seed(ctx.seeds.noise)
    optimizer = make_optimizer(model, cfg)
    n = inputs.shape[0]
    losses = []
    for epoch in ctx.progress(range(1, cfg.epochs + 1), total=cfg.epochs):
        model.train()
        permutation = torch.randperm(n, generator=order).to(inputs.device)
        total = torch.zeros((), device=inputs.device)
        steps = 0
        for start in range(0, n, cfg.batch_size):
            index = permutation[start : start + cfg.batch_size]
            loss = loss_fn(model(inputs[index]), targets[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach()
            steps += 1
        epoch_loss = float(total) / steps  # one device sync per epoch, not per step
        if not math.isfinite(epoch_loss):
            raise TrialDiverged(f"training loss became {epoch_loss} in epoch {epoch}")
        losses.append(epoch_loss)
        if epoch % log_every and epoch != cfg.epochs:
            continue
        ctx.log_metric("train_loss", epoch_loss, epoch)
        if evaluate is not None:
            model.eval()
            with torch.no_grad():
                ctx.log_metrics(evaluate(epoch), epoch)
    return losses


@torch.no_grad()
def batched(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch: int = 4096) -> torch.Tensor:
    """Apply ``fn`` to ``x`` in slices, to bound memory on large test sets."""
    return torch.cat([fn(x[i : i + batch]) for i in range(0, x.shape[0], batch)])


def sse_per_example(reconstruct: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> float:
    """Summed squared error per example, averaged over examples — the unit of
    Hinton & Salakhutdinov 2006 ("average squared error per test image")."""
    recon = batched(reconstruct, x)
    return float(((recon - x.flatten(1)) ** 2).sum(1).mean())
