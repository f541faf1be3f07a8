"""The seeds study's figures, drawn from the tracking store alone. What they
need from the declaration (arm groups, claims' tests) comes as keyword
arguments, bound in ``studies/seeds/__init__.py``."""
from __future__ import annotations


from harness.claims import finished_rows
from harness.claimtests import Importance, VarianceShares
from studies.seeds.grid import batch_grid, picked_by_validation
from studies.seeds.notes import few_draws


def figures(fig_ctx, *, sens_arms: tuple[str, ...], few_pair: tuple[str, str], few: int, sources: VarianceShares,
            tunability: Importance) -> list:
    """SEED-SENS's seed distributions (``sens_arms``), SEED-SOURCES' variance shares (``sources``: its test),
    SEED-FEW's ``few``-seed differences of ``few_pair``, HP-TUNABILITY's importances with the noise control
    (``tunability``: its test) and HP-BATCH's error against batch size."""
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
    per_block, _ = sources.shares(runs)
    fig, ax = plt.subplots(figsize=(6, 3.4))
    parts = [*(f"{s} main" for s in sources.factors), "interactions", *(f"{s} total" for s in sources.factors)]
    if per_block:
        table = np.array([[b[p] for p in parts] for b in per_block.values()])
        colours = ["C0"] * len(sources.factors) + ["C1"] + ["C2"] * len(sources.factors)
        ax.bar(range(len(parts)), table.mean(0), color=colours, alpha=0.6)
        for j in range(len(parts)):
            ax.scatter(np.full(len(table), j), table[:, j], color="k", s=8, zorder=3)
        ax.set_xticks(range(len(parts)), [p.replace(" ", "\n") for p in parts], fontsize=7)
    ax.axhline(sources.floor, color="r", ls=":", label=f"floor {sources.floor:g} (total shares)")
    ax.axhline(0, color="k", lw=0.6)
    ax.set_ylabel("share of the variance")
    ax.legend(fontsize=7)
    out.append(fig_ctx.save(fig, "variance_shares.png", "SEED-SOURCES: the decomposition that sums to one (blue: "
                                                        "main effects, orange: all interactions) and each source's "
                                                        "total-effect share (green: main effect plus its "
                                                        "interactions; the test reads these). Bars: mean; dots: one "
                                                        "factorial block each."))
    # few-seed differences
    true, small, _ = few_draws(runs, few_pair, few)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    if len(small):
        ax.hist(100 * small, bins=max(5, len(small) // 2))
        ax.axvline(100 * true, color="k", label="all seeds")
        ax.axvspan(50 * true, 150 * true, color="g", alpha=0.1, label="within half of it")
        ax.axvline(0, color="r", ls=":")
        ax.legend(fontsize=7)
    ax.set_xlabel(f"{few}-seed difference of mean test accuracy (points)")
    ax.set_ylabel("disjoint draws")
    out.append(fig_ctx.save(fig, "few_seed_differences.png", f"SEED-FEW: `{few_pair[0]}` − `{few_pair[1]}` from "
                                                             f"disjoint {few}-vs-{few} draws, against the all-seeds "
                                                             "difference; left of the red line: ranked the wrong way."))
    # importances
    tuning = fig_ctx.tuning_runs if fig_ctx.tuning_runs is not None else runs.iloc[0:0]
    fig, ax = plt.subplots(figsize=(7, 3.4))
    width = 0.4
    for i, evaluator in enumerate(importance.EVALUATORS):
        vectors = tunability.with_evaluator(evaluator).vectors(tuning)
        summary = importance.bootstrap_mean(list(vectors.values()))
        if not summary:
            continue
        names = list(summary)
        x = np.arange(len(names)) + (i - 0.5) * width
        means = np.array([summary[n][0] for n in names])
        errs = np.array([[summary[n][0] - summary[n][1], summary[n][2] - summary[n][0]] for n in names]).T
        ax.bar(x, means, width, yerr=errs, capsize=3, label=f"{evaluator} ({len(vectors)} searches)")
        ax.set_xticks(np.arange(len(names)), names, fontsize=8)
        if evaluator == tunability.evaluator:  # the noise control: what the evaluator finds when nothing matters
            # each hyperparameter's mean over searches and over the control's permutations, as the check reads it
            control = {n: float(np.mean(v)) for n, v in tunability.shuffled_importances(tuning).items()}
            ax.scatter(x, [control[n] for n in names], marker="_", s=200, color="r", zorder=3,
                       label=f"{evaluator}, objective shuffled (mean of {tunability.control_permutations})")
    ax.set_ylabel("importance (bootstrap 95% CI)")
    ax.legend(fontsize=7)
    out.append(fig_ctx.save(fig, "importance.png", "HP-TUNABILITY: hyperparameter importance of validation accuracy, "
                                                   "mean over repeated searches (fANOVA: the share of the total "
                                                   "variance each main effect explains; PED-ANOVA: normalised to "
                                                   "sum 1)."))
    # error vs batch size
    grid = batch_grid(runs)
    picks = picked_by_validation(runs)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    if not grid.empty:
        mean = grid.groupby(["base_lr", "m"])["test_error"].mean().reset_index()
        for base_lr, rows in mean.groupby("base_lr"):
            ax.plot(rows["m"], rows["test_error"], "o-", lw=0.8, ms=3, alpha=0.6, label=f"η̃ = {base_lr:.2g}")
        if len(picks):
            band = picks.groupby("level")["value"].agg(["mean", "min", "max"])
            ax.plot(band.index, band["mean"], "k-", lw=2, label="η̃ picked on validation")
            ax.fill_between(band.index, band["min"], band["max"], color="k", alpha=0.15)
        ax.axvspan(2, 32, color="g", alpha=0.07)
        ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size m")
    ax.set_ylabel("test error (missing: diverged)")
    ax.legend(fontsize=6, ncol=2)
    out.append(fig_ctx.save(fig, "batch_size.png", "HP-BATCH: test error against batch size for each per-example "
                                                   "learning rate η̃ (SGD step m·η̃), and at the η̃ the validation "
                                                   "split picked per seed (band: min–max over seeds). Green: "
                                                   "m = 2–32."))
    return out
