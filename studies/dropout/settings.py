"""Every knob of the dropout study's trials, typed; one instance per budget tier
in ``studies/dropout/__init__.py``. Trial code reads them as ``ctx.budget["name"]``;
each is logged as the MLflow param ``settings.<name>`` and is part of the design
fingerprint. Fields with defaults are the protocol (the same in every tier)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    # -- how much: differs by tier
    sizes: tuple[int, int]               # (small, large) Fashion-MNIST training subsets
    epochs: dict[int, int]               # epochs to train at each size (small nets overfit longer)
    n_test: int                          # test images (the fixed test subset)
    n_val: int                           # validation images carved from the training set while tuning
    tune_n: int                          # training images per tuning trial
    tune_epochs: int                     # epochs per tuning trial
    cnn_n: int                           # training images of the CNN arms
    cnn_epochs: int
    max_norms: tuple[float, ...]         # DO-MAXNORM's sweep of the bound c (3 is the tested one)
    sweep_replicates: int                # replicates of the max-norm arms other than c = 3 (a figure only)
    # -- the protocol: the same in every tier
    p_conv: float = 0.75                 # retain probability after each conv block (DO-CONV)
    p_input: float = 0.8                 # Srivastava et al.'s customary retain probabilities
    p_hidden: float = 0.5
    hidden: tuple[int, ...] = (512, 512)  # the MLP: 784-512-512-10, ReLU
    cnn_channels: tuple[int, ...] = (16, 32)
    lr: float = 0.05                     # SGD with momentum, for every arm
    momentum: float = 0.9
    batch: int = 128
    train_error_rows: int = 2000         # train error on the first rows only: the gap's estimate at a fraction of the cost
    mc_samples: tuple[int, ...] = (1, 2, 5, 10, 20, 50)  # DO-SCALING: Monte-Carlo averages over k sampled nets
    loss_target: float = 0.35            # DO-SPEED: training cross-entropy (epoch mean) to reach
