"""The batchnorm study's report notes: the numbers behind each verdict, in words."""
from __future__ import annotations

from harness.claims import arm_mean
from harness.claimtests import Better, Extrapolated, FasterAtBest, Similar, Trend
from studies.batchnorm.settings import (EXPLODE_ARMS, FASTER_5X_ARM, NOISY_MARGIN, RELU_LIMIT, SPEED_ARMS, Settings,
                                        depth_arm, faster_ladder, faster_rates, noisy_arm, noniid_arm, smooth_arm,
                                        stability_arm)


def speed_note(runs) -> list[str]:
    """Steps to the target per arm, censored runs as bounds: a run that never
    reached the target is at least the step budget, so an arm with any such
    run has a mean of at least its printed value, and a speed-up over it is a
    lower bound (none when the faster arm is censored too)."""
    arms = SPEED_ARMS
    steps = {a: arm_mean(runs, a, "steps_to_target") for a in arms}
    censored = {a: 1 - arm_mean(runs, a, "reached_target") for a in arms}

    def mean(a: str) -> str:
        return f"{'≥ ' if censored[a] else ''}{steps[a]:.0f}"

    def speedup(a: str) -> str:
        if censored[a]:
            return "not bounded (both arms censored)" if censored["mlp"] else f"≤ {steps['mlp'] / steps[a]:.2f}x"
        return f"{'≥ ' if censored['mlp'] else ''}{steps['mlp'] / steps[a]:.2f}x"

    return [f"Steps to {Settings.target_accuracy:.0%} test accuracy (mean): "
            + ", ".join(f"{label} {mean(a)}" for a, label in arms.items())
            + f"; speed-up of BN {speedup('mlp-bn')} and of {arms[FASTER_5X_ARM]} {speedup(FASTER_5X_ARM)}, beside the paper's "
            "31.0M/13.3M = 2.3x and 31.0M/2.1M = 14.8x on Inception. Runs that never reached the target within the "
            "step budget (censored: each counts as the budget, a lower bound): "
            + ", ".join(f"`{a}` {v:.0%}" for a, v in censored.items()) + ".",
            "'More stable' is tested separately: BN-STABLE."]


def faster_best_note(runs) -> list[str]:
    """Per side of BN-FASTER-BEST, at which rates each seed was fastest (a tie,
    common with times read every ``eval_every`` steps, counts for each rate in
    it), and whether the side's optimum lies inside the ladder: a seed fastest
    at the lowest (highest) rate alone might be faster still below (above) it,
    and a wider ladder could only shorten that side's best time (a minimum over
    more runs), never lengthen it. Then, seed by seed, how BN's fastest rates
    lie against no BN's (the paper's BN network was fastest at a higher rate)."""
    test = FasterAtBest("steps_to_target", faster_ladder("mlp-bn"), faster_ladder("mlp"))
    lines, fastest = [], {}
    for label, ladder in (("BN", test.arms_ladder), ("no BN", test.baselines_ladder)):
        _, _, rung = test.best(runs, ladder)
        if rung.empty:
            return []
        rate = dict(zip(ladder, faster_rates()))
        tied = {replicate: [rate[a] for a in rungs] for replicate, rungs in rung.items()}
        fastest[label] = tied

        def count(lr: float) -> str:
            among = [rates for rates in tied.values() if lr in rates]
            shared = sum(len(rates) > 1 for rates in among)
            return f"{lr:g} in {len(among)}" + (f" ({shared} tied)" if shared else "")

        never = sum(not rates for rates in tied.values())
        alone = {end: sum(rates == [rate[a]] for rates in tied.values())
                 for end, a in (("lowest", ladder[0]), ("highest", ladder[-1]))}
        if never == len(tied):
            where = "unknown: no seed reached the target at any rate"
        elif any(alone.values()):
            edges = " and ".join(f"{n} at the {end} rate alone" for end, n in alone.items() if n)
            where = (f"not bracketed: {edges}, where a rate beyond the ladder might be faster still (a wider ladder "
                     f"could only shorten {label}'s best time)")
        else:
            where = "bracketed: in no seed was the lowest or the highest rate faster than every other"
        lines.append(f"{label}'s fastest rate per seed (a tie counts for each rate in it) — "
                     f"{', '.join(count(lr) for lr in faster_rates())} of {len(tied)} seeds"
                     + (f" (none reached the target in {never})" if never else "") + f"; its optimum is {where}.")
    both = [r for r in fastest["BN"] if fastest["BN"][r] and fastest["no BN"].get(r)]
    if both:
        below = sum(max(fastest["BN"][r]) < min(fastest["no BN"][r]) for r in both)
        above = sum(min(fastest["BN"][r]) > max(fastest["no BN"][r]) for r in both)
        lines.append(f"Seed by seed, BN's fastest rates all lay below no BN's in {below} of {len(both)} seeds and all "
                     f"above in {above} (the paper's BN network was fastest at a higher rate than its baseline's).")
    return lines


def stability_note(runs) -> list[str]:
    rates = "; ".join(f"lr {lr:g}: no BN {arm_mean(runs, stability_arm('mlp', lr), 'unstable'):.0%} unstable "
                      f"(test acc {arm_mean(runs, stability_arm('mlp', lr), 'test_acc'):.3f}), BN "
                      f"{arm_mean(runs, stability_arm('mlp-bn', lr), 'unstable'):.0%} "
                      f"({arm_mean(runs, stability_arm('mlp-bn', lr), 'test_acc'):.3f})"
                      for lr in Settings.stability_lrs)

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

            cells.append(f"loss {level:g}·ln 10 (reached at step {m(none, 'step'):.0f} without BN, "
                         f"{m(bn, 'step'):.0f} with): β_sf {m(none, 'beta_sf'):.3g} vs {m(bn, 'beta_sf'):.3g}, raw β "
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
                 "of the run on a chance-level plateau: loss_curves.png), no BN vs BN: "
                 f"β {arm_mean(runs, 'mlp', 'beta_smoothness_median'):.3g} "
                 f"vs {arm_mean(runs, 'mlp-bn', 'beta_smoothness_median'):.3g}, loss variation "
                 f"{arm_mean(runs, 'mlp', 'loss_range_median'):.3g} vs "
                 f"{arm_mean(runs, 'mlp-bn', 'loss_range_median'):.3g}, "
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
            f"Both fits read the four arms' runs at the verdict's look ({norm.n} points). "
            + verdict[(within(norm), within(squared))]]


def skip_note(runs) -> list[str]:
    """The explosion the skips are said to relieve, at initialization, beside the accuracy the verdict reads."""
    plain, residual = (arm_mean(runs, a, "lambda") for a in ("explode-relu-b128", "explode-relu-residual-b128"))
    best, best_lr = max((arm_mean(runs, depth_arm("deep", lr), "test_acc"), lr) for lr in Settings.deep_lrs)
    residual_acc = arm_mean(runs, "deep-bn-residual", "test_acc")
    return [f"The explosion at initialization (ReLU, m = 128, λ per layer): without skips {plain:.4f}, with them "
            f"{residual:.4f}" + (" — smaller, but still above 1: reduced, not removed, at this depth." if residual > 1
                                 else " — at or below 1: removed."),
            f"Without skips the deep network reaches test accuracy {best:.3f} at its best rate of the ladder "
            f"(lr {best_lr:g}; BN-UNTRAINABLE), against {residual_acc:.3f} with skips at lr {Settings.deep_lr:g}: the "
            "relief tested is in accuracy at the shared rate."]


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
    lines = ["Test accuracy by batch size, each arm at its validation plateau — " + "; ".join(parts) + "."]
    if "metrics.grad_alignment_end" in runs:
        # the cause the sentence names, measured beside the trend (descriptive: no test reads it)
        cells = [f"m = {m}: no BN {arm_mean(runs, noniid_arm('none', m), 'grad_alignment_init'):.3f} → "
                 f"{arm_mean(runs, noniid_arm('none', m), 'grad_alignment_end'):.3f}, BN "
                 f"{arm_mean(runs, noniid_arm('bn', m), 'grad_alignment_init'):.3f} → "
                 f"{arm_mean(runs, noniid_arm('bn', m), 'grad_alignment_end'):.3f}" for m in Settings.noniid_levels]
        lines.append(f"Gradient quality, the cause the sentence names (descriptive): the mean cosine between a batch "
                     f"of m's gradient and that of the first {Settings.noniid_grad_ref} training examples (all, when "
                     f"fewer), over {Settings.noniid_grad_draws} batches, in training mode, at initialization → at "
                     f"the weights tested — " + "; ".join(cells) + ". Lower with BN at the same m means BN's batches "
                     "estimate the gradient worse; without BN the batch gradient is unbiased and only its noise "
                     "grows as m shrinks. At the weights tested both gradients are small, so noise weighs more there "
                     "than at initialization, where the two networks start alike.")
    # a linear trend over every m can rest on one end: the same slope without the smallest m says whether it does
    rest = Settings.noniid_levels[1:]
    e = Trend("test_acc", {noniid_arm("bn", m): m for m in rest}, direction="increasing",
              baselines={noniid_arm("bn", m): noniid_arm("none", m) for m in rest}).evaluate(runs)
    if e.interval is not None:
        lo, hi = e.interval(0.05)
        lines.append(f"The same slope without m = {Settings.noniid_levels[0]} (m = {', '.join(map(str, rest))}; "
                     f"descriptive, unadjusted): {e.effect:+.4f} per doubling of m [{lo:+.4f}, {hi:+.4f}] (95%), "
                     f"n = {e.n}: where it is not positive, the tested trend rests on the smallest batch.")
    return lines


# BN-ICS-DLN and BN-ICS-VGG show both of Santurkar's measures; this says which one decides
READS_COSINE = "The verdict reads the cosine, the quantity of the sentence ('correlations of gradients')."


def dln_note(runs) -> list[str]:
    """Both of Santurkar's ICS measures for both deep linear networks."""
    cells = {arm: (arm_mean(runs, arm, "ics_cos_median"), arm_mean(runs, arm, "ics_median"),
                   arm_mean(runs, arm, "ics_relative_median")) for arm in ("dln", "dln-bn")}
    lines = ["Median over training (mean over layers 2–25): " + "; ".join(
        (f"`{arm}` cos(G, G′) {c:.4f} (1 − cos {1 - c:.2g}), ‖G − G′‖ {n:.3g}, "
         f"‖G − G′‖/‖G‖ {r:.3g}")
        for arm, (c, n, r) in cells.items()) + ". " + READS_COSINE]
    largest = max(r for _, _, r in cells.values())
    if largest < 0.05:  # the update moves the gradient by a few percent at most: both cosines sit at 1
        lines.append(f"Both networks sit next to the cosine's ceiling: the earlier layers' update changes a layer's "
                     f"gradient by {largest:.1%} of its norm (median over training, the larger arm), so a difference "
                     "between the arms, of either sign, is small against the range the measure can take.")
    return lines


def vgg_ics_note(runs) -> list[str]:
    """Both of Santurkar's ICS measures for the VGG-style CNN, per rate, at matched loss."""
    def cell(norm: str, lr: float) -> str:
        arm = smooth_arm(norm, lr)
        return (f"{'BN' if norm == 'bn' else 'no BN'} cos(G, G′) {arm_mean(runs, arm, 'ics_cos_matched'):.4f}, "
                f"‖G − G′‖/‖G‖ {arm_mean(runs, arm, 'ics_relative_matched'):.3g}")

    cells = [f"lr {lr:g}: " + ", ".join(cell(norm, lr) for norm in ("none", "bn")) for lr in Settings.smooth_lrs]
    return ["Mean over the matched-loss levels (mean over layers 2–6) — " + "; ".join(cells)
            + ". " + READS_COSINE,
            "Not a test, and not the sentence's subject: the BN-FASTER sigmoid MLP, probed every few hundred steps "
            f"(equal steps, not equal loss), median cos(G, G′) over layers 2–4 no BN "
            f"{arm_mean(runs, 'mlp', 'ics_cos_median'):.4f}, BN {arm_mean(runs, 'mlp-bn', 'ics_cos_median'):.4f}. "
            "Without BN that MLP spends much of the run on or near its chance plateau (loss_curves.png), where its "
            "gradients barely change from step to step whatever the covariate shift: the matched-loss probes above "
            "are the fair comparison."]


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
            f"Epochs each CNN trained (mean): {epochs}."]


def noisy_standard_note(runs) -> list[str]:
    """Each BN CNN against the one without BN: BN, and noisy BN at every scale
    of the sweep (descriptive: the sweep's other scales ran one look of seeds)."""
    def against_standard(label: str, arm: str) -> str:
        e = Better("test_acc", arm, "cnn", lower_is_better=False).evaluate(runs)
        if e.interval is None:
            return f"{label} too few seeds"
        lo, hi = e.interval(0.05)
        return f"{label} {e.effect:+.4f} [{lo:+.4f}, {hi:+.4f}], n = {e.n}"

    arms = [("BN", "cnn-bn")] + [(f"noisy BN x{scale:g}", noisy_arm(scale))
                                 for scale in sorted((Settings.noise_scale, *Settings.noise_sweep))]
    return ["Test accuracy minus the CNN without BN, with its 95% t-interval, paired by seed (unadjusted) — "
            + "; ".join(against_standard(label, arm) for label, arm in arms)
            + f". The claims' noise is x{Settings.noise_scale:g}; the paper gives no magnitude, so the verdict holds "
            "for this one."]


def untrainable_note(runs) -> list[str]:
    """Per rung of the ladder: both nets' mean accuracy and how many runs diverged."""
    parts = []
    for lr in Settings.deep_lrs:
        deep, shallow = depth_arm("deep", lr), depth_arm("shallow", lr)
        parts.append(f"lr {lr:g}: deep {arm_mean(runs, deep, 'test_acc'):.3f} "
                     f"({arm_mean(runs, deep, 'diverged'):.0%} diverged), shallow "
                     f"{arm_mean(runs, shallow, 'test_acc'):.3f} ({arm_mean(runs, shallow, 'diverged'):.0%})")
    return ["Test accuracy by learning rate (mean over seeds) — " + "; ".join(parts) + "."]
