"""Every knob of the ae-vs-pca study's trials, typed; one instance per budget
tier in ``studies/ae_vs_pca/__init__.py``. Trial code reads them as
``ctx.budget["name"]``; each is logged as the MLflow param ``settings.<name>``
and is part of the design fingerprint. Fields with defaults are the protocol
(the same in every tier)."""
from __future__ import annotations

from dataclasses import dataclass

from studies.ae_vs_pca.trials import DIGITS, FASHION


@dataclass(frozen=True)
class Settings:
    # -- how much: differs by tier
    n_train: int                         # Fashion-MNIST training images, drawn per replicate (all of them, the same for
                                         # every replicate, when n_train + n_val = 60000), shared by its arms
    n_val: int                           # validation images carved from the same pool: early stopping and tuning
    max_epochs: int                      # cap of every Fashion-MNIST autoencoder; a run that reaches it still
                                         # improving fails the `converged` check (the cap is not the protocol)
    ae_replicates: int                   # most seeds of the six Fashion-MNIST AE and PCA arms (their training
                                         # dominates the cost); the plain linear AEs run to the tier's replicates
    curve_codes: tuple[int, ...]         # code sizes of the extra deep AEs (error against code size: a figure only)
    curve_replicates: int                # seeds of those extra deep AEs
    subspace_steps: int                  # full-batch Adam steps of the digits single-layer AEs (cosine-annealed to 0)
    subspace_steps_fashion: int          # the same on Fashion-MNIST: 784-d, and smaller relative eigengaps, so more
    subspace_n_fashion: int              # Fashion-MNIST training images of the Fashion-MNIST single-layer AEs
    other_replicates: int | None = None  # most seeds of every arm but those (None: no cap beyond the arm's own):
                                         # their claims decide at fewer than AE-DEPTH's and AE-LIN-NONORTHOGONAL's
    # -- the protocol: the same in every tier
    code: int = 30                       # code size of AE-PCA-30 and AE-DEPTH (PCA-30, the 30-d AEs)
    deep_hidden: tuple[int, ...] = (512, 256, 128)  # 784-512-256-128-30: 1,140,782 parameters, mirrored decoder
    # AE-DEPTH's small size: the smallest deep AE of the same depth and taper (each layer half the one before)
    # whose narrowest ReLU layer is twice the code: 784-240-120-60-30, 453,574 parameters. A ReLU layer passes
    # a signed d-dim signal only with 2d units, so narrower (120-60-30 had a 30-unit layer, and fitted its
    # training data worse than the linear AE it should contain) is a bottleneck the shallow AE does not have.
    small_deep_hidden: tuple[int, ...] = (240, 120, 60)
    init: str = "he"                     # He et al. 2015 for the ReLU layers: torch's default starves deep nets
    batch_size: int = 128                # Adam minibatch of the Fashion-MNIST autoencoders
    # Adam's starting step size, every arm (tuned per arm when the tier tunes). Fair to every depth by a one-seed
    # pilot on the standard tier's images (`python -m studies.ae_vs_pca.lr_pilot`): its numbers are in
    # notes.LR_PILOT, which the AE-DEPTH claims' notes show
    lr: float = 1e-3
    # "trained to a validation plateau": stop when the validation error has not improved by `min_gain` (relative)
    # for `patience` epochs, after first dividing the step size by 10 at the first such plateau; the weights of
    # the best validation epoch are the ones measured
    patience: int = 3
    min_gain: float = 0.002
    lr_decays: int = 1
    pca_k_grid: tuple[int, ...] = (1, 2, 4, 8, 16, 30, 50, 100)  # PCA's error curve is free: one fit, many k
    subspace_lr: float = 1e-2            # full-batch Adam step size of the subspace AEs (cosine-annealed)
    subspace_evals: int = 100            # evaluations logged per subspace run (every subspace_steps // 100 steps)
    # the linear single-layer AEs of AE-LIN-*: (arm, dataset, code size p)
    subspace_arms: tuple[tuple[str, str, int], ...] = (
        ("linear-digits-p5", DIGITS, 5), ("linear-digits-p10", DIGITS, 10), ("linear-digits-p30", DIGITS, 30),
        ("linear-fashion-p5", FASHION, 5), ("linear-fashion-p10", FASHION, 10), ("linear-fashion-p30", FASHION, 30))
    # Those reaching their optimum by alternating least squares instead of Adam: Fashion-MNIST at p = 30, whose
    # relative eigengaps inside the top 30 go down to 0.7%. The standard tier's Adam (6000 annealed full-batch steps at
    # 1e-2, 1000 images) reached the optimum for 3 of 4 seeds tried (training error within 8e-6 of PCA's, angle
    # <= 0.6 degrees) while the 4th stalled by a saddle (4e-4 above PCA's, 83 degrees; 12000 steps: 15 degrees;
    # L-BFGS: 42), and a replicate off the optimum voids the claims' optimality check. Each sweep of alternating
    # least squares minimises the same squared error exactly over one layer given the other; the subspace converges
    # like orthogonal iteration, by a factor lambda_{p+1}/lambda_p a sweep (relative gap at p = 30: 2-9% on 1000
    # images, so a few hundred sweeps reach float64 precision; the run logs its relative gap and its gradient).
    als_arms: tuple[str, ...] = ("linear-fashion-p30",)
    als_sweeps: int = 2000               # sweeps of alternating least squares (each: encoder, then decoder)
    # AE-LIN-SVD's weight-decayed linear AEs: lambda = l2_fraction * the p-th eigenvalue of the data covariance
    # (Kunin et al. 2019: with 0 < lambda < lambda_p the decoder's left singular vectors are the principal
    # directions; lambda >= lambda_p would zero the p-th direction)
    l2_fraction: float = 0.5
    l2_arms: tuple[tuple[str, str, int], ...] = (
        ("l2-digits-p5", DIGITS, 5), ("l2-digits-p10", DIGITS, 10), ("l2-digits-p30", DIGITS, 30),
        ("l2-fashion-p10", FASHION, 10))
    reconstructions: int = 10            # test images whose reconstructions replicate 0 of pca-30 and deep-ae-30 saves


SUBSPACE_ARMS = tuple(arm for arm, _, _ in Settings.subspace_arms)  # the linear AEs of AE-LIN-*
L2_ARMS = tuple(arm for arm, _, _ in Settings.l2_arms)              # the weight-decayed ones of AE-LIN-SVD
