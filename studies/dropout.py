"""Study ``dropout``: overfitting, weight scaling, speed, retain rates, conv
layers, DropConnect and max-norm.

Claims (see shared/claims.md): DO-OVERFIT (gap and error), DO-SCALING,
DO-SPEED, DO-RATE, DO-CONV, DO-DROPCONNECT and DO-MAXNORM, each tested on the
seed text's words.

Protocol: Fashion-MNIST subsets; a 784-512-512-10 ReLU MLP trained with SGD
(momentum 0.9) long enough to overfit, with dropout at Srivastava et al.'s
customary retain probabilities (0.8 input, 0.5 hidden) or without; train and
test error logged every epoch. Weight scaling is torch's inverted dropout
(kept units scaled by 1/p in training), the same network as scaling weights
by p at test time. DropConnect draws one weight mask per minibatch (see
harness.dropnets for why). The retain rates are tuned with Optuna's TPE on a
validation split; the tuned and the customary settings are then replicated on
fresh seeds.
"""
from __future__ import annotations

from harness.checks import Converged, Trained, TunedAlike
from harness.claimtests import Better, Bound, Faster, Similar
from harness.claims import Claim, arm_mean
from harness.discovery import register
from harness.study import Arm, Budget, Study, StudyDeclarationError, Tuning

FASHION = "fashion-mnist"
HIDDEN = (512, 512)
P_INPUT, P_HIDDEN = 0.8, 0.5  # Srivastava et al.'s customary retain probabilities
LR, MOMENTUM, BATCH = 0.05, 0.9, 128
MC_SAMPLES = (1, 2, 5, 10, 20, 50)
LOSS_TARGET = 0.35  # DO-SPEED: training cross-entropy (running epoch mean) to reach
SCALING_MARGIN = 0.005  # DO-SCALING: weight scaling within half a point of 50-sample MC averaging
SIMILAR_MARGIN = 0.01   # DO-RATE / DO-DROPCONNECT: "as good as" means within one point of test error


def arms(budget: Budget) -> list[Arm]:
    small, large = budget["sizes"]
    dropout = {"p_input": P_INPUT, "p_hidden": P_HIDDEN}
    design = [
        Arm(f"none-{small}", {"kind": "mlp", "n_train": small}),
        Arm(f"dropout-{small}", {"kind": "mlp", "n_train": small, **dropout}),
        Arm("none", {"kind": "mlp", "n_train": large}),
        Arm("dropout", {"kind": "mlp", "n_train": large, **dropout, "mc": True}),
        Arm("dropconnect", {"kind": "mlp", "n_train": large, **dropout, "dropconnect": True}),
        Arm("rate-tuned", {"kind": "mlp", "n_train": large}),
        Arm("cnn", {"kind": "cnn"}),
        Arm("cnn-conv-dropout", {"kind": "cnn", "p_conv": budget["p_conv"]}),
        Arm("cnn-fc-dropout", {"kind": "cnn", "p_fc": P_HIDDEN}),
    ]
    design += [Arm(f"maxnorm-c{c}", {"kind": "mlp", "n_train": large, **dropout, "max_norm": c},
                   max_replicates=None if c == 3 else budget["sweep_replicates"]) for c in budget["max_norms"]]
    return design


def rate_space(trial) -> dict[str, float]:
    return {"p_input": trial.suggest_float("p_input", 0.5, 1.0), "p_hidden": trial.suggest_float("p_hidden", 0.2, 1.0)}


def run_trial(ctx) -> dict[str, float]:
    return _cnn_trial(ctx) if ctx.config["kind"] == "cnn" else _mlp_trial(ctx)


def _data(ctx, n_train: int):
    """Training subset (or, while tuning, train and validation splits of the
    training set) and the fixed test subset, as tensors."""
    from harness import engine

    arrays = ctx.data_split(FASHION, n_train, n_val=ctx.budget["n_val"], n_test=ctx.budget["n_test"])
    return tuple(engine.as_tensor(a, ctx.device) for a in arrays)


def _error(model, x, y) -> float:
    import torch

    from harness.engine import batched

    model.eval()
    with torch.no_grad():
        return float((batched(model, x).argmax(1) != y).float().mean())


def _train(ctx, model, x, y, x_eval, y_eval, epochs: int, max_norm: float | None = None) -> dict[str, list[float]]:
    """SGD with momentum through the harness's training loop; per epoch:
    train_loss (the epoch's mean), train_error, test_error (or val_error while
    tuning), epoch_seconds (training only); max-norm after every step."""
    import torch

    from harness import engine
    from harness.dropnets import apply_max_norm

    eval_key = "val_error" if ctx.tuning else "test_error"
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    schedule = engine.Schedule(batch_size=BATCH, epochs=epochs, time_epochs=True)
    # train error on (at most) the first 2000 training images: the gap's estimate, at a fifth of the cost
    result = engine.train(
        model, x, y, torch.nn.functional.cross_entropy, optimizer, schedule, ctx,
        evaluate=lambda epoch: {"train_error": _error(model, x[:2000], y[:2000]), eval_key: _error(model, x_eval, y_eval)},
        after_step=(lambda: apply_max_norm(model, max_norm)) if max_norm else None)
    return {"train_loss": result.train_loss, "train_error": result.curve("train_error"),
            eval_key: result.curve(eval_key), "epoch_seconds": result.epoch_seconds}


def _mlp_trial(ctx) -> dict[str, float]:
    import numpy as np
    import torch

    from harness import engine
    from harness.dropnets import mc_predict
    from harness.models import MODELS

    cfg, budget = ctx.config, ctx.budget
    n_train = budget["tune_n"] if ctx.tuning else cfg["n_train"]
    x, y, xt, yt = _data(ctx, n_train)
    model = engine.build_model(lambda: MODELS.get("dropout-mlp")(
        hidden=HIDDEN, p_input=cfg.get("p_input", 1.0), p_hidden=cfg.get("p_hidden", 1.0),
        dropconnect=cfg.get("dropconnect", False)), ctx)
    epochs = budget["tune_epochs"] if ctx.tuning else budget["epochs"][n_train]
    history = _train(ctx, model, x, y, xt, yt, epochs, cfg.get("max_norm"))
    if ctx.tuning:
        return {"val_error": history["val_error"][-1]}
    test, train = history["test_error"], history["train_error"]
    reached = [i for i, loss in enumerate(history["train_loss"], start=1) if loss <= LOSS_TARGET]
    metrics = {
        "test_error": test[-1], "train_error": train[-1], "gap": test[-1] - train[-1],
        "best_test_error": min(test), "epochs_to_best_test": float(int(np.argmin(test)) + 1),
        "epochs_to_loss_target": float(reached[0] if reached else epochs),  # censored at the epoch budget
        "reached_loss_target": float(bool(reached)),
        "epochs_to_loss_target_censored": float(not reached),  # capped at the epoch budget: a bound, not a number
        "epoch_seconds": float(np.median(history["epoch_seconds"])),
        # the largest L2 norm of a hidden unit's incoming weights: does a max-norm bound c ever bind?
        "max_row_norm": max(float(m.weight.detach().norm(dim=1).max()) for m in model.modules()
                            if isinstance(m, torch.nn.Linear) and m.out_features in HIDDEN),
    }
    if cfg.get("mc"):
        scaling = metrics["test_error"]
        generator_state = torch.get_rng_state()
        torch.manual_seed(ctx.seeds.noise + 1)  # MC masks: their own draws, after training's
        for k in MC_SAMPLES:
            error = float((mc_predict(model, xt, k).argmax(1) != yt).float().mean())
            ctx.log_metric("mc_error", error, k)
            metrics[f"mc_error_k{k}"] = error
        torch.set_rng_state(generator_state)
        metrics["scaling_error"] = scaling
        metrics["mc50_minus_scaling"] = metrics["mc_error_k50"] - scaling
        metrics["abs_mc50_minus_scaling"] = abs(metrics["mc50_minus_scaling"])
        better = [k for k in MC_SAMPLES if metrics[f"mc_error_k{k}"] <= scaling]
        # the smallest k whose MC average is at least as good as weight scaling; censored above the largest k
        metrics["crossover_k"] = float(better[0] if better else 2 * MC_SAMPLES[-1])
        metrics["crossover_found"] = float(bool(better))
    return metrics


def _cnn_trial(ctx) -> dict[str, float]:
    from harness import engine
    from harness.models import MODELS

    cfg, budget = ctx.config, ctx.budget
    x, y, xt, yt = _data(ctx, budget["cnn_n"])
    model = engine.build_model(lambda: MODELS.get("dropout-cnn")(
        channels=(16, 32), p_conv=cfg.get("p_conv", 1.0), p_fc=cfg.get("p_fc", 1.0)), ctx)
    history = _train(ctx, model, x, y, xt, yt, budget["cnn_epochs"])
    return {"test_error": history["test_error"][-1], "train_error": history["train_error"][-1],
            "gap": history["test_error"][-1] - history["train_error"][-1]}


# -- figures -------------------------------------------------------------------------------
def figures(fig_ctx) -> list:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    runs = fig_ctx.finished
    out = []
    band = fig_ctx.band

    # 1. train/test error curves per arm
    sizes = sorted({int(a.split("-")[1]) for a in set(runs["arm"]) if a.startswith("none-")})
    panels = [(f"none-{n}", f"dropout-{n}", f"{n} training images") for n in sizes] + [("none", "dropout", "large subset")]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.3), squeeze=False)
    for ax, (plain, dropped, title) in zip(axes[0], panels):
        for arm, label, color in ((plain, "no dropout", "C0"), (dropped, "dropout", "C1")):
            band(ax, arm, "train_error", f"{label}, train", color=color, ls="--")
            band(ax, arm, "test_error", f"{label}, test", color=color)
        ax.set_title(title, fontsize=9), ax.set_xlabel("epoch"), ax.set_ylabel("error"), ax.legend(fontsize=7)
    out.append(fig_ctx.save(fig, "error_curves.png", "Train (dashed) and test error per epoch, mean and min–max "
                            "band over seeds, with and without dropout (retain 0.8 input, 0.5 hidden)."))

    # 2. MC averaging against weight scaling
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    band(ax, "dropout", "mc_error", "Monte-Carlo average of k nets", marker="o")
    scaling = runs[runs["arm"] == "dropout"]["metrics.scaling_error"]
    if len(scaling):
        ax.axhline(scaling.mean(), color="k", ls="--", label="weight scaling")
    ax.set_xscale("log"), ax.set_xlabel("k sampled networks"), ax.set_ylabel("test error"), ax.legend(fontsize=8)
    out.append(fig_ctx.save(fig, "mc_vs_scaling.png", "Test error of Monte-Carlo model averaging over k sampled "
                            "dropout networks against the weight-scaling approximation (Srivastava et al. Fig. 11)."))

    # 3. retain-probability landscape and optimization history (from the tuning runs)
    tune = fig_ctx.tracker.runs("dropout", fig_ctx.budget)
    tune = tune[(tune["phase"] == "tune") & (tune["status"] == "FINISHED")] if not tune.empty else tune
    if not tune.empty and "params.hp.p_input" in tune:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
        p_in, p_h = tune["params.hp.p_input"].astype(float), tune["params.hp.p_hidden"].astype(float)
        error = tune["metrics.val_error"].astype(float)
        points = axes[0].scatter(p_h, p_in, c=error, cmap="viridis_r", s=40)
        axes[0].scatter([P_HIDDEN], [P_INPUT], marker="x", color="r", s=60, label="customary (0.5, 0.8)")
        fig.colorbar(points, ax=axes[0], label="validation error")
        axes[0].set_xlabel("hidden retain p"), axes[0].set_ylabel("input retain p"), axes[0].legend(fontsize=7)
        order = tune.sort_values("start_time")["metrics.val_error"].astype(float).to_numpy()
        axes[1].plot(range(1, len(order) + 1), order, "o", label="trial")
        axes[1].plot(range(1, len(order) + 1), np.minimum.accumulate(order), "-", label="best so far")
        axes[1].set_xlabel("TPE trial"), axes[1].set_ylabel("validation error"), axes[1].legend(fontsize=7)
        out.append(fig_ctx.save(fig, "retain_rates.png", "Optuna TPE over (input, hidden) retain probabilities: "
                                "the landscape (left) and the optimization history (right)."))

    # 4. conv vs fc dropout, DropConnect, max-norm
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    groups = ["cnn", "cnn-conv-dropout", "cnn-fc-dropout", "none", "dropout", "dropconnect", "rate-tuned"]
    present = [g for g in groups if (runs["arm"] == g).any()]
    for i, arm in enumerate(present):
        values = runs[runs["arm"] == arm]["metrics.test_error"]
        axes[0].bar(i, values.mean())
        axes[0].scatter([i] * len(values), values, color="k", s=8, zorder=3)
    axes[0].set_xticks(range(len(present)), present, rotation=30, fontsize=7), axes[0].set_ylabel("test error")
    maxnorm = sorted((float(a.split("-c")[1]), a) for a in set(runs["arm"]) if a.startswith("maxnorm-c"))
    if maxnorm:
        axes[1].plot([c for c, _ in maxnorm], [runs[runs["arm"] == a]["metrics.test_error"].mean() for _, a in maxnorm],
                     "o-", label="dropout + max-norm c")
        base = runs[runs["arm"] == "dropout"]["metrics.test_error"]
        if len(base):
            axes[1].axhline(base.mean(), color="k", ls="--", label="dropout alone")
    axes[1].set_xlabel("max-norm bound c"), axes[1].set_ylabel("test error"), axes[1].legend(fontsize=7)
    out.append(fig_ctx.save(fig, "variants.png", "Left: test error by arm (CNN with dropout on conv layers or on the "
                            "fully connected head; MLP without dropout, with dropout, with DropConnect, with TPE-tuned "
                            "rates). Right: dropout with a max-norm constraint, by bound c."))
    return out


# -- claims ---------------------------------------------------------------------------------------
ARTICLE = "Convolutional neural network"
SRIVASTAVA = ("Srivastava, Hinton, Krizhevsky, Sutskever & Salakhutdinov 2014, \"Dropout: a simple way to prevent "
              "neural networks from overfitting\", JMLR 15:1929")
WAN = "Wan, Zeiler, Zhang, LeCun & Fergus 2013, \"Regularization of neural networks using DropConnect\", ICML"
OVERFIT_QUOTE = "By avoiding training all nodes on all training data, dropout decreases overfitting."
TABLE2 = ("MNIST test error (Table 2): standard 2x800 logistic net 1.60%; dropout 3x1024 logistic 1.35%, ReLU 1.25%, "
          "+ max-norm 1.06%; 2x8192 + max-norm 0.95%. No gain with 100 or 500 training examples (Fig. 10).")


def _overfit_note(runs) -> list[str]:
    lines = []
    large = runs[runs["arm"] == "none"]["params.config.n_train"] if "params.config.n_train" in runs else []
    for arm in sorted({a.split("-")[1] for a in set(runs["arm"]) if a.startswith("none-")}, key=int) + [""]:
        plain, dropped = (f"none-{arm}", f"dropout-{arm}") if arm else ("none", "dropout")
        size = arm or (large.iloc[0] if len(large) else "the large subset of")
        lines.append(f"{size} training images: test error {arm_mean(runs, plain, 'test_error'):.4f} → "
                     f"{arm_mean(runs, dropped, 'test_error'):.4f} with dropout; train−test gap "
                     f"{arm_mean(runs, plain, 'gap'):.4f} → {arm_mean(runs, dropped, 'gap'):.4f}.")
    return lines


def _scaling_note(runs) -> list[str]:
    ks = ", ".join(f"k={k}: {arm_mean(runs, 'dropout', f'mc_error_k{k}'):.4f}" for k in MC_SAMPLES)
    return [f"MC averaging test error — {ks}; weight scaling {arm_mean(runs, 'dropout', 'scaling_error'):.4f}. "
            f"Crossover (smallest k at least as good as scaling, {2 * MC_SAMPLES[-1]} = not reached): "
            f"{arm_mean(runs, 'dropout', 'crossover_k'):.3g} on average, against about 50 in Srivastava et al. Fig. 11."]


def _speed_note(runs) -> list[str]:
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


def _maxnorm_note(runs) -> list[str]:
    sweep = sorted((float(a.split("-c")[1]), a) for a in set(runs["arm"]) if a.startswith("maxnorm-c"))
    errors = ", ".join(f"c={c:g}: {arm_mean(runs, a, 'test_error'):.4f}" for c, a in sweep)
    return [f"Largest hidden-unit weight norm after training without the constraint: "
            f"{arm_mean(runs, 'dropout', 'max_row_norm'):.3g} (a bound c above it never binds, and the run is then "
            f"identical to plain dropout). Test error by bound (c ≠ 3: replicate 0 only): {errors}; dropout alone "
            f"{arm_mean(runs, 'dropout', 'test_error'):.4f}. Srivastava et al. pair max-norm with large learning rates "
            "(the constraint is what lets them use those), which this protocol (SGD, lr 0.05) does not."]


def _rate_note(runs) -> list[str]:
    rows = runs[(runs["arm"] == "rate-tuned") & (runs["status"] == "FINISHED")]
    if rows.empty or "params.hp.p_input" not in rows:
        return []
    p_in, p_h = float(rows["params.hp.p_input"].iloc[0]), float(rows["params.hp.p_hidden"].iloc[0])
    return [f"TPE's best retain probabilities: input {p_in:.3f}, hidden {p_h:.3f} (customary: 0.8, 0.5). "
            f"Input higher than hidden: {'yes' if p_in > p_h else 'no'}. One tuning study, so no interval on these."]


# Validity checks (harness.checks): each compared net trained (loss down 10% from its first epoch) and its
# test error improved by less than 1% over its last 3 epochs (a claim about what dropout can do is not tested
# by a run that is still improving).
TRAINED_AND_CONVERGED = (Trained("train_loss", fell_by=0.1), Converged("test_error", last=3, tolerance=0.01))

CLAIMS = (
    Claim(
        id="DO-OVERFIT",
        quote=OVERFIT_QUOTE, article=ARTICLE, section="Regularization methods › Empirical › Dropout", source=SRIVASTAVA,
        source_numbers=TABLE2,
        measure=("Generalization gap (test error − train error) after training the 784-512-512-10 ReLU MLP on the large "
                 "Fashion-MNIST subset, with dropout (0.8/0.5) against without; paired by seed."),
        test=Better("gap", "dropout", "none"),
        checks=TRAINED_AND_CONVERGED,
        notes=_overfit_note,
    ),
    Claim(
        id="DO-OVERFIT-ERROR",
        quote=OVERFIT_QUOTE, article=ARTICLE, section="Regularization methods › Empirical › Dropout", source=SRIVASTAVA,
        source_numbers=TABLE2,
        measure="Test error of the same runs: dropout against none.",
        test=Better("test_error", "dropout", "none"),
        checks=TRAINED_AND_CONVERGED,
    ),
    Claim(
        id="DO-SCALING",
        quote=("However, we can find an approximation by using the full network with each node's output weighted by a "
               "factor of p, so the expected value of the output of any node is the same as in the training stages."),
        article=ARTICLE, section="Regularization methods › Empirical › Dropout", source=SRIVASTAVA,
        source_numbers="Fig. 11 (MNIST): MC averaging matches weight scaling at about k = 50 sampled networks.",
        measure=(f"|test error of 50-sample MC averaging − test error with weight scaling| for the trained dropout "
                 f"MLP; pre-registered: a good approximation is within {SCALING_MARGIN}."),
        test=Bound("abs_mc50_minus_scaling", SCALING_MARGIN, side="below", over=("dropout",)),
        checks=(Trained("train_loss", fell_by=0.1),),
        notes=_scaling_note,
    ),
    Claim(
        id="DO-SPEED",
        quote="The method also significantly improves training speed.",
        article=ARTICLE, section="Regularization methods › Empirical › Dropout", source=SRIVASTAVA,
        source_numbers="§7: dropout training takes 2-3 times longer than standard training.",
        measure=(f"Epochs until the training loss (epoch mean) falls to {LOSS_TARGET}, with dropout against without "
                 "(censored at the epoch budget); seconds per epoch and epochs to the best test error in the notes."),
        test=Faster("epochs_to_loss_target", "dropout", "none"),
        checks=(Trained("train_loss", fell_by=0.1),),
        notes=_speed_note,
    ),
    Claim(
        id="DO-RATE",
        quote=("In the training stages, p is usually 0.5; for input nodes, it is typically much higher because "
               "information is directly lost when input nodes are ignored."),
        article=ARTICLE, section="Regularization methods › Empirical › Dropout", source=SRIVASTAVA,
        source_numbers="Retain 0.5 for hidden units and 0.8 for inputs throughout; Fig. 9 sweeps p (best 0.4–0.8).",
        measure=(f"Test error of the customary (0.8, 0.5) setting against the TPE-tuned retain probabilities, both "
                 f"replicated on fresh seeds; 'as good as' = within ±{SIMILAR_MARGIN}."),
        test=Similar("test_error", "dropout", "rate-tuned", margin=SIMILAR_MARGIN),
        checks=(*TRAINED_AND_CONVERGED, TunedAlike(reason="the claim compares the conventional rates with tuned "
                                                          "ones: tuning one arm is the comparison")),
        notes=_rate_note,
    ),
    Claim(
        id="DO-CONV",
        quote=("A major drawback to Dropout is that it does not have the same benefits for convolutional layers, where "
               "the neurons are not fully connected."),
        article=ARTICLE, section="Regularization methods › Empirical › Stochastic pooling", source=SRIVASTAVA,
        source_numbers=("Table 4 (SVHN): dropout in the conv layers too lowered error from 3.02% (FC only) to 2.55% — "
                        "the primary source reports a benefit."),
        measure=("Test error of a CNN with dropout after the conv blocks (retain p_conv) against the same CNN with "
                 "dropout only in its fully connected head (retain 0.5): the claim predicts the FC placement is better."),
        test=Better("test_error", "cnn-fc-dropout", "cnn-conv-dropout"),
        checks=TRAINED_AND_CONVERGED,
    ),
    Claim(
        id="DO-DROPCONNECT",
        quote=("DropConnect is the generalization of dropout in which each connection, rather than each output unit, "
               "can be dropped with probability 1−p."),
        article=ARTICLE, section="Regularization methods › Empirical › DropConnect", source=WAN,
        source_numbers="MNIST: DropConnect 1.20% vs dropout 1.28% test error (no data augmentation, 800-unit nets).",
        measure=(f"Test error of the MLP with DropConnect (weights kept with p = 0.5, one mask per minibatch) against "
                 f"dropout at the same retain rate; equivalence margin ±{SIMILAR_MARGIN}."),
        test=Similar("test_error", "dropconnect", "dropout", margin=SIMILAR_MARGIN),
        checks=TRAINED_AND_CONVERGED,
    ),
    Claim(
        id="DO-MAXNORM",
        quote="Typical values of c are order of 3–4. Some papers report improvements when using this form of regularization.",
        article=ARTICLE, section="Regularization methods › Explicit › Max norm constraints", source=SRIVASTAVA,
        source_numbers="Table 9 (MNIST): dropout + max-norm 1.05% vs dropout + L2 1.25%; c tuned in 3–4.",
        measure="Test error of dropout with the max-norm constraint c = 3 against dropout alone.",
        test=Better("test_error", "maxnorm-c3", "dropout"),
        checks=TRAINED_AND_CONVERGED,
        notes=_maxnorm_note,
    ),
)


def check_budget(budget: Budget) -> None:
    small, large = budget["sizes"]
    if not small < large or large + budget["n_val"] > 60_000 or set(budget["epochs"]) != {small, large}:
        raise StudyDeclarationError("dropout budget: sizes (small, large) with an epoch count for each, and "
                                    "large + n_val at most 60000 Fashion-MNIST training images")
    if 3 not in budget["max_norms"]:
        raise StudyDeclarationError("DO-MAXNORM tests c = 3: max_norms must include 3")


STUDY = register(Study(
    name="dropout",
    title="Dropout, DropConnect and max-norm",
    summary=__doc__.split("\n\n", 1)[1],
    claims=CLAIMS,
    arms=arms,
    run_trial=run_trial,
    figures=figures,
    datasets=(FASHION,),
    tuning=Tuning(arms=("rate-tuned",), space=rate_space, metric="val_error"),
    sections=sections,
    root_seed=2014,
    check=check_budget,
    budgets={
        "smoke": Budget(replicates=2, tuning_trials=2, settings={
            "sizes": (200, 1000), "epochs": {200: 2, 1000: 2}, "n_test": 500, "n_val": 300, "tune_n": 500,
            "tune_epochs": 1, "cnn_n": 500, "cnn_epochs": 1, "p_conv": 0.75, "max_norms": (3,),
            "sweep_replicates": 1}),
        "quick": Budget(replicates=3, tuning_trials=10, settings={
            "sizes": (1000, 10_000), "epochs": {1000: 60, 10_000: 20}, "n_test": 5000, "n_val": 5000,
            "tune_n": 5000, "tune_epochs": 8, "cnn_n": 10_000, "cnn_epochs": 4, "p_conv": 0.75,
            "max_norms": (1, 2, 3, 4), "sweep_replicates": 1}),
        "full": Budget(replicates=10, tuning_trials=40, settings={
            "sizes": (1000, 50_000), "epochs": {1000: 200, 50_000: 50}, "n_test": 10_000, "n_val": 10_000,
            "tune_n": 20_000, "tune_epochs": 20, "cnn_n": 50_000, "cnn_epochs": 20, "p_conv": 0.75,
            "max_norms": (1, 2, 3, 4, 6), "sweep_replicates": 3}),
    },
))
