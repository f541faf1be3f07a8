"""The dropout study's report notes: the numbers behind each verdict, in words,
and the report-only "Wall-clock time" section."""
from __future__ import annotations

from harness.claims import arm_mean
from studies.dropout.settings import Settings


def overfit_note(runs) -> list[str]:
    lines = []
    large = runs[runs["arm"] == "none"]["params.config.n_train"] if "params.config.n_train" in runs else []
    for arm in sorted({a.split("-")[1] for a in set(runs["arm"]) if a.startswith("none-")}, key=int) + [""]:
        plain, dropped = (f"none-{arm}", f"dropout-{arm}") if arm else ("none", "dropout")
        size = arm or (large.iloc[0] if len(large) else "the large subset of")
        lines.append(f"{size} training images: test error {arm_mean(runs, plain, 'test_error'):.4f} → "
                     f"{arm_mean(runs, dropped, 'test_error'):.4f} with dropout; train−test gap "
                     f"{arm_mean(runs, plain, 'gap'):.4f} → {arm_mean(runs, dropped, 'gap'):.4f}.")
    return lines


def scaling_note(runs) -> list[str]:
    ks = ", ".join(f"k={k}: {arm_mean(runs, 'dropout', f'mc_error_k{k}'):.4f}" for k in Settings.mc_samples)
    return [f"MC averaging test error — {ks}; weight scaling {arm_mean(runs, 'dropout', 'scaling_error'):.4f}. "
            f"Crossover (smallest k at least as good as scaling, {2 * Settings.mc_samples[-1]} = not reached): "
            f"{arm_mean(runs, 'dropout', 'crossover_k'):.3g} on average, against about 50 in Srivastava et al. Fig. 11."]


def speed_note(runs) -> list[str]:
    return [f"Epochs to the best test error: {arm_mean(runs, 'none', 'epochs_to_best_test'):.3g} without dropout vs "
            f"{arm_mean(runs, 'dropout', 'epochs_to_best_test'):.3g} with. Runs reaching the loss target: "
            f"{arm_mean(runs, 'none', 'reached_loss_target'):.0%} vs {arm_mean(runs, 'dropout', 'reached_loss_target'):.0%}. "
            "The primary source says the opposite of the seed text: \"a dropout network typically takes 2-3 times "
            "longer to train than a standard neural network\" (§7). Seconds per epoch: see \"Wall-clock time\"."]


def sections(fig_ctx) -> list[str]:
    """Wall-clock time per epoch: a measurement of this machine under its load at the time, so it lives in
    report.md only, never in verdicts.json, whose numbers `make verify-reports` holds to 1e-9."""
    runs = fig_ctx.finished
    return ["## Wall-clock time", "",
            f"Median seconds per epoch on the machine that ran the study: {arm_mean(runs, 'none', 'epoch_seconds'):.3f} "
            f"without dropout, {arm_mean(runs, 'dropout', 'epoch_seconds'):.3f} with (DO-SPEED's third speed; "
            "not reproducible to the digit).", ""]


def maxnorm_note(runs) -> list[str]:
    sweep = sorted((float(a.split("-c")[1]), a) for a in set(runs["arm"]) if a.startswith("maxnorm-c"))
    errors = ", ".join(f"c={c:g}: {arm_mean(runs, a, 'test_error'):.4f}" for c, a in sweep)
    return [f"Largest hidden-unit weight norm after training without the constraint: "
            f"{arm_mean(runs, 'dropout', 'max_row_norm'):.3g} (a bound c above it never binds, and the run is then "
            f"identical to plain dropout). Test error by bound (c ≠ 3: replicate 0 only): {errors}; dropout alone "
            f"{arm_mean(runs, 'dropout', 'test_error'):.4f}. Srivastava et al. pair max-norm with large learning rates "
            "(the constraint is what lets them use those), which this protocol (SGD, lr 0.05) does not."]


def rate_note(runs) -> list[str]:
    rows = runs[(runs["arm"] == "rate-tuned") & (runs["status"] == "FINISHED")]
    if rows.empty or "params.hp.p_input" not in rows:
        return []
    p_in, p_h = float(rows["params.hp.p_input"].iloc[0]), float(rows["params.hp.p_hidden"].iloc[0])
    return [f"TPE's best retain probabilities: input {p_in:.3f}, hidden {p_h:.3f} (customary: 0.8, 0.5). "
            f"Input higher than hidden: {'yes' if p_in > p_h else 'no'}. One tuning study, so no interval on these."]
