"""Study ``ae-vs-pca``: deep and shallow autoencoders against PCA.

Claims (see shared/claims.md): AE-PCA-30 (a deep AE's 30-d code reconstructs
better than PCA-30), AE-LIN-SUBSPACE in three parts (a linear single-layer AE
spans the PCA subspace; its weights are not orthogonal; the components can be
recovered with an SVD), AE-SIGMOID-PCA (a single sigmoid hidden layer does
not beat PCA), and AE-DEPTH (deep beats shallow and linear AEs at matched
parameter counts, tested at ~100k and ~1.1M parameters).

Protocol: Fashion-MNIST pixels in [0, 1]; the training set is a random subset
whose size the budget sets, drawn per replicate from the subsample seed and
shared by every arm of that replicate (so PCA and the AEs are paired on the
same data). Error unit: summed squared error per test image, as in Hinton &
Salakhutdinov 2006. The linear-AE claims use centred data (digits and
Fashion-MNIST), trained full-batch so that the optimum is actually reached.
"""
from __future__ import annotations

from typing import Any

from harness.checks import Converged, NoBottleneck, Trained, TunedAlike
from harness.claimtests import Better, Bound
from harness.claims import Claim
from harness.discovery import register
from harness.study import Arm, Budget, Study, StudyDeclarationError, Tuning

CODE = 30
FASHION = "fashion-mnist"
PCA_K_GRID = (1, 2, 4, 8, 16, 30, 50, 100)  # PCA's error curve is free: one fit, many k
SMALL, LARGE = 100_000, None  # ~100k parameters; LARGE = the 784-512-256-128-30 AE's own count
DEEP_HIDDEN = (512, 256, 128)  # claims.md protocol, 1,140,782 parameters with the mirrored decoder
DEPTH_MARGIN = 0.25  # SSE/image: ~2% of PCA-30's error; a smaller deep-vs-shallow gap would not count
SUBSPACE_CONFIGS = {  # arm -> (dataset, code size p)
    "linear-digits-p5": ("digits", 5),
    "linear-digits-p10": ("digits", 10),
    "linear-digits-p30": ("digits", 30),
    "linear-fashion-p10": (FASHION, 10),  # p=30 on 784-d data converges too slowly for a CPU budget
}


def _depth_widths() -> dict[str, Any]:
    from harness.models import autoencoder_params, widths_for_params

    large = autoencoder_params(784, DEEP_HIDDEN, CODE)
    return {
        "deep-ae-100k": widths_for_params(SMALL, 784, CODE, depth=3),
        "shallow-ae-100k": widths_for_params(SMALL, 784, CODE, depth=1),
        "shallow-ae-1m": widths_for_params(large, 784, CODE, depth=1),
    }


def arms(budget: Budget) -> list[Arm]:
    widths = _depth_widths()
    seeds = budget["ae_replicates"]  # Fashion-MNIST training dominates the cost: fewer seeds than the cheap arms
    design = [
        Arm("pca-30", {"model": "pca", "code": CODE}, max_replicates=seeds),
        Arm("deep-ae-30", {"model": "deep-ae", "hidden": DEEP_HIDDEN, "code": CODE}, max_replicates=seeds),
        Arm("linear-ae-30", {"model": "single-layer-ae", "code": CODE, "out_act": "sigmoid"}, max_replicates=seeds),
        Arm("deep-ae-100k", {"model": "deep-ae", "hidden": widths["deep-ae-100k"], "code": CODE},
            max_replicates=seeds),
        Arm("shallow-ae-100k", {"model": "shallow-ae", "hidden": widths["shallow-ae-100k"][0], "code": CODE},
            max_replicates=seeds),
        Arm("shallow-ae-1m", {"model": "shallow-ae", "hidden": widths["shallow-ae-1m"][0], "code": CODE},
            max_replicates=seeds),
    ]
    # Error against code size: deep AEs at other code sizes; descriptive only, so one seed at quick.
    design += [Arm(f"deep-ae-{k}", {"model": "deep-ae", "hidden": DEEP_HIDDEN, "code": k},
                   max_replicates=budget["curve_replicates"]) for k in budget["curve_codes"]]
    design += [Arm(name, {"model": "single-layer-ae", "dataset": ds, "code": p, "subspace": True})
               for name, (ds, p) in SUBSPACE_CONFIGS.items()]
    design.append(Arm("sigmoid-digits-p10", {"model": "single-layer-ae", "dataset": "digits", "code": 10,
                                             "code_act": "sigmoid", "subspace": True}))
    return design


def check_budget(budget: Budget) -> None:
    """Fashion-MNIST has 60,000 training images: tuning draws n_train + n_val of them."""
    if budget["n_train"] + budget["n_val"] > 60_000 or budget["subspace_n_fashion"] > 60_000:
        raise StudyDeclarationError(
            f"budget asks for {budget['n_train']} + {budget['n_val']} training images; Fashion-MNIST has 60000")


def lr_space(trial) -> dict[str, Any]:
    return {"lr": trial.suggest_float("lr", 1e-4, 1e-2, log=True)}


# -- the trial ---------------------------------------------------------------------
def run_trial(ctx) -> dict[str, float]:
    if ctx.config.get("subspace"):
        return _subspace_trial(ctx)
    return _reconstruction_trial(ctx)


def _fashion(ctx):
    """The replicate's training subset (shared by all arms), and the test set
    — or, while tuning, a validation split carved from the training set."""
    x_train, _, x_eval, _ = ctx.data_split(FASHION, ctx.budget["n_train"], n_val=ctx.budget["n_val"])
    return x_train, x_eval


def _reconstruction_trial(ctx) -> dict[str, float]:
    import numpy as np
    import torch

    from harness import engine
    from harness.models import MODELS
    from harness.nets import count_parameters

    cfg = dict(ctx.config)
    x_np, x_eval_np = _fashion(ctx)
    x, x_eval = engine.as_tensor(x_np, ctx.device), engine.as_tensor(x_eval_np, ctx.device)
    if cfg["model"] == "pca":
        metrics = {}
        full = MODELS.get("pca")(code=max(PCA_K_GRID)).fit(x)
        for k in PCA_K_GRID:
            metrics[f"test_sse_k{k}"] = engine.sse_per_example(full.truncated(k).reconstruct, x_eval)
        model = full.truncated(cfg["code"])
        metrics["test_sse"] = metrics[f"test_sse_k{cfg['code']}"]
        metrics["train_sse"] = engine.sse_per_example(model.reconstruct, x)
        ctx.log_param("parameters", 2 * 784 * cfg["code"] + 784)
    else:
        kwargs = {k: v for k, v in cfg.items() if k in ("hidden", "code", "code_act", "out_act")}
        model = engine.build_model(lambda: MODELS.get(cfg["model"])(in_features=784, **kwargs), ctx)
        ctx.log_param("parameters", count_parameters(model))
        train = engine.TrainConfig(epochs=ctx.budget["epochs_tune" if ctx.tuning else "epochs"],
                                   batch_size=128, lr=float(cfg.get("lr", 1e-3)))
        mse = torch.nn.functional.mse_loss
        engine.fit(model, x, x, mse, train, ctx,
                   evaluate=lambda epoch: {"test_sse": engine.sse_per_example(model, x_eval)})
        model.eval()
        metrics = {"test_sse": engine.sse_per_example(model, x_eval), "train_sse": engine.sse_per_example(model, x)}
        curve = [v for _, v in ctx.curve("test_sse")]
        if len(curve) > 3:  # is the model still improving at the end? (an under-trained AE flatters PCA)
            metrics["last3_improvement"] = (curve[-4] - curve[-1]) / curve[-1]
    if ctx.tuning:
        return {"val_sse": metrics["test_sse"]}
    if ctx.replicate == 0 and ctx.arm.name in ("pca-30", "deep-ae-30"):
        with torch.no_grad():
            recon = model.reconstruct(x_eval[:10]).cpu().numpy()
        np.savez_compressed(ctx.artifact_path("reconstructions.npz"), original=x_eval_np[:10], reconstruction=recon)
    return metrics


def _subspace_trial(ctx) -> dict[str, float]:
    """A single-hidden-layer AE on centred data, trained full-batch to its
    optimum; then the decoder's column space against the top-p PCA subspace."""
    import numpy as np
    import torch
    from scipy.linalg import subspace_angles

    from harness import datasets, engine
    from harness.models import MODELS
    from harness.nets import PCA

    cfg = ctx.config
    data = datasets.load(cfg["dataset"])
    if cfg["dataset"] == FASHION:
        data = data.subsample(ctx.budget["subspace_n_fashion"], seed=ctx.seeds.subsample)
    ctx.use_dataset(cfg["dataset"], data.digest, data.source, "train")
    x = engine.as_tensor(data.x_train, ctx.device)
    x_test = engine.as_tensor(data.x_test, ctx.device)
    mean = x.mean(0)
    x, x_test = x - mean, x_test - mean  # PCA is about the centred data; so is the AE here
    p = cfg["code"]
    pca = PCA(p).fit(x)
    model = engine.build_model(lambda: MODELS.get("single-layer-ae")(
        in_features=x.shape[1], code=p, code_act=cfg.get("code_act", "linear"), out_act="linear"), ctx)
    steps = ctx.budget["subspace_steps"]
    train = engine.TrainConfig(epochs=steps, batch_size=x.shape[0], lr=ctx.budget["subspace_lr"])
    engine.fit(model, x, x, torch.nn.functional.mse_loss, train, ctx, log_every=max(1, steps // 100))
    model.eval()
    pca_test = engine.sse_per_example(pca.reconstruct, x_test)
    ae_test = engine.sse_per_example(model, x_test)
    metrics = {"test_sse": ae_test, "pca_test_sse": pca_test, "sse_ratio_to_pca": ae_test / pca_test,
               "train_sse": engine.sse_per_example(model, x), "pca_train_sse": engine.sse_per_example(pca.reconstruct, x)}
    if cfg.get("code_act", "linear") != "linear":
        return metrics
    w = model.decoder_weight().double().cpu().numpy()   # (d, p): columns span the learned subspace
    pcs = pca.components_.double().cpu().numpy().T        # (d, p): the first p principal directions
    metrics["max_angle_deg"] = float(np.degrees(subspace_angles(w, pcs).max()))
    unit = w / np.linalg.norm(w, axis=0, keepdims=True)
    cos = np.abs(unit.T @ unit - np.eye(p))
    metrics["max_abs_cos"] = float(cos.max())                         # 0 for orthogonal columns
    metrics["ortho_error"] = float(np.linalg.norm(w.T @ w - np.eye(p)) / np.sqrt(p))  # 0 for orthonormal
    metrics["max_column_to_pc_angle_deg"] = float(np.degrees(np.arccos(np.clip(
        np.abs(np.sum(unit * pcs, axis=0)), 0, 1))).max())           # are the weights the PCs themselves?
    # Recovery (Plaut 2018): an orthonormal basis Q of the decoder's column space
    # from its SVD; the principal directions are then Q times the right singular
    # vectors of the data projected onto Q.
    q = np.linalg.svd(w, full_matrices=False)[0]
    _, _, vt = np.linalg.svd(x.double().cpu().numpy() @ q, full_matrices=False)
    recovered = q @ vt.T
    per_direction = np.degrees(np.arccos(np.clip(np.abs(np.sum(recovered * pcs, axis=0)), 0, 1)))
    naive = np.degrees(np.arccos(np.clip(np.abs(np.sum(q * pcs, axis=0)), 0, 1)))
    ev = pca.explained_variance_.double().cpu().numpy()
    for i in range(p):
        ctx.log_metrics({"direction_angle_deg": per_direction[i], "naive_svd_angle_deg": naive[i],
                         "relative_eigengap": (ev[i] - ev[i + 1]) / ev[i]}, step=i + 1)
    metrics["recovered_max_angle_deg"] = float(per_direction.max())
    metrics["naive_svd_max_angle_deg"] = float(naive.max())
    metrics["eigengap_p"] = float(ev[p - 1] - ev[p])
    return metrics


# -- figures (from the tracking store only) ---------------------------------------------
def figures(fig_ctx) -> list:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    import numpy as np

    runs = fig_ctx.finished
    out = []

    def arm_values(arm: str, metric: str):
        rows = runs[runs["arm"] == arm]
        column = f"metrics.{metric}"
        return rows[column].dropna().to_numpy() if column in rows else np.array([])

    # 1. Reconstructions of the same test images.
    pictures = {}
    for arm in ("pca-30", "deep-ae-30"):
        rows = runs[(runs["arm"] == arm) & (runs["replicate"] == 0)]
        if not rows.empty:
            try:
                pictures[arm] = np.load(fig_ctx.artifact(rows.iloc[0]["run_id"], "reconstructions.npz"))
            except Exception:  # an artifact missing from an old run: draw what we have
                pass
    if len(pictures) == 2:
        original = pictures["pca-30"]["original"]
        rows_ = [("original", original), ("PCA-30", pictures["pca-30"]["reconstruction"]),
                 ("deep AE-30", pictures["deep-ae-30"]["reconstruction"])]
        fig, axes = plt.subplots(3, len(original), figsize=(len(original) * 0.9, 3))
        for r, (label, images) in enumerate(rows_):
            for c, image in enumerate(images):
                axes[r, c].imshow(image.reshape(28, 28), cmap="gray", vmin=0, vmax=1)
                axes[r, c].set_xticks([]), axes[r, c].set_yticks([])
            axes[r, 0].set_ylabel(label, fontsize=8)
        out.append(fig_ctx.save(fig, "reconstructions.png",
                                "The first ten Fashion-MNIST test images, and their reconstructions by PCA-30 and "
                                "by the deep autoencoder with a 30-d code (replicate 0)."))

    # 2. Error against code size.
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    pca_curve = [(k, arm_values("pca-30", f"test_sse_k{k}")) for k in PCA_K_GRID]
    pca_curve = [(k, v.mean()) for k, v in pca_curve if len(v)]
    if pca_curve:
        ax.plot(*zip(*pca_curve), "o-", label="PCA")
    ae_points = []
    for arm in sorted(set(runs["arm"])):
        if arm.startswith("deep-ae-") and arm[8:].isdigit():
            values = arm_values(arm, "test_sse")
            if len(values):
                ae_points.append((int(arm[8:]), values.mean(), values.std(ddof=1) if len(values) > 1 else 0.0))
    if ae_points:
        ae_points.sort()
        ks, means, sds = zip(*ae_points)
        ax.errorbar(ks, means, yerr=sds, fmt="s-", capsize=3, label="deep AE (784-512-256-128-k)")
    ax.set_xscale("log")
    ax.set_xlabel("code size k")
    ax.set_ylabel("squared error per test image")
    ax.legend()
    out.append(fig_ctx.save(fig, "error_vs_code_size.png",
                            "Reconstruction error on the Fashion-MNIST test set against code size: PCA fitted on "
                            "the same training subset, and the deep AE (mean ± SD over replicates)."))

    # 3. Depth at matched parameter counts.
    groups = [("~100k", ["linear-ae-30", "shallow-ae-100k", "deep-ae-100k"]), ("~1.1M", ["shallow-ae-1m", "deep-ae-30"])]
    fig, ax = plt.subplots(figsize=(6, 3.4))
    position = 0
    ticks = []
    for size, group in groups:
        for arm in group:
            values = arm_values(arm, "test_sse")
            if len(values):
                ax.bar(position, values.mean(), yerr=values.std(ddof=1) if len(values) > 1 else 0, capsize=3)
                ax.scatter(np.full(len(values), position), values, color="k", s=6, zorder=3)
            ticks.append((position, f"{arm}\n({size})"))
            position += 1
        position += 0.5
    ax.set_xticks([t for t, _ in ticks], [label for _, label in ticks], fontsize=7)
    ax.set_ylabel("squared error per test image")
    out.append(fig_ctx.save(fig, "depth.png", "Linear, shallow and deep autoencoders with a 30-d code at matched "
                            "parameter counts (bars: mean ± SD; dots: replicates)."))

    # 4. Linear AE: recovered principal directions against the eigengap.
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for arm in SUBSPACE_CONFIGS:
        rows = runs[runs["arm"] == arm]
        if rows.empty:
            continue
        run_id = rows.iloc[0]["run_id"]
        angles = dict(fig_ctx.tracker.metric_history(run_id, "direction_angle_deg"))
        gaps = dict(fig_ctx.tracker.metric_history(run_id, "relative_eigengap"))
        steps = sorted(set(angles) & set(gaps))
        ax.scatter([gaps[s] for s in steps], [max(angles[s], 1e-3) for s in steps], s=12, label=arm)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # minor labels overlap on a short log range
    ax.set_xlabel("relative eigengap (λi − λi+1) / λi")
    ax.set_ylabel("angle to principal direction i (°)")
    ax.legend(fontsize=7)
    out.append(fig_ctx.save(fig, "recovered_directions.png",
                            "Principal directions recovered from the linear AE's decoder by SVD, angle to the true "
                            "direction against its relative eigengap (replicate 0): small gaps converge slowly."))
    return out


# -- claims ----------------------------------------------------------------------------
ARTICLE = "Autoencoder"
HINTON = "Hinton & Salakhutdinov 2006, \"Reducing the dimensionality of data with neural networks\", Science 313:504"
BALDI = ("Baldi & Hornik 1989, Neural Networks 2:53; Bourlard & Kamp 1988, Biol. Cybern. 59:291; "
         "recovery by SVD: Plaut 2018, arXiv:1804.10253")
SUBSPACE_QUOTE = ("The weights of an autoencoder with a single hidden layer of size p (where p is less than the size "
                  "of the input) span the same vector subspace as the one spanned by the first p principal "
                  "components, and the output of the autoencoder is an orthogonal projection onto this subspace.")
NOT_ORTHO_QUOTE = ("The autoencoder weights are not equal to the principal components, and are generally not "
                   "orthogonal, yet the principal components may be recovered from them using the singular value "
                   "decomposition.")
DEPTH_QUOTE = "Experimentally, deep autoencoders yield better compression compared to shallow or linear autoencoders."
DEPTH_SOURCE_NUMBERS = ("Hinton & Salakhutdinov 2006 qualify it: \"When the number of parameters is the same, deep "
                        "autoencoders can produce lower reconstruction errors on test data than shallow ones, but this "
                        "advantage disappears as the number of parameters increases.\"")
SUBSPACE_ARMS = tuple(SUBSPACE_CONFIGS)


def _ratio_note(runs) -> list[str]:
    ae = runs[(runs["arm"] == "deep-ae-30") & (runs["status"] == "FINISHED")]
    pca = runs[(runs["arm"] == "pca-30") & (runs["status"] == "FINISHED")]
    if ae.empty or pca.empty:
        return []
    ours = ae["metrics.test_sse"].mean() / pca["metrics.test_sse"].mean()
    return [f"Error ratio AE/PCA: ours {ours:.3f} (Fashion-MNIST, {ae['metrics.test_sse'].mean():.2f} vs "
            f"{pca['metrics.test_sse'].mean():.2f}); the paper's 3.00/13.87 = {3.00 / 13.87:.3f} (MNIST, RBM-pretrained "
            "784-1000-500-250-30). Fashion-MNIST has more texture than MNIST, so a different absolute error is expected."]


def _convergence_note(*arms: str):
    """A report line per AE arm: how much its test error still fell over the
    last three epochs. A model still improving is under-trained, which favours
    whichever side trains faster; the full budget trains longer."""

    def note(runs) -> list[str]:
        parts = []
        for arm in arms:
            rows = runs[(runs["arm"] == arm) & (runs["status"] == "FINISHED")]
            if not rows.empty and "metrics.last3_improvement" in rows:
                parts.append(f"`{arm}` {100 * rows['metrics.last3_improvement'].mean():.1f}%")
        return [f"Test error still fell over the last three epochs by: {', '.join(parts)}."] if parts else []

    return note


def _eigengap_note(runs) -> list[str]:
    lines = []
    for arm in SUBSPACE_ARMS:
        rows = runs[(runs["arm"] == arm) & (runs["status"] == "FINISHED")]
        if not rows.empty and "metrics.eigengap_p" in rows:
            lines.append(f"`{arm}`: largest principal angle {rows['metrics.max_angle_deg'].mean():.3g}°, "
                         f"eigengap λp−λp+1 = {rows['metrics.eigengap_p'].mean():.3g}, AE/PCA test error ratio "
                         f"{rows['metrics.sse_ratio_to_pca'].mean():.4f}")
    return lines


def _naive_svd_note(runs) -> list[str]:
    rows = runs[runs["arm"].isin(SUBSPACE_ARMS) & (runs["status"] == "FINISHED")]
    if rows.empty or "metrics.naive_svd_max_angle_deg" not in rows:
        return []
    return [f"The decoder columns themselves are not the principal directions: their largest angle to PC i averages "
            f"{rows['metrics.max_column_to_pc_angle_deg'].mean():.3g}°. The left singular vectors of the decoder alone "
            f"are off by up to {rows['metrics.naive_svd_max_angle_deg'].mean():.3g}° on average (they are an arbitrary "
            "basis of the subspace unless the AE is regularised); the recovery used here projects the data onto that "
            "basis and takes the SVD of the projection."]


# Validity checks (harness.checks): an AE arm must have trained (loss down 10% from its first epoch), have
# stopped improving (test error down < 1% over its last 3 epochs) and have no hidden layer narrower than its
# code; the linear AEs of the subspace claims ("at the optimum") must have reached their plateau.
def AE_CHECKS(*arms: str) -> tuple:
    return (Trained("train_loss", fell_by=0.1, arms=arms), Converged("test_sse", last=3, tolerance=0.01, arms=arms),
            NoBottleneck("hidden", "code", arms=arms))


SUBSPACE_CHECKS = (Trained("train_loss", fell_by=0.1), Converged("train_loss", last=3, tolerance=0.01))

CLAIMS = (
    Claim(
        id="AE-PCA-30",
        quote=("For Hinton's 2006 study, he pretrained a multi-layer autoencoder with a stack of RBMs … The resulting "
               "30 dimensions of the code yielded a smaller reconstruction error compared to the first 30 components "
               "of a principal component analysis (PCA), …"),
        article=ARTICLE, section="Dimensionality reduction", source=HINTON,
        source_numbers="MNIST, average squared error per test image: deep AE 3.00, logistic PCA 8.01, PCA 13.87.",
        measure=("Summed squared error per Fashion-MNIST test image (pixels in [0, 1]) of a 784-512-256-128-30 ReLU "
                 "AE (linear code, sigmoid output, Adam with a TPE-tuned learning rate, no pretraining) and of PCA-30, "
                 "both fitted on the same training subset."),
        test=Better("test_sse", "deep-ae-30", "pca-30", lower_is_better=True),
        checks=(*AE_CHECKS("deep-ae-30"),
                TunedAlike(reason="PCA has no hyperparameter to tune; the AE's learning rate is tuned")),
        notes=lambda runs: _ratio_note(runs) + _convergence_note("deep-ae-30")(runs),
    ),
    Claim(
        id="AE-LIN-SUBSPACE",
        quote=SUBSPACE_QUOTE, article=ARTICLE, section="Dimensionality reduction › Principal component analysis",
        source=BALDI, source_numbers="a theorem: at the optimum the principal angles are exactly 0.",
        measure=("Largest principal angle (degrees) between the column space of a trained linear single-layer AE's "
                 "decoder and the top-p PCA subspace of the same centred training data; digits with p = 5, 10, 30 "
                 "and Fashion-MNIST (a training subset) with p = 10; full-batch Adam."),
        test=Bound("max_angle_deg", 5.0, side="below", over=SUBSPACE_ARMS),
        checks=SUBSPACE_CHECKS,
        notes=_eigengap_note,
    ),
    Claim(
        id="AE-LIN-NONORTHOGONAL",
        quote=NOT_ORTHO_QUOTE, article=ARTICLE, section="Dimensionality reduction › Principal component analysis",
        source=BALDI, source_numbers="a theorem: any invertible mixing C of the top-p directions is optimal, so nothing forces orthogonality.",
        measure=("Largest |cosine| between two distinct decoder columns of the trained linear AE (0 = orthogonal); "
                 "'generally not orthogonal' is pre-registered as a mean above 0.1 in every configuration."),
        test=Bound("max_abs_cos", 0.1, side="above", over=SUBSPACE_ARMS),
        checks=SUBSPACE_CHECKS,
    ),
    Claim(
        id="AE-LIN-SVD",
        quote=NOT_ORTHO_QUOTE, article=ARTICLE, section="Dimensionality reduction › Principal component analysis",
        source=BALDI, source_numbers="exact recovery at the optimum (Plaut 2018 shows it on MNIST).",
        measure=("Largest angle (degrees) between a recovered direction and the matching principal direction, over "
                 "all p directions, recovering with the SVD of the decoder and of the data projected on it."),
        test=Bound("recovered_max_angle_deg", 5.0, side="below", over=SUBSPACE_ARMS),
        checks=SUBSPACE_CHECKS,
        notes=_naive_svd_note,
    ),
    Claim(
        id="AE-SIGMOID-PCA",
        quote=("If linear activations are used, or only a single sigmoid hidden layer, then the optimal solution to "
               "an autoencoder is strongly related to principal component analysis (PCA)."),
        article=ARTICLE, section="Dimensionality reduction › Principal component analysis",
        source="Bourlard & Kamp 1988, Biol. Cybern. 59:291",
        source_numbers="a theorem: with linear outputs, sigmoid hidden units cannot beat the PCA projection.",
        measure=("Test squared error of a 64-10-64 AE with sigmoid hidden units and linear outputs on centred digits, "
                 "divided by PCA-10's; pre-registered margin: the AE does not beat PCA by more than 5% (ratio > 0.95)."),
        test=Bound("sse_ratio_to_pca", 0.95, side="above", over=("sigmoid-digits-p10",)),
        checks=SUBSPACE_CHECKS,
    ),
    Claim(
        id="AE-DEPTH-100K",
        quote=DEPTH_QUOTE, article=ARTICLE, section="Advantages of depth", source=HINTON,
        source_numbers=DEPTH_SOURCE_NUMBERS,
        measure=("Test squared error per image of a deep (784-60-30-15-30, mirrored) and a shallow (784-61-30-61-784) "
                 "ReLU AE, both ~100k parameters, equal epochs, same data."),
        test=Better("test_sse", "deep-ae-100k", "shallow-ae-100k", margin=DEPTH_MARGIN),
        checks=AE_CHECKS("deep-ae-100k", "shallow-ae-100k"),
        notes=_convergence_note("deep-ae-100k", "shallow-ae-100k"),
    ),
    Claim(
        id="AE-DEPTH-1M",
        quote=DEPTH_QUOTE, article=ARTICLE, section="Advantages of depth", source=HINTON,
        source_numbers=DEPTH_SOURCE_NUMBERS,
        measure=("Test squared error per image of the 784-512-256-128-30 deep AE (1.14M parameters) and a shallow AE "
                 "with one hidden layer of 693 units per side (1.14M parameters), equal epochs, same data."),
        test=Better("test_sse", "deep-ae-30", "shallow-ae-1m", margin=DEPTH_MARGIN),
        checks=AE_CHECKS("deep-ae-30", "shallow-ae-1m"),
        notes=_convergence_note("deep-ae-30", "shallow-ae-1m"),
    ),
    Claim(
        id="AE-DEPTH-LINEAR",
        quote=DEPTH_QUOTE, article=ARTICLE, section="Advantages of depth", source=HINTON,
        source_numbers=DEPTH_SOURCE_NUMBERS,
        measure=("Test squared error per image of the ~100k-parameter deep AE and a linear 784-30-784 AE (sigmoid "
                 "output, 48k parameters: a linear AE cannot use more), equal epochs, same data."),
        test=Better("test_sse", "deep-ae-100k", "linear-ae-30", margin=DEPTH_MARGIN),
        checks=AE_CHECKS("deep-ae-100k", "linear-ae-30"),
        notes=_convergence_note("deep-ae-100k", "linear-ae-30"),
    ),
)

STUDY = register(Study(
    name="ae-vs-pca",
    title="Autoencoders versus PCA",
    summary=__doc__.split("\n\n", 1)[1],
    claims=CLAIMS,
    arms=arms,
    run_trial=run_trial,
    figures=figures,
    datasets=(FASHION, "digits"),
    tuning=Tuning(arms=("deep-ae-30", "shallow-ae-1m"), space=lr_space, metric="val_sse"),
    root_seed=2006,
    check=check_budget,
    budgets={
        # machinery only: tiny data, one epoch, two replicates
        "smoke": Budget(replicates=2, tuning_trials=1, settings={
            "n_train": 512, "n_val": 256, "epochs": 1, "epochs_tune": 1, "ae_replicates": 2,
            "curve_codes": (), "curve_replicates": 1,
            "subspace_steps": 50, "subspace_lr": 1e-2, "subspace_n_fashion": 500}),
        # real verdicts in about six minutes on 2 cores: 15 epochs (the protocol's 15-20) on 15k images
        "quick": Budget(replicates=5, tuning_trials=3, settings={
            "n_train": 15_000, "n_val": 5_000, "epochs": 15, "epochs_tune": 3, "ae_replicates": 3,
            "curve_codes": (8,), "curve_replicates": 1,
            "subspace_steps": 1500, "subspace_lr": 1e-2, "subspace_n_fashion": 1000}),
        # near the paper's scale: 50k training images (10k held out for tuning), 20 epochs
        "full": Budget(replicates=10, tuning_trials=12, settings={
            "n_train": 50_000, "n_val": 10_000, "epochs": 20, "epochs_tune": 5, "ae_replicates": 10,
            "curve_codes": (2, 4, 8, 16, 60), "curve_replicates": 3,
            "subspace_steps": 10_000, "subspace_lr": 1e-2, "subspace_n_fashion": 10_000}),
    },
))
