"""Study ``batchnorm``: speed, smoothness, covariate shift, noise, explosion
at initialization, inference statistics and small batches.

Claims (see shared/claims.md): BN-FASTER and BN-STABLE, BN-SMOOTH, BN-ICS (an MLP and a
deep linear network), BN-NOISY, BN-EXPLODE (growth rate > 1, falling with the
batch size, its large-batch limit, and trainability with and without skips),
BN-INFERENCE (population statistics, determinism) and BN-NONIID.

Protocol: Fashion-MNIST subsets on CPU. The speed, smoothness and ICS claims
share one training run per arm: Ioffe & Szegedy's MNIST check (784-100-100-100-10
sigmoid MLP, batch 60, SGD), with and without BN and with BN at 5x the learning
rate, probed every few hundred steps on a fixed batch (harness.probes). The
noise claim uses a small CNN (conv-BN-ReLU blocks) instead of VGG-16. The
explosion claims use wide (1000) deep (40) BN-ReLU networks at initialization
on Gaussian inputs. Budgets state every size.
"""
from __future__ import annotations

import math

from harness.checks import AboveChance, Converged, Trained
from harness.claimtests import Better, Bound, Extrapolated, Faster, Similar, Tolerance
from harness.claims import Claim, arm_mean
from harness.discovery import register
from harness.study import Arm, Budget, Study, StudyDeclarationError

FASHION = "fashion-mnist"
TARGET_ACCURACY = 0.80  # BN-FASTER's pre-registered target: test accuracy of the 3x100 sigmoid MLP
MLP_LR = 0.1            # SGD step size of the no-BN and BN arms; the "5x" arm uses 0.5
RELU_LIMIT = math.pi / (math.pi - 1)  # ≈ 1.467, the seed text's large-batch λ for ReLU
NOISY_MARGIN = 0.02     # accuracy: noisy BN "similar" to BN means within ±2 points
EXPLODE_BATCHES = (8, 32, 128, 512)
STABILITY_LRS = (0.5, 2.0, 8.0)  # 5x, 20x, 80x MLP_LR; BN-STABLE's pre-registered comparison is at 2.0
STABLE_LR = 2.0


def _stability_arm(name: str, lr: float) -> str:
    return f"stable-{name}-lr{int(lr * 1000)}m"  # arm names allow no '.': lr 0.5 → "lr500m" (milli-units)


def arms(budget: Budget) -> list[Arm]:
    design = [
        Arm("mlp", {"kind": "mlp", "norm": "none", "lr": MLP_LR}),
        Arm("mlp-bn", {"kind": "mlp", "norm": "bn", "lr": MLP_LR}),
        Arm("mlp-bn-5x", {"kind": "mlp", "norm": "bn", "lr": 5 * MLP_LR}),
        Arm("dln", {"kind": "dln", "norm": "none"}),
        Arm("dln-bn", {"kind": "dln", "norm": "bn"}),
        Arm("cnn", {"kind": "cnn", "norm": "none"}),
        Arm("cnn-bn", {"kind": "cnn", "norm": "bn"}),
        Arm("cnn-noisy-bn", {"kind": "cnn", "norm": "noisy-bn"}),
        Arm("deep-bn", {"kind": "untrainable", "residual": False}),
        Arm("deep-bn-residual", {"kind": "untrainable", "residual": True}),
        Arm("inference", {"kind": "inference"}),
    ]
    design += [Arm(f"explode-relu-b{b}", {"kind": "explode", "act": "relu", "batch": b}) for b in EXPLODE_BATCHES]
    design += [Arm("explode-linear-b128", {"kind": "explode", "act": "linear", "batch": 128}),
               Arm("explode-relu-residual-b128", {"kind": "explode", "act": "relu", "batch": 128, "residual": True})]
    design += [Arm(f"noniid-{norm}-b{b}", {"kind": "noniid", "norm": norm, "batch": b})
               for norm in ("none", "bn") for b in budget["noniid_batches"]]
    design += [Arm(_stability_arm(name, lr), {"kind": "stability", "norm": norm, "lr": lr})
               for lr in STABILITY_LRS for name, norm in (("mlp", "none"), ("mlp-bn", "bn"))]
    return design


def run_trial(ctx) -> dict[str, float]:
    kind = ctx.config["kind"]
    return {"mlp": _mlp_trial, "dln": _dln_trial, "cnn": _cnn_trial, "explode": _explode_trial,
            "untrainable": _untrainable_trial, "inference": _inference_trial, "noniid": _noniid_trial,
            "stability": _stability_trial}[kind](ctx)


# -- shared pieces ------------------------------------------------------------------------
def _data(ctx, n_train: int):
    """The replicate's training subset and the fixed test subset, as tensors."""
    from harness import engine

    arrays = ctx.data_split(FASHION, n_train, n_test=ctx.budget["n_test"])
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
    """SGD for ``steps`` full minibatches (BN needs m >= 2) through the harness's
    training loop; logs train_loss (mean since the last evaluation) and test_acc
    every ``eval_every`` steps and calls ``on_eval(step)`` after each; returns
    the accuracies."""
    import torch

    from harness import engine

    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    schedule = engine.Schedule(batch_size=batch, steps=steps, drop_last=True, eval_every=eval_every)
    result = engine.train(model, x, y, torch.nn.functional.cross_entropy, optimizer, schedule, ctx,
                          evaluate=lambda step: {"test_acc": _accuracy(model, x_test, y_test)}, on_eval=on_eval)
    return result.curve("test_acc")


# -- BN-FASTER, BN-SMOOTH, BN-ICS (MLP) ------------------------------------------------------
def _mlp_trial(ctx) -> dict[str, float]:
    import numpy as np
    import torch

    from harness import engine, probes
    from harness.models import MODELS
    from harness.nets import weight_layers

    cfg, budget = ctx.config, ctx.budget
    x, y, xt, yt = _data(ctx, budget["n_train"])
    model = engine.build_model(lambda: MODELS.get("norm-mlp")(hidden=(100, 100, 100), act="sigmoid",
                                                              norm=cfg["norm"]), ctx)
    probe_x, probe_y = x[: budget["probe_batch"]], y[: budget["probe_batch"]]  # one fixed batch for every probe
    loss_fn = torch.nn.functional.cross_entropy
    layers = weight_layers(model)
    etas = tuple(cfg["lr"] * f for f in (0.25, 0.5, 1.0, 2.0, 4.0))  # step sizes around the training step
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

    accuracies = _train_classifier(ctx, model, x, y, budget["mlp_steps"], 60, cfg["lr"],
                                   eval_every=budget["eval_every"], x_test=xt, y_test=yt, on_eval=probe)
    every = budget["eval_every"]
    reached = [i for i, a in enumerate(accuracies) if a >= TARGET_ACCURACY]
    metrics = {
        "test_acc": accuracies[-1],
        "best_test_acc": max(accuracies),
        # censored at the step budget when the target is never reached (conservative for the faster arm)
        "steps_to_target": float((reached[0] + 1) * every if reached else budget["mlp_steps"]),
        "reached_target": float(bool(reached)),
        "steps_to_target_censored": float(not reached),  # capped at the step budget: a bound, not a number
        **{f"{k}_median": float(np.median(v)) for k, v in seen.items() if v},
    }
    for i, cos in enumerate(np.mean(per_layer_cos, axis=0) if per_layer_cos else []):
        ctx.log_metric("ics_cos_by_layer", float(cos), i + 2)  # layer 2.. (layer 1's G' equals G)
    return metrics


# -- BN-FASTER's "more stable": training at large learning rates -------------------------------------
def _stability_trial(ctx) -> dict[str, float]:
    """The BN-FASTER MLP at a large learning rate. Instability is the outcome
    measured here, so a diverging run is recorded as unstable (a metric), not
    as a failed trial (which claims would ignore): unstable = 1 when the loss
    became non-finite or ended above its starting value ln 10 (chance)."""
    from harness import engine
    from harness.engine import TrialDiverged
    from harness.models import MODELS

    cfg, budget = ctx.config, ctx.budget
    x, y, xt, yt = _data(ctx, budget["n_train"])
    model = engine.build_model(lambda: MODELS.get("norm-mlp")(hidden=(100, 100, 100), act="sigmoid",
                                                              norm=cfg["norm"]), ctx)
    try:
        accuracies = _train_classifier(ctx, model, x, y, budget["mlp_steps"], 60, cfg["lr"],
                                       eval_every=budget["eval_every"], x_test=xt, y_test=yt)
    except TrialDiverged:
        return {"unstable": 1.0, "test_acc": 0.1}  # chance accuracy for a network that diverged
    final_loss = [v for _, v in ctx.curve("train_loss")][-1]
    return {"unstable": float(final_loss > math.log(10)), "test_acc": accuracies[-1], "final_train_loss": final_loss}


# -- BN-ICS on a deep linear network ---------------------------------------------------------------
def _dln_trial(ctx) -> dict[str, float]:
    """Full-batch gradient descent on a 25-layer linear network (Santurkar et al.'s DLN)."""
    import numpy as np
    import torch

    from harness import engine, probes
    from harness.models import MODELS
    from harness.nets import weight_layers

    budget = ctx.budget
    x, y, _, _ = _data(ctx, budget["dln_n"])
    targets = torch.nn.functional.one_hot(y, 10).float()
    model = engine.build_model(lambda: MODELS.get("deep-linear")(width=budget["dln_width"], depth=25,
                                                                 norm=ctx.config["norm"]), ctx)
    loss_fn = torch.nn.functional.mse_loss
    optimizer = torch.optim.SGD(model.parameters(), lr=budget["dln_lr"])
    layers = weight_layers(model)
    cosines, shifts_seen = [], []

    def probe(step: int) -> None:  # at step 0 (initialisation), every dln_probe_every steps and at the end
        shifts = probes.internal_covariate_shift(model, layers, loss_fn, x, targets, budget["dln_lr"])[1:]
        cos = [s.cosine for s in shifts if math.isfinite(s.cosine)]
        cosines.append(float(np.mean(cos)) if cos else math.nan)
        shifts_seen.append(float(np.mean([s.ics for s in shifts])))
        ctx.log_metrics({"ics_cos": cosines[-1], "ics": shifts_seen[-1]}, step)

    schedule = engine.Schedule(batch_size=x.shape[0], steps=budget["dln_steps"], shuffle=False,
                               eval_every=budget["dln_probe_every"], eval_at_start=True)  # full-batch gradient descent
    engine.train(model, x, targets, loss_fn, optimizer, schedule, ctx, on_eval=probe)
    return {"ics_cos_median": float(np.nanmedian(cosines)), "ics_median": float(np.median(shifts_seen))}


# -- BN-NOISY -------------------------------------------------------------------------------------
def _cnn_trial(ctx) -> dict[str, float]:
    from harness import engine
    from harness.models import MODELS

    budget = ctx.budget
    x, y, xt, yt = _data(ctx, budget["n_train"])
    model = engine.build_model(lambda: MODELS.get("small-cnn")(channels=(8, 16), norm=ctx.config["norm"]), ctx)
    steps = budget["cnn_epochs"] * (x.shape[0] // 128)
    accuracies = _train_classifier(ctx, model, x, y, steps, 128, 0.05, momentum=0.9,
                                   eval_every=x.shape[0] // 128, x_test=xt, y_test=yt)
    return {"test_acc": accuracies[-1]}


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
    """Train a deep BN-ReLU net with and without skip connections."""
    from harness import engine
    from harness.models import MODELS

    budget = ctx.budget
    x, y, xt, yt = _data(ctx, budget["n_train"])
    model = engine.build_model(lambda: MODELS.get("deep-fc")(
        in_features=784, width=budget["deep_width"], depth=budget["explode_depth"], act="relu", norm="bn",
        residual=ctx.config["residual"]), ctx)
    accuracies = _train_classifier(ctx, model, x, y, budget["deep_steps"], 128, 0.01, momentum=0.9,
                                   eval_every=budget["deep_steps"] // 5, x_test=xt, y_test=yt)
    return {"test_acc": accuracies[-1]}


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
    features = x @ torch.randn(x.shape[1], 64, generator=generator).to(ctx.device) / 28.0
    m, batches = budget["inference_batch"], budget["inference_batches"]
    bn = torch.nn.BatchNorm1d(64, momentum=None).to(ctx.device).double()
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
        "mean_rel_error": float(((bn.running_mean - population_mean).abs() / population_mean.abs().clamp_min(1e-12)).max()),
        "var_rel_error": float(((bn.running_var - population_var).abs() / population_var).max()),
        "var_rel_error_without_factor": float(((bn.running_var - biased_var).abs() / biased_var).max()),
    }
    # Inference output is deterministic and independent of the batch around an example.
    bn.eval()
    with torch.no_grad():
        alone = bn(data[:10])
        mixed = bn(torch.cat([data[:10], data[-50:]]))[:10]
        metrics["eval_batch_dependence"] = float((alone - mixed).abs().max())
        bn.train()
        state = {k: v.clone() for k, v in bn.state_dict().items()}
        metrics["train_batch_dependence"] = float((bn(data[:10]) - bn(torch.cat([data[:10], data[-50:]]))[:10]).abs().max())
        bn.load_state_dict(state)
        # Train-mode (batch statistics) vs eval-mode (population) outputs, by batch size.
        for size in (2, 4, 8, 16, 32, 64, 128):
            gaps = []
            for b in range(min(20, data.shape[0] // size)):
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
    """BN against no BN as the batch shrinks, for a fixed number of examples seen."""
    from harness import engine
    from harness.models import MODELS

    budget, cfg = ctx.budget, ctx.config
    x, y, xt, yt = _data(ctx, budget["noniid_n"])
    model = engine.build_model(lambda: MODELS.get("norm-mlp")(hidden=(100, 100), act="relu", norm=cfg["norm"]), ctx)
    steps = budget["noniid_epochs"] * (x.shape[0] // cfg["batch"])
    lr = 0.01 * math.sqrt(cfg["batch"] / 2)  # square-root scaling keeps the gradient noise comparable across m
    accuracies = _train_classifier(ctx, model, x, y, steps, cfg["batch"], lr, eval_every=steps, x_test=xt, y_test=yt)
    return {"test_acc": accuracies[-1]}


# -- figures --------------------------------------------------------------------------------
def figures(fig_ctx) -> list:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    runs = fig_ctx.finished
    out = []
    histories, band = fig_ctx.histories, fig_ctx.band

    # 1. loss curves
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for arm, label in (("mlp", "no BN"), ("mlp-bn", "BN"), ("mlp-bn-5x", "BN, 5x lr")):
        band(axes[0], arm, "train_loss", label)
        band(axes[1], arm, "test_acc", label)
    axes[0].set_ylabel("training loss"), axes[1].set_ylabel("test accuracy")
    axes[1].axhline(TARGET_ACCURACY, color="k", lw=0.8, ls="--")
    for ax in axes:
        ax.set_xlabel("step"), ax.legend(fontsize=7)
    out.append(fig_ctx.save(fig, "loss_curves.png", "784-100-100-100-10 sigmoid MLP, batch 60, SGD: training loss "
                            "and test accuracy (mean; band: min–max over seeds); dashed: the pre-registered target."))

    # 2. landscape measures over training
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    for ax, key, title in zip(axes, ("loss_range", "grad_predictiveness", "beta_smoothness"),
                              ("loss variation", "gradient predictiveness ‖Δ∇L‖", "effective β-smoothness")):
        for arm, label in (("mlp", "no BN"), ("mlp-bn", "BN")):
            band(ax, arm, key, label)
        ax.set_yscale("log"), ax.set_title(title, fontsize=9), ax.set_xlabel("step"), ax.legend(fontsize=7)
    out.append(fig_ctx.save(fig, "landscape.png", "Santurkar et al.'s landscape measures along the gradient, "
                            "every probe interval, at step sizes 0.25–4x the learning rate (raw, not scale-free)."))

    # 3. ICS per layer
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for arm, label in (("mlp", "no BN"), ("mlp-bn", "BN")):
        curves = histories(arm, "ics_cos_by_layer")
        if curves:
            layers = [s for s, _ in curves[0]]
            axes[0].plot(layers, np.mean([[v for _, v in c] for c in curves], axis=0), "o-", label=label)
    axes[0].set_xlabel("layer"), axes[0].set_ylabel("cos(G, G′)"), axes[0].set_title("MLP", fontsize=9)
    for arm, label in (("dln", "DLN"), ("dln-bn", "DLN + BN")):
        band(axes[1], arm, "ics_cos", label)
    axes[1].set_xlabel("step"), axes[1].set_ylabel("mean cos(G, G′) over layers"), axes[1].set_title("25-layer linear", fontsize=9)
    for ax in axes:
        ax.legend(fontsize=7)
    out.append(fig_ctx.save(fig, "ics.png", "Internal covariate shift (Santurkar et al. Def. 2.1): cosine between a "
                            "layer's gradient before and after the earlier layers' update; 1 = no shift."))

    # 4. gradient norm against depth
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for arm in [f"explode-relu-b{b}" for b in EXPLODE_BATCHES] + ["explode-linear-b128", "explode-relu-residual-b128"]:
        curves = histories(arm, "grad_norm")
        if curves:
            layers = [s for s, _ in curves[0]]
            lam = runs[runs["arm"] == arm]["metrics.lambda"].mean()
            ax.plot(layers, np.exp(np.mean([[math.log(v) for _, v in c] for c in curves], axis=0)),
                    label=f"{arm.removeprefix('explode-')} (λ={lam:.3f})")
    if "layers" in locals():
        last = max(layers)
        ax.plot(layers, [RELU_LIMIT ** (last - l) for l in layers], "k--", lw=0.8, label="1.467^(L−l)")
        ax.plot(layers, [RELU_LIMIT ** ((last - l) / 2) for l in layers], "k:", lw=0.8,
                label="1.467^((L−l)/2): 1.467 as the squared norm's rate")
    ax.set_yscale("log"), ax.set_xlabel("layer l (from the input)"), ax.set_ylabel("‖∇W_l‖ at initialization")
    ax.legend(fontsize=6)
    out.append(fig_ctx.save(fig, "gradient_explosion.png", "Gradient norm per layer of a wide deep BN network at "
                            "initialization (geometric mean over seeds), with the fitted λ per configuration."))

    # 5. noise regimes, depth, batch size, inference gap
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    labels = [("cnn", "standard"), ("cnn-bn", "BN"), ("cnn-noisy-bn", "noisy BN")]
    for i, (arm, label) in enumerate(labels):
        values = runs[runs["arm"] == arm]["metrics.test_acc"].dropna()
        axes[0].bar(i, values.mean() if len(values) else 0)
        axes[0].scatter([i] * len(values), values, color="k", s=8, zorder=3)
    axes[0].set_xticks(range(3), [l for _, l in labels]), axes[0].set_ylabel("test accuracy")
    lo = runs[runs["arm"].str.startswith("cnn")]["metrics.test_acc"].min()
    if lo == lo:  # not NaN
        axes[0].set_ylim(lo - 0.05, 1.0)
    for norm, label in (("none", "no BN"), ("bn", "BN")):
        arms_ = sorted((int(a.rsplit("-b", 1)[1]), a) for a in set(runs["arm"]) if a.startswith(f"noniid-{norm}-"))
        if arms_:
            axes[1].plot([b for b, _ in arms_], [runs[runs["arm"] == a]["metrics.test_acc"].mean() for _, a in arms_],
                         "o-", label=label)
    axes[1].set_xscale("log", base=2), axes[1].set_xlabel("batch size"), axes[1].set_ylabel("test accuracy")
    axes[1].legend(fontsize=7)
    gap = histories("inference", "train_eval_gap")
    if gap:
        axes[2].plot([s for s, _ in gap[0]], np.mean([[v for _, v in c] for c in gap], axis=0), "o-")
    axes[2].set_xscale("log", base=2), axes[2].set_yscale("log")
    axes[2].set_xlabel("batch size"), axes[2].set_ylabel("mean |train-mode − eval-mode| output")
    out.append(fig_ctx.save(fig, "noise_batch_inference.png", "Left: the three noise regimes (CNN). Middle: BN and "
                            "no BN as the batch shrinks, same examples seen. Right: train-mode vs eval-mode BN output "
                            "gap by batch size."))
    return out


# -- claims --------------------------------------------------------------------------------------
ARTICLE = "Batch normalization"
IOFFE = "Ioffe & Szegedy 2015, \"Batch normalization: accelerating deep network training by reducing internal covariate shift\", ICML"
SANTURKAR = "Santurkar, Tsipras, Ilyas & Madry 2018, \"How does batch normalization help optimization?\", NeurIPS"
YANG = ("Yang, Pennington, Rao, Sohl-Dickstein & Schoenholz 2019, \"A mean field theory of batch normalization\", "
        "ICLR")
EXPLODE_QUOTE = ("More precisely, if the network has L layers, then the gradient of the first layer weights has norm "
                 ">cλL for some λ>1,c>0 depending only on the nonlinearity.")
EXPLODE_ARMS = tuple(f"explode-relu-b{b}" for b in EXPLODE_BATCHES)


def _speed_note(runs) -> list[str]:
    base, bn, fast = (arm_mean(runs, a, "steps_to_target") for a in ("mlp", "mlp-bn", "mlp-bn-5x"))
    reached = {a: arm_mean(runs, a, "reached_target") for a in ("mlp", "mlp-bn", "mlp-bn-5x")}
    return [f"Steps to {TARGET_ACCURACY:.0%} test accuracy (mean): no BN {base:.0f}, BN {bn:.0f}, BN at 5x lr {fast:.0f};"
            f" speed-up {base / bn:.2f}x and {base / fast:.2f}x, against the paper's 31.0M/13.3M = 2.3x and "
            f"31.0M/2.1M = 14.8x on Inception. Share of runs that reached the target: "
            + ", ".join(f"`{a}` {v:.0%}" for a, v in reached.items())
            + " (a run that never reached it counts the whole step budget, which understates the faster arm).",
            "'More stable' is tested separately: BN-STABLE."]


def _stability_note(runs) -> list[str]:
    rates = "; ".join(f"lr {lr:g}: no BN {arm_mean(runs, _stability_arm('mlp', lr), 'unstable'):.0%} unstable "
                      f"(test acc {arm_mean(runs, _stability_arm('mlp', lr), 'test_acc'):.3f}), BN "
                      f"{arm_mean(runs, _stability_arm('mlp-bn', lr), 'unstable'):.0%} "
                      f"({arm_mean(runs, _stability_arm('mlp-bn', lr), 'test_acc'):.3f})" for lr in STABILITY_LRS)
    spread = {a: runs[(runs["arm"] == a) & (runs["status"] == "FINISHED")]["metrics.test_acc"].std() for a in ("mlp", "mlp-bn")}
    return [f"Share of unstable runs by learning rate — {rates}.",
            f"Seed-to-seed SD of the final test accuracy at lr {MLP_LR}: no BN {spread['mlp']:.4f}, BN {spread['mlp-bn']:.4f}."]


def _smooth_note(runs) -> list[str]:
    return [f"Medians over training, no BN vs BN: loss variation {arm_mean(runs, 'mlp', 'loss_range_median'):.3g} vs "
            f"{arm_mean(runs, 'mlp-bn', 'loss_range_median'):.3g}; gradient predictiveness "
            f"{arm_mean(runs, 'mlp', 'grad_predictiveness_median'):.3g} vs {arm_mean(runs, 'mlp-bn', 'grad_predictiveness_median'):.3g}. "
            "These are the raw measures: BN makes the loss invariant to the scale of the weights before it, so they "
            "also move with the weight norm."]


def _explode_note(runs) -> list[str]:
    parts = [f"m={b}: λ {arm_mean(runs, f'explode-relu-b{b}', 'lambda'):.4f}, λ of the squared norm "
             f"{arm_mean(runs, f'explode-relu-b{b}', 'lambda_sq'):.4f}" for b in EXPLODE_BATCHES]
    return ["ReLU, by batch size — " + "; ".join(parts) + f". π/(π−1) = {RELU_LIMIT:.4f}.",
            f"Controls at m=128: linear activation λ {arm_mean(runs, 'explode-linear-b128', 'lambda'):.4f}; residual "
            f"ReLU λ {arm_mean(runs, 'explode-relu-residual-b128', 'lambda'):.4f}."]


def _limit_note(runs) -> list[str]:
    batches = {a: int(a.rsplit("b", 1)[1]) for a in EXPLODE_ARMS}
    norm = Extrapolated("lambda", batches, RELU_LIMIT, 0.1).evaluate(runs)
    squared = Extrapolated("lambda_sq", batches, RELU_LIMIT, 0.1).evaluate(runs)
    if norm.interval is None or squared.interval is None:
        return []

    def within(e) -> str:
        return "within" if abs(e.effect - RELU_LIMIT) < 0.1 else "outside"

    verdict = {
        ("outside", "within"): f"The seed text's {RELU_LIMIT:.3f} describes the growth of the squared gradient norm, "
                               "not of the norm it names.",
        ("within", "outside"): f"The seed text's {RELU_LIMIT:.3f} describes the growth of the norm, as it says.",
        ("within", "within"): "Both fits fall within the margin: this budget cannot tell norm from square.",
        ("outside", "outside"): "Neither fit falls within the margin.",
    }
    sq_ci, norm_ci = squared.interval(0.05), norm.interval(0.05)
    return [f"Norm or square? The same fit on the squared gradient norm gives λ∞ = {squared.effect:.4f} "
            f"[{sq_ci[0]:.4f}, {sq_ci[1]:.4f}] (95%, {within(squared)} ±0.1 of {RELU_LIMIT:.4f}); on the norm "
            f"λ∞ = {norm.effect:.4f} [{norm_ci[0]:.4f}, {norm_ci[1]:.4f}] ({within(norm)}); λ_norm² = λ_square. "
            + verdict[(within(norm), within(squared))]]


def _inference_note(runs) -> list[str]:
    return [f"Without the m/(m−1) factor the running variance would be off by "
            f"{arm_mean(runs, 'inference', 'var_rel_error_without_factor'):.3g} (relative), i.e. 1/(m−1) for m = 16. "
            f"In train mode an example's output changes with its batch by up to "
            f"{arm_mean(runs, 'inference', 'train_batch_dependence'):.3g}."]


CLAIMS = (
    Claim(
        id="BN-FASTER",
        quote=("Batch normalization (also known as batch norm) is a method used to make training of artificial neural "
               "networks faster and more stable through normalization of the layers' inputs by re-centering and "
               "re-scaling."),
        article=ARTICLE, section="(lead)", source=IOFFE,
        source_numbers=("Inception to 72.2% accuracy: 31.0M steps without BN, 13.3M with BN, 2.1M with BN and 5x the "
                        "learning rate (\"14 times fewer\"); MNIST check: 3 hidden layers x 100 sigmoid units, batch 60."),
        measure=(f"SGD steps (batch 60, lr {MLP_LR}) for the 784-100-100-100-10 sigmoid MLP to reach {TARGET_ACCURACY:.0%} "
                 "Fashion-MNIST test accuracy, evaluated every interval; paired by seed."),
        test=Faster("steps_to_target", "mlp-bn", "mlp"),
        checks=(Trained("train_loss", fell_by=0.1),),
        notes=_speed_note,
    ),
    Claim(
        id="BN-STABLE",
        quote=("Batch normalization (also known as batch norm) is a method used to make training of artificial neural "
               "networks faster and more stable through normalization of the layers' inputs by re-centering and "
               "re-scaling."),
        article=ARTICLE, section="(lead)", source=IOFFE,
        source_numbers=("§4.2.1: with BN, learning rates up to 30x the baseline's trained Inception; the paper gives "
                        "no divergence rates."),
        measure=(f"Share of runs that diverge or end above the initial loss (ln 10) when the BN-FASTER MLP is trained "
                 f"at lr {STABLE_LR:g} (20x), with BN against without; paired by seed. Other rates in the notes."),
        test=Better("unstable", _stability_arm("mlp-bn", STABLE_LR), _stability_arm("mlp", STABLE_LR)),
        notes=_stability_note,
    ),
    Claim(
        id="BN-SMOOTH",
        quote=("One alternative explanation, is that the improvement with batch normalization is instead due to it "
               "producing a smoother parameter space and smoother gradients, as formalized by a smaller Lipschitz "
               "constant."),
        article=ARTICLE, section="Theory › Smoothness", source=SANTURKAR,
        source_numbers=("Fig. 4 (VGG on CIFAR-10): with BN, smaller loss variation along the gradient, better gradient "
                        "predictiveness and a lower effective β-smoothness throughout training."),
        measure=("Median over training of the effective β-smoothness max_η ‖∇L(w) − ∇L(w − η∇L)‖ / ‖η∇L‖ on a fixed "
                 "batch, η from 0.25 to 4 times the learning rate, same MLP runs as BN-FASTER."),
        test=Better("beta_smoothness_median", "mlp-bn", "mlp"),
        checks=(Trained("train_loss", fell_by=0.1),),
        notes=_smooth_note,
    ),
    Claim(
        id="BN-ICS-MLP",
        quote=("Interestingly, it is shown that the standard VGG and DLN models both have higher correlations of "
               "gradients compared with their counterparts, indicating that the additional batch normalization layers "
               "are not reducing internal covariate shift."),
        article=ARTICLE, section="Theory › Measure", source=SANTURKAR,
        source_numbers="Fig. 5: cos(G, G′) is lower, and ‖G − G′‖ higher, with BN, for VGG and for a 25-layer DLN.",
        measure=("Median over training of cos(G, G′) averaged over layers 2–4 (Def. 2.1: G′ after the earlier layers' "
                 "SGD update on the same batch), sigmoid MLP without vs with BN."),
        test=Better("ics_cos_median", "mlp", "mlp-bn", lower_is_better=False),
        checks=(Trained("train_loss", fell_by=0.1),),
    ),
    Claim(
        id="BN-ICS-DLN",
        quote=("Interestingly, it is shown that the standard VGG and DLN models both have higher correlations of "
               "gradients compared with their counterparts, indicating that the additional batch normalization layers "
               "are not reducing internal covariate shift."),
        article=ARTICLE, section="Theory › Measure", source=SANTURKAR,
        source_numbers="Fig. 5: the 25-layer deep linear network, trained with full-batch gradient descent.",
        measure="Median over training of the mean cos(G, G′) over layers 2–25 of a 25-layer linear network, full-batch GD.",
        test=Better("ics_cos_median", "dln", "dln-bn", lower_is_better=False),
        checks=(Trained("train_loss", fell_by=0.1),),
    ),
    Claim(
        id="BN-NOISY-SIMILAR",
        quote=("One experiment trained a VGG-16 network under 3 different training regimes: standard (no batch norm), "
               "batch norm, and batch norm with noise added to each layer during training. In the third model, the "
               "noise has non-zero mean and non-unit variance, i.e. it explicitly introduces covariate shift. Despite "
               "this, it showed similar accuracy to the second model, …"),
        article=ARTICLE, section="Theory", source=SANTURKAR,
        source_numbers="Fig. 2 (VGG-16, CIFAR-10): standard, BN and noisy BN reach similar test accuracy (~0.8-0.9).",
        measure=(f"Test accuracy of a small CNN with BN and with noisy BN (per-activation, per-sample noise with a "
                 f"random non-zero mean and non-unit variance, redrawn every step); equivalence margin ±{NOISY_MARGIN}."),
        test=Similar("test_acc", "cnn-noisy-bn", "cnn-bn", margin=NOISY_MARGIN),
        checks=(Trained("train_loss", fell_by=0.1), Converged("test_acc", lower_is_better=False)),
    ),
    Claim(
        id="BN-NOISY-BEATS-STANDARD",
        quote="… and both performed better than the first, suggesting that covariate shift is not the reason that batch norm improves performance.",
        article=ARTICLE, section="Theory", source=SANTURKAR,
        source_numbers="Fig. 2: both BN variants above the standard network.",
        measure="Test accuracy of the noisy-BN CNN against the CNN without BN (the weaker of the two BN arms' claims).",
        test=Better("test_acc", "cnn-noisy-bn", "cnn", lower_is_better=False),
        checks=(Trained("train_loss", fell_by=0.1), Converged("test_acc", lower_is_better=False)),
    ),
    Claim(
        id="BN-EXPLODE",
        quote=("Even though batchnorm was originally introduced to alleviate gradient vanishing or explosion problems, "
               "a deep batchnorm network in fact suffers from gradient explosion at initialization time, no matter what "
               "it uses for nonlinearity. … " + EXPLODE_QUOTE),
        article=ARTICLE, section="Theory › Vanishing/exploding gradients", source=YANG,
        source_numbers="Theorem: gradient norms grow as λ^L with λ > 1 for any nonlinearity, at any finite batch size.",
        measure=("λ = exp(−slope) of log ‖∇W_l‖ against depth l over the middle layers of a 40-layer, 1000-wide "
                 "BN network at initialization (Gaussian inputs), ReLU at m = 8…512 and linear at m = 128."),
        test=Bound("lambda", 1.0, side="above", over=EXPLODE_ARMS + ("explode-linear-b128",)),
        notes=_explode_note,
    ),
    Claim(
        id="BN-EXPLODE-BATCH",
        quote="For any fixed nonlinearity, λ decreases as the batch size increases.",
        article=ARTICLE, section="Theory › Vanishing/exploding gradients", source=YANG,
        source_numbers="λ is a decreasing function of the batch size (Theorem 3.10 and Fig. 2 there).",
        measure="λ of the ReLU network at m = 512 against m = 8, paired by seed.",
        test=Better("lambda", "explode-relu-b512", "explode-relu-b8"),
    ),
    Claim(
        id="BN-EXPLODE-LIMIT",
        quote="For example, for ReLU, λ decreases to π/(π−1)≈1.467 as the batch size tends to infinity.",
        article=ARTICLE, section="Theory › Vanishing/exploding gradients", source=YANG,
        source_numbers=f"π/(π−1) ≈ {RELU_LIMIT:.4f} for ReLU in the infinite-batch limit.",
        measure=("λ of the gradient norm at m = 8, 32, 128, 512 (width 1000 > m), extrapolated to m → ∞ by "
                 "λ(m) = λ∞ + c/m; pre-registered margin ±0.1."),
        test=Extrapolated("lambda", {a: int(a.rsplit("b", 1)[1]) for a in EXPLODE_ARMS}, RELU_LIMIT, 0.1),
        notes=_limit_note,
    ),
    Claim(
        id="BN-UNTRAINABLE",
        quote="Practically, this means deep batchnorm networks are untrainable.",
        article=ARTICLE, section="Theory › Vanishing/exploding gradients", source=YANG,
        source_numbers="Deep BN networks without skips fail to train at large depth (their Fig. 1, depth ≥ 50 or so).",
        measure=("Test accuracy of a 40-layer, 128-wide BN-ReLU network after SGD (momentum 0.9, lr 0.01); "
                 "pre-registered: 'untrainable' means below 50% on 10 classes."),
        test=Bound("test_acc", 0.5, side="below", over=("deep-bn",)),
    ),
    Claim(
        id="BN-SKIP-RELIEF",
        quote="This is only relieved by skip connections in the fashion of residual networks.",
        article=ARTICLE, section="Theory › Vanishing/exploding gradients", source=YANG,
        source_numbers="Residual connections remove the explosion (their §6).",
        measure="Test accuracy of the same 40-layer BN-ReLU network with a skip around every block, against without.",
        test=Better("test_acc", "deep-bn-residual", "deep-bn", lower_is_better=False),
        checks=(AboveChance("test_acc", chance=0.1, margin=0.1, arms=("deep-bn-residual",)),),
    ),
    Claim(
        id="BN-INFERENCE",
        quote=("The population mean, E[x(k)], and variance, Var[x(k)], are computed as: … E[x(k)]=EB[μB(k)], and "
               "Var[x(k)]=mm−1EB[(σB(k))2]."),
        article=ARTICLE, section="Procedures › Inference", source=IOFFE,
        source_numbers="Algorithm 2: E[x] = E_B[μ_B], Var[x] = m/(m−1)·E_B[σ_B²].",
        measure=("Largest relative difference between torch's BatchNorm running variance (cumulative, momentum=None) "
                 "and m/(m−1) times the mean biased batch variance over the batches it saw (float64, m = 16)."),
        test=Tolerance("var_rel_error", 1e-9, over=("inference",)),
        notes=_inference_note,
    ),
    Claim(
        id="BN-INFERENCE-DETERMINISTIC",
        quote=("Instead, the normalization step in this stage is computed with the population statistics such that the "
               "output could depend on the input in a deterministic manner."),
        article=ARTICLE, section="Procedures › Inference", source=IOFFE,
        source_numbers="§3.1: at inference the output depends only on the input.",
        measure="Largest change of an example's eval-mode BN output when other examples join its batch.",
        test=Tolerance("eval_batch_dependence", 1e-12, over=("inference",)),
    ),
    Claim(
        id="BN-NONIID",
        quote=("Using batch normalization causes the items in a batch to no longer be iid, which can lead to "
               "difficulties in training due to lower quality gradient estimation."),
        article=ARTICLE, section="Theory", source=IOFFE,
        source_numbers="(no number in the primary source; batch renormalization, Ioffe 2017, targets small batches)",
        measure=("Test accuracy of a 784-100-100-10 ReLU MLP after one epoch at batch size 2 (lr scaled as √m), "
                 "without vs with BN."),
        test=Better("test_acc", "noniid-none-b2", "noniid-bn-b2", lower_is_better=False),
        checks=(AboveChance("test_acc", chance=0.1, margin=0.1),),
    ),
)


def check_budget(budget: Budget) -> None:
    if budget["probe_every"] % budget["eval_every"]:
        raise StudyDeclarationError("probe_every must be a multiple of eval_every (probes run at evaluations)")
    if 2 not in budget["noniid_batches"]:
        raise StudyDeclarationError("BN-NONIID compares at batch size 2: noniid_batches must include 2")


STUDY = register(Study(
    name="batchnorm",
    title="Batch normalization",
    summary=__doc__.split("\n\n", 1)[1],
    claims=CLAIMS,
    arms=arms,
    run_trial=run_trial,
    figures=figures,
    datasets=(FASHION,),
    root_seed=2015,
    check=check_budget,
    budgets={
        "smoke": Budget(replicates=2, settings={
            "n_train": 1000, "n_test": 500, "mlp_steps": 60, "eval_every": 20, "probe_every": 20, "probe_batch": 60,
            "dln_n": 200, "dln_width": 16, "dln_lr": 0.01, "dln_steps": 10, "dln_probe_every": 5,
            "cnn_epochs": 1, "explode_width": 64, "explode_depth": 12, "explode_skip": 2,
            "deep_width": 32, "deep_steps": 20, "inference_batch": 16, "inference_batches": 20,
            "noniid_batches": (2, 32), "noniid_n": 500, "noniid_epochs": 1}),
        "quick": Budget(replicates=5, settings={
            "n_train": 10_000, "n_test": 2000, "mlp_steps": 3000, "eval_every": 100, "probe_every": 500,
            "probe_batch": 60, "dln_n": 1000, "dln_width": 32, "dln_lr": 0.01, "dln_steps": 200,
            "dln_probe_every": 50, "cnn_epochs": 2, "explode_width": 1000, "explode_depth": 40, "explode_skip": 5,
            "deep_width": 128, "deep_steps": 500, "inference_batch": 16, "inference_batches": 200,
            "noniid_batches": (2, 8, 32, 128), "noniid_n": 4000, "noniid_epochs": 1}),
        "full": Budget(replicates=10, settings={
            "n_train": 60_000, "n_test": 10_000, "mlp_steps": 20_000, "eval_every": 200, "probe_every": 1000,
            "probe_batch": 60, "dln_n": 2000, "dln_width": 64, "dln_lr": 0.01, "dln_steps": 1000,
            "dln_probe_every": 100, "cnn_epochs": 10, "explode_width": 1000, "explode_depth": 40, "explode_skip": 5,
            "deep_width": 256, "deep_steps": 3000, "inference_batch": 16, "inference_batches": 1000,
            "noniid_batches": (2, 4, 8, 16, 32, 64, 128, 256), "noniid_n": 20_000, "noniid_epochs": 2}),
    },
))
