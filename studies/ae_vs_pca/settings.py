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
    n_train: int                         # Fashion-MNIST training subset, drawn per replicate, shared by its arms
    n_val: int                           # validation images carved from the training set while tuning
    epochs: int                          # epochs of every Fashion-MNIST autoencoder
    epochs_tune: int                     # epochs per tuning trial
    ae_replicates: int                   # seeds of the Fashion-MNIST arms (their training dominates the cost)
    curve_codes: tuple[int, ...]         # code sizes of the extra deep AEs (error against code size: a figure only)
    curve_replicates: int                # seeds of those extra deep AEs
    subspace_steps: int                  # full-batch steps of the single-layer AEs of the subspace claims
    subspace_n_fashion: int              # Fashion-MNIST training images of the linear-fashion subspace arm
    # -- the protocol: the same in every tier
    code: int = 30                       # code size of AE-PCA-30 and AE-DEPTH (PCA-30, the 30-d AEs)
    deep_hidden: tuple[int, ...] = (512, 256, 128)  # 784-512-256-128-30: 1,140,782 parameters, mirrored decoder
    matched_params: int = 100_000        # AE-DEPTH-100K: deep and shallow AEs of ~100k parameters (the ~1.1M
                                         # pair matches the 784-512-256-128-30 AE's own count)
    batch_size: int = 128                # Adam minibatch of the Fashion-MNIST autoencoders
    lr: float = 1e-3                     # Adam's default step size, for the AEs whose lr is not tuned
    pca_k_grid: tuple[int, ...] = (1, 2, 4, 8, 16, 30, 50, 100)  # PCA's error curve is free: one fit, many k
    subspace_lr: float = 1e-2            # full-batch Adam step size of the subspace AEs
    subspace_evals: int = 100            # evaluations logged per subspace run (every subspace_steps // 100 steps)
    reconstructions: int = 10            # test images whose reconstructions replicate 0 of pca-30 and deep-ae-30 saves
    # the linear single-layer AEs of AE-LIN-*: (arm, dataset, code size p); p = 30 on 784-d Fashion-MNIST
    # converges too slowly for a CPU budget
    subspace_arms: tuple[tuple[str, str, int], ...] = (
        ("linear-digits-p5", DIGITS, 5), ("linear-digits-p10", DIGITS, 10), ("linear-digits-p30", DIGITS, 30),
        ("linear-fashion-p10", FASHION, 10))
