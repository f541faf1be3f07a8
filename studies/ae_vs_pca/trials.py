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


def _reconstruction_trial(ctx) -> dict[str, float]:
    """PCA, or an autoencoder trained to its validation plateau (see
    ``plateau``), on the replicate's training subset; squared error per test
    image (per validation image while tuning)."""
    import numpy as np
    import torch

    from harness import engine
    from harness.models import MODELS
    from harness.nets import count_parameters

    cfg, budget = dict(ctx.config), ctx.budget
    x_np, _, x_val_np, _, x_eval_np, _ = ctx.data_split_with_validation(FASHION, budget["n_train"], budget["n_val"])
    x, x_val, x_eval = (engine.as_tensor(a, ctx.device) for a in (x_np, x_val_np, x_eval_np))
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
        kwargs = {k: v for k, v in cfg.items() if k in ("hidden", "code", "code_act", "out_act", "init")}
        model = engine.build_model(lambda: MODELS.get(cfg["model"])(in_features=PIXELS, **kwargs), ctx)
        ctx.log_param("parameters", count_parameters(model))
        train = engine.TrainConfig(epochs=budget["max_epochs"], batch_size=budget["batch_size"],
                                   lr=float(cfg.get("lr", budget["lr"])))
        engine.fit(model, x, x, torch.nn.functional.mse_loss, train, ctx,
                   evaluate=lambda epoch: {"val_sse": engine.sse_per_example(model, x_val)},
                   early_stopping=plateau(budget))
        model.eval()  # the weights of the best validation epoch (restore_best)
        metrics = {"test_sse": engine.sse_per_example(model, x_eval), "train_sse": engine.sse_per_example(model, x),
                   "epochs_trained": float(len(ctx.curve("val_sse")))}
    if ctx.tuning:
        return {"val_sse": metrics["test_sse"]}
    if ctx.replicate == 0 and ctx.arm.name in ("pca-30", "deep-ae-30"):
        n = budget["reconstructions"]
        with torch.no_grad():
            recon = model.reconstruct(x_eval[:n]).cpu().numpy()
        np.savez_compressed(ctx.artifact_path("reconstructions.npz"), original=x_eval_np[:n], reconstruction=recon)
    return metrics


def plateau(budget):
    """The study's stopping rule for every Fashion-MNIST autoencoder: on the
    validation error, patience, one tenfold step-size decay at the first
    plateau, stop at the next, and measure the best epoch's weights."""
    from harness.engine import EarlyStopping

    return EarlyStopping("val_sse", patience=budget["patience"], min_delta=budget["min_gain"], relative=True,
                         decays=budget["lr_decays"], factor=0.1, restore_best=True)


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
    ev = pca.explained_variance_.double().cpu().numpy()
    model = engine.build_model(lambda: MODELS.get("single-layer-ae")(
        in_features=x.shape[1], code=p, code_act=cfg.get("code_act", "linear"), out_act="linear"), ctx)
    steps = budget["subspace_steps_fashion" if cfg["dataset"] == FASHION else "subspace_steps"]
    # Weight decay: Kunin et al.'s penalty lambda (||W1||^2 + ||W2||^2) on the per-example summed error is Adam's
    # coupled weight_decay 2 lambda / d on this mean-over-pixels loss (same stationary points).
    lam = budget["l2_fraction"] * float(ev[p - 1]) if cfg.get("l2") else 0.0
    decay = 2 * lam / x.shape[1]
    start = _gradient_norm(model, x, decay)

    # At every evaluation (Adam) or logged sweep (ALS); both include the last step, so the last value logged is the
    # final weights' -- what the Stationary check reads. The figures draw the curve.
    def log_gradient(point: int) -> None:
        ctx.log_metric("grad_norm_ratio", _gradient_norm(model, x, decay) / start, point)

    if cfg.get("solver") == "als":
        steps = budget["als_sweeps"]
        _alternating_least_squares(model, x, steps, max(1, steps // budget["subspace_evals"]), ctx,
                                   on_log=log_gradient)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=budget["subspace_lr"], weight_decay=decay)
        # Annealed to 0 (cosine): a constant step size leaves full-batch Adam circling the optimum it reached
        annealing = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
        schedule = engine.Schedule(batch_size=x.shape[0], epochs=steps,
                                   eval_every=max(1, steps // budget["subspace_evals"]), shuffle=False)
        engine.train(model, x, x, torch.nn.functional.mse_loss, optimizer, schedule, ctx, after_step=annealing.step,
                     on_eval=log_gradient)
    if lam:
        ctx.log_param("l2_lambda", lam)
    model.eval()
    pca_test = engine.sse_per_example(pca.reconstruct, x_test)
    ae_test = engine.sse_per_example(model, x_test)
    metrics = {"test_sse": ae_test, "pca_test_sse": pca_test, "sse_ratio_to_pca": ae_test / pca_test,
               "train_sse": engine.sse_per_example(model, x),
               "pca_train_sse": engine.sse_per_example(pca.reconstruct, x)}
    metrics["optimality_gap"] = metrics["train_sse"] / metrics["pca_train_sse"] - 1  # 0 at a plain linear AE's optimum
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
    # Recovery from the weights alone (Plaut 2018; Kunin et al. 2019): the decoder's left singular vectors. They
    # are the principal directions when the AE is trained with weight decay, an arbitrary basis of the subspace
    # when it is not (any invertible mixing of the code is then optimal).
    q = np.linalg.svd(w, full_matrices=False)[0]
    from_weights = np.degrees(np.arccos(np.clip(np.abs(np.sum(q * pcs, axis=0)), 0, 1)))
    # Recovery with the data: project the data onto that basis and take the SVD of the projection (PCA inside
    # the learned subspace); exact whenever the subspace is, so it adds nothing to AE-LIN-SUBSPACE.
    _, _, vt = np.linalg.svd(x.double().cpu().numpy() @ q, full_matrices=False)
    with_data = np.degrees(np.arccos(np.clip(np.abs(np.sum((q @ vt.T) * pcs, axis=0)), 0, 1)))
    for i in range(p):
        ctx.log_metrics({"weights_svd_angle_deg": from_weights[i], "data_svd_angle_deg": with_data[i],
                         "relative_eigengap": (ev[i] - ev[i + 1]) / ev[i]}, step=i + 1)
    metrics["weights_svd_max_angle_deg"] = float(from_weights.max())
    metrics["data_svd_max_angle_deg"] = float(with_data.max())
    metrics["eigengap_p"] = float(ev[p - 1] - ev[p])
    metrics["relative_eigengap_p"] = float((ev[p - 1] - ev[p]) / ev[p - 1])
    return metrics


def _alternating_least_squares(model, x, sweeps: int, every: int, ctx, on_log=None) -> None:
    """Train a linear single-layer AE (no weight decay) by alternating least
    squares, from its own initial weights: each sweep sets the encoder to the
    best one given the decoder (its pseudo-inverse) and then the decoder to the
    best one given the encoder (the least-squares fit of the data to the code).
    Both minimise the AE's own squared error exactly over one layer, so the
    error never rises; float64; the biases 0, optimal on centred data. Logs
    ``train_loss`` (the Adam runs' mean squared error) at sweep 0 and every
    ``every`` sweeps, so the ``trained`` check reads it alike; at each of those
    sweeps the model holds that sweep's weights and ``on_log(sweep)`` is called."""
    import numpy as np
    import torch

    encoder, decoder = (m for m in model.modules() if isinstance(m, torch.nn.Linear))
    data = x.double().cpu().numpy()
    gram = data.T @ data

    def load(enc: np.ndarray, dec: np.ndarray) -> None:
        with torch.no_grad():
            for layer, weight in ((encoder, enc.T), (decoder, dec.T)):
                layer.weight.copy_(torch.as_tensor(weight, dtype=layer.weight.dtype))
                if layer.bias is not None:
                    layer.bias.zero_()

    def log(sweep: int, enc: np.ndarray, dec: np.ndarray) -> None:
        ctx.log_metric("train_loss", float(((data - data @ enc @ dec) ** 2).mean()), sweep)
        if on_log is not None:
            load(enc, dec)
            on_log(sweep)

    def best_encoder(dec: np.ndarray) -> np.ndarray:  # the pseudo-inverse of a full-rank (p, d) decoder
        return np.linalg.solve(dec @ dec.T, dec).T

    enc = encoder.weight.detach().double().cpu().numpy().T    # (d, p): code = x @ enc
    dec = decoder.weight.detach().double().cpu().numpy().T    # (p, d): reconstruction = code @ dec
    log(0, enc, dec)
    for sweep in range(1, sweeps + 1):
        enc = best_encoder(dec)
        projected = gram @ enc                                 # X^T X enc: the code's covariance with the data
        dec = np.linalg.solve(enc.T @ projected, projected.T)
        if sweep % every == 0 or sweep == sweeps:
            log(sweep, best_encoder(dec), dec)
    load(best_encoder(dec), dec)


def _gradient_norm(model, x, weight_decay: float = 0.0) -> float:
    """Norm of the full-batch gradient of the training objective, weight decay
    included (Adam's coupled decay adds wd * w to each gradient)."""
    import torch

    model.zero_grad(set_to_none=True)
    torch.nn.functional.mse_loss(model(x), x).backward()
    total = 0.0
    for w in model.parameters():
        if w.grad is not None:
            total += float((w.grad + weight_decay * w.detach()).double().pow(2).sum())
    model.zero_grad(set_to_none=True)
    return total ** 0.5
