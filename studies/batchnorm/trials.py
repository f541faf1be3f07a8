"""The batchnorm study's trials: the BN-FASTER MLP with its landscape and ICS
probes, its large-learning-rate runs, a VGG-style CNN probed at matched loss,
a deep linear network, a small CNN with and without (noisy) BN to its
validation plateau, deep and shallow BN networks at initialization and in
training, BatchNorm's running statistics, and small-batch MLPs, all trained by the
harness's one loop (``harness.engine.train``). Every hyperparameter comes from
the arm's config or the tier's ``Settings`` (``settings.py``)."""
from __future__ import annotations

import math

DATASET = "fashion-mnist"


def run_trial(ctx) -> dict[str, float]:
    kind = ctx.config["kind"]
    return {"mlp": _mlp_trial, "dln": _dln_trial, "cnn": _cnn_trial, "explode": _explode_trial,
            "untrainable": _untrainable_trial, "inference": _inference_trial, "noniid": _noniid_trial,
            "stability": _stability_trial, "smooth": _smooth_trial}[kind](ctx)


# -- shared pieces ------------------------------------------------------------------------
def _data(ctx, n_train: int):
    """The replicate's training subset and the fixed test subset, as tensors."""
    from harness import engine

    arrays = ctx.data_split(DATASET, n_train, n_test=ctx.budget["n_test"])
    return tuple(engine.as_tensor(a, ctx.device) for a in arrays)


def _accuracy(model, x, y) -> float:
    import torch

    was_training = model.training
    model.eval()
    with torch.no_grad():
        acc = float((model(x).argmax(1) == y).float().mean())
    model.train(was_training)
    return acc


def _train_classifier(ctx, model, x, y, steps: int, batch: int, lr: float, momentum: float = 0.0,
                      eval_every: int = 0, x_test=None, y_test=None, on_eval=None) -> list[float]:
    """SGD (plain unless ``momentum``) for ``steps`` full minibatches (BN needs
    m >= 2) through the harness's training loop; logs train_loss (mean since
    the last evaluation) and test_acc every ``eval_every`` steps and calls
    ``on_eval(step)`` after each; returns the accuracies."""
    import torch

    from harness import engine

    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    schedule = engine.Schedule(batch_size=batch, steps=steps, drop_last=True, eval_every=eval_every)
    result = engine.train(model, x, y, torch.nn.functional.cross_entropy, optimizer, schedule, ctx,
                          evaluate=lambda step: {"test_acc": _accuracy(model, x_test, y_test)}, on_eval=on_eval)
    return result.curve("test_acc")


def _mlp(ctx):
    """The BN-FASTER MLP (784-100-100-100-10 sigmoid), with the arm's normalization."""
    from harness import engine
    from harness.models import MODELS

    budget = ctx.budget
    return engine.build_model(lambda: MODELS.get("norm-mlp")(hidden=budget["mlp_hidden"], act=budget["mlp_act"],
                                                             norm=ctx.config["norm"]), ctx)


# -- BN-FASTER, BN-SMOOTH, BN-ICS (MLP) ------------------------------------------------------
def _mlp_trial(ctx) -> dict[str, float]:
    import numpy as np
    import torch

    from harness import probes
    from harness.nets import weight_layers

    cfg, budget = ctx.config, ctx.budget
    x, y, xt, yt = _data(ctx, budget["n_train"])
    model = _mlp(ctx)
    probe_x, probe_y = x[: budget["probe_batch"]], y[: budget["probe_batch"]]  # one fixed batch for every probe
    loss_fn = torch.nn.functional.cross_entropy
    layers = weight_layers(model)
    etas = tuple(cfg["lr"] * f for f in budget["probe_eta_factors"])  # step sizes around the training step
    seen: dict[str, list[float]] = {"loss_range": [], "grad_predictiveness": [], "beta_smoothness": [],
                                    "ics": [], "ics_cos": []}
    per_layer_cos: list[list[float]] = []

    def probe(step: int) -> None:
        if step % budget["probe_every"]:
            return
        land = probes.landscape(model, loss_fn, probe_x, probe_y, etas)
        shifts = probes.internal_covariate_shift(model, layers, loss_fn, probe_x, probe_y, cfg["lr"])[1:]
        values = {"loss_range": land.loss_range, "grad_predictiveness": land.grad_predictiveness,
                  "beta_smoothness": land.beta_smoothness, "ics": float(np.mean([s.ics for s in shifts])),
                  "ics_cos": float(np.mean([s.cosine for s in shifts]))}
        per_layer_cos.append([s.cosine for s in shifts])
        for key, value in values.items():
            seen[key].append(value)
        ctx.log_metrics(values, step)

    accuracies = _train_classifier(ctx, model, x, y, budget["mlp_steps"], budget["mlp_batch"], cfg["lr"],
                                   eval_every=budget["eval_every"], x_test=xt, y_test=yt, on_eval=probe)
    metrics = {
        "test_acc": accuracies[-1],
        "best_test_acc": max(accuracies),
        **_steps_to_target(budget, accuracies),
        **{f"{k}_median": float(np.median(v)) for k, v in seen.items() if v},
    }
    for i, cos in enumerate(np.mean(per_layer_cos, axis=0) if per_layer_cos else []):
        ctx.log_metric("ics_cos_by_layer", float(cos), i + 2)  # layer 2.. (layer 1's G' equals G)
    return metrics


def _steps_to_target(budget, accuracies: list[float]) -> dict[str, float]:
    """BN-FASTER's outcome from the test accuracies logged every eval_every
    steps: the first step at the target, or the step budget, flagged as
    censored (a bound, not a number), when the target was never reached."""
    every = budget["eval_every"]
    reached = [i for i, a in enumerate(accuracies) if a >= budget["target_accuracy"]]
    return {"steps_to_target": float((reached[0] + 1) * every if reached else budget["mlp_steps"]),
            "reached_target": float(bool(reached)),
            "steps_to_target_censored": float(not reached)}


# -- BN-STABLE, and BN-FASTER-BEST's learning-rate ladder: the same MLP at large learning rates ---------
def _stability_trial(ctx) -> dict[str, float]:
    """The BN-FASTER MLP at a large learning rate. Instability is the outcome
    measured here, so a diverging run is recorded as unstable (a metric), not
    as a failed trial (which claims would ignore): unstable = 1 when the loss
    became non-finite or ended above its starting value ln 10 (chance)."""
    from harness.engine import TrialDiverged

    cfg, budget = ctx.config, ctx.budget
    x, y, xt, yt = _data(ctx, budget["n_train"])
    model = _mlp(ctx)
    try:
        accuracies = _train_classifier(ctx, model, x, y, budget["mlp_steps"], budget["mlp_batch"], cfg["lr"],
                                       eval_every=budget["eval_every"], x_test=xt, y_test=yt)
    except TrialDiverged:  # chance accuracy for a network that diverged; the target counts if reached before
        return {"unstable": 1.0, "test_acc": 0.1, **_steps_to_target(budget, [v for _, v in ctx.curve("test_acc")])}
    final_loss = [v for _, v in ctx.curve("train_loss")][-1]
    return {"unstable": float(final_loss > math.log(10)), "test_acc": accuracies[-1], "final_train_loss": final_loss,
            **_steps_to_target(budget, accuracies)}


# -- BN-SMOOTH: the landscape at matched training loss ------------------------------------------------
def _smooth_trial(ctx) -> dict[str, float]:
    """The VGG-style CNN with or without BN at the arm's rate, probed when its
    training loss first reaches each of the levels (fractions of chance, ln 10):
    Santurkar et al.'s three measures, scale-free (steps as fractions of ‖w‖,
    gradients relative to ‖g‖: ``probes.scale_free_landscape``) and raw (steps
    0.25–4x the learning rate). Comparing arms at the same loss keeps a net on
    its chance plateau from being compared with one that is learning.
    ``beta_sf_matched`` is the mean of log10 of the scale-free β over the
    levels; a run that never reached every level is censored (it logs
    ``beta_sf_matched_censored`` = 1), since its value misses the later levels.
    At the same points, Santurkar's ICS (Def. 2.1) of layers 2 on (the first
    has G′ = G): ``ics_cos_matched`` is the mean over the levels of the mean
    cos(G, G′), censored alike. Every probe restores the weights, buffers and
    RNG it found, so probing leaves training as it was."""
    import numpy as np
    import torch

    from harness import engine, probes
    from harness.models import MODELS
    from harness.nets import weight_layers

    cfg, budget = ctx.config, ctx.budget
    x, y, _, _ = _data(ctx, budget["smooth_n"])
    model = engine.build_model(lambda: MODELS.get("vgg-small")(blocks=budget["smooth_blocks"], norm=cfg["norm"],
                                                               init=budget["smooth_init"]), ctx)
    loss_fn = torch.nn.functional.cross_entropy
    probe_x, probe_y = x[: budget["smooth_probe_batch"]], y[: budget["smooth_probe_batch"]]
    levels = [f * math.log(10) for f in budget["smooth_levels"]]
    etas = [cfg["lr"] * f for f in budget["probe_eta_factors"]]
    found: list[dict[str, float]] = []

    def probe(step: int) -> None:
        loss = ctx.curve("train_loss")[-1][1]
        while len(found) < len(levels) and loss <= levels[len(found)]:  # a level passed between looks: same point
            free = probes.scale_free_landscape(model, loss_fn, probe_x, probe_y, budget["smooth_rhos"])
            raw = probes.landscape(model, loss_fn, probe_x, probe_y, etas)
            shifts = probes.internal_covariate_shift(model, weight_layers(model), loss_fn, probe_x, probe_y,
                                                     cfg["lr"])[1:]
            found.append({"beta_sf": free.beta, "grad_change_sf": free.grad_change, "loss_range_sf": free.loss_range,
                          "weight_norm": free.weight_norm, "beta_raw": raw.beta_smoothness,
                          "grad_predictiveness_raw": raw.grad_predictiveness, "loss_range_raw": raw.loss_range,
                          "ics_cos": float(np.mean([t.cosine for t in shifts])),
                          "ics_relative": float(np.mean([t.ics / t.grad_norm if t.grad_norm else math.nan
                                                         for t in shifts])),
                          "step": float(step)})
            ctx.log_metrics({f"{k}_L{len(found) - 1}": v for k, v in found[-1].items()}, step)

    schedule = engine.Schedule(batch_size=budget["smooth_batch"], steps=budget["smooth_steps"], drop_last=True,
                               eval_every=budget["smooth_eval_every"])
    engine.train(model, x, y, loss_fn, torch.optim.SGD(model.parameters(), lr=cfg["lr"]), schedule, ctx,
                 on_eval=probe)
    metrics = {f"{k}_L{i}": v for i, row in enumerate(found) for k, v in row.items()}
    metrics["levels_reached"] = float(len(found))
    metrics["beta_sf_matched_censored"] = float(len(found) < len(levels))
    metrics["beta_raw_matched_censored"] = metrics["beta_sf_matched_censored"]
    metrics["ics_cos_matched_censored"] = metrics["beta_sf_matched_censored"]
    if found:  # over the levels reached (all of them unless censored)
        metrics["beta_sf_matched"] = float(np.mean([math.log10(r["beta_sf"]) for r in found]))
        metrics["beta_raw_matched"] = float(np.mean([math.log10(r["beta_raw"]) for r in found]))
        metrics["ics_cos_matched"] = float(np.mean([r["ics_cos"] for r in found]))
        metrics["ics_relative_matched"] = float(np.mean([r["ics_relative"] for r in found]))
    return metrics


# -- BN-ICS on a deep linear network ---------------------------------------------------------------
def _dln_trial(ctx) -> dict[str, float]:
    """Full-batch gradient descent on a deep (25-layer) linear network (Santurkar et al.'s DLN)."""
    import numpy as np
    import torch

    from harness import engine, probes
    from harness.models import MODELS
    from harness.nets import weight_layers

    budget = ctx.budget
    x, y, _, _ = _data(ctx, budget["dln_n"])
    targets = torch.nn.functional.one_hot(y, 10).float()
    model = engine.build_model(lambda: MODELS.get("deep-linear")(width=budget["dln_width"], depth=budget["dln_depth"],
                                                                 norm=ctx.config["norm"], init=budget["dln_init"]), ctx)
    loss_fn = torch.nn.functional.mse_loss
    optimizer = torch.optim.SGD(model.parameters(), lr=budget["dln_lr"])
    layers = weight_layers(model)
    cosines, shifts_seen, relative = [], [], []

    def probe(step: int) -> None:  # at step 0 (initialisation), every dln_probe_every steps and at the end
        shifts = probes.internal_covariate_shift(model, layers, loss_fn, x, targets, budget["dln_lr"])[1:]
        cos = [s.cosine for s in shifts if math.isfinite(s.cosine)]
        cosines.append(float(np.mean(cos)) if cos else math.nan)
        shifts_seen.append(float(np.mean([s.ics for s in shifts])))  # Santurkar's Def. 2.1: ‖G − G′‖
        # the same norm over ‖G‖: a net whose gradients are tiny has a tiny ‖G − G′‖ without being stable
        relative.append(float(np.mean([s.ics / s.grad_norm for s in shifts if s.grad_norm > 0])) if shifts
                        else math.nan)
        ctx.log_metrics({"ics_cos": cosines[-1], "ics": shifts_seen[-1], "ics_relative": relative[-1]}, step)

    schedule = engine.Schedule(batch_size=x.shape[0], steps=budget["dln_steps"], shuffle=False,
                               eval_every=budget["dln_probe_every"], eval_at_start=True)  # full-batch gradient descent
    engine.train(model, x, targets, loss_fn, optimizer, schedule, ctx, on_eval=probe)
    return {"ics_cos_median": float(np.nanmedian(cosines)), "ics_median": float(np.median(shifts_seen)),
            "ics_relative_median": float(np.nanmedian(relative))}


# -- BN-NOISY -------------------------------------------------------------------------------------
def _cnn_trial(ctx) -> dict[str, float]:
    """The small CNN (no BN, BN, or BN with injected noise at the arm's scale)
    trained to its validation plateau: accuracy on a validation split carved
    from the replicate's pool, patience, one tenfold step-size decay at the
    first plateau, stop at the next (or at the epoch cap), and the best
    validation epoch's weights are the ones tested."""
    import torch

    from harness import engine
    from harness.engine import EarlyStopping
    from harness.models import MODELS

    budget, cfg = ctx.budget, ctx.config
    # the validation split comes out of the replicate's n_train images: the pool stays within Fashion-MNIST's 60k
    arrays = ctx.data_split_with_validation(DATASET, budget["n_train"] - budget["cnn_val"], budget["cnn_val"],
                                            n_test=budget["n_test"])
    x, y, xv, yv, xt, yt = (engine.as_tensor(a, ctx.device) for a in arrays)
    model = engine.build_model(lambda: MODELS.get("small-cnn")(channels=budget["cnn_channels"], norm=cfg["norm"],
                                                               noise=cfg.get("noise", 1.0)), ctx)
    optimizer = torch.optim.SGD(model.parameters(), lr=budget["cnn_lr"], momentum=budget["cnn_momentum"])
    schedule = engine.Schedule(batch_size=budget["cnn_batch"], epochs=budget["cnn_epochs"], drop_last=True)
    plateau = EarlyStopping("epoch_val_acc", patience=budget["cnn_patience"], lower_is_better=False,
                            min_delta=budget["cnn_min_gain"], decays=1, factor=0.1, restore_best=True)
    result = engine.train(model, x, y, torch.nn.functional.cross_entropy, optimizer, schedule, ctx,
                          evaluate=lambda epoch: {"epoch_val_acc": _accuracy(model, xv, yv)}, early_stopping=plateau)
    return {"test_acc": _accuracy(model, xt, yt), "val_acc": max(result.curve("epoch_val_acc")),
            "epochs_trained": float(len(result.points))}


# -- BN-EXPLODE ----------------------------------------------------------------------------------
def _explode_trial(ctx) -> dict[str, float]:
    """Per-layer gradient norms of a wide deep BN network at initialization.

    Inputs are Gaussian (m x width) and labels random, both from the trial's
    data-order seed; the loss is cross-entropy on a linear read-out. Layer l
    counts from the input; explosion means norms grow towards layer 1, and
    λ = exp(−slope) of log‖∇W_l‖ against l over the middle layers.
    """
    import torch

    from harness import engine, probes
    from harness.models import MODELS
    from harness.nets import weight_layers

    cfg, budget = ctx.config, ctx.budget
    width, depth = budget["explode_width"], budget["explode_depth"]
    model = engine.build_model(lambda: MODELS.get("deep-fc")(
        in_features=width, classes=10, width=width, depth=depth, act=cfg["act"], norm="bn",
        residual=cfg.get("residual", False)), ctx)
    generator = torch.Generator().manual_seed(ctx.seeds.data_order)
    x = torch.randn(cfg["batch"], width, generator=generator).to(ctx.device)
    y = torch.randint(0, 10, (cfg["batch"],), generator=generator).to(ctx.device)
    model.train()  # BN normalises with the batch's statistics, as at the first training step
    blocks = weight_layers(model)[1:-1]  # the depth x (width x width) layers; not the stem or the read-out
    norms = probes.gradient_norms(model, blocks, torch.nn.functional.cross_entropy, x, y)
    for layer, value in enumerate(norms, start=1):
        ctx.log_metric("grad_norm", value, layer)
    skip = budget["explode_skip"]
    lam, se = probes.fit_growth_rate(norms, skip_first=skip, skip_last=skip)
    lam_sq, se_sq = probes.fit_growth_rate([v * v for v in norms], skip_first=skip, skip_last=skip)
    return {"lambda": lam, "lambda_se": se, "lambda_sq": lam_sq, "first_to_last": norms[0] / norms[-1]}


def _untrainable_trial(ctx) -> dict[str, float]:
    """Train a BN-ReLU net: deep (explode_depth blocks) with or without skip
    connections, or shallow (shallow_depth blocks), at the arm's rate. A run
    that diverges is an outcome here (it did not train): chance accuracy."""
    from harness import engine
    from harness.engine import TrialDiverged
    from harness.models import MODELS

    budget, cfg = ctx.budget, ctx.config
    x, y, xt, yt = _data(ctx, budget["n_train"])
    depth = budget["explode_depth"] if cfg["depth"] == "deep" else budget["shallow_depth"]
    model = engine.build_model(lambda: MODELS.get("deep-fc")(
        in_features=784, width=budget["deep_width"], depth=depth, act=budget["deep_act"],
        norm="bn", residual=cfg["residual"]), ctx)
    try:
        accuracies = _train_classifier(ctx, model, x, y, budget["deep_steps"], budget["deep_batch"], cfg["lr"],
                                       momentum=budget["deep_momentum"],
                                       eval_every=budget["deep_steps"] // budget["deep_evals"], x_test=xt, y_test=yt)
    except TrialDiverged:
        return {"test_acc": 0.1, "diverged": 1.0}
    return {"test_acc": accuracies[-1], "diverged": 0.0}


# -- BN-INFERENCE ----------------------------------------------------------------------------------
def _inference_trial(ctx) -> dict[str, float]:
    """torch's running statistics against the seed text's population estimators.

    Features: a random projection of Fashion-MNIST pixels to 64 dimensions (raw
    pixels include constant-zero ones with no variance). With ``momentum=None``
    BatchNorm keeps a cumulative average, which must equal E_B[μ_B] and
    m/(m−1)·E_B[σ_B²] over the batches it saw.
    """
    import torch

    budget = ctx.budget
    x, _, _, _ = _data(ctx, budget["n_train"])
    generator = torch.Generator().manual_seed(ctx.seeds.init)
    n_features = budget["inference_features"]
    features = x @ torch.randn(x.shape[1], n_features, generator=generator).to(ctx.device) / budget["inference_scale"]
    m, batches = budget["inference_batch"], budget["inference_batches"]
    bn = torch.nn.BatchNorm1d(n_features, momentum=None).to(ctx.device).double()
    data = features.double()
    means, variances = [], []
    bn.train()
    with torch.no_grad():
        for b in range(batches):
            batch = data[b * m : (b + 1) * m]
            bn(batch)
            means.append(batch.mean(0))
            variances.append(batch.var(0, unbiased=False))  # σ_B², the biased batch variance
    population_mean = torch.stack(means).mean(0)
    population_var = m / (m - 1) * torch.stack(variances).mean(0)  # the seed text's estimator
    biased_var = torch.stack(variances).mean(0)  # the same without m/(m−1), for contrast
    metrics = {
        "mean_rel_error": float(((bn.running_mean - population_mean).abs()
                                 / population_mean.abs().clamp_min(1e-12)).max()),
        "var_rel_error": float(((bn.running_var - population_var).abs() / population_var).max()),
        "var_rel_error_without_factor": float(((bn.running_var - biased_var).abs() / biased_var).max()),
    }
    # Inference output is deterministic and independent of the batch around an example.
    probed, joining = budget["dependence_probe"]  # the first rows, then the same with the last rows in their batch
    bn.eval()
    with torch.no_grad():
        alone = bn(data[:probed])
        mixed = bn(torch.cat([data[:probed], data[-joining:]]))[:probed]
        metrics["eval_batch_dependence"] = float((alone - mixed).abs().max())
        bn.train()
        state = {k: v.clone() for k, v in bn.state_dict().items()}
        metrics["train_batch_dependence"] = float(
            (bn(data[:probed]) - bn(torch.cat([data[:probed], data[-joining:]]))[:probed]).abs().max())
        bn.load_state_dict(state)
        # Train-mode (batch statistics) vs eval-mode (population) outputs, by batch size.
        for size in budget["gap_batch_sizes"]:
            gaps = []
            for b in range(min(budget["gap_batches"], data.shape[0] // size)):
                batch = data[b * size : (b + 1) * size]
                bn.train()
                train_out = bn(batch)
                bn.load_state_dict(state)  # the probe must not move the population estimate
                bn.eval()
                gaps.append(float((train_out - bn(batch)).abs().mean()))
            ctx.log_metric("train_eval_gap", sum(gaps) / len(gaps), size)
    return metrics


# -- BN-NONIID --------------------------------------------------------------------------------------
def _noniid_trial(ctx) -> dict[str, float]:
    """BN against no BN at one batch size m, each trained to its validation
    plateau (patience, one tenfold step-size decay, then patience again; the
    best validation look's weights are tested), so a difference across m is
    what each network reaches, not how far a fixed number of examples took it."""
    import torch

    from harness import engine
    from harness.engine import EarlyStopping
    from harness.models import MODELS

    budget, cfg = ctx.budget, ctx.config
    arrays = ctx.data_split_with_validation(DATASET, budget["noniid_n"], budget["noniid_val"], n_test=budget["n_test"])
    x, y, xv, yv, xt, yt = (engine.as_tensor(a, ctx.device) for a in arrays)
    model = engine.build_model(lambda: MODELS.get("norm-mlp")(hidden=budget["noniid_hidden"], act=budget["noniid_act"],
                                                              norm=cfg["norm"]), ctx)
    # the sentence's cause, "lower quality gradient estimation": how well a batch of m's gradient points along a
    # large batch's, at initialization and at the weights tested (a fixed generator: the same batches in both arms)
    alignment = {"grad_alignment_init": _gradient_alignment(model, x, y, cfg["batch"], budget, ctx.seeds.noise)}
    # square-root scaling keeps the gradient noise comparable across m
    lr = budget["noniid_lr"] * math.sqrt(cfg["batch"] / budget["noniid_lr_batch"])
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    # a validation look at least every epoch and at least every noniid_eval_every steps, whichever is longer:
    # per epoch alone, a large batch (31 steps an epoch at m = 128) meets its patience long before its plateau;
    # per 200 steps alone, a small batch's noisy curve (400 examples a look at m = 2) does
    every = max(budget["noniid_eval_every"], x.shape[0] // cfg["batch"])
    schedule = engine.Schedule(batch_size=cfg["batch"], steps=budget["noniid_steps"], drop_last=True, eval_every=every)
    plateau = EarlyStopping("look_val_acc", patience=budget["noniid_patience"], lower_is_better=False,
                            min_delta=budget["noniid_min_gain"], decays=1, factor=0.1, restore_best=True)
    result = engine.train(model, x, y, torch.nn.functional.cross_entropy, optimizer, schedule, ctx,
                          evaluate=lambda step: {"look_val_acc": _accuracy(model, xv, yv)}, early_stopping=plateau)
    metrics = {"test_acc": _accuracy(model, xt, yt), "train_acc": _accuracy(model, x, y),
               "val_acc": max(result.curve("look_val_acc")), "steps_trained": float(result.points[-1])}
    metrics.update(alignment,
                   grad_alignment_end=_gradient_alignment(model, x, y, cfg["batch"], budget, ctx.seeds.noise))
    if cfg["norm"] == "bn":
        # what the batch statistics of m examples do at test time: each test batch of m normalised by itself
        metrics["batch_stat_acc"] = _batch_statistics_accuracy(model, xt, yt, cfg["batch"])
        metrics["train_eval_gap"] = metrics["test_acc"] - metrics["batch_stat_acc"]
    return metrics


def _gradient_alignment(model, x, y, batch: int, budget, seed: int) -> float:
    """``probes.gradient_alignment`` in training mode (as SGD sees the batch: with BN, normalised by its own
    statistics), against the first ``noniid_grad_ref`` examples, over ``noniid_grad_draws`` batches drawn from
    ``seed`` (the same batches in both arms); the model's mode is restored."""
    import torch

    from harness import probes

    was_training = model.training
    model.train()
    try:
        return probes.gradient_alignment(model, torch.nn.functional.cross_entropy, x, y, batch,
                                         budget["noniid_grad_ref"], budget["noniid_grad_draws"],
                                         torch.Generator().manual_seed(seed))
    finally:
        model.train(was_training)


def _batch_statistics_accuracy(model, x, y, batch: int) -> float:
    """Test accuracy with BN in training mode, each batch of ``batch`` test
    examples normalised by its own mean and variance (on a copy: the running
    statistics of the model stay as training left them)."""
    import copy

    import torch

    probe = copy.deepcopy(model).train()
    usable = (x.shape[0] // batch) * batch  # whole batches only: BN needs m >= 2
    with torch.no_grad():
        correct = sum(int((probe(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum()) for i in range(0, usable, batch))
    return correct / usable
