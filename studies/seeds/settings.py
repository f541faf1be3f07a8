"""Every knob of the seeds study's trials, typed; one instance per budget tier
in ``studies/seeds/__init__.py``. Trial code reads them as ``ctx.budget["name"]``
(the arms function copies the model and SGD fields into each arm's config);
each is logged as the MLflow param ``settings.<name>`` and is part of the
design fingerprint. Fields with defaults are the protocol (the same in every
tier). Per-dataset fields are keyed by ``trials.MNIST1D`` / ``trials.FASHION``."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Settings:
    # -- how much: differs by tier
    n_train: dict[str, int]              # fixed training subset per dataset (all of it if that many or more)
    epochs: dict[str, int]               # epochs per dataset for the sens-, src- and batch- arms
    hp_epochs: int                       # epochs per trial of the hyperparameter searches (MNIST-1D)
    source_seeds: int                    # seeds of each src-* arm (SEED-SOURCES); >= 10 for SEED-FEW's splits
    searches: int                        # repeated searches per sampler (hp-random-i, hp-tpe-i), at most 5
    batch_sizes: tuple[int, ...]         # HP-BATCH's grid of batch sizes m
    base_lrs: tuple[float, ...]          # HP-BATCH's grid of per-example learning rates η̃ (SGD step m·η̃)
    batch_seeds: int                     # seeds per point of the HP-BATCH grid
    # -- the protocol: the same in every tier
    n_val: int = 1000                    # validation signals after the MNIST-1D training subset, while searching
    hidden: dict[str, tuple[int, ...]] = field(default_factory=lambda: {
        "mnist1d": (100, 100),           # 40-100-100-10 ReLU MLP
        "fashion-mnist": (100,),         # 784-100-10 ReLU MLP
    })
    lr: float = 0.05                     # SGD of the sens- and src- arms
    momentum: float = 0.9
    batch_size: int = 100
    retain_hidden: float = 0.8           # the src- arms' dropout MLP: hidden units kept with this probability
    grid_momentum: float = 0.0           # HP-BATCH: plain SGD (Masters & Luschi), no momentum
    optimizer: str = "sgd"               # every arm, the searches included
