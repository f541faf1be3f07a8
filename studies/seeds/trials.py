"""The seeds study's trials: small ReLU MLPs, hundreds of seeds of one shape
at once (``harness.ensemble``; the sweep groups trials by ``ensemble_key`` and
hands each group to ``run_group``), each seed still its own Optuna trial and
MLflow run. Every hyperparameter comes from the arm's config (the arms
function in ``__init__.py`` copies it from the tier's ``Settings``).

Three kinds of run, by the arm's ``kind``:

- ``seed``: the classic "random seed" -- initial weights and minibatch order
  change together, the training data stay fixed;
- ``factorial``: one cell of a crossed factorial over the four sources of
  randomness (init, data order, dropout masks, a bootstrap of the training
  set); replicate j sits at cell ``factorial_cell(j)`` and each source's level
  picks that source's seed, the same within the arm (block) for every cell at
  that level;
- ``grid``: a point of the batch-size x learning-rate grid, its validation
  and test accuracy measured after every epoch; one batch size's ensemble
  trains until the runs its validation split would pick have plateaued
  (``grid.picks_plateaued``, between the arm's ``min_epochs`` and
  ``epochs``); the run reports its best validation epoch (early stopping with
  the best weights restored) and the epoch the tier's fixed budget ends at;
- ``lstm``: one LSTM run of HP-MOMENTUM-BATCH's searches (``run_sequence``,
  alone: every trial has its own shape), trained with early stopping on the
  validation signals' loss, like a grid point validated on the signals after
  its training ones.

The searches' trials (``ctx.tuning``) train on the same split and report
validation accuracy."""
from __future__ import annotations

import json
import math
from typing import Any

MNIST1D, FASHION = "mnist1d", "fashion-mnist"
ROOT_SEED = 3407  # the study's root seed (Picard's)
SOURCES = ("init", "order", "mask", "bootstrap")  # SEED-SOURCES: the factorial's factors, in cell-digit order
SOURCE_STREAM = {"init": "init", "order": "data_order", "mask": "noise", "bootstrap": "subsample"}


def _shape_config(config: dict[str, Any]) -> dict[str, Any]:
    """What members of one ensemble must share: data, architecture, schedule."""
    hidden = tuple(config["hidden"]) if "hidden" in config else (config["width"],) * config["depth"]
    return {"dataset": config["dataset"], "hidden": list(hidden), "batch_size": config["batch_size"],
            "retain_hidden": config.get("retain_hidden", 1.0), "kind": config.get("kind", "search"),
            "optimizer": config.get("optimizer", "sgd"), "epochs": config.get("epochs"),
            "n_train": config.get("n_train")}


def ensemble_key(config, budget) -> str | None:
    if config.get("kind") == "lstm" or ("hidden" not in config and "width" not in config):
        return None  # a search arm before tuning: its shape is not known yet
    return json.dumps(_shape_config(dict(config)), sort_keys=True)


def _fixed_seeds(ctx):
    """The seeds every run shares where its design holds them fixed: replicate 0's."""
    from harness.seeding import trial_seeds

    return trial_seeds(ROOT_SEED, ctx.study, 0)


def factorial_levels(ctx) -> dict[str, int]:
    """Per source, its level in this trial's cell of the block's factorial."""
    from harness.design import factorial_cell

    return dict(zip(SOURCES, factorial_cell(ctx.replicate, len(SOURCES), ctx.config["levels"])))


def factorial_seeds(ctx, levels: dict[str, int]) -> dict[str, int]:
    """Per source, the seed of its level (``factorial_levels``): the same for
    every cell of this block (arm) at that level, independent across blocks."""
    from harness.seeding import trial_seeds

    return {source: getattr(trial_seeds(ROOT_SEED, f"{ctx.study}:{ctx.arm.name}:{source}", level),
                            SOURCE_STREAM[source])
            for source, level in levels.items()}


def _member(ctx, n_rows: int):
    """This trial's ensemble member: its seeds and its hyperparameters."""
    import numpy as np

    from harness.ensemble import Member

    cfg, own = ctx.config, ctx.seeds
    rows = None
    if cfg.get("kind") == "factorial":
        levels = factorial_levels(ctx)
        seeds = factorial_seeds(ctx, levels)
        for source, level in levels.items():
            ctx.log_param(f"factorial.{source}", level)
        rows = np.random.default_rng(seeds["bootstrap"]).integers(0, n_rows, n_rows)
        init, order, noise = seeds["init"], seeds["order"], seeds["mask"]
    else:  # the seed varies init and order (and masks, where there are any); the data stay fixed
        init, order, noise = own.init, own.data_order, own.noise
    member = Member(init=init, data_order=order, noise=noise, lr=cfg["lr"], momentum=cfg.get("momentum", 0.0),
                    weight_decay=cfg.get("weight_decay", 0.0), rows=rows)
    ctx.log_param("effective_seed.init", member.init)
    ctx.log_param("effective_seed.data_order", member.data_order)
    ctx.log_param("effective_seed.noise", member.noise)
    ctx.log_param("bootstrap", rows is not None)
    return member


def _data(ctx):
    """(x_train, y_train, validation or None, x_test, y_test). The training
    data are the same for every seed (the study varies the seed, not the data,
    except through the factorial's bootstrap). A search's runs (its trials,
    and its best configuration trained once more) and a grid point train on
    ``n_search_train`` signals and are validated on the next ``n_val``; a
    search trial's "test" is that validation split."""
    from harness import datasets

    name = ctx.config["dataset"]
    full = datasets.load(name)
    fixed = _fixed_seeds(ctx).subsample
    if ctx.tuning or ctx.config.get("kind") in ("grid", "lstm", "search"):
        n_train, n_val = ctx.budget["n_search_train"], ctx.budget["n_val"]
        pool = full.subsample(n_train + n_val, seed=fixed)
        ctx.use_dataset(name, pool.digest, pool.source, "train+validation")
        train = pool.x_train[:n_train], pool.y_train[:n_train]
        val = pool.x_train[n_train:], pool.y_train[n_train:]
        if ctx.tuning:
            return (*train, None, *val)
        ctx.use_dataset(name, full.digest, full.source, "test")
        return (*train, val, full.x_test, full.y_test)
    n_train = ctx.config["n_train"]
    data = full.subsample(n_train, seed=fixed) if n_train < len(full.y_train) else full
    ctx.use_dataset(name, data.digest, data.source, "train")
    ctx.use_dataset(name, full.digest, full.source, "test")
    return data.x_train, data.y_train, None, full.x_test, full.y_test


def run_group(contexts: list) -> list:
    """Train the trials of one group as one ensemble; per trial its metrics or
    the reason it failed."""
    import torch

    from harness import engine
    from harness.ensemble import Shape, train

    from . import grid

    first = contexts[0]
    cfg = _shape_config(first.config)
    x, y, val, x_eval, y_eval = _data(first)
    for ctx in contexts[1:]:
        ctx.datasets.extend(first.datasets)  # every member's run records the data it trained on
    epochs = first.budget["hp_epochs"] if first.tuning else cfg["epochs"]
    shape = Shape(in_features=x.shape[1], classes=int(y.max()) + 1, hidden=tuple(cfg["hidden"]),
                  retain_hidden=cfg["retain_hidden"], batch_size=cfg["batch_size"], optimizer=cfg["optimizer"],
                  epochs=epochs)
    members = [_member(ctx, len(y)) for ctx in contexts]
    device = torch.device(first.device)
    tensors = [engine.as_tensor(a, device) for a in (x, y.astype("int64"), x_eval, y_eval.astype("int64"))]
    tracked = None if val is None else {"val": (engine.as_tensor(val[0], device),
                                                engine.as_tensor(val[1].astype("int64"), device)),
                                        "test": tuple(tensors[2:])}

    def log(epoch: int, losses) -> None:
        for ctx, value in zip(contexts, losses.tolist()):
            if math.isfinite(value):
                ctx.log_metric("train_loss", value, epoch)

    label = "epochs" if len(contexts) == 1 else f"epochs x{len(contexts)} seeds"
    stop = None
    if cfg["kind"] == "grid":  # train until the runs validation would pick have plateaued
        stop = grid.picks_plateaued(first.config["min_epochs"], [ctx.replicate for ctx in contexts])
    results = train(shape, members, *tensors, on_epoch=log, tracked=tracked, stop=stop,
                    progress=lambda r: first.progress(r, total=len(r), desc=label))
    out: list = []
    for ctx, r in zip(contexts, results):
        grid = ctx.config.get("kind") == "grid"
        if r.diverged and grid:
            out.append({"diverged": 1.0})  # an outcome of the batch-size grid, not a failure
        elif r.diverged:
            out.append(engine.TrialDiverged(r.diverged))
        elif ctx.tuning:
            out.append({"val_accuracy": r.test_accuracy, "val_loss": r.test_loss})
        else:
            metrics = {"test_accuracy": r.test_accuracy, "test_error": 1 - r.test_accuracy,
                       "test_loss": r.test_loss, "final_train_loss": r.train_loss[-1],
                       "first_train_loss": r.train_loss[0], "diverged": 0.0}
            if grid:
                metrics.update(_grid_metrics(r.tracked, ctx.budget["grid_epochs"]))
            out.append(metrics)
    return out


def _grid_metrics(tracked: dict[str, list[float]], fixed: int) -> dict[str, float]:
    """A grid run's numbers from its per-epoch validation and test accuracy:
    at its best validation epoch (the first, if tied), the best over its first
    half (the plateau check's), and at the end of the fixed budget of
    ``fixed`` epochs (Masters & Luschi's protocol)."""
    from .grid import best_of_first_half

    val, test = tracked["val"], tracked["test"]
    best = max(range(len(val)), key=lambda i: (val[i], -i))
    at = min(fixed, len(val)) - 1
    return {"val_accuracy": val[best], "test_error": 1 - test[best], "best_epoch": float(best + 1),
            "epochs_trained": float(len(val)), "val_accuracy_half": best_of_first_half(val),
            "val_accuracy_fixed": val[at], "test_error_fixed": 1 - test[at]}


def run_sequence(ctx) -> dict[str, float]:
    """One LSTM run (HP-MOMENTUM-BATCH's searches): MNIST-1D read as a
    sequence of 40 values, Adam with the trial's learning rate, β1 (Adam's
    momentum) and batch size, forget gates started at the tier's bias.

    Every run trains until its validation loss has not improved for
    ``patience`` epochs, or ``epochs`` (the cap), and keeps the weights of its
    best validation epoch, as Greff et al. trained every search trial (early
    stopping on a validation set): a fixed short budget left most runs at
    chance and made batch size decide how many steps a run took. A search
    trial reports its validation accuracy at that epoch (the split it stopped
    on: the search's objective); the search's best configuration, trained once
    more, its test accuracy."""
    import torch

    from harness import engine
    from harness.nets import SequenceClassifier

    cfg = ctx.config
    x, y, val, x_eval, y_eval = _data(ctx)
    device = torch.device(ctx.device)
    tensor = lambda a, integer=False: engine.as_tensor(a.astype("int64") if integer else a, device)  # noqa: E731
    x, y, x_eval, y_eval = tensor(x), tensor(y, True), tensor(x_eval), tensor(y_eval, True)
    x_val, y_val = (x_eval, y_eval) if val is None else (tensor(val[0]), tensor(val[1], True))
    model = engine.build_model(lambda: SequenceClassifier(10, cfg["hidden_size"], "lstm",
                                                          forget_bias=cfg.get("forget_bias")), ctx)

    def measure(inputs, targets) -> dict[str, float]:
        logits = engine.batched(model, inputs)
        return {"accuracy": float((logits.argmax(1) == targets).float().mean()),
                "loss": float(torch.nn.functional.cross_entropy(logits, targets))}

    def validate(epoch: int) -> dict[str, float]:
        # the curve has its own names: the run's final val_accuracy / val_loss are the restored best epoch's, logged
        # at the last step, where a curve of the same name would hold the last epoch's value beside them
        return {f"epoch_val_{k}": v for k, v in measure(x_val, y_val).items()}

    recipe = engine.TrainConfig(epochs=cfg["epochs"], batch_size=cfg["batch_size"], lr=cfg["lr"], optimizer="adam",
                                beta1=cfg["momentum"])
    stopping = engine.EarlyStopping("epoch_val_loss", patience=cfg["patience"], restore_best=True)
    # one thread: this LSTM's per-step kernels are too small to share (here 1.6 against 2.4 ms a step at hidden 32,
    # batch 32 on two threads; 7.6 against 9.5 at batch 256)
    with engine.torch_threads(1 if device.type == "cpu" else torch.get_num_threads()):
        result = engine.train(model, x, y, torch.nn.functional.cross_entropy, engine.make_optimizer(model, recipe),
                              engine.Schedule(batch_size=recipe.batch_size, epochs=recipe.epochs), ctx, validate,
                              early_stopping=stopping)
    at_best = result.evaluations[result.points.index(result.best_point)]  # the restored weights' validation
    length = {"epochs_trained": float(result.points[-1]), "best_epoch": float(result.best_point),
              "stopped_early": float(result.stopped_early)}
    if ctx.tuning:
        return {"val_accuracy": at_best["epoch_val_accuracy"], "val_loss": at_best["epoch_val_loss"], **length}
    model.eval()
    with torch.no_grad():
        test = measure(x_eval, y_eval)
    return {"test_accuracy": test["accuracy"], "test_error": 1 - test["accuracy"], "test_loss": test["loss"],
            "val_accuracy": at_best["epoch_val_accuracy"], **length,
            "first_train_loss": result.train_loss[0], "final_train_loss": result.train_loss[-1]}


def run_trial(ctx) -> dict[str, float]:
    if ctx.config.get("kind") == "lstm":
        return run_sequence(ctx)
    result = run_group([ctx])[0]
    if isinstance(result, BaseException):
        raise result
    return result
