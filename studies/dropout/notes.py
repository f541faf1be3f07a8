"""The dropout study's report notes: the numbers behind each verdict, in words,
and the report-only sections ("DropConnect", "Wall-clock time")."""
from __future__ import annotations

import math

from harness.claims import arm_mean, values_by_replicate
from harness.stats import censored_median
from studies.dropout import searches
from studies.dropout.grids import BASE, sweep_arms
from studies.dropout.settings import Settings


def _k(value: float) -> str:
    return "not reached" if math.isinf(value) else f"{value:g}"


def _paired(runs, arm: str, base: str, metric: str = "test_error"):
    """Mean of arm − base paired by replicate, its 95% t-interval, n."""
    from harness import stats

    a, b = values_by_replicate(runs, arm, metric), values_by_replicate(runs, base, metric)
    common = a.index.intersection(b.index)
    d = (a.loc[common] - b.loc[common]).to_numpy()
    if len(d) < 2:
        return (float(d.mean()) if len(d) else math.nan), (math.nan, math.nan), len(d)
    low, high = stats.t_interval(d, 0.95)
    return float(d.mean()), (float(low), float(high)), len(d)


def _mean_on(runs, arm: str, other: str, metric: str = "test_error") -> float:
    """``arm``'s mean over the replicates ``other`` also finished: the seeds a paired difference reads."""
    a, b = values_by_replicate(runs, arm, metric), values_by_replicate(runs, other, metric)
    return float(a.loc[a.index.intersection(b.index)].mean())


def overfit_note(runs) -> list[str]:
    """Per training-set size: each arm's train and test error and gap at its best epoch and at the common budget,
    with the seeds behind them; then the primary source's own measure (test error), with its interval, beside the
    sentence's (the gap), which the verdict reads."""
    lines = []
    sizes = sorted(int(a.split("-")[1]) for a in set(runs["arm"]) if a.startswith("none-") and a[5:].isdigit())
    column = "params.settings.common_epochs"
    common = runs[column].dropna().iloc[0] if column in runs and runs[column].notna().any() else "the common"
    n_large = runs[runs["arm"] == "none"]["params.config.n_train"] if "params.config.n_train" in runs else []
    for size in [*sizes, None]:
        plain, dropped = (f"none-{size}", f"dropout-{size}") if size else ("none", "dropout")
        label = size or (n_large.iloc[0] if len(n_large) else "the largest subset of")
        seeds = len(values_by_replicate(runs, dropped, "test_error"))
        lines.append(
            f"{label} training images ({seeds} seeds), each at its best validation epoch "
            f"({arm_mean(runs, plain, 'best_epoch'):.3g} without, {arm_mean(runs, dropped, 'best_epoch'):.3g} with "
            f"dropout, on average): train error {arm_mean(runs, plain, 'train_error'):.4f} → "
            f"{arm_mean(runs, dropped, 'train_error'):.4f} with dropout, test error "
            f"{arm_mean(runs, plain, 'test_error'):.4f} → {arm_mean(runs, dropped, 'test_error'):.4f}, "
            f"train−test gap {arm_mean(runs, plain, 'gap'):.4f} → {arm_mean(runs, dropped, 'gap'):.4f}; "
            f"test error with dropout − without {_paired_text(runs, dropped, plain)}. At the common budget of "
            f"{common} epochs: test error {arm_mean(runs, plain, 'test_error_common'):.4f} → "
            f"{arm_mean(runs, dropped, 'test_error_common'):.4f}, gap {arm_mean(runs, plain, 'gap_common'):.4f} → "
            f"{arm_mean(runs, dropped, 'gap_common'):.4f}.")
    lines.append("The primary source measures the benefit as test error (Table 2), the sentence as overfitting: the "
                 "verdict reads the gap, and the test-error differences above (95% t-intervals, unadjusted, no "
                 "verdict) say whether a smaller gap came with a lower test error or with a higher training error.")
    if sizes:
        smaller = "the smaller sizes' lines" if len(sizes) > 1 else f"the {sizes[0]}-image line"
        lines.append("Srivastava et al. (Fig. 10, MNIST) found no gain from dropout with 100 or 500 training examples "
                     f"and gains from 1000 up: compare {smaller} above.")
    return lines


def _paired_text(runs, arm: str, base: str) -> str:
    effect, (low, high), n = _paired(runs, arm, base)
    return f"{effect:+.4f} [{low:+.4f}, {high:+.4f}] (n = {n})" if n >= 2 else "n/a (fewer than 2 paired seeds)"


def scaling_note(runs) -> list[str]:
    rows = runs[(runs["arm"] == "dropout") & (runs["status"] == "FINISHED")]
    ks = sorted(int(c.rsplit("_k", 1)[1]) for c in runs.columns if c.startswith("metrics.mc_error_k"))
    curve = ", ".join(f"k={k}: {arm_mean(runs, 'dropout', f'mc_error_k{k}'):.4f}" for k in ks)
    if rows.empty or "metrics.crossover_k" not in rows:
        return [f"MC averaging test error — {curve}."]
    values = rows["metrics.crossover_k"].astype(float).to_numpy()
    censored = (rows["metrics.crossover_k_censored"].astype(float).to_numpy() == 1
                if "metrics.crossover_k_censored" in rows else [False] * len(values))
    median, low, high, coverage = censored_median(values, censored)
    each = ", ".join("> " + f"{v:g}" if c else f"{v:g}" for v, c in sorted(zip(values, censored)))
    return [f"MC averaging test error — {curve}; weight scaling {arm_mean(runs, 'dropout', 'scaling_error'):.4f}. "
            f"Crossover k (the smallest k tried whose MC average is at least as good as weight scaling; where no k "
            f"tried was, censored above the largest, and not averaged) per seed: {each}; median {_k(median)}, "
            f"order-statistic interval [{_k(low)}, {_k(high)}] ({coverage:.0%} coverage with {len(values)} seeds), "
            "against about 50 in Srivastava et al. Fig. 11."]


def speed_note(runs) -> list[str]:
    def reached(arm: str, metric: str) -> str:
        flags = values_by_replicate(runs, arm, f"{metric}_censored")
        return f"{(flags == 0).mean():.0%}" if len(flags) else "n/a"

    def mean(arm: str, metric: str) -> str:  # a mean over capped runs is a lower bound
        capped = (values_by_replicate(runs, arm, f"{metric}_censored") == 1).any()
        return f"{'≥ ' if capped else ''}{arm_mean(runs, arm, metric):.3g}"

    return [
        f"Epochs to a training cross-entropy of {Settings.loss_target} as evaluated (no dropout noise): "
        f"{mean('none', 'epochs_to_clean_loss_target')} without dropout vs "
        f"{mean('dropout', 'epochs_to_clean_loss_target')} with (runs reaching it: "
        f"{reached('none', 'epochs_to_clean_loss_target')} vs {reached('dropout', 'epochs_to_clean_loss_target')}; "
        "a run that never did counts its epochs as a bound). As trained (the epoch's mean loss, with the noise): "
        f"{mean('none', 'epochs_to_loss_target')} vs {mean('dropout', 'epochs_to_loss_target')} "
        f"(reaching it: {reached('none', 'epochs_to_loss_target')} vs {reached('dropout', 'epochs_to_loss_target')}).",
        f"Epochs to the best validation error: {arm_mean(runs, 'none', 'best_epoch'):.3g} without dropout vs "
        f"{arm_mean(runs, 'dropout', 'best_epoch'):.3g} with. Seconds per epoch: see \"Wall-clock time\".",
        "What the sentence compares against: the next one reads \"This makes the model combination practical, even "
        "for deep neural networks\" — training one dropout net instead of an ensemble of separately trained nets. "
        "Against an ensemble of k nets, one dropout net costs about its own epochs over k standard nets' epochs; "
        "this test compares it with one standard net, the reading the words \"improves training speed\" give.",
        "The primary source says the opposite of the seed text: \"a dropout network typically takes 2-3 times "
        "longer to train than a standard neural network\" (§7).",
    ]


def conv_note(runs) -> list[str]:
    lines = []
    for arm, where in (("cnn-conv-dropout", "after the conv blocks"), ("cnn-fc-dropout", "in the head")):
        mean, (low, high), n = _paired(runs, arm, "cnn")
        lines.append(f"Dropout {where} (retain {Settings.p_conv}) minus no dropout, test error: {mean:+.4f} "
                     f"(95% t-interval [{low:+.4f}, {high:+.4f}], n = {n}; negative = a benefit).")
    lines.append(f"Test error without dropout: {arm_mean(runs, 'cnn', 'test_error'):.4f}.")
    return lines


INIT_ROW_NORM = 1 / math.sqrt(3)  # a default-initialised nn.Linear row: U(±1/√fan_in) entries, at any fan-in
SOURCE_GAIN = (0.0019, 0.0125)    # Srivastava et al. Table 2: max-norm took dropout's 1.25% error to 1.06%


def maxnorm_note(runs) -> list[str]:
    from collections import Counter

    from studies.dropout import MAXNORM_MARGIN
    from studies.dropout.grids import maxnorm_grid

    bounds = {arm: float(runs[runs["arm"] == arm]["params.config.max_norm"].iloc[0]) for arm in sweep_arms(runs)}
    sweep = sorted(bounds, key=lambda a: arm_mean(runs, a, "max_row_norm"))
    parts = [f"c={bounds[arm]:g}: test error {arm_mean(runs, arm, 'test_error'):.4f}, validation "
             f"{arm_mean(runs, arm, 'val_error'):.4f}, {100 * arm_mean(runs, arm, 'rows_at_bound'):.1f}% of hidden "
             "units at the bound" for arm in sweep]
    base = arm_mean(runs, BASE, "test_error")
    lines = [f"By bound — {'; '.join(parts)}; dropout alone: test error {base:.4f}, "
             f"validation {arm_mean(runs, BASE, 'val_error'):.4f}.",
             f"The typical values: after training without the constraint, the largest hidden-unit weight norm is "
             f"{arm_mean(runs, BASE, 'max_row_norm'):.3g} on average, and "
             f"{100 * arm_mean(runs, BASE, 'rows_above_c3'):.1f}% "
             f"/ {100 * arm_mean(runs, BASE, 'rows_above_c4'):.1f}% of hidden units exceed c = 3 / 4: on this net and "
             "protocol such a bound would never bind (the run would be plain dropout), so the sweep uses bounds that "
             "do. Srivastava et al. pair max-norm with large learning rates (the constraint is what lets them use "
             "those), which this protocol (SGD, lr 0.05, momentum 0.9) does not: in the pilot that chose the bounds "
             "(studies/dropout/maxnorm_pilot.py, one seed) lr 0.2 trained every variant worse and lr 0.8 none, with "
             "or without a bound."]
    grid = maxnorm_grid(runs)
    picks = Counter(grid.loc[grid["factor"] != math.inf, "factor"])
    if picks:
        below = [f"{c:g}" for c in sorted(bounds.values()) if c < INIT_ROW_NORM]
        lines.append("The bound validation picked, per seed: "
                     + ", ".join(f"c={c:g} x{n}" for c, n in sorted(picks.items()))
                     + f" (of {len(bounds)} bounds; dropout alone has no knob, so the max-norm side gets the better of "
                     "several tries on validation and a null is, if anything, conservative). "
                     + (f"c = {', '.join(below)} lie below the default init's row norm (1/√3 ≈ 0.577) and rescale "
                        "every hidden unit from the first step (most rows then stay at the bound): nearly a fixed-norm "
                        "net, not a cap that is grown into."
                        if below else "Every bound lies above the default init's row norm (1/√3 ≈ 0.577): each is "
                        "grown into."))
    if math.isfinite(base):
        gain, error = SOURCE_GAIN
        relative = gain / error * base
        lines.append(f"Scale: the source's gain is {100 * gain:.2g} points of error, {gain / error:.0%} of its "
                     f"{100 * error:g}%. The margin ±{MAXNORM_MARGIN:g} is {MAXNORM_MARGIN / base:.0%} of dropout "
                     f"alone's error here ({base:.4f}): a gain as large relative to the error as the source's "
                     f"({relative:.4f}) {'exceeds' if relative > MAXNORM_MARGIN else 'does not exceed'} it, one as "
                     f"large in absolute points ({gain:g}) {'exceeds' if gain > MAXNORM_MARGIN else 'does not'}.")
    return lines


def rate_note(tune_runs) -> list[str]:
    """DO-RATE's searches (its test reads the tuning runs): each search's pick, and where the tuned rates fall."""
    from harness import stats

    picks = searches.tuned_rates(tune_runs)
    if picks.empty:
        return []
    per_search = "; ".join(f"{r.search}: input {r.p_input:.2f}, hidden {r.p_hidden:.2f} (validation error "
                           f"{r.val_error:.4f}, best of {r.trials})" for r in picks.itertuples())
    lines = [f"Each search's best trial — {per_search}."]
    if len(picks) >= 2:
        parts = []
        for name in ("p_hidden", "p_input"):
            values = picks[name].to_numpy(float)
            low, high = stats.t_interval(values, 0.95)
            parts.append(f"{'hidden' if name == 'p_hidden' else 'input'} {values.mean():.2f} (picks "
                         f"{values.min():.2f}–{values.max():.2f}; 95% t-interval [{low:.2f}, {high:.2f}], which "
                         "can run past the range the rates are drawn from)")
        lines.append(f"Tuned retain probabilities over {len(picks)} searches: {', '.join(parts)}; the customary "
                     f"values are {Settings.p_hidden} (hidden) and {Settings.p_input} (input).")
    done = tune_runs[tune_runs["arm"].str.startswith(searches.PREFIX) & (tune_runs["status"] == "FINISHED")]
    if "metrics.epochs_trained" in done and len(done):
        epochs = done["metrics.epochs_trained"].astype(float)
        lines.append("Every search trial trained to its own validation plateau: "
                     f"{epochs.min():.0f}–{epochs.max():.0f} epochs (median {epochs.median():.0f}).")
    return lines


def rate_section(runs) -> list[str]:
    """The tuned settings on fresh seeds (one replicate per search) against the customary rates' replicates."""
    arms = sorted(a for a in set(runs["arm"]) if a.startswith(searches.PREFIX))
    if not arms:
        return []
    tuned = runs[runs["arm"].isin(arms)]["metrics.test_error"].astype(float)
    return ["## DO-RATE: the tuned settings' test error", "",
            f"Each search's best retain probabilities, trained once more on a fresh seed and measured like every "
            f"replicate: test error {tuned.mean():.4f} on average over {len(tuned)} searches (range "
            f"{tuned.min():.4f}–{tuned.max():.4f}), against {arm_mean(runs, BASE, 'test_error'):.4f} for the "
            "customary (0.8 input, 0.5 hidden) over its seeds. Descriptive: the claim is about which rates tuning "
            "finds, not about their error.", ""]


def dropconnect_section(runs) -> list[str]:
    mean, (low, high), n = _paired(runs, "dropconnect", "dropout")
    return ["## DropConnect: a described measurement, not a claim", "",
            "> DropConnect is the generalization of dropout in which each connection, rather than each output unit, "
            "can be dropped with probability 1−p.", "",
            "The sentence is a definition, and no sentence of its section compares DropConnect with dropout or with "
            "no regularization (\"DropConnect is similar to dropout as it introduces dynamic sparsity … but differs "
            "in that the sparsity is on the weights\"), so there is nothing to give a verdict on. We measure it "
            "beside dropout at the same retain rates (0.8 input, 0.5 on the hidden weights), trained to its own "
            "validation plateau; Wan et al. 2013 report 1.20% (DropConnect) vs 1.28% (dropout) MNIST test error.", "",
            f"Test error at the best validation epoch: DropConnect {arm_mean(runs, 'dropconnect', 'test_error'):.4f}, "
            f"dropout {_mean_on(runs, 'dropout', 'dropconnect'):.4f} on the same {n} seeds "
            f"({arm_mean(runs, 'dropout', 'test_error'):.4f} over all its seeds); DropConnect − dropout {mean:+.4f} "
            f"(95% t-interval [{low:+.4f}, {high:+.4f}], n = {n} seeds). Epochs to the best validation error on "
            f"those seeds: {arm_mean(runs, 'dropconnect', 'best_epoch'):.3g} vs "
            f"{_mean_on(runs, 'dropout', 'dropconnect', 'best_epoch'):.3g}.", "",
            "One weight mask per minibatch, where Wan et al. draw one per example: a per-example mask of the "
            "784x512 layer at batch 128 is 51M random draws a step, 128 times the per-minibatch mask's 0.4M, and "
            "every example needs its own masked copy of the weights, so the layer's one matrix product becomes 128 "
            "matrix-vector products. The batched engine (harness.ensemble) stacks seeds, not examples, so it does not "
            "make per-example masks affordable either. Measured: `python -m harness.bench dropconnect-masks` times "
            "this net both ways on the same steps through the study's training path "
            "(`harness.dropnets.DropConnectLinear(per_example=True)`); on the 2-core machine of the committed "
            "reports a step with per-example masks took two orders of magnitude longer (the number: README, "
            "Benchmarks).", ""]


def sections(fig_ctx) -> list[str]:
    """Wall-clock time per epoch: a measurement of this machine under its load at the time, so it lives in
    report.md only, never in verdicts.json, whose numbers `make verify-reports` holds to 1e-9."""
    runs = fig_ctx.finished
    return [*rate_section(runs), *dropconnect_section(runs),
            "## Wall-clock time", "",
            "Median seconds per epoch on the machine that ran the study: "
            f"{arm_mean(runs, 'none', 'median_epoch_seconds'):.3f} without dropout, "
            f"{arm_mean(runs, 'dropout', 'median_epoch_seconds'):.3f} with (DO-SPEED's third speed; "
            "not reproducible to the digit).", ""]
