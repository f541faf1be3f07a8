"""A tiny study for the tests: synthetic data, a small MLP, seconds per run.

Loaded through $HARNESS_STUDY_MODULES. Failures and slowness are injected
with environment variables so that a subprocess can be steered too:
TINY_FAIL="arm/rREPLICATE=exception|nan|interrupt,…" and TINY_SLEEP=seconds.
"""
from __future__ import annotations

import os
import time

from harness.claims import Better, Claim, Similar
from harness.study import Arm, Budget, Study, Tuning, register


def _faults() -> dict[str, str]:
    spec = os.environ.get("TINY_FAIL", "")
    return dict(item.split("=", 1) for item in spec.split(",") if "=" in item)


def run_trial(ctx):
    import torch

    from harness import datasets, engine
    from harness.models import MODELS

    fault = _faults().get(f"{ctx.arm.name}/r{ctx.replicate}")
    if fault == "exception":
        raise RuntimeError("injected failure")
    if fault == "interrupt":
        raise KeyboardInterrupt
    time.sleep(float(os.environ.get("TINY_SLEEP", "0")))
    data = datasets.load("synthetic", n_train=256, n_test=128, dim=8, classes=3)
    ctx.use_dataset("synthetic", data.digest, data.source)
    x, y = engine.as_tensor(data.x_train, ctx.device), engine.as_tensor(data.y_train, ctx.device)
    xt, yt = engine.as_tensor(data.x_test, ctx.device), engine.as_tensor(data.y_test, ctx.device)
    model = engine.build_model(lambda: MODELS.get("mlp")(in_features=8, classes=3, hidden=(ctx.config["width"],)), ctx)
    lr = 1e6 if fault == "nan" else float(ctx.config.get("lr", 1e-2))
    train = engine.TrainConfig(epochs=ctx.budget["epochs"], batch_size=64, lr=lr, optimizer="sgd")
    engine.fit(model, x, y, torch.nn.functional.cross_entropy, train, ctx)
    with torch.no_grad():
        error = float((model(xt).argmax(1) != yt).float().mean())
    return {"val_error" if ctx.tuning else "test_error": error}


STUDY = register(Study(
    name="tiny",
    title="Tiny test study",
    summary="A wide MLP against a narrow one on synthetic data.",
    claims=(
        Claim(id="TINY-WIDE", quote="Wider is better.", article="Tests", section="Fixtures", source="none",
              source_numbers="none", measure="test error", test=Better("test_error", "wide", "narrow")),
        Claim(id="TINY-SAME", quote="Width does not matter.", article="Tests", section="Fixtures", source="none",
              source_numbers="none", measure="test error", test=Similar("test_error", "wide", "narrow", margin=0.05)),
    ),
    arms=lambda budget: [Arm("narrow", {"width": 2}), Arm("wide", {"width": 32})],
    run_trial=run_trial,
    datasets=("synthetic",),
    tuning=Tuning(arms=("wide",), space=lambda t: {"lr": t.suggest_float("lr", 1e-3, 1e-1, log=True)},
                  metric="val_error"),
    budgets={
        "smoke": Budget(replicates=2, settings={"epochs": 2}),
        "quick": Budget(replicates=3, settings={"epochs": 3}, tuning_trials=2),
        "full": Budget(replicates=4, settings={"epochs": 5}, tuning_trials=3),
    },
))
