"""Every knob of the batchnorm study's trials, typed; one instance per budget
tier in ``studies/batchnorm/__init__.py``. Trial code reads them as
``ctx.budget["name"]``; each is logged as the MLflow param ``settings.<name>``
and is part of the design fingerprint. Fields with defaults are the protocol
(the same in every tier). Below the class: the names the declaration, the
notes and the figures share (no sibling module imports ``__init__``)."""
from __future__ import annotations

import math
from dataclasses import dataclass

from harness.design import StudyDeclarationError


@dataclass(frozen=True)
class Settings:
    # -- how much: differs by tier
    n_train: int                         # Fashion-MNIST training images (MLP, CNN, deep net, inference features)
    n_test: int                          # test images (the fixed test subset)
    mlp_steps: int                       # SGD steps of the BN-FASTER MLP (and of the stability runs)
    eval_every: int                      # steps between the MLP's test-accuracy evaluations
    probe_every: int                     # steps between landscape / ICS probes (a multiple of eval_every)
    dln_n: int                           # training images of the deep linear network (one full batch)
    dln_width: int
    dln_steps: int                       # full-batch gradient-descent steps
    dln_probe_every: int                 # steps between its ICS probes (also at step 0 and at the end)
    smooth_n: int                        # BN-SMOOTH's VGG-style CNN: training images
    smooth_steps: int                    # its SGD steps
    cnn_epochs: int                      # BN-NOISY's CNN: the cap (each run stops at its validation plateau)
    cnn_val: int                         # its validation images, out of the replicate's n_train (it trains on the rest)
    explode_width: int                   # BN-EXPLODE's network at initialization: width x depth BN layers
    explode_depth: int                   # (also the depth of BN-UNTRAINABLE's deep net)
    explode_skip: int                    # layers left out at each end of the growth-rate fit
    deep_width: int                      # BN-UNTRAINABLE / BN-SKIP-RELIEF's deep net
    deep_steps: int
    inference_batches: int               # batches BatchNorm's running statistics see (BN-INFERENCE)
    noniid_batches: tuple[int, ...]      # BN-NONIID's batch sizes (its trend reads noniid_levels)
    noniid_n: int                        # training images of the BN-NONIID MLP
    noniid_val: int                      # its validation images, from the same pool (they stop it)
    noniid_steps: int                    # its cap in SGD steps: each run stops at its validation plateau
    # replicates of every arm but the speed MLPs (BN-FASTER's ladders): their tests decide at this many, while the
    # budget's replicates are what the exact sign tests need (p >= 2 x 2^-n: harness.spending.undecidable)
    other_replicates: int
    # -- the protocol: the same in every tier
    # BN-FASTER (its equal-step probes: notes): Ioffe & Szegedy's MNIST check, 784-100-100-100-10 sigmoid, batch 60, SGD
    mlp_hidden: tuple[int, ...] = (100, 100, 100)
    mlp_act: str = "sigmoid"
    mlp_batch: int = 60
    mlp_lr: float = 0.1                  # the no-BN and BN arms; the "5x" arm uses 5 times it
    target_accuracy: float = 0.80        # BN-FASTER's pre-registered target test accuracy
    probe_batch: int = 60                # the one fixed batch (the first rows) every probe uses
    probe_eta_factors: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)  # landscape step sizes, times the arm's lr
    stability_lrs: tuple[float, ...] = (0.5, 2.0, 8.0)  # BN-STABLE's ladder: 5x, 20x, 80x mlp_lr (a trend over it)
    # BN-FASTER-BEST's rungs below mlp_lr: with the ladder starting at mlp_lr, BN was fastest at its lowest rung in
    # 18 of 20 seeds (reports/batchnorm at 9c58e91), so BN's optimum was not bracketed; a quarter of it brackets it
    faster_lrs_below: tuple[float, ...] = (0.025,)
    # BN-SMOOTH: Santurkar et al.'s landscape measures on a small VGG-style CNN (5 conv layers), plain SGD, probed
    # on one fixed batch when the training loss (mean since the last look) first reaches each level: matched loss
    smooth_blocks: tuple[tuple[int, ...], ...] = ((8, 8), (16, 16), (32,))
    smooth_init: str = "he"              # from torch's default the net without BN sits at chance for 600+ steps
    smooth_batch: int = 64
    smooth_lrs: tuple[float, ...] = (0.03, 0.1)   # BN-SMOOTH holds at every rate (no BN trains at both)
    smooth_levels: tuple[float, ...] = (0.75, 0.5, 0.35)  # fractions of chance loss ln 10: 1.73, 1.15, 0.81
    smooth_eval_every: int = 20          # steps between looks at the training loss
    smooth_probe_batch: int = 128
    smooth_rhos: tuple[float, ...] = (0.001, 0.003, 0.01, 0.03)  # scale-free steps: fractions of ‖w‖
    # BN-ICS-DLN: Santurkar et al.'s deep linear network, full-batch GD on MSE to one-hot targets
    dln_depth: int = 25
    dln_lr: float = 0.01
    dln_init: str = "orthogonal"         # Saxe et al. 2014: a 25-layer linear net without BN trains from it
    # BN-NOISY: a small CNN of conv-BN-ReLU blocks, SGD with momentum, to its validation plateau (accuracy
    # gains under cnn_min_gain for cnn_patience epochs: the step size drops tenfold, then the next plateau stops it)
    cnn_channels: tuple[int, ...] = (8, 16)
    cnn_batch: int = 128
    cnn_lr: float = 0.05
    cnn_momentum: float = 0.9
    cnn_patience: int = 3
    cnn_min_gain: float = 0.002
    noise_scale: float = 1.0             # the claims' noise: μ_k ~ U(−0.5, 0.5), σ_k ~ U(0, 1) (harness.normnets)
    noise_sweep: tuple[float, ...] = (0.25, 0.5, 2.0)  # further scales, for the largest at which "similar" holds
    # BN-EXPLODE: ReLU networks at initialization at these batch sizes (linear and residual controls at 128)
    explode_batches: tuple[int, ...] = (8, 32, 128, 512)
    # BN-UNTRAINABLE / BN-SKIP-RELIEF: BN-ReLU deep net, SGD with momentum
    deep_act: str = "relu"
    deep_batch: int = 128
    deep_lr: float = 0.01                # BN-SKIP-RELIEF's rate (both nets), one rung of the ladder below
    deep_momentum: float = 0.9
    deep_lrs: tuple[float, ...] = (0.001, 0.01, 0.1)  # BN-UNTRAINABLE's ladder: each net at its best rate
    shallow_depth: int = 2               # BN-UNTRAINABLE's reference: the same BN-ReLU blocks, 2 deep
    untrainable_share: float = 0.5       # "untrainable": the deep net's best accuracy closes < half the
                                         # shallow net's gap above chance (10 classes: 0.1)
    deep_evals: int = 5                  # test-accuracy evaluations over training (every deep_steps // deep_evals)
    # BN-INFERENCE: BatchNorm1d on a random projection of the pixels
    inference_batch: int = 16            # m, the batch size whose m/(m-1) factor is tested
    inference_features: int = 64         # projected features (raw pixels include constant-zero ones)
    inference_scale: float = 28.0        # the projection is divided by this
    dependence_probe: tuple[int, int] = (10, 50)  # examples probed, examples then joining their batch (and the last)
    gap_batch_sizes: tuple[int, ...] = (2, 4, 8, 16, 32, 64, 128)  # train-mode vs eval-mode output gap, by batch size
    gap_batches: int = 20                # batches averaged per size (fewer when the data run out)
    # BN-NONIID: 784-100-100-10 ReLU MLP, plain SGD, lr scaled as sqrt(m / noniid_lr_batch)
    noniid_hidden: tuple[int, ...] = (100, 100)
    noniid_act: str = "relu"
    noniid_lr: float = 0.01              # at batch size noniid_lr_batch
    noniid_lr_batch: int = 2
    noniid_eval_every: int = 200         # steps between validation looks, at every m
    noniid_patience: int = 3             # to its validation plateau as the CNN: patience, a tenfold decay, patience
    noniid_min_gain: float = 0.002
    noniid_levels: tuple[int, ...] = (2, 8, 32, 128)  # the batch sizes BN-NONIID's trend reads (every tier has them)
    noniid_grad_ref: int = 1000          # gradient quality: a batch of m's gradient against these first examples'
    noniid_grad_draws: int = 100         # ... averaged over this many random batches (at init and at the end)


NOISY_MARGIN = 0.02     # accuracy: noisy BN "similar" to BN means within ±2 points (BN-NOISY-SIMILAR, the sweep)
RELU_LIMIT = math.pi / (math.pi - 1)  # ≈ 1.467, the seed text's large-batch λ for ReLU (BN-EXPLODE-LIMIT)
EXPLODE_ARMS = tuple(f"explode-relu-b{b}" for b in Settings.explode_batches)  # BN-EXPLODE's ReLU arms, by batch size


def stability_arm(name: str, lr: float) -> str:
    """The BN-FASTER MLP ``name`` ("mlp" or "mlp-bn") trained at ``lr`` by the
    stability trial: BN-STABLE's rungs, and BN-FASTER-BEST's rungs below mlp_lr."""
    return f"stable-{name}-lr{round(lr * 1000)}m"  # arm names allow no '.': lr 0.5 → "lr500m" (milli-units)


def noisy_arm(scale: float) -> str:
    """The noisy-BN CNN arm at a noise scale (the claims' scale keeps the plain name)."""
    return "cnn-noisy-bn" if scale == Settings.noise_scale else f"cnn-noisy-bn-x{int(scale * 100)}c"  # centi-units


def smooth_arm(norm: str, lr: float) -> str:
    """A BN-SMOOTH arm: the VGG-style CNN with ``norm`` ("none", "bn") trained at ``lr``."""
    return f"smooth-{norm}-lr{round(lr * 1000)}m"


def depth_arm(depth: str, lr: float) -> str:
    """A BN-UNTRAINABLE arm: the "deep" or "shallow" BN-ReLU net trained at ``lr``."""
    return f"{depth}-bn-lr{round(lr * 1000)}m"


def faster_rates() -> tuple[float, ...]:
    """BN-FASTER-BEST's ladder of learning rates, lowest first: the rates below
    mlp_lr, BN-FASTER's mlp_lr, then BN-STABLE's larger rates."""
    return (*Settings.faster_lrs_below, Settings.mlp_lr, *Settings.stability_lrs)


def faster_ladder(name: str) -> tuple[str, ...]:
    """The arms of ``faster_rates``' rungs for ``name`` ("mlp" or "mlp-bn"), in
    its order: the BN-FASTER run at mlp_lr, the stability trial's run at every
    other rate."""
    return tuple(name if lr == Settings.mlp_lr else stability_arm(name, lr) for lr in faster_rates())


# BN-FASTER-5X's BN arm: the BN MLP at 5x BN-FASTER's rate is BN-STABLE's lowest rung (the same net, rate, data and
# seeds, and the stability trial trains exactly as the speed trial does, without its landscape probes), so the
# claim reads that rung instead of running the same 20 seeds twice
FASTER_5X_ARM = stability_arm("mlp-bn", 5 * Settings.mlp_lr)
if 5 * Settings.mlp_lr not in Settings.stability_lrs:
    raise StudyDeclarationError("BN-FASTER-5X reads BN-STABLE's rung at 5x mlp_lr: stability_lrs must include it")

# the speed trial's arms as the loss-curve figure and the speed note name them (BN-FASTER's two and BN-FASTER-5X's)
SPEED_ARMS = {"mlp": "no BN", "mlp-bn": "BN", FASTER_5X_ARM: "BN at 5x lr"}


def noniid_arm(norm: str, batch: int) -> str:
    """The BN-NONIID arm of a normalisation ("none", "bn") at batch size m."""
    return f"noniid-{norm}-b{batch}"
