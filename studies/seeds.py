"""Study ``seeds``: how much the random seed moves results, where that
variance comes from, what five seeds can and cannot show, which
hyperparameters matter, and which batch sizes train best.

Claims (see shared/claims.md): SEED-SENS, SEED-SOURCES, SEED-FEW,
HP-TUNABILITY (with its second sentence as HP-MOMENTUM-BATCH) and HP-BATCH.

Protocol: small ReLU MLPs trained with SGD on a fixed subset of MNIST-1D's
training signals (all 1000 test signals) and on a fixed 10,000-image subset
of Fashion-MNIST (all 10,000 test images). Hundreds of seeds of one
shape train at once in ``harness.ensemble`` (the sweep groups them); each
seed is still its own Optuna trial and MLflow run.

- ``sens-*``: the classic "random seed": initial weights and minibatch order
  change together, the training data stay fixed.
- ``src-*``: one source of randomness at a time -- weight init, data order,
  dropout masks, or a bootstrap resample of the training set -- against
  ``src-all`` where all four vary (a dropout MLP, so that masks exist).
- ``hp-random-*`` / ``hp-tpe-*``: repeated Optuna searches (random and TPE)
  over learning rate, width, depth, momentum, batch size and weight decay on a
  validation split; importances come from the searches' logged runs.
- ``batch-m*-lr*``: Masters & Luschi's grid, batch size m against the
  per-example learning rate η̃ (SGD step η = m·η̃), fixed epochs, several
  seeds. A grid point that diverges is an outcome here (the stable range of
  η̃ narrows as m grows), recorded as ``diverged = 1``, not a failed trial.
"""
from __future__ import annotations

import json
import math
from typing import Any

from harness.claimtests import Better, BestOverGrid, Importance, RateAbove, Similar, VarianceAbove, VarianceRatios
from harness.claims import CLAIMED, Claim, finished_rows
from harness.discovery import register
from harness.study import Arm, Budget, Ensemble, Study, StudyDeclarationError, Tuning

NAME = "seeds"
MNIST1D, FASHION = "mnist1d", "fashion-mnist"
ARTICLE = "Hyperparameter (machine learning)"
SOURCES = ("init", "order", "mask", "bootstrap")
SENS_ARMS = ("sens-mnist1d", "sens-fashion")
FEW_ARMS = (*SENS_ARMS, "src-all")  # identical-configuration runs that SEED-FEW splits
SD_THRESHOLD = 0.005     # SEED-SENS: "very heavily" = seed SD of test accuracy >= half a percentage point
SHARE_FLOOR = 0.10       # SEED-SOURCES: "moves results" = >= 10% of the all-sources variance
FEW = 5                  # SEED-FEW: seeds per group (Henderson et al.'s 5 vs 5)
FP_MARGIN = 0.15         # SEED-FEW: a 5-vs-5 false-positive rate below 15% counts as "no excess"
TOP_SHARE = 0.5          # HP-TUNABILITY: the two most important of six carry most (> half) of the variance
MINOR_IMPORTANCE = 0.10  # HP-MOMENTUM-BATCH: "no significant effect" = importance below 0.1 each
SMALL_BATCHES = 32       # HP-BATCH: "between 2 and 32"
BATCH_MARGIN = 0.005     # HP-BATCH: |difference| below half a point of test error = no difference
ACCURACY_METRICS = {"test_acc", "test_accuracy", "test_error", "val_acc", "val_accuracy", "val_error"}  # one scale

MODEL = {MNIST1D: {"hidden": (100, 100)}, FASHION: {"hidden": (100,)}}
SGD = {"lr": 0.05, "momentum": 0.9, "batch_size": 100}


def arms(budget: Budget) -> list[Arm]:
    design = [Arm(f"sens-{name.split('-')[0]}", {"dataset": name, **MODEL[name], **SGD, "vary": "seed"})
              for name in (MNIST1D, FASHION)]
    dropout = {"dataset": MNIST1D, **MODEL[MNIST1D], **SGD, "retain_hidden": 0.8}
    design += [Arm(f"src-{source}", {**dropout, "vary": source}, max_replicates=budget["source_seeds"])
               for source in ("all", *SOURCES)]
    design += [Arm(f"hp-{sampler}-{i}", {"dataset": MNIST1D, "sampler": sampler, "search": i}, max_replicates=1)
               for sampler in ("random", "tpe") for i in range(budget["searches"])]
    design += [Arm(f"batch-m{m}-lr{j}", {"dataset": MNIST1D, **MODEL[MNIST1D], "batch_size": m,
                                         "base_lr": base_lr, "lr": m * base_lr, "momentum": 0.0, "grid": "batch"},
                   max_replicates=budget["batch_seeds"])
               for m in budget["batch_sizes"] for j, base_lr in enumerate(budget["base_lrs"])]
    return design


def hp_space(trial) -> dict[str, Any]:
    return {
        "lr": trial.suggest_float("lr", 1e-3, 1.0, log=True),
        "width": trial.suggest_int("width", 16, 256, log=True),
        "depth": trial.suggest_int("depth", 1, 4),
        "momentum": trial.suggest_float("momentum", 0.0, 0.95),
        "batch_size": trial.suggest_categorical("batch_size", [16, 32, 64, 128, 256]),
        "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True),
    }


# -- training -----------------------------------------------------------------------------
def _shape_config(config: dict[str, Any]) -> dict[str, Any]:
    """What members of one ensemble must share: data, architecture, schedule."""
    hidden = tuple(config["hidden"]) if "hidden" in config else (config["width"],) * config["depth"]
    return {"dataset": config["dataset"], "hidden": list(hidden), "batch_size": config["batch_size"],
            "retain_hidden": config.get("retain_hidden", 1.0), "grid": config.get("grid", "")}


def ensemble_key(config, budget: Budget) -> str | None:
    if "hidden" not in config and "width" not in config:
        return None  # a search arm before tuning: its shape is not known yet
    return json.dumps(_shape_config(dict(config)), sort_keys=True)


def _fixed_seeds():
    """The seeds a source uses when it is held fixed: replicate 0's."""
    from harness.seeding import trial_seeds

    return trial_seeds(SEEDS.root_seed, NAME, 0)


def _member(ctx, n_rows: int):
    """This trial's ensemble member: its seeds, with the sources its arm holds
    fixed taken from replicate 0, and its hyperparameters."""
    import numpy as np

    from harness.ensemble import Member

    cfg, own, fixed = ctx.config, ctx.seeds, _fixed_seeds()
    vary = cfg.get("vary", "seed")
    pick = {"seed": {"init", "order"}, "all": set(SOURCES)}.get(vary, {vary})
    rows = None
    if "bootstrap" in pick:
        rows = np.random.default_rng(own.subsample).integers(0, n_rows, n_rows)
    member = Member(init=own.init if "init" in pick else fixed.init,
                    data_order=own.data_order if "order" in pick else fixed.data_order,
                    noise=own.noise if "mask" in pick else fixed.noise,
                    lr=cfg["lr"], momentum=cfg.get("momentum", 0.0), weight_decay=cfg.get("weight_decay", 0.0),
                    rows=rows)
    ctx.log_param("effective_seed.init", member.init)
    ctx.log_param("effective_seed.data_order", member.data_order)
    ctx.log_param("effective_seed.noise", member.noise)
    ctx.log_param("bootstrap", rows is not None)
    return member


def _data(ctx):
    """Fixed training data (the same for every seed: the seed study varies the
    seed, not the data, except through the bootstrap source) and the test set,
    or train/validation splits of the training set while tuning."""
    from harness import datasets

    name = ctx.config["dataset"]
    full = datasets.load(name)
    n_train = ctx.budget["n_train"][name]
    fixed = _fixed_seeds().subsample
    if ctx.tuning:
        n_val = ctx.budget["n_val"]
        pool = full.subsample(n_train + n_val, seed=fixed)
        ctx.use_dataset(name, pool.digest, pool.source, "train+validation")
        return pool.x_train[:n_train], pool.y_train[:n_train], pool.x_train[n_train:], pool.y_train[n_train:]
    data = full.subsample(n_train, seed=fixed) if n_train < len(full.y_train) else full
    ctx.use_dataset(name, data.digest, data.source, "train")
    ctx.use_dataset(name, full.digest, full.source, "test")
    return data.x_train, data.y_train, full.x_test, full.y_test


def run_group(contexts: list) -> list:
    """Train the trials of one group as one ensemble; per trial its metrics or
    the reason it failed."""
    import torch

    from harness import engine
    from harness.ensemble import Shape, train

    first = contexts[0]
    cfg = _shape_config(first.config)
    x, y, x_eval, y_eval = _data(first)
    for ctx in contexts[1:]:
        ctx.datasets.extend(first.datasets)  # every member's run records the data it trained on
    shape = Shape(in_features=x.shape[1], classes=int(y.max()) + 1, hidden=tuple(cfg["hidden"]),
                  retain_hidden=cfg["retain_hidden"], batch_size=cfg["batch_size"], optimizer="sgd",
                  epochs=first.budget["hp_epochs"] if first.tuning else first.budget["epochs"][cfg["dataset"]])
    members = [_member(ctx, len(y)) for ctx in contexts]
    device = torch.device(first.device)
    tensors = [engine.as_tensor(a, device) for a in (x, y.astype("int64"), x_eval, y_eval.astype("int64"))]

    def log(epoch: int, losses) -> None:
        for ctx, value in zip(contexts, losses.tolist()):
            if math.isfinite(value):
                ctx.log_metric("train_loss", value, epoch)

    label = "epochs" if len(contexts) == 1 else f"epochs x{len(contexts)} seeds"
    results = train(shape, members, *tensors, on_epoch=log,
                    progress=lambda r: first.progress(r, total=len(r), desc=label))
    out: list = []
    for ctx, r in zip(contexts, results):
        if r.diverged and ctx.config.get("grid") == "batch":
            out.append({"diverged": 1.0})  # an outcome of the batch-size grid, not a failure
        elif r.diverged:
            out.append(engine.TrialDiverged(r.diverged))
        elif ctx.tuning:
            out.append({"val_accuracy": r.test_accuracy, "val_loss": r.test_loss})
        else:
            out.append({"test_accuracy": r.test_accuracy, "test_error": 1 - r.test_accuracy,
                        "test_loss": r.test_loss, "final_train_loss": r.train_loss[-1], "diverged": 0.0})
    return out


def run_trial(ctx) -> dict[str, float]:
    result = run_group([ctx])[0]
    if isinstance(result, BaseException):
        raise result
    return result


def check(budget: Budget) -> None:
    if budget["source_seeds"] < FEW * 2 or min(budget["batch_sizes"]) < 1:
        raise StudyDeclarationError("seeds: source_seeds must be >= 10 and batch sizes >= 1")
    if budget["n_train"][FASHION] > 60_000 or budget["n_train"][MNIST1D] + budget["n_val"] > 4000:
        raise StudyDeclarationError("seeds: Fashion-MNIST has 60,000 training images and MNIST-1D 4000 signals "
                                    "(the MNIST-1D search needs n_train + n_val of them)")


# -- what SEED-FEW counts: Henderson's split of identical runs into disjoint 5-vs-5 groups ----------------
def _disjoint_splits(values, rng, size: int):
    """Disjoint (A, B) groups of ``size`` from a random permutation: independent tests."""
    order = rng.permutation(len(values))
    return [(values[order[i:i + size]], values[order[i + size:i + 2 * size]])
            for i in range(0, len(values) - 2 * size + 1, 2 * size)]


def split_pvalues(runs, arms=None) -> tuple[list[float], tuple[str, ...]]:
    """Welch's t-test p of every disjoint FEW-vs-FEW split of each arm's identical runs."""
    import numpy as np
    from scipy import stats as sps

    rng = np.random.default_rng(2018)  # Henderson et al.'s year: any fixed seed, so the report is reproducible
    pvalues, ids = [], []
    for arm in arms or FEW_ARMS:
        rows, column = finished_rows(runs, arm, "test_accuracy")
        ids += list(rows["run_id"])
        for a, b in _disjoint_splits(rows[column].to_numpy(dtype=float), rng, FEW):
            p = float(sps.ttest_ind(a, b, equal_var=False).pvalue)
            if math.isfinite(p):
                pvalues.append(p)
    return pvalues, tuple(ids)


def split_outcomes(runs) -> tuple[list[bool], tuple[str, ...]]:
    pvalues, ids = split_pvalues(runs)
    return [p < 0.05 for p in pvalues], ids


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


# -- notes, sections and figures (all from the tracking store) ------------------------------------
def _spread_note(runs) -> list[str]:
    from scipy import stats as sps

    from harness.stats import expected_max_z

    lines = []
    for arm in SENS_ARMS:
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


def _sources_note(runs) -> list[str]:
    import numpy as np

    test = SOURCES_TEST
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


def _few_note(runs) -> list[str]:
    import numpy as np
    from scipy import stats as sps

    lines = []
    rng = np.random.default_rng(5)
    for arm in FEW_ARMS:
        rows, column = finished_rows(runs, arm, "test_accuracy")
        v = np.sort(rows[column].to_numpy(dtype=float))
        if len(v) < 2 * FEW:
            continue
        overlapping = []
        for _ in range(1000):
            order = rng.permutation(len(v))
            overlapping.append(sps.ttest_ind(v[order[:FEW]], v[order[FEW:2 * FEW]], equal_var=False).pvalue < 0.05)
        top_bottom = sps.ttest_ind(v[-FEW:], v[:FEW], equal_var=False)
        lines.append(f"`{arm}`: of 1000 random (overlapping) 5-vs-5 splits, {100 * np.mean(overlapping):.1f}% give "
                     f"p < 0.05; the top 5 against the bottom 5 of the same {len(v)} seeds differ by "
                     f"{100 * (v[-FEW:].mean() - v[:FEW].mean()):.2f} points of accuracy, p = {top_bottom.pvalue:.2g} "
                     "-- the selection artefact of reporting one's best seeds.")
    return lines


def _importance_note(runs) -> list[str]:
    from harness import importance

    lines = []
    for evaluator in importance.EVALUATORS:
        vectors = Importance("val_accuracy", "top", TOP_SHARE, hp_space, evaluator).vectors(runs)
        summary = importance.bootstrap_mean(list(vectors.values()))
        ranked = sorted(summary.items(), key=lambda kv: -kv[1][0])
        text = ", ".join(f"{name} {m:.2f} [{lo:.2f}, {hi:.2f}]" for name, (m, lo, hi) in ranked)
        lines.append(f"{evaluator} over {len(vectors)} searches (mean [95% bootstrap CI over searches]): {text or 'n/a'}.")
    best = runs[runs["status"] == "FINISHED"]
    if "metrics.val_accuracy" in best and len(best):
        top = best.loc[best["metrics.val_accuracy"].idxmax()]
        lines.append(f"Best validation accuracy found: {top['metrics.val_accuracy']:.4f} (`{top['arm']}`).")
    return lines


def _batch_note(runs) -> list[str]:
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


def effects_table(fig_ctx) -> list[str]:
    """The other studies' claimed effects beside seed noise, read from the
    tracking store: each claim's effect against the seed-to-seed SD of its own
    metric within its own arms, and against SEED-SENS's accuracy SD."""
    from harness.discovery import load_studies
    from harness.tracking import latest_per_trial

    sens = fig_ctx.finished[fig_ctx.finished["arm"].isin(SENS_ARMS)]
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
    for study in (registry.get(name) for name in registry.names()):
        if study.name == NAME:
            continue
        runs = fig_ctx.tracker.runs(study.name, fig_ctx.budget)
        if runs.empty:
            continue
        runs = latest_per_trial(runs)
        replicates = runs[runs["phase"] == "replicate"]
        for claim in study.claims:
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
            lines.append(f"| {study.name} | {claim.id} | {metric} | {evidence.effect:.4g} | {pooled:.4g} | "
                         f"{ratio} | {needed} | {versus} |")
            count += 1
    if not count:
        lines.append("| – | no other study has runs at this budget in this tracking store | | | | | | |")
    return lines + [""]


def figures(fig_ctx) -> list:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from scipy import stats as sps

    from harness import importance

    runs, out = fig_ctx.finished, []
    # seed distributions
    fig, axes = plt.subplots(1, len(SENS_ARMS), figsize=(9, 3.2))
    for ax, arm in zip(np.atleast_1d(axes), SENS_ARMS):
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
    shares = SOURCES_TEST.shares(runs)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    names = list(shares)
    values = np.array([shares[s][0] for s in names])
    low = np.array([shares[s][0] / sps.f.ppf(0.975, shares[s][1], shares[s][2]) for s in names])
    high = np.array([shares[s][0] / sps.f.ppf(0.025, shares[s][1], shares[s][2]) for s in names])
    ax.bar(names, values, yerr=np.array([values - low, high - values]), capsize=4)
    ax.axhline(SHARE_FLOOR, color="r", ls=":", label=f"floor {SHARE_FLOOR:g}")
    ax.axhline(1.0, color="k", lw=0.8, label="all sources")
    ax.set_ylabel("variance share (F 95% CI)")
    ax.legend(fontsize=7)
    out.append(fig_ctx.save(fig, "variance_shares.png", "SEED-SOURCES: each source's variance over the "
                                                        "all-sources variance."))
    # split tests
    pvalues, _ = split_pvalues(runs)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    if pvalues:
        ax.hist(pvalues, bins=20, range=(0, 1))
    ax.axvline(0.05, color="r", ls=":")
    ax.set_xlabel("p-value of a 5-vs-5 Welch t-test (identical configurations)")
    ax.set_ylabel("splits")
    out.append(fig_ctx.save(fig, "split_pvalues.png", "SEED-FEW: p-values of disjoint 5-vs-5 splits; calibrated "
                                                      "tests give a flat histogram, 5% of it left of the red line."))
    # importances
    tuning = fig_ctx.tuning_runs if fig_ctx.tuning_runs is not None else runs.iloc[0:0]
    fig, ax = plt.subplots(figsize=(7, 3.4))
    width = 0.4
    for i, evaluator in enumerate(importance.EVALUATORS):
        vectors = Importance("val_accuracy", "top", TOP_SHARE, hp_space, evaluator).vectors(tuning)
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
        ax.axvspan(2, SMALL_BATCHES, color="g", alpha=0.07)
        ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size m")
    ax.set_ylabel("test error (missing: diverged)")
    ax.legend(fontsize=6, ncol=2)
    out.append(fig_ctx.save(fig, "batch_size.png", "HP-BATCH: test error against batch size for each per-example "
                                                   "learning rate η̃ (SGD step m·η̃), and the best over η̃ (band: "
                                                   "min–max over seeds). Green: m = 2–32."))
    return out


# -- declaration --------------------------------------------------------------------------------
BOUTHILLIER = ("Bouthillier et al. 2021, \"Accounting for variance in machine learning benchmarks\" (MLSys)")
SOURCES_TEST = VarianceRatios("test_accuracy", "src-all", {s: f"src-{s}" for s in SOURCES}, SHARE_FLOOR)
FEW_TEST = RateAbove(split_outcomes, FEW_ARMS, null_rate=0.05, margin=FP_MARGIN, metric="test_accuracy",
                     description=f"disjoint random {FEW}-vs-{FEW} splits of identical-configuration seeds "
                                 f"({', '.join(FEW_ARMS)}), Welch t-test on test_accuracy per split at 0.05")

CLAIMS = (
    Claim(
        id="SEED-SENS",
        quote="For example, research has shown that deep learning models depend very heavily even on the random seed "
              "selection of the random number generator.",
        article=ARTICLE, section="Reproducibility",
        source="Picard 2021, \"torch.manual_seed(3407) is all you need\" (arXiv 2109.08203); " + BOUTHILLIER,
        source_numbers=("Picard: up to 10⁴ seeds on CIFAR-10; \"it is surprisingly easy to find an outlier that "
                        "performs much better or much worse than the average\". Bouthillier et al.: data sampling, "
                        "initialisation and hyperparameter choice all move results."),
        measure=(f"Test accuracy of ≥100 seeds per model (initial weights and minibatch order vary, training data "
                 f"fixed) on MNIST-1D (40-100-100-10 MLP) and Fashion-MNIST (784-100-10 MLP, 10,000 training "
                 f"images); pre-registered: \"very heavily\" means a seed-to-seed SD of at least "
                 f"{SD_THRESHOLD:g} (half a percentage point), so that the best of 100 seeds sits about "
                 f"1.25 points above the mean seed -- the size of many published improvements."),
        test=VarianceAbove("test_accuracy", SENS_ARMS, SD_THRESHOLD),
        notes=_spread_note,
    ),
    Claim(
        id="SEED-SOURCES",
        quote="An inherent stochasticity in learning directly implies that the empirical hyperparameter performance "
              "is not necessarily its true performance.",
        article=ARTICLE, section="Considerations › Robustness", source=BOUTHILLIER,
        source_numbers=("Bouthillier et al.: data sampling (bootstrap), weight initialisation, data order and "
                        "dropout each move benchmark results; randomising all sources gives a better estimator at "
                        "51x less compute than re-running hyperparameter optimisation."),
        measure=(f"MNIST-1D dropout MLP (hidden retain 0.8): one source varies at a time (init, data order, dropout "
                 f"masks, bootstrap of the training set) against all four varying; each source's share = its "
                 f"variance / the all-sources variance of test accuracy. Pre-registered: a source \"moves results\" "
                 f"if its share exceeds {SHARE_FLOOR:g}; the claim needs every source to."),
        test=SOURCES_TEST,
        notes=_sources_note,
    ),
    Claim(
        id="SEED-FEW",
        quote="Their evaluation with a small number of random seeds does not capture performance adequately due to "
              "high variance.",
        article=ARTICLE, section="Considerations › Robustness",
        source="Henderson et al. 2018, \"Deep Reinforcement Learning that Matters\" (AAAI)",
        source_numbers=("Two groups of 5 seeds of one configuration (HalfCheetah, TRPO) gave curves that a t-test "
                        "called significantly different (t = −9.09, p = 0.0016)."),
        measure=(f"Henderson's demonstration on supervised nets: runs of one configuration (the SEED-SENS arms and "
                 f"`src-all`) split at random into disjoint {FEW}-vs-{FEW} groups; the rate at which Welch's t-test "
                 f"finds a difference at 0.05. Supported if the rate exceeds the nominal 5%; not reproduced if it is "
                 f"below {FP_MARGIN:g} (no excess). The notes add the top-5-vs-bottom-5 artefact; the table after the "
                 f"claims gives the seeds each other claim needs."),
        test=FEW_TEST,
        notes=_few_note,
    ),
    Claim(
        id="HP-TUNABILITY",
        quote="Most performance variation can be attributed to just a few hyperparameters.",
        article=ARTICLE, section="Considerations › Tunability",
        source=("Probst, Boulesteix & Bischl 2019 (JMLR 20(53)); Greff et al. 2017, \"LSTM: A search space odyssey\" "
                "(IEEE TNNLS 28:2222); Hutter, Hoos & Leyton-Brown 2014 (fANOVA)"),
        source_numbers=("Greff et al.: fANOVA over 5,400 LSTM runs; the learning rate alone explains most of the "
                        "variance, then the network size."),
        measure=(f"Repeated Optuna searches (random and TPE) over learning rate, width, depth, momentum, batch size "
                 f"and weight decay of an SGD MLP on MNIST-1D (validation accuracy); fANOVA importance per search. "
                 f"Pre-registered: \"just a few\" = the two most important of the six carry more than "
                 f"{TOP_SHARE:g} of the importance. PED-ANOVA is shown beside it."),
        test=Importance("val_accuracy", "top", TOP_SHARE, hp_space),
        notes=_importance_note,
    ),
    Claim(
        id="HP-MOMENTUM-BATCH",
        quote="For an LSTM, while the learning rate followed by the network size are its most crucial "
              "hyperparameters, batching and momentum have no significant effect on its performance.",
        article=ARTICLE, section="Considerations › Tunability", source="Greff et al. 2017 (IEEE TNNLS 28:2222)",
        source_numbers=("LSTM, fANOVA: learning rate, then hidden size; batch size and momentum explain a "
                        "negligible share of the variance."),
        measure=(f"The same searches, for an MLP (the sentence is about LSTMs; we test whether it carries over): "
                 f"fANOVA importance of momentum and of batch size; pre-registered: \"no significant effect\" = "
                 f"each below {MINOR_IMPORTANCE:g}."),
        test=Importance("val_accuracy", ("momentum", "batch_size"), MINOR_IMPORTANCE, hp_space),
    ),
    Claim(
        id="HP-BATCH",
        quote="…other work has found the best performance with mini-batch sizes between 2 and 32.",
        article=ARTICLE, section="Considerations › Tunability",
        source="Masters & Luschi 2018, \"Revisiting small batch training for deep neural networks\" (arXiv 1804.07612)",
        source_numbers=("Base learning rate per example held fixed (η = m·η̃); best results for m = 2–32 on "
                        "CIFAR-10/100 and ImageNet; larger m narrows the range of stable learning rates."),
        measure=("MNIST-1D MLP, plain SGD for a fixed number of epochs over a grid of batch sizes m and per-example "
                 "learning rates η̃; per seed, the best test error over η̃ at m ≤ 32 against m > 32."),
        test=BestOverGrid(grid_for_test, SMALL_BATCHES, BATCH_MARGIN, label="m", metric="test_error"),
        notes=_batch_note,
    ),
)

SHARED = {"n_train": {MNIST1D: 4000, FASHION: 10_000}, "n_val": 1000}
SEEDS = register(Study(
    name=NAME,
    title="Seeds and hyperparameters: seed sensitivity, variance sources, few-seed comparisons, tunability, batch size",
    summary=("How much does the random seed alone move a small network's test accuracy, which source of "
             "randomness moves it, what can a comparison of five seeds show, which hyperparameters carry the "
             "variation of a search, and which batch sizes train best? Small SGD MLPs on MNIST-1D and "
             "Fashion-MNIST, hundreds of seeds trained at once as ensembles (each seed its own run)."),
    claims=CLAIMS,
    arms=arms,
    budgets={
        "smoke": Budget(replicates=10, tuning_trials=5, settings={
            **SHARED, "n_train": {MNIST1D: 1000, FASHION: 2000}, "epochs": {MNIST1D: 2, FASHION: 1},
            "hp_epochs": 1, "source_seeds": 10, "searches": 1, "batch_sizes": [16, 64, 256],
            "base_lrs": [2 ** -9, 2 ** -6], "batch_seeds": 2}),
        "quick": Budget(replicates=100, tuning_trials=20, settings={
            **SHARED, "n_train": {MNIST1D: 3000, FASHION: 10_000}, "epochs": {MNIST1D: 20, FASHION: 5},
            "hp_epochs": 10, "source_seeds": 50, "searches": 2, "batch_sizes": [2, 4, 8, 16, 32, 64, 128, 256, 512],
            "base_lrs": [2 ** -12, 2 ** -10, 2 ** -8, 2 ** -6, 2 ** -4, 2 ** -2], "batch_seeds": 3}),
        "full": Budget(replicates=1000, tuning_trials=100, settings={
            **SHARED, "n_train": {MNIST1D: 3000, FASHION: 60_000}, "epochs": {MNIST1D: 50, FASHION: 20},
            "hp_epochs": 20, "source_seeds": 200, "searches": 5,
            "batch_sizes": [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
            "base_lrs": [2 ** -14, 2 ** -12, 2 ** -10, 2 ** -8, 2 ** -6, 2 ** -4, 2 ** -2, 2 ** 0], "batch_seeds": 5}),
    },
    run_trial=run_trial,
    datasets=(MNIST1D, FASHION),
    figures=figures,
    sections=effects_table,
    tuning=Tuning(arms=tuple(f"hp-{s}-{i}" for s in ("random", "tpe") for i in range(5)), space=hp_space,
                  metric="val_accuracy", direction="maximize"),
    root_seed=3407,
    check=check,
    ensemble=Ensemble(key=ensemble_key, run=run_group, max_members=128),
))
