"""The study the benchmarks run through the harness (``make bench``).

Imported only by ``harness.bench`` (and, in worker processes, through
$HARNESS_STUDY_MODULES): it is a measuring instrument, not a claim, so it is
not among the ``studies/``. One arm, a Fashion-MNIST MLP trained by
``engine.fit`` -- the same loop ``bare_trial`` runs without Optuna or MLflow.
"""
from __future__ import annotations

import os

from harness.claimtests import Bound
from harness.claims import Claim
from harness.discovery import register
from harness.study import Arm, Budget, Study

NAME = "bench-overhead"
SETTINGS_ENV = "HARNESS_BENCH_TRIAL"  # "n_train,epochs,hidden": the size of one trial


def settings() -> tuple[int, int, int]:
    n_train, epochs, hidden = (int(v) for v in os.environ.get(SETTINGS_ENV, "20000,3,512").split(","))
    return n_train, epochs, hidden


def load(device: str):
    from harness import datasets, engine

    n_train, _, _ = settings()
    data = datasets.load("fashion-mnist").subsample(n_train, seed=0)
    return data, tuple(engine.as_tensor(a, device) for a in (data.x_train, data.y_train.astype("int64")))


def train(ctx, x, y) -> list[float]:
    """The loop both sides run: engine.fit on a 784-h-h-10 MLP, Adam, batch 128."""
    import torch

    from harness import engine
    from harness.nets import MLP

    _, epochs, hidden = settings()
    model = engine.build_model(lambda: MLP(784, 10, (hidden, hidden)), ctx)
    return engine.fit(model, x, y, torch.nn.functional.cross_entropy, engine.TrainConfig(epochs=epochs), ctx)


def run_trial(ctx) -> dict[str, float]:
    data, (x, y) = load(ctx.device)
    ctx.use_dataset("fashion-mnist", data.digest, data.source)
    losses = train(ctx, x, y)
    return {"train_loss": losses[-1]}


STUDY = register(Study(
    name=NAME,
    title="Benchmark: one MLP trial through the harness",
    summary="Not a claim: the harness's per-trial cost is measured on it.",
    claims=(Claim(id="BENCH", quote="(benchmark)", article="none", section="none", source="none",
                  source_numbers="none", measure="train loss", test=Bound("train_loss", 10.0, over=("mlp",))),),
    arms=lambda budget: [Arm("mlp")],
    run_trial=run_trial,
    datasets=("fashion-mnist",),
    budgets={name: Budget(replicates=n) for name, n in (("smoke", 2), ("quick", 3), ("standard", 3), ("full", 16))},
))
