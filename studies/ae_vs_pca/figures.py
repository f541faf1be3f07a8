"""The ae-vs-pca study's figures, drawn from the tracking store alone."""
from __future__ import annotations

from studies.ae_vs_pca.settings import Settings
from studies.ae_vs_pca.trials import DIGITS, PIXELS


def figures(fig_ctx) -> list:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    import numpy as np

    runs = fig_ctx.finished
    out = []

    def arm_values(arm: str, metric: str):
        rows = runs[runs["arm"] == arm]
        column = f"metrics.{metric}"
        return rows[column].dropna().to_numpy() if column in rows else np.array([])

    # 1. Reconstructions of the same test images.
    pictures = {}
    for arm in ("pca-30", "deep-ae-30"):
        rows = runs[(runs["arm"] == arm) & (runs["replicate"] == 0)]
        if not rows.empty:
            try:
                pictures[arm] = np.load(fig_ctx.artifact(rows.iloc[0]["run_id"], "reconstructions.npz"))
            except Exception:  # an artifact missing from an old run: draw what we have
                pass
    if len(pictures) == 2:
        original = pictures["pca-30"]["original"]
        rows_ = [("original", original), ("PCA-30", pictures["pca-30"]["reconstruction"]),
                 ("deep AE-30", pictures["deep-ae-30"]["reconstruction"])]
        fig, axes = plt.subplots(3, len(original), figsize=(len(original) * 0.9, 3))
        for r, (label, images) in enumerate(rows_):
            for c, image in enumerate(images):
                axes[r, c].imshow(image.reshape(28, 28), cmap="gray", vmin=0, vmax=1)
                axes[r, c].set_xticks([]), axes[r, c].set_yticks([])
            axes[r, 0].set_ylabel(label, fontsize=8)
        out.append(fig_ctx.save(fig, "reconstructions.png",
                                "The first ten Fashion-MNIST test images, and their reconstructions by PCA-30 and "
                                "by the deep autoencoder with a 30-d code (replicate 0)."))

    # 2. Error against code size.
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    pca_curve = [(k, arm_values("pca-30", f"test_sse_k{k}")) for k in Settings.pca_k_grid]
    pca_curve = [(k, v.mean()) for k, v in pca_curve if len(v)]
    if pca_curve:
        ax.plot(*zip(*pca_curve), "o-", label="PCA")
    ae_points = []
    for arm in sorted(set(runs["arm"])):
        if arm.startswith("deep-ae-") and arm[8:].isdigit():
            values = arm_values(arm, "test_sse")
            if len(values):
                ae_points.append((int(arm[8:]), values.mean(), values.std(ddof=1) if len(values) > 1 else 0.0))
    if ae_points:
        ae_points.sort()
        ks, means, sds = zip(*ae_points)
        ax.errorbar(ks, means, yerr=sds, fmt="s-", capsize=3, label="deep AE (784-512-256-128-k)")
    ax.set_xscale("log")
    ax.set_xlabel("code size k")
    ax.set_ylabel("squared error per test image")
    ax.legend()
    out.append(fig_ctx.save(fig, "error_vs_code_size.png",
                            "Reconstruction error on the Fashion-MNIST test set against code size: PCA fitted on "
                            "the same training images, and the deep AE (mean ± SD over replicates)."))

    # 3. Depth at matched parameter counts.
    groups = [("48k", ["linear-ae-30"]), ("~454k", ["shallow-ae-small", "deep-ae-small"]),
              ("~1.14M", ["shallow-ae-1m", "deep-ae-30"])]
    fig, ax = plt.subplots(figsize=(6, 3.4))
    position = 0
    ticks = []
    for size, group in groups:
        for arm in group:
            values = arm_values(arm, "test_sse")
            if len(values):
                ax.bar(position, values.mean(), yerr=values.std(ddof=1) if len(values) > 1 else 0, capsize=3)
                ax.scatter(np.full(len(values), position), values, color="k", s=6, zorder=3)
            ticks.append((position, f"{arm}\n({size})"))
            position += 1
        position += 0.5
    pca = arm_values("pca-30", "test_sse")
    if len(pca):
        ax.axhline(pca.mean(), color="grey", linestyle="--", linewidth=1, label="PCA-30")
        ax.legend(fontsize=7)
    ax.set_xticks([t for t, _ in ticks], [label for _, label in ticks], fontsize=7)
    ax.set_ylabel("squared error per test image")
    out.append(fig_ctx.save(fig, "depth.png", "Linear, shallow and deep autoencoders with a 30-d code at matched "
                            "parameter counts, each at its validation plateau (bars: mean ± SD; dots: replicates)."))

    # 4. The learning curves the checks read, every replicate of each AE arm: the training loss (`trained`) and
    # the validation error per epoch (`converged`, and the plateau that stops each run).
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    arms = ("linear-ae-30", "shallow-ae-small", "deep-ae-small", "shallow-ae-1m", "deep-ae-30")
    for ax, metric, label in ((axes[0], "train_loss", "training loss (the `trained` check)"),
                              (axes[1], "val_sse", "validation squared error per image (`converged`)")):
        for colour, arm in zip(plt.rcParams["axes.prop_cycle"].by_key()["color"], arms):
            rows = runs[runs["arm"] == arm].sort_values("replicate")
            for i, run_id in enumerate(rows["run_id"]):
                curve = fig_ctx.tracker.metric_history(run_id, metric)
                if curve:
                    ax.plot(*zip(*curve), color=colour, linewidth=0.8, alpha=0.7, label=arm if i == 0 else None)
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label, fontsize=8)
    if len(pca):
        axes[1].axhline(pca.mean(), color="grey", linestyle="--", linewidth=1, label="PCA-30 (test)")
    axes[1].legend(fontsize=7)
    out.append(fig_ctx.save(fig, "learning_curves.png",
                            "Each Fashion-MNIST autoencoder's training loss (left, what the `trained` check reads) "
                            "and validation error (right, what `converged` reads) per epoch, every replicate, to the "
                            "epoch where its plateau stopped it."))

    # 5. Linear AEs: principal directions recovered from the weights, against the eigengap.
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    panels = ((axes[0], Settings.subspace_arms, "without weight decay"),
              (axes[1], Settings.l2_arms, "with weight decay λ = λp/2"))
    for ax, arms_, title in panels:
        for arm, _, _ in arms_:
            rows = runs[(runs["arm"] == arm) & (runs["replicate"] == 0)]
            if rows.empty:
                continue
            run_id = rows.iloc[0]["run_id"]
            angles = dict(fig_ctx.tracker.metric_history(run_id, "weights_svd_angle_deg"))
            gaps = dict(fig_ctx.tracker.metric_history(run_id, "relative_eigengap"))
            steps = sorted(set(angles) & set(gaps))
            ax.scatter([gaps[s] for s in steps], [max(angles[s], 1e-3) for s in steps], s=12, label=arm)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # minor labels overlap on a short log range
        ax.set_xlabel("relative eigengap (λi − λi+1) / λi")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("angle to principal direction i (°)")
    out.append(fig_ctx.save(fig, "recovered_directions.png",
                            "Left singular vectors of the linear AE's decoder against the principal directions, angle "
                            "per direction against its relative eigengap (replicate 0): an arbitrary basis without "
                            "weight decay, the principal directions with it."))
    out.append(_subspace_convergence(fig_ctx, plt))
    return out


def _subspace_convergence(fig_ctx, plt):
    """The single-layer AEs of the AE-LIN and AE-SIGMOID claims: the curves their checks read, every replicate.
    Their training error above PCA's on the same data (PCA's is the least any p-d code with a linear decoder can
    reach), and the full-batch gradient norm relative to the first, whose last value `converged` holds to 1e-3."""
    import numpy as np

    runs = fig_ctx.finished
    arms = [(arm, dataset) for arm, dataset, _ in (*Settings.subspace_arms, *Settings.l2_arms)]
    arms.append(("sigmoid-digits-p10", DIGITS))
    colours = plt.get_cmap("tab20")(np.linspace(0, 1, 20))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for k, (arm, dataset) in enumerate(arms):
        pixels = 64 if dataset == DIGITS else PIXELS  # train_loss is the mean over pixels; PCA's, a sum per image
        rows = runs[runs["arm"] == arm].sort_values("replicate")
        for i, (_, row) in enumerate(rows.iterrows()):
            label = arm if i == 0 else None
            loss = fig_ctx.tracker.metric_history(row["run_id"], "train_loss")
            pca = row.get("metrics.pca_train_sse", float("nan"))
            if loss and pca == pca:
                steps, values = zip(*sorted(loss))
                gap = np.maximum(np.asarray(values) * pixels / pca - 1, 1e-10)
                axes[0].plot(steps, gap, color=colours[k], lw=0.8, alpha=0.8, label=label)
            gradient = fig_ctx.tracker.metric_history(row["run_id"], "grad_norm_ratio")
            if gradient:
                axes[1].plot(*zip(*sorted(gradient)), color=colours[k], lw=0.8, alpha=0.8, label=label)
    axes[1].axhline(1e-3, color="k", lw=0.8, ls="--", label="`converged` bound")
    axes[0].set_ylabel("training error / PCA's − 1"), axes[1].set_ylabel("‖∇‖ / ‖∇ at the start‖")
    for ax in axes:
        ax.set_yscale("log"), ax.set_xlabel("full-batch step (Adam) or sweep (alternating least squares)")
    axes[1].legend(fontsize=6, ncol=2)
    return fig_ctx.save(fig, "subspace_convergence.png",
                        "The single-layer autoencoders of AE-LIN-* and AE-SIGMOID-PCA, every replicate: training error "
                        "above PCA's on the same centred data (left; the linear AEs' optimum is PCA's, the "
                        "weight-decayed and sigmoid ones stay above it) and the gradient norm relative to its start "
                        "(right; the last value is what the `converged` check holds to 1e-3), by step.")
