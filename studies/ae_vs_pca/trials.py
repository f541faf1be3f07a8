"""The ae-vs-pca study's trials: PCA and deep, shallow and linear autoencoders
on a Fashion-MNIST training subset (reconstruction error per test image), and
single-layer autoencoders on centred data trained full-batch to their optimum,
whose decoders are compared with the PCA subspace. Every hyperparameter comes
from the arm's config or the tier's ``Settings`` (``settings.py``)."""
from __future__ import annotations

FASHION = "fashion-mnist"
DIGITS = "digits"
PIXELS = 784  # a Fashion-MNIST image, 28 x 28, flattened


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

    cfg, budget = dict(ctx.config), ctx.budget
    x_np, x_eval_np = _fashion(ctx)
    x, x_eval = engine.as_tensor(x_np, ctx.device), engine.as_tensor(x_eval_np, ctx.device)
    if cfg["model"] == "pca":
        metrics = {}
        full = MODELS.get("pca")(code=max(budget["pca_k_grid"])).fit(x)
        for k in budget["pca_k_grid"]:
            metrics[f"test_sse_k{k}"] = engine.sse_per_example(full.truncated(k).reconstruct, x_eval)
        model = full.truncated(cfg["code"])
        metrics["test_sse"] = metrics[f"test_sse_k{cfg['code']}"]
        metrics["train_sse"] = engine.sse_per_example(model.reconstruct, x)
        ctx.log_param("parameters", 2 * PIXELS * cfg["code"] + PIXELS)
    else:
        kwargs = {k: v for k, v in cfg.items() if k in ("hidden", "code", "code_act", "out_act")}
        model = engine.build_model(lambda: MODELS.get(cfg["model"])(in_features=PIXELS, **kwargs), ctx)
        ctx.log_param("parameters", count_parameters(model))
        train = engine.TrainConfig(epochs=budget["epochs_tune" if ctx.tuning else "epochs"],
                                   batch_size=budget["batch_size"], lr=float(cfg.get("lr", budget["lr"])))
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
        n = budget["reconstructions"]
        with torch.no_grad():
            recon = model.reconstruct(x_eval[:n]).cpu().numpy()
        np.savez_compressed(ctx.artifact_path("reconstructions.npz"), original=x_eval_np[:n], reconstruction=recon)
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

    cfg, budget = ctx.config, ctx.budget
    data = datasets.load(cfg["dataset"])
    if cfg["dataset"] == FASHION:
        data = data.subsample(budget["subspace_n_fashion"], seed=ctx.seeds.subsample)
    ctx.use_dataset(cfg["dataset"], data.digest, data.source, "train")
    x = engine.as_tensor(data.x_train, ctx.device)
    x_test = engine.as_tensor(data.x_test, ctx.device)
    mean = x.mean(0)
    x, x_test = x - mean, x_test - mean  # PCA is about the centred data; so is the AE here
    p = cfg["code"]
    pca = PCA(p).fit(x)
    model = engine.build_model(lambda: MODELS.get("single-layer-ae")(
        in_features=x.shape[1], code=p, code_act=cfg.get("code_act", "linear"), out_act="linear"), ctx)
    steps = budget["subspace_steps"]
    train = engine.TrainConfig(epochs=steps, batch_size=x.shape[0], lr=budget["subspace_lr"])
    engine.fit(model, x, x, torch.nn.functional.mse_loss, train, ctx,
               log_every=max(1, steps // budget["subspace_evals"]))
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
