"""The ae-vs-pca study's report notes: the numbers behind each verdict, in
words."""
from __future__ import annotations

from studies.ae_vs_pca.settings import L2_ARMS, SUBSPACE_ARMS


def _finished(runs, arms):
    return runs[runs["arm"].isin(list(arms)) & (runs["status"] == "FINISHED")]


def ratio_note(runs) -> list[str]:
    ae, pca = _finished(runs, ["deep-ae-30"]), _finished(runs, ["pca-30"])
    if ae.empty or pca.empty:
        return []
    ours = ae["metrics.test_sse"].mean() / pca["metrics.test_sse"].mean()
    return [f"Error ratio AE/PCA: ours {ours:.3f} (Fashion-MNIST, {ae['metrics.test_sse'].mean():.2f} vs "
            f"{pca['metrics.test_sse'].mean():.2f}); the paper's 3.00/13.87 = {3.00 / 13.87:.3f} (MNIST, "
            "RBM-pretrained 784-1000-500-250-30, logistic units)."]


def _mean(rows, metric: str) -> str:
    column = f"metrics.{metric}"
    return f"{rows[column].mean():.2f}" if column in rows and rows[column].notna().any() else "n/a"


def depth_linear_note(runs) -> list[str]:
    """Beside AE-DEPTH-LINEAR's test (the smallest deep AE): the largest deep
    AE against the same linear AE, and what the small one's widths are."""
    deep, small, linear = (_finished(runs, [arm]) for arm in ("deep-ae-30", "deep-ae-small", "linear-ae-30"))
    if deep.empty or linear.empty or small.empty:
        return []
    return [f"Not the test, beside it: the largest deep AE (`deep-ae-30`, 784-512-256-128-30, 1.14M parameters, the "
            f"same 30-d code) reaches {deep['metrics.test_sse'].mean():.2f} against the linear AE's "
            f"{linear['metrics.test_sse'].mean():.2f} ({len(deep)} and {len(linear)} runs). The tested deep AE is the "
            f"smallest of its depth and taper without a bottleneck: its narrowest ReLU layer has twice the code's "
            f"units, and it reaches {small['metrics.test_sse'].mean():.2f}; the verdict is about that size. Training "
            f"error: deep {_mean(small, 'train_sse')}, linear {_mean(linear, 'train_sse')} (the deep AE contains the "
            "linear one, so a higher training error would be under-optimisation, not depth)."]


def plateau_note(*arms: str):
    """A report line per AE arm: how long it trained and where validation
    chose its weights, so a reader sees that each arm reached its plateau."""

    def note(runs) -> list[str]:
        parts = []
        for arm in arms:
            rows = _finished(runs, [arm])
            if rows.empty or "metrics.epochs_trained" not in rows:
                continue
            stopped = int((rows["metrics.stopped_early"] == 1).sum()) if "metrics.stopped_early" in rows else 0
            best = rows["metrics.best_point"].mean() if "metrics.best_point" in rows else float("nan")
            parts.append(f"`{arm}` {rows['metrics.epochs_trained'].mean():.0f} epochs (best validation epoch "
                         f"{best:.0f} on average; {stopped} of {len(rows)} runs stopped on patience)")
        return [f"Training to the validation plateau: {'; '.join(parts)}."] if parts else []

    return note


def eigengap_note(runs) -> list[str]:
    lines = []
    for arm in SUBSPACE_ARMS:
        rows = _finished(runs, [arm])
        if not rows.empty and "metrics.eigengap_p" in rows:
            als = "params.config.solver" in rows and (rows["params.config.solver"] == "als").any()
            lines.append(f"`{arm}` ({'alternating least squares' if als else 'Adam'}): largest principal angle "
                         f"{rows['metrics.max_angle_deg'].mean():.3g}°, eigengap λp−λp+1 = "
                         f"{rows['metrics.eigengap_p'].mean():.3g} (relative "
                         f"{rows['metrics.relative_eigengap_p'].mean():.3g}), training error above PCA's "
                         f"{rows['metrics.optimality_gap'].max():.2g} (relative, the largest), AE/PCA test error "
                         f"ratio {rows['metrics.sse_ratio_to_pca'].mean():.4f}")
    return lines


def svd_constructions_note(runs) -> list[str]:
    """The two constructions side by side: the decoder's SVD with and without
    weight decay, and recovery with the data."""
    plain, decayed = _finished(runs, SUBSPACE_ARMS), _finished(runs, L2_ARMS)
    if plain.empty or "metrics.weights_svd_max_angle_deg" not in plain:
        return []
    lines = [f"Without weight decay the decoder columns are not the principal directions (largest angle to PC i "
             f"{plain['metrics.max_column_to_pc_angle_deg'].mean():.3g}° on average), and neither are its left "
             f"singular vectors: up to {plain['metrics.weights_svd_max_angle_deg'].mean():.3g}° off on average (the "
             "naive construction; any invertible mixing of the code is optimal, so the SVD returns an arbitrary "
             "basis of the subspace)."]
    if not decayed.empty and "metrics.weights_svd_max_angle_deg" in decayed:
        lines.append(f"With weight decay λ = λp/2 the same construction recovers them: up to "
                     f"{decayed['metrics.weights_svd_max_angle_deg'].mean():.3g}° off on average (the tested values).")
    lines.append(f"Recovery with the data (projecting the data onto the decoder's basis and taking the SVD of the "
                 f"projection) is off by {plain['metrics.data_svd_max_angle_deg'].mean():.3g}° without weight decay; "
                 "it is PCA inside the learned subspace, so it holds whenever AE-LIN-SUBSPACE does and is not the "
                 "sentence's recovery from the weights.")
    return lines


# the AE-DEPTH claims compare arms at one learning rate; this pilot (outside the design: it logs nothing) says
# whether that rate favours a depth (Settings.lr's comment points here).
LR_PILOT = ("Learning rate: every autoencoder starts Adam at 1e-3. A one-seed pilot (`python -m "
            "studies.ae_vs_pca.lr_pilot`: the study's trial code, replicate 0's images and seeds; best validation "
            "error). On this tier's 55,000 training and 5,000 validation images, at 1e-3 / 3e-3: deep-ae-small "
            "6.542 / 7.789, shallow-ae-small 6.527 / 6.330, deep-ae-30 6.039 / 6.630, shallow-ae-1m 5.977 / 5.986. "
            "Both deep AEs are best at 1e-3; only shallow-ae-small gains from 3e-3. At each arm's better rate the "
            "deep AE is behind by 0.21 at ~454k (0.02 at 1e-3) and by 0.06 at ~1.14M, so the shared rate does not "
            "hold the deep AEs back. Before, on 15,000 training and 5,000 validation images, at 3e-4 / 1e-3 / 3e-3 "
            "(* = stopped by the 80-epoch cap): deep-ae-small 9.061* / 8.562 / 8.971, shallow-ae-small 8.218 / "
            "7.466 / 7.203, deep-ae-30 7.901 / 7.637 / 8.595, shallow-ae-1m 7.367 / 6.889 / 6.957, linear-ae-30 "
            "10.564* / 10.178 / 10.221; 3e-4 was the worst rate for four of the five arms and never the best, so "
            "it was not repeated on 55,000; nor was the linear AE, best at 1e-3 on 15,000 by 0.04, a small fraction "
            "of its gap to the deep AE in AE-DEPTH-LINEAR.")


def lr_pilot_note(runs) -> list[str]:
    return [LR_PILOT]


def shrinks_note(runs) -> list[str]:
    """Where the deep AE stands at each size: the source's qualifier ("this advantage disappears") presumes an
    advantage, so say when there is none to shrink."""
    sizes = {"~454k": ("deep-ae-small", "shallow-ae-small"), "~1.14M": ("deep-ae-30", "shallow-ae-1m")}
    gaps = {}
    for label, (deep, shallow) in sizes.items():
        d, s_ = _finished(runs, [deep]), _finished(runs, [shallow])
        if d.empty or s_.empty:
            return []
        gaps[label] = s_["metrics.test_sse"].mean() - d["metrics.test_sse"].mean()
    text = "; ".join(f"{label}: {gap:+.3f}" for label, gap in gaps.items())
    if all(g < 0 for g in gaps.values()):
        return [f"The deep AE's advantage (shallow − deep test squared error, mean) — {text}: the deep AE is behind "
                "at both sizes, so there is no advantage to disappear; a positive effect would mean its deficit "
                f"grows with the parameter count, a negative one that it shrinks (here from {-gaps['~454k']:.3f} to "
                f"{-gaps['~1.14M']:.3f})."]
    return [f"The deep AE's advantage (shallow − deep test squared error, mean) — {text}."]


def nonortho_note(arms: tuple[str, ...], dims: dict[str, int]):
    """Beside AE-LIN-NONORTHOGONAL's test: per configuration, the largest |cos| the test reads, what p random
    directions in the data's dimension give (the level a mixing with no structure reaches), and how far the
    columns are from orthonormal (‖WᵀW − I‖/√p), the other half of 'not orthogonal'. ``dims``: data set (as the
    arm names spell it) -> input dimension."""
    def random_max_cos(d: int, p: int, draws: int = 200) -> float:
        import numpy as np

        rng = np.random.default_rng(0)  # fixed: the same reference in every report
        values = []
        for _ in range(draws):
            w = rng.standard_normal((d, p))
            w /= np.linalg.norm(w, axis=0)
            cos = np.abs(w.T @ w)
            np.fill_diagonal(cos, 0)
            values.append(cos.max())
        return float(np.mean(values))

    def note(runs) -> list[str]:
        cells = []
        for arm in arms:
            rows = _finished(runs, [arm])
            if rows.empty or "metrics.max_abs_cos" not in rows:
                continue
            dataset, p = arm.split("-")[1], int(arm.rsplit("-p", 1)[1])
            cells.append(f"`{arm}` {rows['metrics.max_abs_cos'].mean():.3f} (random directions "
                         f"{random_max_cos(dims[dataset], p):.3f}; "
                         f"‖WᵀW − I‖/√p {rows['metrics.ortho_error'].mean():.3g})")
        return ["Largest |cos| between decoder columns (mean over runs), beside the mean largest |cos| of p random "
                "unit vectors in the data's dimension, and the distance from orthonormal — " + "; ".join(cells)
                + ". A value near the random one says the columns are mixed with no structure, not that they were "
                "pushed apart or together."] if cells else []

    return note
