"""The dropout study's trials: MLPs with and without dropout, DropConnect and
max-norm, and CNNs with dropout in the conv blocks or the head, all trained by
the harness's one loop (``harness.engine.train``). Every hyperparameter comes
from the arm's config or the tier's ``Settings`` (``settings.py``)."""
from __future__ import annotations

DATASET = "fashion-mnist"


def run_trial(ctx) -> dict[str, float]:
    return _cnn_trial(ctx) if ctx.config["kind"] == "cnn" else _mlp_trial(ctx)


def _data(ctx, n_train: int):
    """Training subset (or, while tuning, train and validation splits of the
    training set) and the fixed test subset, as tensors."""
    from harness import engine

    arrays = ctx.data_split(DATASET, n_train, n_val=ctx.budget["n_val"], n_test=ctx.budget["n_test"])
    return tuple(engine.as_tensor(a, ctx.device) for a in arrays)


def _error(model, x, y) -> float:
    import torch

    from harness.engine import batched

    model.eval()
    with torch.no_grad():
        return float((batched(model, x).argmax(1) != y).float().mean())


def _train(ctx, model, x, y, x_eval, y_eval, epochs: int, max_norm: float | None = None) -> dict[str, list[float]]:
    """SGD with momentum through the harness's training loop; per epoch:
    train_loss (the epoch's mean), train_error, test_error (or val_error while
    tuning), epoch_seconds (training only); max-norm after every step."""
    import torch

    from harness import engine
    from harness.dropnets import apply_max_norm

    budget = ctx.budget
    eval_key = "val_error" if ctx.tuning else "test_error"
    optimizer = torch.optim.SGD(model.parameters(), lr=budget["lr"], momentum=budget["momentum"])
    schedule = engine.Schedule(batch_size=budget["batch"], epochs=epochs, time_epochs=True)
    rows = budget["train_error_rows"]  # train error on the first rows only: the gap's estimate, at a fraction of the cost
    result = engine.train(
        model, x, y, torch.nn.functional.cross_entropy, optimizer, schedule, ctx,
        evaluate=lambda epoch: {"train_error": _error(model, x[:rows], y[:rows]), eval_key: _error(model, x_eval, y_eval)},
        after_step=(lambda: apply_max_norm(model, max_norm)) if max_norm else None)
    return {"train_loss": result.train_loss, "train_error": result.curve("train_error"),
            eval_key: result.curve(eval_key), "epoch_seconds": result.epoch_seconds}


def _mlp_trial(ctx) -> dict[str, float]:
    import numpy as np
    import torch

    from harness import engine
    from harness.dropnets import mc_predict
    from harness.models import MODELS

    cfg, budget = ctx.config, ctx.budget
    n_train = budget["tune_n"] if ctx.tuning else cfg["n_train"]
    x, y, xt, yt = _data(ctx, n_train)
    model = engine.build_model(lambda: MODELS.get("dropout-mlp")(
        hidden=budget["hidden"], p_input=cfg.get("p_input", 1.0), p_hidden=cfg.get("p_hidden", 1.0),
        dropconnect=cfg.get("dropconnect", False)), ctx)
    epochs = budget["tune_epochs"] if ctx.tuning else budget["epochs"][n_train]
    history = _train(ctx, model, x, y, xt, yt, epochs, cfg.get("max_norm"))
    if ctx.tuning:
        return {"val_error": history["val_error"][-1]}
    test, train = history["test_error"], history["train_error"]
    reached = [i for i, loss in enumerate(history["train_loss"], start=1) if loss <= budget["loss_target"]]
    metrics = {
        "test_error": test[-1], "train_error": train[-1], "gap": test[-1] - train[-1],
        "best_test_error": min(test), "epochs_to_best_test": float(int(np.argmin(test)) + 1),
        "epochs_to_loss_target": float(reached[0] if reached else epochs),  # censored at the epoch budget
        "reached_loss_target": float(bool(reached)),
        "epochs_to_loss_target_censored": float(not reached),  # capped at the epoch budget: a bound, not a number
        "epoch_seconds": float(np.median(history["epoch_seconds"])),
        # the largest L2 norm of a hidden unit's incoming weights: does a max-norm bound c ever bind?
        "max_row_norm": max(float(m.weight.detach().norm(dim=1).max()) for m in model.modules()
                            if isinstance(m, torch.nn.Linear) and m.out_features in budget["hidden"]),
    }
    if cfg.get("mc"):
        scaling = metrics["test_error"]
        generator_state = torch.get_rng_state()
        torch.manual_seed(ctx.seeds.noise + 1)  # MC masks: their own draws, after training's
        for k in budget["mc_samples"]:
            error = float((mc_predict(model, xt, k).argmax(1) != yt).float().mean())
            ctx.log_metric("mc_error", error, k)
            metrics[f"mc_error_k{k}"] = error
        torch.set_rng_state(generator_state)
        metrics["scaling_error"] = scaling
        metrics["mc50_minus_scaling"] = metrics["mc_error_k50"] - scaling
        metrics["abs_mc50_minus_scaling"] = abs(metrics["mc50_minus_scaling"])
        better = [k for k in budget["mc_samples"] if metrics[f"mc_error_k{k}"] <= scaling]
        # the smallest k whose MC average is at least as good as weight scaling; censored above the largest k
        metrics["crossover_k"] = float(better[0] if better else 2 * budget["mc_samples"][-1])
        metrics["crossover_found"] = float(bool(better))
    return metrics


def _cnn_trial(ctx) -> dict[str, float]:
    from harness import engine
    from harness.models import MODELS

    cfg, budget = ctx.config, ctx.budget
    x, y, xt, yt = _data(ctx, budget["cnn_n"])
    model = engine.build_model(lambda: MODELS.get("dropout-cnn")(
        channels=budget["cnn_channels"], p_conv=cfg.get("p_conv", 1.0), p_fc=cfg.get("p_fc", 1.0)), ctx)
    history = _train(ctx, model, x, y, xt, yt, budget["cnn_epochs"])
    return {"test_error": history["test_error"][-1], "train_error": history["train_error"][-1],
            "gap": history["test_error"][-1] - history["train_error"][-1]}
