"""The dropout study's trials: MLPs with and without dropout, DropConnect and
max-norm, and CNNs with dropout in the conv blocks or the head, all trained by
the harness's one loop (``harness.engine.train``) to their own validation
plateau. Every hyperparameter comes from the arm's config or the tier's
``Settings`` (``settings.py``)."""
from __future__ import annotations

DATASET = "fashion-mnist"
# Evaluation passes (train, validation and test error every epoch) go in slices of this many images: a CNN's pass
# over 2000 images took 0.30 s in one slice and 0.15 s in slices of 256 on 2 cores (smaller kernels stay in cache).
# Kept here rather than as harness.engine.batched's default: a convolution's algorithm can differ with the batch
# size, so changing the default would move other studies' numbers. The Monte-Carlo passes keep the default.
EVAL_SLICE = 256


def run_trial(ctx) -> dict[str, float]:
    return _cnn_trial(ctx) if ctx.config["kind"] == "cnn" else _mlp_trial(ctx)


def _data(ctx, n_train: int):
    """Training subset, a validation split carved from the same pool (the stopping rule's, and the tuner's), and
    the fixed test subset, as tensors; while tuning, the test slot holds the validation split."""
    from harness import engine

    arrays = ctx.data_split_with_validation(DATASET, n_train, ctx.budget["n_val"], ctx.budget["n_test"])
    return tuple(engine.as_tensor(a, ctx.device) for a in arrays)


def _error(model, x, y) -> float:
    import torch

    from harness.engine import batched

    model.eval()
    with torch.no_grad():
        return float((batched(model, x, EVAL_SLICE).argmax(1) != y).float().mean())


def _error_and_loss(model, x, y) -> tuple[float, float]:
    """Error and cross-entropy of the network as evaluated (no dropout noise: weight scaling), one forward pass."""
    import torch

    from harness.engine import batched

    model.eval()
    with torch.no_grad():
        logits = batched(model, x, EVAL_SLICE)
        return float((logits.argmax(1) != y).float().mean()), float(torch.nn.functional.cross_entropy(logits, y))


def plateau(budget):
    """The study's stopping rule for every compared net: on the validation error, `patience` epochs without a new
    best, one tenfold step-size decay at the first plateau, stop at the next; the best epoch's weights are put
    back and measured (each arm at its own best epoch)."""
    from harness.engine import EarlyStopping

    return EarlyStopping("epoch_val_error", patience=budget["patience"], decays=budget["lr_decays"], factor=0.1,
                         restore_best=True)


def _train(ctx, model, data, epochs: int, max_norm: float | None = None):
    """SGD with momentum through the harness's training loop; per epoch: train_loss (the epoch's mean, with
    dropout noise), clean_train_loss and train_error (first rows, no noise), val_error, test_error (not while
    tuning), each as ``epoch_<name>``, and epoch_seconds (training only); max-norm after every step."""
    import torch

    from harness import engine
    from harness.dropnets import apply_max_norm

    x, y, xv, yv, xt, yt = data
    budget = ctx.budget
    optimizer = torch.optim.SGD(model.parameters(), lr=budget["lr"], momentum=budget["momentum"])
    schedule = engine.Schedule(batch_size=budget["batch"], epochs=epochs, time_epochs=True)
    rows = budget["train_error_rows"]

    def evaluate(epoch):
        # curves under their own names: the final metrics (at the best epoch) are logged at the last step too
        train_error, train_loss = _error_and_loss(model, x[:rows], y[:rows])
        out = {"epoch_train_error": train_error, "clean_train_loss": train_loss,
               "epoch_val_error": _error(model, xv, yv)}
        if not ctx.tuning:
            out["epoch_test_error"] = _error(model, xt, yt)
        return out

    result = engine.train(model, x, y, torch.nn.functional.cross_entropy, optimizer, schedule, ctx, evaluate=evaluate,
                          after_step=(lambda: apply_max_norm(model, max_norm)) if max_norm else None,
                          early_stopping=plateau(budget))
    return result


def _measured(ctx, model, data, result) -> dict[str, float]:
    """What every replicate run reports: at its best validation epoch (the restored weights) and at the common
    budget; the epochs it took; the three speeds' raw numbers (DO-SPEED)."""
    import numpy as np

    x, y, xv, yv, xt, yt = data
    budget = ctx.budget
    rows = budget["train_error_rows"]
    test, train = _error(model, xt, yt), _error(model, x[:rows], y[:rows])
    common = budget["common_epochs"]
    test_curve, train_curve = result.curve("epoch_test_error"), result.curve("epoch_train_error")
    epochs = len(result.points)
    metrics = {
        "test_error": test, "train_error": train, "gap": test - train, "val_error": _error(model, xv, yv),
        "best_epoch": float(result.best_point or epochs), "epochs_trained": float(epochs),
        "stopped_on_plateau": float(result.stopped_early),
        # the common budget: every run reaches `common` epochs (check_budget); the weights of that epoch
        "test_error_common": test_curve[common - 1], "train_error_common": train_curve[common - 1],
        "gap_common": test_curve[common - 1] - train_curve[common - 1],
        # the median under its own name: the engine's epoch_seconds curve ends on the last epoch's time
        "median_epoch_seconds": float(np.median(result.epoch_seconds)),
    }
    for name, curve in (("loss_target", result.train_loss), ("clean_loss_target", result.curve("clean_train_loss"))):
        reached = [i for i, loss in enumerate(curve, start=1) if loss <= budget["loss_target"]]
        # a run that stopped before reaching the target is censored at the epochs it ran: a bound, not a number
        metrics[f"epochs_to_{name}"] = float(reached[0] if reached else epochs)
        metrics[f"epochs_to_{name}_censored"] = float(not reached)
    return metrics


def _hidden_rows(model, widths):
    import torch

    return torch.cat([m.weight.detach().norm(dim=1) for m in model.modules()
                      if isinstance(m, torch.nn.Linear) and m.out_features in widths])


def _mc_metrics(ctx, model, xt, yt, scaling: float) -> dict[str, float]:
    """DO-SCALING: Monte-Carlo averages of k sampled nets, drawn once up to the largest k (the average at each
    listed k is the running one); the crossover is the smallest listed k at least as good as weight scaling,
    censored at the largest k when none is (logged with crossover_k_censored = 1: a bound, not a number)."""
    import torch

    from harness.engine import batched

    ks = sorted(ctx.budget["mc_samples"])
    metrics: dict[str, float] = {}
    generator_state = torch.get_rng_state()
    torch.manual_seed(ctx.seeds.noise + 1)  # MC masks: their own draws, after training's
    model.train()  # dropout active: every pass samples a thinned network
    total = None
    with torch.no_grad():
        for k in range(1, ks[-1] + 1):
            probs = batched(lambda v: torch.softmax(model(v), dim=1), xt)
            total = probs if total is None else total + probs
            if k in ks:
                error = float((total.argmax(1) != yt).float().mean())
                ctx.log_metric("mc_error", error, k)
                metrics[f"mc_error_k{k}"] = error
    model.eval()
    torch.set_rng_state(generator_state)
    metrics["scaling_error"] = scaling
    metrics["mc50_minus_scaling"] = metrics["mc_error_k50"] - scaling
    metrics["abs_mc50_minus_scaling"] = abs(metrics["mc50_minus_scaling"])
    better = [k for k in ks if metrics[f"mc_error_k{k}"] <= scaling]
    metrics["crossover_k"] = float(better[0] if better else ks[-1])
    metrics["crossover_k_censored"] = float(not better)
    return metrics


def _mlp_trial(ctx) -> dict[str, float]:
    from harness import engine
    from harness.models import MODELS

    cfg, budget = ctx.config, ctx.budget
    n_train = cfg["n_train"]
    data = _data(ctx, n_train)
    model = engine.build_model(lambda: MODELS.get("dropout-mlp")(
        hidden=budget["hidden"], p_input=cfg.get("p_input", 1.0), p_hidden=cfg.get("p_hidden", 1.0),
        dropconnect=cfg.get("dropconnect", False)), ctx)
    max_norm = cfg.get("max_norm")
    result = _train(ctx, model, data, budget["max_epochs"][n_train], max_norm)
    if ctx.tuning:  # a search trial trains like a replicate; scored at its best validation epoch (weights restored)
        return {"val_error": _error(model, data[2], data[3]),
                "best_epoch": float(result.best_point or len(result.points)),
                "epochs_trained": float(len(result.points))}
    metrics = _measured(ctx, model, data, result)
    norms = _hidden_rows(model, budget["hidden"])
    # the largest L2 norm of a hidden unit's incoming weights, and the share of rows a bound would clamp
    metrics["max_row_norm"] = float(norms.max())
    for c in (3.0, 4.0):  # the sentence's "typical values": would they bind on this net?
        metrics[f"rows_above_c{c:g}"] = float((norms > c).float().mean())
    if max_norm:
        metrics["rows_at_bound"] = float((norms >= max_norm * (1 - 1e-3)).float().mean())
    if cfg.get("mc"):
        metrics.update(_mc_metrics(ctx, model, data[4], data[5], metrics["test_error"]))
    return metrics


def _cnn_trial(ctx) -> dict[str, float]:
    from harness import engine
    from harness.models import MODELS

    cfg, budget = ctx.config, ctx.budget
    data = _data(ctx, budget["cnn_n"])
    model = engine.build_model(lambda: MODELS.get("dropout-cnn")(
        channels=budget["cnn_channels"], p_conv=cfg.get("p_conv", 1.0), p_fc=cfg.get("p_fc", 1.0)), ctx)
    result = _train(ctx, model, data, budget["cnn_max_epochs"])
    return _measured(ctx, model, data, result)
