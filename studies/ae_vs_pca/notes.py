"""The ae-vs-pca study's report notes: the numbers behind each verdict, in
words."""
from __future__ import annotations

from studies.ae_vs_pca.settings import Settings

SUBSPACE_ARMS = tuple(arm for arm, _, _ in Settings.subspace_arms)


def ratio_note(runs) -> list[str]:
    ae = runs[(runs["arm"] == "deep-ae-30") & (runs["status"] == "FINISHED")]
    pca = runs[(runs["arm"] == "pca-30") & (runs["status"] == "FINISHED")]
    if ae.empty or pca.empty:
        return []
    ours = ae["metrics.test_sse"].mean() / pca["metrics.test_sse"].mean()
    return [f"Error ratio AE/PCA: ours {ours:.3f} (Fashion-MNIST, {ae['metrics.test_sse'].mean():.2f} vs "
            f"{pca['metrics.test_sse'].mean():.2f}); the paper's 3.00/13.87 = {3.00 / 13.87:.3f} (MNIST, RBM-pretrained "
            "784-1000-500-250-30). Fashion-MNIST has more texture than MNIST, so a different absolute error is expected."]


def convergence_note(*arms: str):
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


def eigengap_note(runs) -> list[str]:
    lines = []
    for arm in SUBSPACE_ARMS:
        rows = runs[(runs["arm"] == arm) & (runs["status"] == "FINISHED")]
        if not rows.empty and "metrics.eigengap_p" in rows:
            lines.append(f"`{arm}`: largest principal angle {rows['metrics.max_angle_deg'].mean():.3g}°, "
                         f"eigengap λp−λp+1 = {rows['metrics.eigengap_p'].mean():.3g}, AE/PCA test error ratio "
                         f"{rows['metrics.sse_ratio_to_pca'].mean():.4f}")
    return lines


def naive_svd_note(runs) -> list[str]:
    rows = runs[runs["arm"].isin(SUBSPACE_ARMS) & (runs["status"] == "FINISHED")]
    if rows.empty or "metrics.naive_svd_max_angle_deg" not in rows:
        return []
    return [f"The decoder columns themselves are not the principal directions: their largest angle to PC i averages "
            f"{rows['metrics.max_column_to_pc_angle_deg'].mean():.3g}°. The left singular vectors of the decoder alone "
            f"are off by up to {rows['metrics.naive_svd_max_angle_deg'].mean():.3g}° on average (they are an arbitrary "
            "basis of the subspace unless the AE is regularised); the recovery used here projects the data onto that "
            "basis and takes the SVD of the projection."]
