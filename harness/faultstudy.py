"""The study ``make faults`` breaks on purpose (``harness.faults``).

Not a claim about deep learning: a measuring instrument like
``harness.benchstudy``, loaded only through $HARNESS_STUDY_MODULES. Two
small MLPs on synthetic data, three replicates each, a second or two a trial,
so that dozens of killed-and-resumed runs fit in minutes.
"""
from __future__ import annotations

from dataclasses import dataclass

from harness.claimtests import Better
from harness.claims import Claim
from harness.design import BUDGET_NAMES
from harness.discovery import register
from harness.study import Arm, Budget, Study


@dataclass(frozen=True)
class Settings:
    epochs: int = 3
    n_train: int = 256
    n_test: int = 128
    dim: int = 8
    classes: int = 3
    batch: int = 64
    lr: float = 0.05


def run_trial(ctx) -> dict[str, float]:
    import torch

    from harness import datasets, engine
    from harness.models import MODELS

    s = ctx.budget
    data = datasets.load("synthetic", n_train=s["n_train"], n_test=s["n_test"], dim=s["dim"], classes=s["classes"])
    ctx.use_dataset("synthetic", data.digest, data.source)
    x, y = engine.as_tensor(data.x_train, ctx.device), engine.as_tensor(data.y_train, ctx.device)
    xt, yt = engine.as_tensor(data.x_test, ctx.device), engine.as_tensor(data.y_test, ctx.device)
    model = engine.build_model(lambda: MODELS.get("mlp")(in_features=s["dim"], classes=s["classes"],
                                                         hidden=(ctx.config["width"],)), ctx)
    train = engine.TrainConfig(epochs=s["epochs"], batch_size=s["batch"], lr=s["lr"], optimizer="sgd")
    engine.fit(model, x, y, torch.nn.functional.cross_entropy, train, ctx)
    with torch.no_grad():
        return {"test_error": float((model(xt).argmax(1) != yt).float().mean())}


STUDY = register(Study(
    name="faults",
    title="Fault injection: the study that is killed",
    summary="Not a claim: workers are killed while running it, and the queue's promises are checked.",
    claims=(Claim(id="FAULTS-WIDE", quote="(fault injection)", article="none", section="none", source="none",
                  source_numbers="none", measure="test error", test=Better("test_error", "wide", "narrow")),),
    arms=lambda budget: [Arm("narrow", {"width": 2}), Arm("wide", {"width": 32})],
    run_trial=run_trial,
    datasets=("synthetic",),
    budgets={name: Budget(replicates=3, settings=Settings()) for name in BUDGET_NAMES},
))
