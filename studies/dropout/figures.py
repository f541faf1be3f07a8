"""The dropout study's figures, drawn from the tracking store alone."""
from __future__ import annotations

from studies.dropout import searches
from studies.dropout.settings import Settings


def figures(fig_ctx) -> list:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    runs = fig_ctx.finished
    out = []
    band = fig_ctx.band

    # 1. train/test error curves per arm
    sizes = sorted({int(a.split("-")[1]) for a in set(runs["arm"]) if a.startswith("none-") and a[5:].isdigit()})
    panels = ([(f"none-{n}", f"dropout-{n}", f"{n} training images") for n in sizes]
              + [("none", "dropout", "large subset")])
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.3), squeeze=False)
    for ax, (plain, dropped, title) in zip(axes[0], panels):
        for arm, label, color in ((plain, "no dropout", "C0"), (dropped, "dropout", "C1")):
            band(ax, arm, "epoch_train_error", f"{label}, train", color=color, ls="--")
            band(ax, arm, "epoch_test_error", f"{label}, test", color=color)
            for history in fig_ctx.histories(arm, "epoch_test_error"):  # the band stops at the shortest run
                ax.plot(*zip(*history), color=color, lw=0.5, alpha=0.35)
        ax.set_title(title, fontsize=9), ax.set_xlabel("epoch"), ax.set_ylabel("error"), ax.legend(fontsize=7)
    out.append(fig_ctx.save(fig, "error_curves.png", "Train (dashed) and test error per epoch with and without "
                            "dropout (retain 0.8 input, 0.5 hidden): mean and min–max band over seeds up to the "
                            "shortest run's last epoch; thin lines: each run's test error to the end of its run (its "
                            "validation plateau; runs end at different epochs, best epochs in DO-OVERFIT's notes)."))

    # 2. MC averaging against weight scaling
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    band(ax, "dropout", "mc_error", "Monte-Carlo average of k nets", marker="o")
    scaling = runs[runs["arm"] == "dropout"]["metrics.scaling_error"]
    if len(scaling):
        ax.axhline(scaling.mean(), color="k", ls="--", label="weight scaling")
    ax.set_xscale("log"), ax.set_xlabel("k sampled networks"), ax.set_ylabel("test error"), ax.legend(fontsize=8)
    out.append(fig_ctx.save(fig, "mc_vs_scaling.png", "Test error of Monte-Carlo model averaging over k sampled "
                            "dropout networks against the weight-scaling approximation (Srivastava et al. Fig. 11)."))

    # 3. DO-RATE's searches: every trial's rates and validation error, each search's pick (from the tuning runs)
    tune = fig_ctx.tuning_runs
    tune = tune[tune["status"] == "FINISHED"] if tune is not None and not tune.empty else None
    if tune is not None and "params.hp.p_input" in tune:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
        points = axes[0].scatter(tune["params.hp.p_hidden"].astype(float), tune["params.hp.p_input"].astype(float),
                                 c=tune["metrics.val_error"].astype(float), cmap="viridis_r", s=30)
        picks = searches.tuned_rates(tune)
        axes[0].scatter(picks["p_hidden"], picks["p_input"], marker="*", s=160, facecolor="none", edgecolor="k",
                        label="each search's best")
        axes[0].scatter([Settings.p_hidden], [Settings.p_input], marker="x", color="r", s=60,
                        label=f"customary ({Settings.p_hidden}, {Settings.p_input})")
        axes[0].plot(searches.RANGE, searches.RANGE, color="0.5", lw=0.8, ls=":", label="input = hidden")
        fig.colorbar(points, ax=axes[0], label="validation error")
        axes[0].set_xlabel("hidden retain p"), axes[0].set_ylabel("input retain p"), axes[0].legend(fontsize=7)
        for arm, group in tune.groupby("arm"):
            order = group.sort_values("replicate")["metrics.val_error"].astype(float).to_numpy()
            axes[1].plot(range(1, len(order) + 1), np.minimum.accumulate(order), "o-", ms=3, label=arm)
        axes[1].set_xlabel("trial"), axes[1].set_ylabel("best validation error so far"), axes[1].legend(fontsize=7)
        out.append(fig_ctx.save(fig, "retain_rates.png", "DO-RATE's random searches over (input, hidden) retain "
                                "probabilities, every trial trained to its validation plateau: each trial (left, by "
                                "validation error) with each search's pick, and each search's best so far (right)."))

    # 4. conv vs fc dropout, DropConnect, max-norm
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    groups = ["cnn", "cnn-conv-dropout", "cnn-fc-dropout", "none", "dropout", "dropconnect"]
    present = [g for g in groups if (runs["arm"] == g).any()]
    for i, arm in enumerate(present):
        values = runs[runs["arm"] == arm]["metrics.test_error"]
        axes[0].bar(i, values.mean())
        axes[0].scatter([i] * len(values), values, color="k", s=8, zorder=3)
    axes[0].set_xticks(range(len(present)), present, rotation=30, fontsize=7), axes[0].set_ylabel("test error")
    maxnorm = sorted((float(runs[runs["arm"] == a]["params.config.max_norm"].iloc[0]), a)
                     for a in set(runs["arm"]) if a.startswith("maxnorm-c"))
    if maxnorm:
        axes[1].plot([c for c, _ in maxnorm], [runs[runs["arm"] == a]["metrics.test_error"].mean() for _, a in maxnorm],
                     "o-", label="dropout + max-norm c")
        base = runs[runs["arm"] == "dropout"]["metrics.test_error"]
        if len(base):
            axes[1].axhline(base.mean(), color="k", ls="--", label="dropout alone")
    axes[1].set_xlabel("max-norm bound c"), axes[1].set_ylabel("test error"), axes[1].legend(fontsize=7)
    out.append(fig_ctx.save(fig, "variants.png", "Left: test error by arm (CNN with dropout on conv layers or on the "
                            "fully connected head; MLP without dropout, with dropout, with DropConnect). Right: "
                            "dropout with a max-norm constraint, by bound c."))
    return out
