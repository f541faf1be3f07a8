"""The seeds study's report notes (the numbers behind each verdict, in words),
the report-only table of seed noise beside the other studies' effects, and the
two analyses that claims and figures share: SEED-FEW's disjoint splits of
identical runs and HP-BATCH's grid. All from the tracking store. What a note
needs from the declaration (arm groups, a claim's test) it gets as keyword
arguments, bound in ``studies/seeds/__init__.py``."""
from __future__ import annotations

import dataclasses
import math

from harness.claimtests import Better, Importance, Similar, VarianceRatios
from harness.claims import CLAIMED, finished_rows

ACCURACY_METRICS = {"test_acc", "test_accuracy", "test_error", "val_acc", "val_accuracy", "val_error"}  # one scale


# -- what SEED-FEW counts: Henderson's split of identical runs into disjoint 5-vs-5 groups ----------------
def _disjoint_splits(values, rng, size: int):
    """Disjoint (A, B) groups of ``size`` from a random permutation: independent tests."""
    order = rng.permutation(len(values))
    return [(values[order[i:i + size]], values[order[i + size:i + 2 * size]])
            for i in range(0, len(values) - 2 * size + 1, 2 * size)]


def split_pvalues(runs, arms: tuple[str, ...], size: int) -> tuple[list[float], tuple[str, ...]]:
    """Welch's t-test p of every disjoint ``size``-vs-``size`` split of each arm's identical runs."""
    import numpy as np
    from scipy import stats as sps

    rng = np.random.default_rng(2018)  # Henderson et al.'s year: any fixed seed, so the report is reproducible
    pvalues, ids = [], []
    for arm in arms:
        rows, column = finished_rows(runs, arm, "test_accuracy")
        ids += list(rows["run_id"])
        for a, b in _disjoint_splits(rows[column].to_numpy(dtype=float), rng, size):
            p = float(sps.ttest_ind(a, b, equal_var=False).pvalue)
            if math.isfinite(p):
                pvalues.append(p)
    return pvalues, tuple(ids)


def split_outcomes(runs, arms: tuple[str, ...], size: int) -> tuple[list[bool], tuple[str, ...]]:
    pvalues, ids = split_pvalues(runs, arms, size)
    return [p < 0.05 for p in pvalues], ids


# -- HP-BATCH's grid ----------------------------------------------------------------------------------
def batch_grid(runs):
    """One row per finished grid run: m, η̃, replicate, test_error (NaN if diverged)."""
    import pandas as pd

    rows = runs[runs["arm"].str.startswith("batch-") & (runs["status"] == "FINISHED")]
    if rows.empty:
        return pd.DataFrame(columns=["m", "base_lr", "replicate", "test_error", "run_id"])
    error = rows["metrics.test_error"] if "metrics.test_error" in rows else pd.Series(math.nan, index=rows.index)
    return pd.DataFrame({"m": rows["params.config.batch_size"].astype(int),
                         "base_lr": rows["params.config.base_lr"].astype(float),
                         "replicate": rows["replicate"].astype(int), "test_error": error.astype(float),
                         "run_id": rows["run_id"]})


def grid_for_test(runs):
    """``batch_grid`` in the columns ``BestOverGrid`` reads: factor (m), replicate, value, run_id."""
    grid = batch_grid(runs)
    return grid.rename(columns={"m": "factor", "test_error": "value"})[["factor", "replicate", "value", "run_id"]]


# -- notes --------------------------------------------------------------------------------------------
def spread_note(runs, *, arms: tuple[str, ...]) -> list[str]:
    from scipy import stats as sps

    from harness.stats import expected_max_z

    lines = []
    for arm in arms:
        rows, column = finished_rows(runs, arm, "test_accuracy")
        v = rows[column].to_numpy(dtype=float)
        if len(v) < 3:
            continue
        mean, sd = v.mean(), v.std(ddof=1)
        z_max, z_min = (v.max() - mean) / sd, (mean - v.min()) / sd
        skew = float(sps.skew(v))
        tail = "" if abs(skew) < 0.5 else (f" The distribution has a long tail of {'bad' if skew < 0 else 'good'} "
                                           "seeds, so the chi-square CI (which assumes normal data) is approximate.")
        lines.append(f"`{arm}`: {len(v)} seeds, test accuracy mean {mean:.4f}, SD {sd:.4f}, min {v.min():.4f}, "
                     f"max {v.max():.4f} (range {100 * (v.max() - v.min()):.2f} points), skewness {skew:.2f}. The "
                     f"best seed sits {z_max:.2f} SD above the mean and the worst {z_min:.2f} SD below; a Gaussian "
                     f"sample of {len(v)} is expected to reach {expected_max_z(len(v)):.2f} SD.{tail}")
    return lines


def sources_note(runs, *, test: VarianceRatios) -> list[str]:
    import numpy as np

    base, column = finished_rows(runs, test.all_arm, test.metric)
    lines = [f"All four sources varied (`{test.all_arm}`): SD {base[column].std(ddof=1):.4f} over {len(base)} seeds."
             if len(base) > 1 else "No all-sources runs."]
    rng = np.random.default_rng(0)
    everything = base[column].to_numpy(dtype=float)
    for source, (share, d1, _) in test.shares(runs).items():
        rows, _ = finished_rows(runs, test.sources[source], test.metric)
        v = rows[column].to_numpy(dtype=float)
        boot = "n/a"
        if len(v) > 2 and len(everything) > 2:
            draws = [v[rng.integers(0, len(v), len(v))].var(ddof=1) /
                     everything[rng.integers(0, len(everything), len(everything))].var(ddof=1) for _ in range(2000)]
            boot = f"[{np.percentile(draws, 2.5):.2f}, {np.percentile(draws, 97.5):.2f}]"
        lines.append(f"only {source} varies: SD {np.std(v, ddof=1) if len(v) > 1 else math.nan:.4f}, variance ratio "
                     f"{share:.2f} (bootstrap CI {boot}), {d1 + 1} seeds.")
    return lines


def few_note(runs, *, arms: tuple[str, ...], size: int) -> list[str]:
    import numpy as np
    from scipy import stats as sps

    lines = []
    rng = np.random.default_rng(5)
    for arm in arms:
        rows, column = finished_rows(runs, arm, "test_accuracy")
        v = np.sort(rows[column].to_numpy(dtype=float))
        if len(v) < 2 * size:
            continue
        overlapping = []
        for _ in range(1000):
            order = rng.permutation(len(v))
            overlapping.append(sps.ttest_ind(v[order[:size]], v[order[size:2 * size]], equal_var=False).pvalue < 0.05)
        top_bottom = sps.ttest_ind(v[-size:], v[:size], equal_var=False)
        lines.append(f"`{arm}`: of 1000 random (overlapping) {size}-vs-{size} splits, {100 * np.mean(overlapping):.1f}% "
                     f"give p < 0.05; the top {size} against the bottom {size} of the same {len(v)} seeds differ by "
                     f"{100 * (v[-size:].mean() - v[:size].mean()):.2f} points of accuracy, p = {top_bottom.pvalue:.2g} "
                     "-- the selection artefact of reporting one's best seeds.")
    return lines


def importance_note(runs, *, test: Importance) -> list[str]:
    from harness import importance

    lines = []
    for evaluator in importance.EVALUATORS:
        vectors = dataclasses.replace(test, evaluator=evaluator).vectors(runs)
        summary = importance.bootstrap_mean(list(vectors.values()))
        ranked = sorted(summary.items(), key=lambda kv: -kv[1][0])
        text = ", ".join(f"{name} {m:.2f} [{lo:.2f}, {hi:.2f}]" for name, (m, lo, hi) in ranked)
        lines.append(f"{evaluator} over {len(vectors)} searches (mean [95% bootstrap CI over searches]): {text or 'n/a'}.")
    best = runs[runs["status"] == "FINISHED"]
    if "metrics.val_accuracy" in best and len(best):
        top = best.loc[best["metrics.val_accuracy"].idxmax()]
        lines.append(f"Best validation accuracy found: {top['metrics.val_accuracy']:.4f} (`{top['arm']}`).")
    return lines


def batch_note(runs) -> list[str]:
    grid = batch_grid(runs)
    if grid.empty:
        return []
    lines = []
    for m, rows in grid.groupby("m"):
        stable = sorted(rows.dropna(subset=["test_error"])["base_lr"].unique())
        best = rows.groupby("base_lr")["test_error"].mean().dropna()
        where = f"best η̃ {best.idxmin():.2g} → mean test error {best.min():.4f}" if len(best) else "every η̃ diverged"
        if len(best) and best.idxmin() in (grid["base_lr"].min(), grid["base_lr"].max()):
            where += " (**at the edge of the grid**: the best learning rate may lie outside it)"
        lines.append(f"m = {m}: {where}; stable η̃ ({len(stable)} of {rows['base_lr'].nunique()}): "
                     f"{', '.join(f'{x:.2g}' for x in stable) or 'none'}.")
    return lines


# -- report-only section ------------------------------------------------------------------------------
def effects_table(fig_ctx, *, study: str, sens_arms: tuple[str, ...]) -> list[str]:
    """The other studies' claimed effects beside seed noise, read from the
    tracking store: each claim's effect against the seed-to-seed SD of its own
    metric within its own arms, and against SEED-SENS's accuracy SD (``study``:
    this study's name, left out of the table)."""
    from harness.discovery import load_studies
    from harness.tracking import latest_per_trial

    sens = fig_ctx.finished[fig_ctx.finished["arm"].isin(sens_arms)]
    sens_sd = {arm: float(rows["metrics.test_accuracy"].std(ddof=1)) for arm, rows in sens.groupby("arm")} \
        if "metrics.test_accuracy" in sens else {}
    lines = ["## Seed noise beside the other studies' effects", "",
             f"Read from the tracking store at budget `{fig_ctx.budget}`. *Seed SD* is the seed-to-seed SD of the "
             "claim's metric within its own arms (pooled); a claimed difference whose |effect| is below it is "
             "smaller than seed noise for a single run, and *seeds needed* (80% power, paired; from the claim's own "
             "test where it has one) says how many seeds detect it. Claims tested against a fixed level (a bound, "
             "a limit) have no difference to compare. For accuracy/error metrics the last column compares the "
             "difference with this study's SEED-SENS spread "
             + ", ".join(f"(`{a}` SD {v:.4f})" for a, v in sens_sd.items()) + ".", "",
             "| study | claim | metric | effect | seed SD | abs(effect) / seed SD | seeds needed | vs SEED-SENS SD |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    reference = max(sens_sd.values()) if sens_sd else math.nan
    count = 0
    registry = load_studies()
    for other in (registry.get(name) for name in registry.names()):
        if other.name == study:
            continue
        runs = fig_ctx.tracker.runs(other.name, fig_ctx.budget)
        if runs.empty:
            continue
        runs = latest_per_trial(runs)
        replicates = runs[runs["phase"] == "replicate"]
        for claim in other.claims:
            test = claim.test
            arms = sorted(test.arms())
            column = f"metrics.{getattr(test, 'metric', '')}"
            if not arms or column not in replicates or test.phase != "replicate":
                continue
            evidence = test.evaluate(replicates)
            rows = replicates[replicates["arm"].isin(arms) & (replicates["status"] == "FINISHED")]
            groups = [g[column].dropna().to_numpy(dtype=float) for _, g in rows.groupby("arm")]
            groups = [g for g in groups if len(g) > 1]
            if not groups or not math.isfinite(evidence.effect):
                continue
            pooled = math.sqrt(sum((len(g) - 1) * g.var(ddof=1) for g in groups) / sum(len(g) - 1 for g in groups))
            metric = test.metric
            difference = isinstance(test, (Better, Similar))  # other tests' effects are levels, not differences
            ratio, versus = "– (a level, not a difference)", "–"
            if difference:
                value = abs(evidence.effect) / pooled if pooled > 0 else math.inf
                ratio = f"{value:.2g}" + (" (**below seed noise**)" if value < 1 else "")
                if metric in ACCURACY_METRICS and math.isfinite(reference) and reference > 0:
                    versus = f"{abs(evidence.effect) / reference:.2g}x"
            needed = evidence.settle(0.025, CLAIMED) if evidence.settle and difference else None
            needed = needed if needed is not None else "–"
            lines.append(f"| {other.name} | {claim.id} | {metric} | {evidence.effect:.4g} | {pooled:.4g} | "
                         f"{ratio} | {needed} | {versus} |")
            count += 1
    if not count:
        lines.append("| – | no other study has runs at this budget in this tracking store | | | | | | |")
    return lines + [""]
