"""The seeds study's trials: small ReLU MLPs trained with SGD, hundreds of
seeds of one shape at once (``harness.ensemble``; the sweep groups trials by
``ensemble_key`` and hands each group to ``run_group``), each seed still its
own Optuna trial and MLflow run. Every hyperparameter comes from the arm's
config or the tier's ``Settings`` (``settings.py``)."""
from __future__ import annotations

import json
import math
from typing import Any

MNIST1D, FASHION = "mnist1d", "fashion-mnist"
ROOT_SEED = 3407  # the study's root seed (Picard's); replicate 0's seeds are the ones a source held fixed uses
SOURCES = ("init", "order", "mask", "bootstrap")  # SEED-SOURCES: the sources of randomness, one varied at a time


def _shape_config(config: dict[str, Any]) -> dict[str, Any]:
    """What members of one ensemble must share: data, architecture, schedule."""
    hidden = tuple(config["hidden"]) if "hidden" in config else (config["width"],) * config["depth"]
    return {"dataset": config["dataset"], "hidden": list(hidden), "batch_size": config["batch_size"],
            "retain_hidden": config.get("retain_hidden", 1.0), "grid": config.get("grid", "")}


def ensemble_key(config, budget) -> str | None:
    if "hidden" not in config and "width" not in config:
        return None  # a search arm before tuning: its shape is not known yet
    return json.dumps(_shape_config(dict(config)), sort_keys=True)


def _fixed_seeds(ctx):
    """The seeds a source uses when it is held fixed: replicate 0's."""
    from harness.seeding import trial_seeds

    return trial_seeds(ROOT_SEED, ctx.study, 0)


def _member(ctx, n_rows: int):
    """This trial's ensemble member: its seeds, with the sources its arm holds
    fixed taken from replicate 0, and its hyperparameters."""
    import numpy as np

    from harness.ensemble import Member

    cfg, own, fixed = ctx.config, ctx.seeds, _fixed_seeds(ctx)
    vary = cfg.get("vary", "seed")
    pick = {"seed": {"init", "order"}, "all": set(SOURCES)}.get(vary, {vary})
    rows = None
    if "bootstrap" in pick:
        rows = np.random.default_rng(own.subsample).integers(0, n_rows, n_rows)
    member = Member(init=own.init if "init" in pick else fixed.init,
                    data_order=own.data_order if "order" in pick else fixed.data_order,
                    noise=own.noise if "mask" in pick else fixed.noise,
                    lr=cfg["lr"], momentum=cfg.get("momentum", 0.0), weight_decay=cfg.get("weight_decay", 0.0),
                    rows=rows)
    ctx.log_param("effective_seed.init", member.init)
    ctx.log_param("effective_seed.data_order", member.data_order)
    ctx.log_param("effective_seed.noise", member.noise)
    ctx.log_param("bootstrap", rows is not None)
    return member


def _data(ctx):
    """Fixed training data (the same for every seed: the seed study varies the
    seed, not the data, except through the bootstrap source) and the test set,
    or train/validation splits of the training set while tuning."""
    from harness import datasets

    name = ctx.config["dataset"]
    full = datasets.load(name)
    n_train = ctx.budget["n_train"][name]
    fixed = _fixed_seeds(ctx).subsample
    if ctx.tuning:
        n_val = ctx.budget["n_val"]
        pool = full.subsample(n_train + n_val, seed=fixed)
        ctx.use_dataset(name, pool.digest, pool.source, "train+validation")
        return pool.x_train[:n_train], pool.y_train[:n_train], pool.x_train[n_train:], pool.y_train[n_train:]
    data = full.subsample(n_train, seed=fixed) if n_train < len(full.y_train) else full
    ctx.use_dataset(name, data.digest, data.source, "train")
    ctx.use_dataset(name, full.digest, full.source, "test")
    return data.x_train, data.y_train, full.x_test, full.y_test


def run_group(contexts: list) -> list:
    """Train the trials of one group as one ensemble; per trial its metrics or
    the reason it failed."""
    import torch

    from harness import engine
    from harness.ensemble import Shape, train

    first = contexts[0]
    budget = first.budget
    cfg = _shape_config(first.config)
    x, y, x_eval, y_eval = _data(first)
    for ctx in contexts[1:]:
        ctx.datasets.extend(first.datasets)  # every member's run records the data it trained on
    shape = Shape(in_features=x.shape[1], classes=int(y.max()) + 1, hidden=tuple(cfg["hidden"]),
                  retain_hidden=cfg["retain_hidden"], batch_size=cfg["batch_size"], optimizer=budget["optimizer"],
                  epochs=budget["hp_epochs"] if first.tuning else budget["epochs"][cfg["dataset"]])
    members = [_member(ctx, len(y)) for ctx in contexts]
    device = torch.device(first.device)
    tensors = [engine.as_tensor(a, device) for a in (x, y.astype("int64"), x_eval, y_eval.astype("int64"))]

    def log(epoch: int, losses) -> None:
        for ctx, value in zip(contexts, losses.tolist()):
            if math.isfinite(value):
                ctx.log_metric("train_loss", value, epoch)

    label = "epochs" if len(contexts) == 1 else f"epochs x{len(contexts)} seeds"
    results = train(shape, members, *tensors, on_epoch=log,
                    progress=lambda r: first.progress(r, total=len(r), desc=label))
    out: list = []
    for ctx, r in zip(contexts, results):
        if r.diverged and ctx.config.get("grid") == "batch":
            out.append({"diverged": 1.0})  # an outcome of the batch-size grid, not a failure
        elif r.diverged:
            out.append(engine.TrialDiverged(r.diverged))
        elif ctx.tuning:
            out.append({"val_accuracy": r.test_accuracy, "val_loss": r.test_loss})
        else:
            out.append({"test_accuracy": r.test_accuracy, "test_error": 1 - r.test_accuracy,
                        "test_loss": r.test_loss, "final_train_loss": r.train_loss[-1], "diverged": 0.0})
    return out


def run_trial(ctx) -> dict[str, float]:
    result = run_group([ctx])[0]
    if isinstance(result, BaseException):
        raise result
    return result
