"""The batchnorm study's figures, drawn from the tracking store alone."""
from __future__ import annotations

import math

from studies.batchnorm.settings import EXPLODE_ARMS, RELU_LIMIT, Settings

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
    axes[1].axhline(Settings.target_accuracy, color="k", lw=0.8, ls="--")
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

    # 3b. the deep linear networks: the loss curves the `trained` check reads, and ‖G − G′‖ beside the cosine
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for arm, label in (("dln", "DLN"), ("dln-bn", "DLN + BN")):
        band(axes[0], arm, "train_loss", label)
        band(axes[1], arm, "ics_relative", label)
    axes[0].set_xlabel("step"), axes[0].set_ylabel("training loss (full batch)"), axes[0].set_yscale("log")
    axes[1].set_xlabel("step"), axes[1].set_ylabel("mean ‖G − G′‖ / ‖G‖ over layers"), axes[1].set_yscale("log")
    for ax in axes:
        ax.legend(fontsize=7)
    out.append(fig_ctx.save(fig, "dln.png", "25-layer linear networks from an orthogonal initialisation, full-batch "
                            "GD: training loss, and Santurkar's ICS norm relative to the gradient's (mean; band: "
                            "min–max over seeds)."))

    # 4. gradient norm against depth
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for arm in [*EXPLODE_ARMS, "explode-linear-b128", "explode-relu-residual-b128"]:
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
