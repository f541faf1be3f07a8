"""The batchnorm study's figures, drawn from the tracking store alone."""
from __future__ import annotations

import math

from studies.batchnorm.settings import (EXPLODE_ARMS, NOISY_MARGIN, RELU_LIMIT, SPEED_ARMS, Settings, depth_arm,
                                        faster_ladder, faster_rates, noisy_arm, noniid_arm, smooth_arm)


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
    for arm, label in SPEED_ARMS.items():
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
    axes[1].set_xlabel("step"), axes[1].set_ylabel("mean cos(G, G′) over layers")
    axes[1].set_title("25-layer linear", fontsize=9)
    for ax in axes:
        ax.legend(fontsize=7)
    out.append(fig_ctx.save(fig, "ics.png", "Internal covariate shift as a cosine (Def. 2.1 of Santurkar et al. is "
                            "the norm ‖G − G′‖: dln.png): between a layer's gradient before and after the "
                            "earlier layers' update; 1 = no shift. Left: the BN-FASTER MLP at equal steps "
                            "(notes only); right: the 25-layer linear networks (BN-ICS-DLN)."))

    # 3b. the deep linear networks: the loss curves the `trained` check reads, and ‖G − G′‖ beside the cosine
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for arm, label in (("dln", "DLN"), ("dln-bn", "DLN + BN")):
        band(axes[0], arm, "train_loss", label)
        band(axes[1], arm, "ics_relative", label)
    axes[0].set_xlabel("step"), axes[0].set_ylabel("training loss (full batch)"), axes[0].set_yscale("log")
    axes[1].set_xlabel("step"), axes[1].set_ylabel("mean ‖G − G′‖ / ‖G‖ over layers")
    axes[1].set_yscale("log")
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
                            "no BN as the batch shrinks, each at its validation plateau. Right: train-mode vs "
                            "eval-mode BN output gap by batch size."))
    out += _smoothness(fig_ctx, plt)
    out += _noise_and_depth(fig_ctx, plt, np)
    out += _noniid_curves(fig_ctx, plt)
    out += _stability_ladder(fig_ctx, plt)
    return out


def _stability_ladder(fig_ctx, plt) -> list:
    """BN-FASTER-BEST's and BN-STABLE's ladder: every run's training loss at each rung (the rates below BN-FASTER's,
    BN-FASTER's, then the stability rates), against chance: the loss BN-STABLE's `unstable` outcome compares the
    final loss with, and the curves both claims' `trained` checks read."""
    rates = faster_rates()
    fig, axes = plt.subplots(1, len(rates), figsize=(3 * len(rates), 3), sharey=True)
    for ax, lr, arms in zip(axes, rates, zip(faster_ladder("mlp"), faster_ladder("mlp-bn"))):
        for i, (arm, label) in enumerate(zip(arms, ("no BN", "BN"))):
            for j, curve in enumerate(fig_ctx.histories(arm, "train_loss")):
                ax.plot([s for s, _ in curve], [v for _, v in curve], color=f"C{i}", lw=0.7, alpha=0.8,
                        label=label if j == 0 else None)
        ax.axhline(math.log(10), color="k", lw=0.8, ls="--", label="chance (ln 10)" if lr == rates[0] else None)
        ax.set_yscale("log"), ax.set_title(f"lr {lr:g}", fontsize=9), ax.set_xlabel("step")
    axes[0].set_ylabel("training loss"), axes[0].legend(fontsize=7)
    return [fig_ctx.save(fig, "stability_ladder.png", "BN-FASTER-BEST's and BN-STABLE's ladder: each run's training "
                         f"loss (one line a seed) below BN-FASTER's rate {Settings.mlp_lr:g}, at it, and at the "
                         "stability rates; a run counts as unstable when its loss turns non-finite (the line ends) or "
                         "ends above chance (dashed).")]


def _noniid_curves(fig_ctx, plt) -> list:
    """BN-NONIID: every run's validation curve to its plateau, one panel per batch size (what `converged` reads)."""
    fig, axes = plt.subplots(1, len(Settings.noniid_levels), figsize=(12, 3), sharey=True)
    for ax, m in zip(axes, Settings.noniid_levels):
        for i, (norm, label) in enumerate((("none", "no BN"), ("bn", "BN"))):
            for j, curve in enumerate(fig_ctx.histories(noniid_arm(norm, m), "look_val_acc")):
                ax.plot([s for s, _ in curve], [v for _, v in curve], color=f"C{i}", lw=0.8,
                        label=label if j == 0 else None)
        ax.set_title(f"m = {m}", fontsize=9), ax.set_xlabel("step")
    axes[0].set_ylabel("validation accuracy"), axes[0].legend(fontsize=7)
    return [fig_ctx.save(fig, "noniid_curves.png", "BN-NONIID: each run's validation accuracy, look by look, until its "
                         "plateau stopped it (the curves the converged check reads), per batch size m.")]


def _smoothness(fig_ctx, plt) -> list:
    """BN-SMOOTH: the loss curves its trained check reads, with the matched levels, and β_sf at each level."""
    runs = fig_ctx.finished
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.4))
    levels = [f * math.log(10) for f in Settings.smooth_levels]
    for j, lr in enumerate(Settings.smooth_lrs):
        for norm, label, style in (("none", "no BN", "--"), ("bn", "BN", "-")):
            arm = smooth_arm(norm, lr)
            fig_ctx.band(axes[0], arm, "train_loss", f"{label}, lr {lr:g}", color=f"C{j}", ls=style)
            values = [runs[runs["arm"] == arm][f"metrics.beta_sf_L{i}"].mean() if f"metrics.beta_sf_L{i}" in runs
                      else float("nan") for i in range(len(levels))]
            axes[1].plot(levels, values, "o" + style, color=f"C{j}", label=f"{label}, lr {lr:g}")
    for level in levels:
        axes[0].axhline(level, color="k", lw=0.6, ls=":")
    axes[0].set_xlabel("step"), axes[0].set_ylabel("training loss"), axes[0].legend(fontsize=7)
    axes[1].invert_xaxis(), axes[1].set_yscale("log")
    axes[1].set_xlabel("training loss at the probe (matched levels)")
    axes[1].set_ylabel("scale-free β (β·‖w‖/‖∇L‖)")
    axes[1].legend(fontsize=7)
    return [fig_ctx.save(fig, "smoothness.png", "BN-SMOOTH on the VGG-style CNN: training loss (mean; band: min–max "
                         "over seeds; dotted: the matched levels), and the scale-free effective β-smoothness at each "
                         "level (mean over seeds; lower is smoother).")]


def _noise_and_depth(fig_ctx, plt, np) -> list:
    """The curves BN-NOISY's and BN-UNTRAINABLE's checks read, and their sweeps."""
    runs, histories = fig_ctx.finished, fig_ctx.histories
    out = []

    def mean_of(arm: str, key: str = "test_acc") -> float:
        return runs[runs["arm"] == arm][f"metrics.{key}"].mean() if f"metrics.{key}" in runs else float("nan")

    # 6. BN-NOISY: every CNN run's training loss and validation curve to its plateau (the curves its trained and
    # converged checks read), and accuracy against the noise scale
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.4))
    for i, (arm, label) in enumerate((("cnn", "standard"), ("cnn-bn", "BN"),
                                      (noisy_arm(Settings.noise_scale), "noisy BN (x1)"))):
        for ax, key in ((axes[0], "train_loss"), (axes[1], "epoch_val_acc")):
            for j, curve in enumerate(histories(arm, key)):
                ax.plot([s for s, _ in curve], [v for _, v in curve], color=f"C{i}", lw=0.8,
                        label=label if j == 0 else None)
    axes[0].set_yscale("log"), axes[0].set_xlabel("epoch"), axes[0].set_ylabel("training loss (epoch mean)")
    axes[0].legend(fontsize=7)
    axes[1].set_xlabel("epoch"), axes[1].set_ylabel("validation accuracy"), axes[1].legend(fontsize=7)
    scales = sorted((Settings.noise_scale, *Settings.noise_sweep))
    means = [mean_of(noisy_arm(sc)) for sc in scales]
    axes[2].plot(scales, means, "o-", label="noisy BN")
    for sc in scales:
        values = runs[runs["arm"] == noisy_arm(sc)]["metrics.test_acc"] if "metrics.test_acc" in runs else []
        axes[2].scatter([sc] * len(values), values, color="k", s=8, zorder=3)
    bn = mean_of("cnn-bn")
    if bn == bn:
        axes[2].axhline(bn, color="C1", lw=1, label="BN")
        axes[2].axhspan(bn - NOISY_MARGIN, bn + NOISY_MARGIN, color="C1", alpha=0.15, label=f"BN ±{NOISY_MARGIN:g}")
        axes[2].axhline(mean_of("cnn"), color="C0", lw=1, ls="--", label="standard")
    axes[2].set_xscale("log", base=2), axes[2].set_xlabel("noise scale"), axes[2].set_ylabel("test accuracy")
    axes[2].legend(fontsize=7)
    out.append(fig_ctx.save(fig, "noise_sweep.png", "Left: each CNN run's training loss, epoch by epoch (the curve "
                            "the trained check reads). Middle: its validation accuracy until its plateau stopped it "
                            "(the curve the converged check reads). Right: noisy BN's test accuracy against the noise "
                            "scale (points: seeds), with BN's and its equivalence margin."))

    # 7. BN-UNTRAINABLE / BN-SKIP-RELIEF: accuracy by learning rate, and the curves at the middle rate
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.4))
    for depth, label, color in (("deep", "deep", "C0"),
                                ("shallow", f"shallow ({Settings.shallow_depth} blocks)", "C1")):
        axes[0].plot(Settings.deep_lrs, [mean_of(depth_arm(depth, lr)) for lr in Settings.deep_lrs], "o-", label=label,
                     color=color)
    axes[0].scatter([Settings.deep_lr], [mean_of("deep-bn-residual")], marker="s", color="C2", label="deep + skips")
    axes[0].axhline(0.1, color="k", lw=0.8, ls=":")
    axes[0].set_xscale("log"), axes[0].set_xlabel("learning rate"), axes[0].set_ylabel("final test accuracy")
    axes[0].legend(fontsize=7)
    for arm, label, color in ((depth_arm("deep", Settings.deep_lr), "deep", "C0"),
                              (depth_arm("shallow", Settings.deep_lr), "shallow", "C1"),
                              ("deep-bn-residual", "deep + skips", "C2")):
        fig_ctx.band(axes[1], arm, "test_acc", label, color=color)
    axes[1].set_xlabel("step"), axes[1].set_ylabel("test accuracy"), axes[1].legend(fontsize=7)
    axes[1].set_title(f"lr {Settings.deep_lr:g}", fontsize=9)
    out.append(fig_ctx.save(fig, "untrainable.png", "BN-ReLU networks of width 128 after the same SGD steps: final "
                            "test accuracy against the learning rate (mean over seeds; dotted: chance), and the "
                            "accuracy curves at the middle rate (mean; band: min–max over seeds)."))
    return out
