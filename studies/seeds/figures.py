"""The seeds study's figures, drawn from the tracking store alone. What they
need from the declaration (arm groups, claims' tests) comes as keyword
arguments, bound in ``studies/seeds/__init__.py``."""
from __future__ import annotations

import dataclasses

from harness.claims import finished_rows
from harness.claimtests import Importance, VarianceRatios
from studies.seeds.notes import batch_grid, split_pvalues


def figures(fig_ctx, *, sens_arms: tuple[str, ...], few_arms: tuple[str, ...], few: int, sources: VarianceRatios,
            tunability: Importance, small_batches: int) -> list:
    """SEED-SENS's seed distributions (``sens_arms``), SEED-SOURCES' variance shares (``sources``: its test),
    SEED-FEW's split p-values (``few``-vs-``few`` splits of ``few_arms``), HP-TUNABILITY's importances
    (``tunability``: its test) and HP-BATCH's error against batch size (``small_batches``: the claim's range)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from scipy import stats as sps

    from harness import importance

    runs, out = fig_ctx.finished, []
    # seed distributions
    fig, axes = plt.subplots(1, len(sens_arms), figsize=(9, 3.2))
    for ax, arm in zip(np.atleast_1d(axes), sens_arms):
        rows, column = finished_rows(runs, arm, "test_accuracy")
        v = rows[column].to_numpy(dtype=float)
        if len(v) > 1:
            ax.hist(v, bins=max(5, len(v) // 5), density=True, alpha=0.6)
            grid = np.linspace(v.min(), v.max(), 200)
            ax.plot(grid, sps.norm.pdf(grid, v.mean(), v.std(ddof=1)), "k--", lw=1, label="Gaussian fit")
            ax.axvline(v.mean(), color="k", lw=1)
            ax.legend(fontsize=7)
        ax.set_title(f"{arm} ({len(v)} seeds)")
        ax.set_xlabel("test accuracy")
    out.append(fig_ctx.save(fig, "seed_distributions.png", "SEED-SENS: test accuracy over seeds, with a Gaussian fit."))
    # variance shares
    shares = sources.shares(runs)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    names = list(shares)
    values = np.array([shares[s][0] for s in names])
    low = np.array([shares[s][0] / sps.f.ppf(0.975, shares[s][1], shares[s][2]) for s in names])
    high = np.array([shares[s][0] / sps.f.ppf(0.025, shares[s][1], shares[s][2]) for s in names])
    ax.bar(names, values, yerr=np.array([values - low, high - values]), capsize=4)
    ax.axhline(sources.floor, color="r", ls=":", label=f"floor {sources.floor:g}")
    ax.axhline(1.0, color="k", lw=0.8, label="all sources")
    ax.set_ylabel("variance share (F 95% CI)")
    ax.legend(fontsize=7)
    out.append(fig_ctx.save(fig, "variance_shares.png", "SEED-SOURCES: each source's variance over the "
                                                        "all-sources variance."))
    # split tests
    pvalues, _ = split_pvalues(runs, few_arms, few)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    if pvalues:
        ax.hist(pvalues, bins=20, range=(0, 1))
    ax.axvline(0.05, color="r", ls=":")
    ax.set_xlabel(f"p-value of a {few}-vs-{few} Welch t-test (identical configurations)")
    ax.set_ylabel("splits")
    out.append(fig_ctx.save(fig, "split_pvalues.png", f"SEED-FEW: p-values of disjoint {few}-vs-{few} splits; "
                                                      "calibrated tests give a flat histogram, 5% of it left of the "
                                                      "red line."))
    # importances
    tuning = fig_ctx.tuning_runs if fig_ctx.tuning_runs is not None else runs.iloc[0:0]
    fig, ax = plt.subplots(figsize=(7, 3.4))
    width = 0.4
    for i, evaluator in enumerate(importance.EVALUATORS):
        vectors = dataclasses.replace(tunability, evaluator=evaluator).vectors(tuning)
        summary = importance.bootstrap_mean(list(vectors.values()))
        if not summary:
            continue
        names = list(summary)
        x = np.arange(len(names)) + (i - 0.5) * width
        means = np.array([summary[n][0] for n in names])
        errs = np.array([[summary[n][0] - summary[n][1], summary[n][2] - summary[n][0]] for n in names]).T
        ax.bar(x, means, width, yerr=errs, capsize=3, label=f"{evaluator} ({len(vectors)} searches)")
        ax.set_xticks(np.arange(len(names)), names, fontsize=8)
    ax.set_ylabel("importance (bootstrap 95% CI)")
    ax.legend(fontsize=7)
    out.append(fig_ctx.save(fig, "importance.png", "HP-TUNABILITY: hyperparameter importance of validation accuracy, "
                                                   "mean over repeated searches."))
    # error vs batch size
    grid = batch_grid(runs)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    if not grid.empty:
        mean = grid.groupby(["base_lr", "m"])["test_error"].mean().reset_index()
        for base_lr, rows in mean.groupby("base_lr"):
            ax.plot(rows["m"], rows["test_error"], "o-", lw=0.8, ms=3, alpha=0.6, label=f"η̃ = {base_lr:.2g}")
        best = grid.dropna(subset=["test_error"]).groupby(["replicate", "m"])["test_error"].min().reset_index()
        band = best.groupby("m")["test_error"].agg(["mean", "min", "max"])
        ax.plot(band.index, band["mean"], "k-", lw=2, label="best over η̃")
        ax.fill_between(band.index, band["min"], band["max"], color="k", alpha=0.15)
        ax.axvspan(2, small_batches, color="g", alpha=0.07)
        ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size m")
    ax.set_ylabel("test error (missing: diverged)")
    ax.legend(fontsize=6, ncol=2)
    out.append(fig_ctx.save(fig, "batch_size.png", "HP-BATCH: test error against batch size for each per-example "
                                                   "learning rate η̃ (SGD step m·η̃), and the best over η̃ (band: "
                                                   "min–max over seeds). Green: m = 2–32."))
    return out
