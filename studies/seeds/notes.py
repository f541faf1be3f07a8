"""The seeds study's report notes (the numbers behind each verdict, in words)
and SEED-FEW's disjoint draws, which the claim, the notes and a figure share. All
from the tracking store. What a note needs from the declaration (arm groups, a
claim's test) it gets as keyword arguments, bound in
``studies/seeds/__init__.py``."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from harness.claimtests import Importance, VarianceShares
from harness.claims import finished_rows
from studies.seeds.grid import batch_grid, picked_by_validation
from studies.seeds.search_checks import AT_CHANCE

FEW_DRAW_SEED = 2018  # Henderson et al.'s year: any fixed seed, so the report is reproducible


# -- what SEED-FEW counts: disjoint few-seed draws from two configurations -----------------------------
def few_draws(runs, pair: tuple[str, str], size: int):
    """(all-seeds difference of mean test accuracy, the ``size``-seed
    differences of disjoint draws -- one group from each arm, each seed used
    once -- and the run ids)."""
    import numpy as np

    values, ids = [], []
    for arm in pair:
        rows, column = finished_rows(runs, arm, "test_accuracy")
        values.append(rows[column].to_numpy(dtype=float))
        ids += list(rows["run_id"])
    if min(len(v) for v in values) < size:
        return math.nan, np.array([]), tuple(ids)
    rng = np.random.default_rng(FEW_DRAW_SEED)
    a, b = (rng.permutation(v) for v in values)
    draws = min(len(a), len(b)) // size
    small = np.array([a[i * size:(i + 1) * size].mean() - b[i * size:(i + 1) * size].mean() for i in range(draws)])
    return float(values[0].mean() - values[1].mean()), small, tuple(ids)


def few_outcomes(runs, *, pair: tuple[str, str], size: int, off: float) -> tuple[list[bool], tuple[str, ...]]:
    """One event per disjoint draw: its difference misses the all-seeds one by
    more than ``off`` of it."""
    true, small, ids = few_draws(runs, pair, size)
    if not math.isfinite(true) or true == 0:
        return [], ids
    return [bool(abs(d - true) > off * abs(true)) for d in small], ids


# -- notes --------------------------------------------------------------------------------------------
def spread_note(runs, *, arms: tuple[str, ...], references: dict[str, float]) -> list[str]:
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
        reference = f" (published reference {references[arm]:.3f})" if arm in references else ""
        tail = "" if abs(skew) < 0.5 else (f" A long tail of {'bad' if skew < 0 else 'good'} seeds: the Bonett "
                                           "interval of the verdict allows for it (a chi-square interval would not).")
        lines.append(f"`{arm}`: {len(v)} seeds, test accuracy mean {mean:.4f}{reference}, SD {sd:.4f}, min "
                     f"{v.min():.4f}, max {v.max():.4f} (range {100 * (v.max() - v.min()):.2f} points), skewness "
                     f"{skew:.2f}. The best seed sits {z_max:.2f} SD above the mean and the worst {z_min:.2f} SD "
                     f"below; a Gaussian sample of {len(v)} is expected to reach {expected_max_z(len(v)):.2f} SD."
                     f"{tail}")
    return lines


def mean_test_accuracy(runs, prefix: str) -> tuple[float, str] | None:
    """The finished runs of the arms named ``prefix``*: their mean test accuracy, and the words for it."""
    column = "metrics.test_accuracy"
    if column not in runs.columns:
        return None
    rows = runs[runs["arm"].str.startswith(prefix) & (runs["status"] == "FINISHED") & runs[column].notna()]
    if rows.empty:
        return None
    v = rows[column].astype(float)
    words = f"mean test accuracy {v.mean():.3f} over {len(v)} runs (min {v.min():.3f}, max {v.max():.3f})"
    return float(v.mean()), words


def grid_at_validation_picks(runs, prefix: str) -> tuple[float, str] | None:
    """HP-BATCH's grid read at the learning rate the validation split picks per
    batch size and seed (``prefix`` names the grid's arms; the picks know them)."""
    picks = picked_by_validation(runs)
    if picks.empty:
        return None
    per_m = 1 - picks.groupby("level")["value"].mean()
    return float(per_m.max()), (f"mean test accuracy {per_m.min():.3f} to {per_m.max():.3f} over the {len(per_m)} "
                                "batch sizes; the best batch size")


@dataclass(frozen=True)
class Reference:
    """One of the study's model/data pairs beside the nearest published accuracy."""
    arms: str                # an arm's name, or the prefix of several
    what: str                # what the arms train
    accuracy: float          # the published accuracy
    named: str               # what the reference is
    read: Callable[..., tuple[float, str] | None] = mean_test_accuracy  # (runs, arms) -> (our accuracy, its words)


def references_note(runs, *, pairs: tuple[Reference, ...]) -> list[str]:
    """The study's other model/data pairs beside the nearest published accuracy
    (``pairs``; each reads its own runs). Descriptive: only SEED-SENS's arms are
    held to a reference (its `at-reference` check)."""
    lines = []
    for pair in pairs:
        found = pair.read(runs, pair.arms)
        if found is None:
            continue
        best, ours = found
        gap = 100 * (pair.accuracy - best)
        label = pair.arms if (runs["arm"] == pair.arms).any() else pair.arms + "*"
        lines.append(f"`{label}` ({pair.what}): {ours}, {abs(gap):.1f} points {'below' if gap > 0 else 'above'} "
                     f"{pair.named} ({pair.accuracy:.2f}).")
    if not lines:
        return []
    return ["The study's other model/data pairs beside the nearest published reference (Greydanus 2020's MNIST-1D "
            "table), descriptive: no check holds them to it, because their claims compare runs of one recipe with "
            "each other. The searches (HP-TUNABILITY, HP-MOMENTUM-BATCH) rank hyperparameters of models trained "
            "well short of their references; what matters there may differ near the references' accuracy.", *lines]


def sources_note(runs, *, test: VarianceShares) -> list[str]:
    import numpy as np
    from scipy import stats as sps

    per_block, incomplete = test.shares(runs)
    if not per_block:
        return ["No complete factorial block."]
    parts = [f"{s} main" for s in test.factors] + ["interactions"]
    lines = [f"{len(per_block)} complete factorial blocks" + (f" ({', '.join(incomplete)} incomplete)"
                                                                 if incomplete else "") +
             ". The decomposition that sums to one, per block (main effects of " + ", ".join(test.factors) +
             "; all interactions): " + "; ".join(f"`{block}` " + " / ".join(f"{shares[p]:.2f}" for p in parts)
                                                 for block, shares in per_block.items()) + "."]
    mains = np.array([[b[f"{s} main"] for s in test.factors] for b in per_block.values()]).sum(1)
    lines.append(f"The four main effects together carry {mains.mean():.2f} of the variance on average (per block "
                 f"{', '.join(f'{m:.2f}' for m in mains)}), the interactions the rest: a source changes the outcome "
                 "mostly in ways that depend on the other sources' seeds, not by a shift of its own. (A cell's "
                 "run is a function of its four seeds: rerun, it gives the same number on this machine, so the "
                 "highest-order interaction holds no separate run-to-run noise here; an unbiased component may "
                 "come out negative and is kept.)")
    totals = {s: np.array([b[f"{s} total"] for b in per_block.values()]) for s in test.factors}
    cells = []
    for source, values in totals.items():
        interval = ""
        if len(values) > 1:
            half = sps.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
            interval = f" [{values.mean() - half:.2f}, {values.mean() + half:.2f}]"
        cells.append(f"{source} {values.mean():.2f}{interval}")
    lines.append("Total-effect shares, the test's numbers (a source's main effect plus every interaction it "
                 "enters: the share of the variance that varying that source alone, the others held, moves; "
                 "they overlap, so they do not sum to one, and a source that did not matter would have one near "
                 "0), mean over blocks with a 95% t-interval, unadjusted: " + ", ".join(cells) +
                 ". Above 1 when the terms without that source came out negative.")
    for block in per_block:
        rows, column = finished_rows(runs, block, test.metric)
        lines.append(f"`{block}`: test accuracy mean {rows[column].mean():.4f}, SD {rows[column].std(ddof=1):.4f} "
                     f"over its {len(rows)} cells.")
    return lines


def few_note(runs, *, pair: tuple[str, str], size: int) -> list[str]:
    import numpy as np

    true, small, _ = few_draws(runs, pair, size)
    if not len(small):
        return []
    lines = [f"All seeds: `{pair[0]}` − `{pair[1]}` = {100 * true:+.2f} points of test accuracy. Over {len(small)} "
             f"disjoint {size}-vs-{size} draws the difference ranged {100 * small.min():+.2f} to "
             f"{100 * small.max():+.2f} points; {int(np.sum(np.sign(small) != np.sign(true)))} of {len(small)} "
             f"ranked the two the wrong way round."]
    for arm in pair:
        rows, column = finished_rows(runs, arm, "test_accuracy")
        v = rows[column].to_numpy(dtype=float)
        rng = np.random.default_rng(5)
        errors = np.abs(np.array([rng.choice(v, size, replace=False).mean() for _ in range(2000)]) - v.mean())
        lines.append(f"`{arm}` ({len(v)} seeds, mean {v.mean():.4f}): a {size}-seed mean lies within "
                     f"{100 * np.percentile(errors, 50):.2f} points of the all-seeds mean half the time and within "
                     f"{100 * np.percentile(errors, 90):.2f} points 90% of the time (2000 random draws).")
    return lines


def importance_note(runs, *, test: Importance) -> list[str]:
    from harness import importance

    lines = []
    for evaluator in importance.EVALUATORS:
        vectors = test.with_evaluator(evaluator).vectors(runs)
        summary = importance.bootstrap_mean(list(vectors.values()))
        ranked = sorted(summary.items(), key=lambda kv: -kv[1][0])
        text = ", ".join(f"{name} {m:.2f} [{lo:.2f}, {hi:.2f}]" for name, (m, lo, hi) in ranked)
        lines.append(f"{evaluator} over {len(vectors)} searches (mean [95% bootstrap CI over searches]): "
                     f"{text or 'n/a'}.")
    best = runs[(runs["status"] == "FINISHED") & runs["arm"].str.startswith(test.prefix)] if len(runs) else runs
    def means(values):
        return ", ".join(f"{k} {sum(v) / len(v):.2f}" for k, v in values.items() if v)

    control = means(test.control_values(runs))
    if control:
        lines.append(f"Noise control ({test.evaluator}, {test.control_text()}): {control} -- what "
                     + ("the evaluator reports when no hyperparameter matters." if test.what == "top" else
                        "a hyperparameter of no effect reads beside those that matter (the `noise-control` check)."))
    if control and test.what != "top":  # the other null, for comparison: nothing matters, all variance is noise
        whole = means(test.shuffled_values(runs))
        lines.append(f"With each search's objective shuffled instead (nothing matters, all the variance is noise): "
                     f"{whole} -- shown for comparison; not the test's null.")
    if "metrics.val_accuracy" in best and len(best):
        top = best.loc[best["metrics.val_accuracy"].idxmax()]
        lines.append(f"Best validation accuracy found: {top['metrics.val_accuracy']:.4f} (`{top['arm']}`).")
    lines += search_training_lines(best)
    return lines


def search_training_lines(trials) -> list[str]:
    """How the search trials trained, where they stop early (the LSTM searches):
    per batch size, how many stopped by validation patience and how many
    reached the epoch cap -- those may still have been improving, and a cap in
    epochs gives a small batch more steps -- and how many ended at chance."""
    if "metrics.stopped_early" not in trials or "params.hp.batch_size" not in trials:
        return []
    rows = trials[trials["metrics.stopped_early"].notna()]
    if rows.empty:
        return []
    cells = []
    for size, group in sorted(rows.groupby(rows["params.hp.batch_size"].astype(int))):
        stopped = int(group["metrics.stopped_early"].sum())
        chance = int((group["metrics.val_accuracy"] < AT_CHANCE).sum())
        cells.append(f"batch {size}: {len(group)} trials, {stopped} stopped by patience, {len(group) - stopped} at "
                     f"the cap, {chance} at chance, median validation accuracy "
                     f"{group['metrics.val_accuracy'].median():.2f}")
    stopped = int(rows["metrics.stopped_early"].sum())
    return [f"How the {len(rows)} search trials trained (early stopping on validation loss; a trial at the epoch cap "
            f"may still have been improving, and the cap gives a small batch more steps): {stopped} stopped by "
            f"patience, {len(rows) - stopped} at the cap, {int((rows['metrics.val_accuracy'] < AT_CHANCE).sum())} at "
            f"chance (validation accuracy < {AT_CHANCE:g}); " + "; ".join(cells) + "."]


def batch_note(runs, *, small: int) -> list[str]:
    """Where the picked test error is lowest and how it spreads on either side
    of ``small`` (the sentence's largest "small" batch); the same at the fixed
    epoch budget (the source's protocol, not the verdict's); then per batch
    size, the picks and how long they trained."""
    import numpy as np

    grid = batch_grid(runs)
    if grid.empty:
        return []
    lines = []
    for fixed, what in ((False, "at each run's best validation epoch (the verdict's numbers)"),
                        (True, "at the fixed budget of `grid_epochs` epochs for every m (Masters & Luschi's "
                               "protocol; large m then takes few steps)")):
        picks = picked_by_validation(runs, fixed=fixed)
        if picks.empty:
            continue
        means = picks.groupby("level")["value"].mean()
        inside, outside = means[means.index <= small], means[means.index > small]
        slopes = [np.polyfit(np.log2(g["level"].astype(float)), g["value"].astype(float), 1)[0]
                  for _, g in picks.groupby("replicate") if g["level"].nunique() > 1]
        spread = (f"; over m ≤ {small} it spans {inside.min():.4f}–{inside.max():.4f}, over m > {small} "
                  f"{outside.min():.4f}–{outside.max():.4f}" if len(inside) and len(outside) else "")
        lines.append(f"Test error at the validation-picked η̃, {what}: lowest at m = {means.idxmin()} "
                     f"({means.min():.4f}){spread}; mean slope {np.mean(slopes):+.4f} per doubling of m.")
    picks = picked_by_validation(runs)
    for m, rows in grid.groupby("m"):
        # stable: no seed's run at that η̃ diverged (a diverged run has no test error)
        stable = sorted(lr for lr, errors in rows.groupby("base_lr")["test_error"] if errors.notna().all())
        picked = picks[picks["level"] == m]
        where = (f"validation picked η̃ {', '.join(f'{x:.2g}' for x in picked['base_lr'])} (per seed), best "
                 f"validation epochs {', '.join(str(int(e)) for e in picked['best_epoch'])} of "
                 f"{int(picked['epochs_trained'].max())} → test error {picked['value'].mean():.4f} on average; "
                 f"training loss {picked['first_train_loss'].mean():.3f} after the first epoch → "
                 f"{picked['final_train_loss'].mean():.3f} after the last"
                 if len(picked) else "every η̃ diverged")
        edges = (grid["base_lr"].min(), grid["base_lr"].max())
        if len(picked) and picked["base_lr"].isin(edges).any():
            where += " (**a pick at the edge of the grid**: the best learning rate may lie outside it)"
        lines.append(f"m = {m}: {where}; η̃ at which no seed diverged "
                     f"({len(stable)} of {rows['base_lr'].nunique()}): "
                     f"{', '.join(f'{x:.2g}' for x in stable) or 'none'}.")
    return lines
