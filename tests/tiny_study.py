"""A template for a new study, and the tiny study the tests run (seconds per run).

To start a study, copy this file's first half (down to "test-only" below) into
``studies/<name>/__init__.py`` and grow it into the shape of ``studies/dropout/``:

1. **Settings** (``settings.py`` in a package): a frozen dataclass with every knob the
   trial reads, typed and commented. Tier-dependent fields come first; protocol
   constants are fields with defaults. Each tier is one instance; every field is
   logged as the MLflow param ``settings.<name>`` and is part of the design
   fingerprint, so no hyperparameter hides as a literal in trial code.
2. **Arms**: the fixed design, one ``Arm(name, config)`` per condition. ``config`` is
   what the trial reads as ``ctx.config`` and is logged as params ``config.*``.
3. **The trial** (``trials.py``): ``run_trial(ctx)`` trains one (arm, replicate) through
   ``harness.engine.train`` (``fit`` is its one-line form) and returns final metrics;
   per-epoch metrics go through ``ctx.log_metric``, under names of their own (a result
   that would end a curve of its name on another value fails the trial, so a restored
   best epoch's accuracy is ``val_acc`` beside an ``epoch_val_acc`` curve). Seeds come
   from ``ctx.seeds`` (``build_model`` and the loop apply them); NaN raises ``TrialDiverged``.
4. **Claims**: the sentence verbatim (a test checks it against the seed text), its
   primary source and numbers, what we measure, a test from ``harness.claimtests``, and
   the validity checks its arms must pass (``harness.checks``: trained, converged...).
5. **Budgets**: ``smoke`` (a machinery check), ``quick`` (a preview of a few minutes),
   ``standard`` (real verdicts: the committed reports), ``full``.

Register it with ``register(Study(...))``; ``harness list studies`` then shows it and
``make study-<name>`` runs it. A module outside ``studies/`` registers when named in
``$HARNESS_STUDY_MODULES`` (how the tests load this one).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

from harness.claimtests import Better, Similar
from harness.claims import Claim
from harness.discovery import register
from harness.study import Arm, Budget, Ensemble, Study, Tuning


@dataclass(frozen=True)
class Settings:
    epochs: int                  # passes over the 256 training rows
    n_train: int = 256           # synthetic data: rows, features, classes
    n_test: int = 128
    dim: int = 8
    classes: int = 3
    batch: int = 64
    lr: float = 1e-2             # SGD step size unless the arm is tuned
    lr_range: tuple[float, float] = (1e-3, 1e-1)  # the tuned arm's search range (log scale)


def run_trial(ctx):
    import torch

    from harness import datasets, engine
    from harness.models import MODELS

    _inject_faults(ctx)                      # test-only: drop this line in a real study
    s = ctx.budget
    data = datasets.load("synthetic", n_train=s["n_train"], n_test=s["n_test"], dim=s["dim"], classes=s["classes"])
    ctx.use_dataset("synthetic", data.digest, data.source)
    x, y = engine.as_tensor(data.x_train, ctx.device), engine.as_tensor(data.y_train, ctx.device)
    xt, yt = engine.as_tensor(data.x_test, ctx.device), engine.as_tensor(data.y_test, ctx.device)
    model = engine.build_model(lambda: MODELS.get("mlp")(in_features=s["dim"], classes=s["classes"],
                                                         hidden=(ctx.config["width"],)), ctx)
    lr = _fault_lr(ctx) or float(ctx.config.get("lr", s["lr"]))
    train = engine.TrainConfig(epochs=s["epochs"], batch_size=s["batch"], lr=lr, optimizer="sgd")
    engine.fit(model, x, y, torch.nn.functional.cross_entropy, train, ctx)
    with torch.no_grad():
        error = float((model(xt).argmax(1) != yt).float().mean())
    metrics = {"val_error" if ctx.tuning else "test_error": error}
    metrics.update(_fault_metrics(ctx))      # test-only: drop this line
    return metrics


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
    tuning=Tuning(arms=("wide",), space=lambda t: {"lr": t.suggest_float("lr", *Settings.lr_range, log=True)},
                  metric="val_error"),
    budgets={
        "smoke": Budget(replicates=2, settings=Settings(epochs=2)),
        "quick": Budget(replicates=3, settings=Settings(epochs=3), tuning_trials=2),
        "standard": Budget(replicates=3, settings=Settings(epochs=3), tuning_trials=2),
        "full": Budget(replicates=4, settings=Settings(epochs=5), tuning_trials=3),
    },
))


# -- test-only from here: fault injection, and a second study trained as ensembles -------------------
# Failures and slowness are injected with environment variables so that a subprocess can be steered too:
# TINY_FAIL="arm/rREPLICATE=exception|nan|interrupt|clash,…" and TINY_SLEEP=seconds.
def _fault(ctx) -> str | None:
    """The fault TINY_FAIL names for this trial's (arm, replicate), if any."""
    spec = os.environ.get("TINY_FAIL", "")
    faults = dict(item.split("=", 1) for item in spec.split(",") if "=" in item)
    return faults.get(f"{ctx.arm.name}/r{ctx.replicate}")


def _inject_faults(ctx) -> None:
    fault = _fault(ctx)
    if fault == "exception":
        raise RuntimeError("injected failure")
    if fault == "interrupt":
        raise KeyboardInterrupt
    time.sleep(float(os.environ.get("TINY_SLEEP", "0")))


def _fault_lr(ctx) -> float | None:
    """An absurd learning rate for a replicate told to go NaN."""
    return 1e6 if _fault(ctx) == "nan" else None


def _fault_metrics(ctx) -> dict[str, float]:
    """For a replicate told to clash: a result under the name of the loop's train_loss curve, off its last point."""
    return {"train_loss": -1.0} if _fault(ctx) == "clash" else {}


# -- a study that trains its trials as ensembles (harness.ensemble) --------------------------------
def ensemble_key(config, budget):
    return f"width={config['width']}"  # arms of one width share a shape, whatever their learning rate


def run_group(contexts):
    """Every context's trial as one member of one ensemble; TINY_FAIL "arm/rN=nan"
    makes that member's learning rate absurd so that it alone diverges."""
    from harness import datasets, engine
    from harness.ensemble import Member, Shape, train

    data = datasets.load("synthetic", n_train=256, n_test=128, dim=8, classes=3)
    members = []
    for ctx in contexts:
        ctx.use_dataset("synthetic", data.digest, data.source)
        lr = _fault_lr(ctx) or ctx.config["lr"]
        members.append(Member(ctx.seeds.init, ctx.seeds.data_order, ctx.seeds.noise, lr=lr, momentum=0.9))
    shape = Shape(8, 3, (contexts[0].config["width"],), epochs=contexts[0].budget["epochs"], batch_size=64)
    tensors = [engine.as_tensor(a, contexts[0].device) for a in (data.x_train, data.y_train, data.x_test, data.y_test)]

    def log(epoch, losses):
        for ctx, value in zip(contexts, losses.tolist()):
            ctx.log_metric("train_loss", value, epoch)

    results = train(shape, members, *tensors, on_epoch=log)
    return [engine.TrialDiverged(r.diverged) if r.diverged else {"test_error": 1 - r.test_accuracy,
                                                                 "test_loss": r.test_loss} for r in results]


def run_one(ctx):
    result = run_group([ctx])[0]
    if isinstance(result, Exception):
        raise result
    return result


ENSEMBLE_STUDY = register(Study(
    name="tiny-ens",
    title="Tiny ensemble test study",
    summary="Two learning rates of one width, trained as one ensemble, and a wider arm alone.",
    claims=(Claim(id="TINY-LR", quote="A larger step is better.", article="Tests", section="Fixtures", source="none",
                  source_numbers="none", measure="test error", test=Better("test_error", "fast", "slow")),),
    arms=lambda budget: [Arm("slow", {"width": 8, "lr": 0.01}), Arm("fast", {"width": 8, "lr": 0.05}),
                         Arm("wide", {"width": 16, "lr": 0.05})],
    run_trial=run_one,
    datasets=("synthetic",),
    budgets={
        "smoke": Budget(replicates=3, settings={"epochs": 3}),
        "quick": Budget(replicates=4, settings={"epochs": 3}),
        "standard": Budget(replicates=4, settings={"epochs": 3}),
        "full": Budget(replicates=5, settings={"epochs": 5}),
    },
    ensemble=Ensemble(key=ensemble_key, run=run_group),
))


# -- a sequential design (harness.sequential): looks at 3 and 6 replicates ------------------------------
def run_measured(ctx):
    """No training: a score drawn from the replicate's seed, shifted by the arm's
    ``shift`` (so one claim is decided at the first look and one is not)."""
    import numpy as np

    _inject_faults(ctx)
    rng = np.random.default_rng(ctx.seeds.init)
    pair = float(np.random.default_rng(ctx.replicate).normal())  # shared by the arms of a replicate
    score = pair + ctx.config["shift"] + ctx.config["noise"] * float(rng.normal())
    ctx.log_metric("train_loss", 1.0, 0)
    return {"score": score}


SEQUENTIAL_STUDY = register(Study(
    name="tiny-seq",
    title="Tiny sequential test study",
    summary="A large effect, decided at the first look, and a null one, run to the maximum.",
    claims=(
        Claim(id="SEQ-LARGE", quote="Large is lower.", article="Tests", section="Fixtures", source="none",
              source_numbers="none", measure="score", test=Better("score", "large", "base")),
        Claim(id="SEQ-NULL", quote="Null is lower.", article="Tests", section="Fixtures", source="none",
              source_numbers="none", measure="score", test=Better("score", "null", "base")),
    ),
    arms=lambda budget: [Arm("base", {"shift": 0.0, "noise": 0.5}, seed_group="base"),
                         Arm("large", {"shift": -100.0, "noise": 0.001}, seed_group="large"),
                         Arm("null", {"shift": 0.0, "noise": 0.5}, seed_group="null")],
    run_trial=run_measured,
    budgets={
        "smoke": Budget(replicates=6, looks=(3, 6)),
        "quick": Budget(replicates=6, looks=(3, 6)),
        "standard": Budget(replicates=6, looks=(3, 6)),
        "full": Budget(replicates=6),  # the same design, fixed: every arm at 6
    },
))
