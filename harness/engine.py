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
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
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
    beta1: float = 0.9           # Adam only: its first-moment decay, the momentum of Adam's step

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {self.epochs}, {self.batch_size}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"learning rate must be a positive number, got {self.lr}")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be adam or sgd, got {self.optimizer!r}")
        if not 0 <= self.beta1 < 1:
            raise ValueError(f"Adam's beta1 must be in [0, 1), got {self.beta1}")


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


@contextmanager
def torch_threads(threads: int):
    """Run a block on ``threads`` intra-op threads, then restore the process's
    count: for models whose kernels are too small to share (a small LSTM's
    per-step matmuls), where more threads only add synchronisation."""
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def configure_torch(threads: int) -> None:
    """Threads, deterministic kernels, and full float32 on CUDA: cuDNN's
    convolutions default to TF32 (a 10-bit mantissa) on Ampere and later,
    which would make a GPU run a different experiment from the CPU's."""
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def as_tensor(array: np.ndarray, device: torch.device | str) -> torch.Tensor:
    """A device copy (data sets hand out read-only arrays shared by every trial)."""
    return torch.tensor(array, device=device)


def build_model(factory: Callable[[], nn.Module], ctx: TrialContext) -> nn.Module:
    """Build a model under the trial's init seed, on the trial's device."""
    torch.manual_seed(ctx.seeds.init)
    return factory().to(ctx.device)


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999), weight_decay=cfg.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


@dataclass(frozen=True)
class Schedule:
    """How long to train and when to look.

    ``epochs`` or ``steps`` (exactly one): passes over the data, or optimiser
    steps (a step schedule runs on through as many shuffled passes as it
    needs). ``drop_last`` skips an epoch's short last batch (batch norm needs
    m >= 2). ``eval_every`` counts epochs or steps; the last one is always
    evaluated, and ``eval_at_start`` adds point 0, before any step.
    ``shuffle=False`` keeps the rows in order (full-batch gradient descent).
    """

    batch_size: int
    epochs: int | None = None
    steps: int | None = None
    drop_last: bool = False
    shuffle: bool = True
    eval_every: int = 1
    eval_at_start: bool = False
    time_epochs: bool = False    # log epoch_seconds (training only, evaluation excluded) each evaluated epoch

    def __post_init__(self) -> None:
        if (self.epochs is None) == (self.steps is None):
            raise ValueError("a schedule needs exactly one of epochs or steps")
        length = self.epochs if self.epochs is not None else self.steps
        if length < 1 or self.batch_size < 1 or self.eval_every < 1:
            raise ValueError(f"epochs/steps, batch_size and eval_every must be >= 1, "
                             f"got {length}, {self.batch_size}, {self.eval_every}")
        if self.time_epochs and self.steps is not None:
            raise ValueError("time_epochs needs an epoch schedule")

    @property
    def unit(self) -> str:
        return "epoch" if self.epochs is not None else "step"

    @property
    def length(self) -> int:
        return self.epochs if self.epochs is not None else self.steps


@dataclass(frozen=True)
class EarlyStopping:
    """Stop when ``metric`` (returned by ``evaluate``, on a validation split)
    has not improved by more than ``min_delta`` (relative, when ``relative``)
    for ``patience`` evaluations. The run then logs ``stopped_early`` = 1,
    which the ``converged`` validity check accepts in place of a flat tail.

    With ``decays`` > 0 a plateau first multiplies the learning rate by
    ``factor`` (up to ``decays`` times, logged as ``lr``) and only the plateau
    after the last decay stops the run: a schedule that reaches a plateau from
    a range of starting rates, so a comparison does not hinge on a tuned rate.
    ``restore_best`` puts back the weights of the best evaluation before the
    run ends, so what is measured after training is the model that validation
    chose, not the one ``patience`` evaluations later."""

    metric: str
    patience: int
    lower_is_better: bool = True
    min_delta: float = 0.0
    relative: bool = False
    decays: int = 0
    factor: float = 0.1
    restore_best: bool = False

    def __post_init__(self) -> None:
        if self.patience < 1:
            raise ValueError(f"patience must be >= 1, got {self.patience}")
        if self.decays < 0 or not 0 < self.factor < 1:
            raise ValueError(f"decays must be >= 0 and factor in (0, 1), got {self.decays}, {self.factor}")

    def improved(self, value: float, best: float) -> bool:
        """Is ``value`` (signed so that lower is better) better than ``best`` by the margin?"""
        if not math.isfinite(best):
            return True
        margin = self.min_delta * abs(best) if self.relative else self.min_delta
        return value < best - margin


@dataclass
class TrainResult:
    points: list[int] = field(default_factory=list)          # the epoch or step of each evaluation
    train_loss: list[float] = field(default_factory=list)    # at each point: its epoch's mean, or the steps'
                                                             # since the last
    evaluations: list[dict[str, float]] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)  # when the schedule times epochs
    stopped_early: bool = False
    best_point: int | None = None                            # where the early-stopping metric was best

    def curve(self, key: str) -> list[float]:
        return [e[key] for e in self.evaluations if key in e]


# -- the seeding rule and the divergence rule, shared with the batched trainer (harness.ensemble) ----
def cpu_generator(seed: int) -> torch.Generator:
    """A private CPU generator: minibatch order (from the *data_order* seed) is
    drawn from one, so it is the same on every device and unaffected by
    whatever else draws random numbers."""
    return torch.Generator(device="cpu").manual_seed(seed)


def seed_training(ctx: TrialContext) -> torch.Generator:
    """The one seeding rule of a training run: the order generator from
    *data_order*, and torch's global RNG re-seeded with *noise* (dropout masks,
    injected noise). The model was built before, under *init* (``build_model``)."""
    order = cpu_generator(ctx.seeds.data_order)
    torch.manual_seed(ctx.seeds.noise)
    return order


def divergence(mean_loss: float, unit: str, point: int) -> str | None:
    """The one divergence rule: a non-finite mean loss since the last look. The
    reason names where it was seen (no per-step host sync, so not the step)."""
    if math.isfinite(mean_loss):
        return None
    return f"training loss became {mean_loss} in {unit} {point}" if unit == "epoch" else \
        f"training loss became {mean_loss} by step {point}"


def _epoch_batches(n: int, schedule: Schedule, order: torch.Generator, device: torch.device):
    """One pass: the minibatch index tensors of an epoch."""
    permutation = torch.randperm(n, generator=order).to(device) if schedule.shuffle else torch.arange(n, device=device)
    stop = n - schedule.batch_size + 1 if schedule.drop_last else n
    if stop <= 0:
        raise ValueError(f"batch_size {schedule.batch_size} exceeds the {n} training rows (drop_last)")
    return [permutation[start:start + schedule.batch_size] for start in range(0, stop, schedule.batch_size)]


def train(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    schedule: Schedule,
    ctx: TrialContext,
    evaluate: Callable[[int], Mapping[str, float]] | None = None,
    on_eval: Callable[[int], None] | None = None,
    after_step: Callable[[], None] | None = None,
    early_stopping: EarlyStopping | None = None,
) -> TrainResult:
    """The harness's training loop; every study trains through it.

    At each evaluation point (see ``Schedule``) it logs ``train_loss`` (the
    mean over the epoch just finished, or over the steps since the previous
    point; summed in float64 on the device, read once per point: the only
    host sync), then ``evaluate(point)``'s metrics (model in
    eval mode, no gradients), then ``epoch_seconds`` when timed; then calls
    ``on_eval(point)`` in training mode (probes that need gradients). After each
    optimiser step it calls ``after_step()`` (e.g. a max-norm projection).

    Raises TrialDiverged at the first point whose mean loss is not finite, before
    logging it. With ``early_stopping`` it stops at the point where the metric
    has not improved for ``patience`` evaluations, and logs ``stopped_early``.
    """
    order = seed_training(ctx)
    device = inputs.device
    n = inputs.shape[0]
    result = TrainResult()
    best, stale = math.inf, 0
    decays_left = early_stopping.decays if early_stopping is not None else 0
    best_state: dict[str, torch.Tensor] | None = None
    sign = 1.0 if early_stopping is None or early_stopping.lower_is_better else -1.0

    def look(point: int, total: torch.Tensor, steps: int, seconds: float | None) -> bool:
        """Log one evaluation point; True when early stopping says stop."""
        nonlocal best, stale, decays_left, best_state
        row: dict[str, float] = {}
        if steps:
            mean = float(total) / steps                     # the host sync, once per point
            reason = divergence(mean, schedule.unit, point)
            if reason:
                raise TrialDiverged(reason)
            result.train_loss.append(mean)
            row["train_loss"] = mean
        evaluation: dict[str, float] = {}
        if evaluate is not None:
            model.eval()
            with torch.no_grad():
                evaluation = dict(evaluate(point))
            model.train()
        row.update(evaluation)
        if seconds is not None:
            row["epoch_seconds"] = seconds
            result.epoch_seconds.append(seconds)
        result.points.append(point)
        result.evaluations.append(evaluation)
        if row:
            ctx.log_metrics(row, point)
        if on_eval is not None:
            on_eval(point)
        if early_stopping is None or early_stopping.metric not in evaluation:
            return False
        value = sign * evaluation[early_stopping.metric]
        if early_stopping.improved(value, best):
            best, stale, result.best_point = value, 0, point
            if early_stopping.restore_best:
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            return False
        stale += 1
        if stale < early_stopping.patience:
            return False
        if decays_left:  # a plateau: a smaller step first, then patience again
            decays_left -= 1
            stale = 0
            for group in optimizer.param_groups:
                group["lr"] *= early_stopping.factor
            ctx.log_metric("lr", optimizer.param_groups[0]["lr"], point)
            return False
        result.stopped_early = True
        return True

    model.train()
    if schedule.eval_at_start and look(0, torch.zeros((), dtype=torch.float64, device=device), 0, None):
        return _finish(result, early_stopping, ctx, 0, model, best_state)
    total = torch.zeros((), dtype=torch.float64, device=device)
    steps_since = step = epoch = 0
    bar = iter(ctx.progress(range(schedule.length), total=schedule.length, desc=f"{schedule.unit}s"))
    while True:
        epoch += 1
        started = time.perf_counter()
        if schedule.unit == "epoch":  # an epoch's train_loss is its own mean, also when epochs go unlogged
            total, steps_since = torch.zeros_like(total), 0
        for index in _epoch_batches(n, schedule, order, device):
            loss = loss_fn(model(inputs[index]), targets[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if after_step is not None:
                after_step()
            total += loss.detach().to(torch.float64)
            steps_since += 1
            step += 1
            if schedule.unit == "step":
                next(bar, None)
                if step % schedule.eval_every == 0 or step == schedule.length:
                    stop = look(step, total, steps_since, None)
                    total, steps_since = torch.zeros_like(total), 0
                    if stop or step == schedule.length:
                        return _finish(result, early_stopping, ctx, step, model, best_state)
        if schedule.unit == "epoch":
            next(bar, None)
            if epoch % schedule.eval_every == 0 or epoch == schedule.length:
                if schedule.time_epochs and device.type == "cuda":
                    torch.cuda.synchronize(device)  # CUDA runs ahead of the host: wait for the epoch's kernels
                seconds = time.perf_counter() - started if schedule.time_epochs else None
                stop = look(epoch, total, steps_since, seconds)
                total, steps_since = torch.zeros_like(total), 0
                if stop or epoch == schedule.length:
                    return _finish(result, early_stopping, ctx, epoch, model, best_state)


def _finish(result: TrainResult, early_stopping: EarlyStopping | None, ctx: TrialContext, point: int,
            model: nn.Module, best_state: dict[str, torch.Tensor] | None) -> TrainResult:
    if early_stopping is not None:
        ctx.log_metric("stopped_early", float(result.stopped_early), point)
        if best_state is not None:
            model.load_state_dict(best_state)
            ctx.log_metric("best_point", float(result.best_point), point)
    return result


def fit(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    cfg: TrainConfig,
    ctx: TrialContext,
    evaluate: Callable[[int], Mapping[str, float]] | None = None,
    log_every: int = 1,
    early_stopping: EarlyStopping | None = None,
) -> list[float]:
    """``train`` with an optimiser built from ``cfg`` and one evaluation every
    ``log_every`` epochs and at the last (step = epoch): full-batch runs of
    thousands of "epochs" look sparsely, so the run stays light in the
    tracking store. Returns the mean training loss at each evaluated epoch."""
    if log_every < 1:
        raise ValueError(f"log_every must be >= 1, got {log_every}")
    schedule = Schedule(batch_size=cfg.batch_size, epochs=cfg.epochs, eval_every=log_every)
    return train(model, inputs, targets, loss_fn, make_optimizer(model, cfg), schedule, ctx, evaluate,
                 early_stopping=early_stopping).train_loss


@torch.no_grad()
def batched(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch: int = 4096) -> torch.Tensor:
    """Apply ``fn`` to ``x`` in slices, to bound memory on large test sets."""
    return torch.cat([fn(x[i : i + batch]) for i in range(0, x.shape[0], batch)])


def sse_per_example(reconstruct: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> float:
    """Summed squared error per example, averaged over examples — the unit of
    Hinton & Salakhutdinov 2006 ("average squared error per test image")."""
    recon = batched(reconstruct, x)
    return float(((recon - x.flatten(1)) ** 2).sum(1).mean())
