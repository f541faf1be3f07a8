"""The batchnorm study's report notes: the numbers behind each verdict, in words."""
from __future__ import annotations

from harness.claims import arm_mean
from harness.claimtests import Extrapolated, Similar
from studies.batchnorm.settings import (EXPLODE_ARMS, NOISY_MARGIN, RELU_LIMIT, Settings, depth_arm, noisy_arm,
                                        noniid_arm, smooth_arm, stability_arm)


def speed_note(runs) -> list[str]:
    base, bn, fast = (arm_mean(runs, a, "steps_to_target") for a in ("mlp", "mlp-bn", "mlp-bn-5x"))
    reached = {a: arm_mean(runs, a, "reached_target") for a in ("mlp", "mlp-bn", "mlp-bn-5x")}
    return [f"Steps to {Settings.target_accuracy:.0%} test accuracy (mean): no BN {base:.0f}, BN {bn:.0f}, "
            f"BN at 5x lr {fast:.0f}; speed-up {base / bn:.2f}x and {base / fast:.2f}x, against the paper's 31.0M/13.3M = 2.3x and "
            f"31.0M/2.1M = 14.8x on Inception. Share of runs that reached the target: "
            + ", ".join(f"`{a}` {v:.0%}" for a, v in reached.items())
            + " (a run that never reached it counts the whole step budget, which understates the faster arm).",
            "'More stable' is tested separately: BN-STABLE."]


def stability_note(runs) -> list[str]:
    rates = "; ".join(f"lr {lr:g}: no BN {arm_mean(runs, stability_arm('mlp', lr), 'unstable'):.0%} unstable "
                      f"(test acc {arm_mean(runs, stability_arm('mlp', lr), 'test_acc'):.3f}), BN "
                      f"{arm_mean(runs, stability_arm('mlp-bn', lr), 'unstable'):.0%} "
                      f"({arm_mean(runs, stability_arm('mlp-bn', lr), 'test_acc'):.3f})" for lr in Settings.stability_lrs)

    def sd(arm: str) -> float:
        return runs[(runs["arm"] == arm) & (runs["status"] == "FINISHED")]["metrics.test_acc"].std()

    spreads = "; ".join(f"lr {lr:g}: no BN {sd(stability_arm('mlp', lr)):.4f}, BN {sd(stability_arm('mlp-bn', lr)):.4f}"
                        for lr in Settings.stability_lrs)
    return [f"Share of unstable runs by learning rate — {rates}.",
            f"Seed-to-seed SD of the final test accuracy (the second measure, descriptive) — lr {Settings.mlp_lr:g}: "
            f"no BN {sd('mlp'):.4f}, BN {sd('mlp-bn'):.4f}; {spreads}."]


def smooth_note(runs) -> list[str]:
    """Per learning rate and loss level: the scale-free β (the verdict's form)
    and the raw one for both CNNs, where each level was reached, and the
    other two measures; then the earlier raw medians over the sigmoid MLP."""
    lines = []
    for lr in Settings.smooth_lrs:
        none, bn = smooth_arm("none", lr), smooth_arm("bn", lr)
        cells = []
        for i, level in enumerate(Settings.smooth_levels):
            def m(arm: str, key: str) -> float:
                return arm_mean(runs, arm, f"{key}_L{i}") if f"metrics.{key}_L{i}" in runs else float("nan")

            cells.append(f"loss {level:g}·ln 10 (reached at step {m(none, 'step'):.0f} without BN, {m(bn, 'step'):.0f} "
                         f"with): β_sf {m(none, 'beta_sf'):.3g} vs {m(bn, 'beta_sf'):.3g}, raw β "
                         f"{m(none, 'beta_raw'):.3g} vs {m(bn, 'beta_raw'):.3g}, relative gradient change "
                         f"{m(none, 'grad_change_sf'):.3g} vs {m(bn, 'grad_change_sf'):.3g}, loss variation "
                         f"{m(none, 'loss_range_sf'):.3g} vs {m(bn, 'loss_range_sf'):.3g}, ‖w‖ "
                         f"{m(none, 'weight_norm'):.3g} vs {m(bn, 'weight_norm'):.3g}")
        reached = f"levels reached: no BN {arm_mean(runs, none, 'levels_reached'):.2f}, BN " \
                  f"{arm_mean(runs, bn, 'levels_reached'):.2f} of {len(Settings.smooth_levels)} (mean)"
        lines.append(f"VGG-style CNN at lr {lr:g}, no BN vs BN (means over seeds) — " + "; ".join(cells)
                     + f"; {reached}.")
    lines.append("The verdict reads the scale-free β_sf (mean log10 over the levels); the raw β is Santurkar's form "
                 "and moves with the weight norm.")
    lines.append(f"The earlier measure, raw medians over the whole BN-FASTER sigmoid-MLP run (where no BN spends much "
                 f"of the run on a chance-level plateau: loss_curves.png): β {arm_mean(runs, 'mlp', 'beta_smoothness_median'):.3g} "
                 f"vs {arm_mean(runs, 'mlp-bn', 'beta_smoothness_median'):.3g}, loss variation "
                 f"{arm_mean(runs, 'mlp', 'loss_range_median'):.3g} vs {arm_mean(runs, 'mlp-bn', 'loss_range_median'):.3g}, "
                 f"gradient predictiveness {arm_mean(runs, 'mlp', 'grad_predictiveness_median'):.3g} vs "
                 f"{arm_mean(runs, 'mlp-bn', 'grad_predictiveness_median'):.3g}.")
    return lines


def explode_note(runs) -> list[str]:
    parts = [f"m={b}: λ {arm_mean(runs, f'explode-relu-b{b}', 'lambda'):.4f}, λ of the squared norm "
             f"{arm_mean(runs, f'explode-relu-b{b}', 'lambda_sq'):.4f}" for b in Settings.explode_batches]
    return ["ReLU, by batch size — " + "; ".join(parts) + f". π/(π−1) = {RELU_LIMIT:.4f}.",
            f"Controls at m=128: linear activation λ {arm_mean(runs, 'explode-linear-b128', 'lambda'):.4f}; residual "
            f"ReLU λ {arm_mean(runs, 'explode-relu-residual-b128', 'lambda'):.4f}."]


def limit_note(runs) -> list[str]:
    batches = {a: int(a.rsplit("b", 1)[1]) for a in EXPLODE_ARMS}
    norm = Extrapolated("lambda", batches, RELU_LIMIT, 0.1).evaluate(runs)
    squared = Extrapolated("lambda_sq", batches, RELU_LIMIT, 0.1).evaluate(runs)
    if norm.interval is None or squared.interval is None:
        return []

    def within(e) -> str:
        return "within" if abs(e.effect - RELU_LIMIT) < 0.1 else "outside"

    verdict = {
        ("outside", "within"): f"The seed text's {RELU_LIMIT:.3f} describes the growth of the squared gradient norm, "
                               "not of the norm it names.",
        ("within", "outside"): f"The seed text's {RELU_LIMIT:.3f} describes the growth of the norm, as it says.",
        ("within", "within"): "Both fits fall within the margin: this budget cannot tell norm from square.",
        ("outside", "outside"): "Neither fit falls within the margin.",
    }
    sq_ci, norm_ci = squared.interval(0.05), norm.interval(0.05)
    return [f"Norm or square? The same fit on the squared gradient norm gives λ∞ = {squared.effect:.4f} "
            f"[{sq_ci[0]:.4f}, {sq_ci[1]:.4f}] (95%, {within(squared)} ±0.1 of {RELU_LIMIT:.4f}); on the norm "
            f"λ∞ = {norm.effect:.4f} [{norm_ci[0]:.4f}, {norm_ci[1]:.4f}] ({within(norm)}); λ_norm² = λ_square. "
            + verdict[(within(norm), within(squared))]]


def inference_note(runs) -> list[str]:
    return [f"Without the m/(m−1) factor the running variance would be off by "
            f"{arm_mean(runs, 'inference', 'var_rel_error_without_factor'):.3g} (relative), i.e. 1/(m−1) for m = 16. "
            f"In train mode an example's output changes with its batch by up to "
            f"{arm_mean(runs, 'inference', 'train_batch_dependence'):.3g}."]


def noniid_note(runs) -> list[str]:
    """Per batch size: both arms' test accuracy, BN's with each test batch
    normalised by itself, and the training accuracy (is either arm under-fitted?)."""
    parts = []
    for m in Settings.noniid_levels:
        none, bn = noniid_arm("none", m), noniid_arm("bn", m)
        parts.append(f"m = {m}: no BN {arm_mean(runs, none, 'test_acc'):.3f}, BN {arm_mean(runs, bn, 'test_acc'):.3f} "
                     f"(with the test batch's own statistics {arm_mean(runs, bn, 'batch_stat_acc'):.3f}; training "
                     f"accuracy {arm_mean(runs, none, 'train_acc'):.3f} and {arm_mean(runs, bn, 'train_acc'):.3f}; "
                     f"steps trained {arm_mean(runs, none, 'steps_trained'):.0f} and "
                     f"{arm_mean(runs, bn, 'steps_trained'):.0f})")
    return ["Test accuracy by batch size, each arm at its validation plateau — " + "; ".join(parts) + "."]


# BN-ICS-DLN and BN-ICS-VGG show both of Santurkar's measures; this says which one decides
READS_COSINE = "The verdict reads the cosine, the quantity of the sentence ('correlations of gradients')."


def dln_note(runs) -> list[str]:
    """Both of Santurkar's ICS measures for both deep linear networks."""
    cells = {arm: (arm_mean(runs, arm, "ics_cos_median"), arm_mean(runs, arm, "ics_median"),
                   arm_mean(runs, arm, "ics_relative_median")) for arm in ("dln", "dln-bn")}
    return ["Median over training (mean over layers 2–25): " + "; ".join(
        f"`{arm}` cos(G, G′) {c:.4f}, ‖G − G′‖ {n:.3g}, ‖G − G′‖/‖G‖ {r:.3g}" for arm, (c, n, r) in cells.items())
        + ". " + READS_COSINE]


def vgg_ics_note(runs) -> list[str]:
    """Both of Santurkar's ICS measures for the VGG-style CNN, per rate, at matched loss."""
    def cell(norm: str, lr: float) -> str:
        arm = smooth_arm(norm, lr)
        return (f"{'BN' if norm == 'bn' else 'no BN'} cos(G, G′) {arm_mean(runs, arm, 'ics_cos_matched'):.4f}, "
                f"‖G − G′‖/‖G‖ {arm_mean(runs, arm, 'ics_relative_matched'):.3g}")

    cells = [f"lr {lr:g}: " + ", ".join(cell(norm, lr) for norm in ("none", "bn")) for lr in Settings.smooth_lrs]
    return ["Mean over the matched-loss levels (mean over layers 2–6) — " + "; ".join(cells)
            + ". " + READS_COSINE]


def noisy_note(runs) -> list[str]:
    """The noise sweep: per scale, noisy BN − BN with its 90% interval (the
    TOST at α = 0.05 each side: equivalent when inside ±margin), and the
    largest scale at which that holds. Descriptive: the sweep's scales other
    than the claims' ran one look of seeds and take no part in the Holm family."""
    def stopped(arm: str) -> float:
        return arm_mean(runs, arm, "stopped_early") if "metrics.stopped_early" in runs else 0.0

    cells, holds = [], []
    for scale in sorted((Settings.noise_scale, *Settings.noise_sweep)):
        e = Similar("test_acc", noisy_arm(scale), "cnn-bn", NOISY_MARGIN).evaluate(runs)
        if e.interval is None:
            continue
        lo, hi = e.interval(0.10)
        inside = -NOISY_MARGIN < lo and hi < NOISY_MARGIN
        holds += [scale] if inside else []
        cells.append(f"x{scale:g}: {e.effect:+.4f} [{lo:+.4f}, {hi:+.4f}], n = {e.n}"
                     + (" (similar)" if inside else ""))
    if not cells:
        return []
    largest = (f"the largest scale at which 'similar accuracy' holds is x{max(holds):g}" if holds else
               "'similar accuracy' holds at none of the scales")
    epochs = ", ".join(f"`{a}` {arm_mean(runs, a, 'epochs_trained'):.1f} ({stopped(a):.0%} stopped on patience)"
                       for a in ("cnn", "cnn-bn", noisy_arm(Settings.noise_scale)))
    return ["Noise sweep (scale x1 = the claims' noise, μ_k ~ U(−0.5, 0.5), σ_k ~ U(0, 1); x s multiplies both), "
            "test accuracy of noisy BN − BN with its 90% t-interval, paired by seed — " + "; ".join(cells)
            + f". Margin ±{NOISY_MARGIN:g}, fixed before the run: {largest} (descriptive: unadjusted, one look).",
            f"Epochs each CNN trained (mean; the rest reached the epoch cap): {epochs}."]


def untrainable_note(runs) -> list[str]:
    """Per rung of the ladder: both nets' mean accuracy and how many runs diverged."""
    parts = []
    for lr in Settings.deep_lrs:
        deep, shallow = depth_arm("deep", lr), depth_arm("shallow", lr)
        parts.append(f"lr {lr:g}: deep {arm_mean(runs, deep, 'test_acc'):.3f} "
                     f"({arm_mean(runs, deep, 'diverged'):.0%} diverged), shallow "
                     f"{arm_mean(runs, shallow, 'test_acc'):.3f} ({arm_mean(runs, shallow, 'diverged'):.0%})")
    return ["Test accuracy by learning rate (mean over seeds) — " + "; ".join(parts) + "."]
