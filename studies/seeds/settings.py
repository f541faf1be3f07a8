"""Every knob of the seeds study's trials, typed; one instance per budget tier
in ``studies/seeds/__init__.py``. Trial code reads them as ``ctx.budget["name"]``
(the arms function copies the model and optimiser fields into each arm's
config); each is logged as the MLflow param ``settings.<name>`` and is part of
the design fingerprint. Fields with defaults are the protocol (the same in
every tier). Per-dataset fields are keyed by ``trials.MNIST1D`` /
``trials.FASHION``."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Settings:
    # -- how much: differs by tier
    n_train: dict[str, int]              # SEED-SENS/SEED-FEW training set per dataset (all of it if that many or more)
    epochs: dict[str, int]               # SEED-SENS/SEED-FEW epochs per dataset (the published recipe's length)
    sens_seeds: dict[str, int]           # seeds per SEED-SENS arm (SEED-FEW's two arms use the MNIST-1D count)
    source_epochs: int                   # SEED-SOURCES: epochs of each factorial cell
    source_levels: int                   # SEED-SOURCES: seeds (levels) per source in one factorial block (^4 cells)
    source_blocks: int                   # SEED-SOURCES: independent factorial blocks (replicates of the design)
    grid_epochs: int                     # HP-BATCH: the fixed epoch budget (Masters & Luschi) and every m's minimum
    grid_steps: int                      # HP-BATCH: every m trains at least this many steps (large m: more epochs)
    grid_max_epochs: int                 # HP-BATCH: training stops here (or at twice m's minimum, if longer) if the
                                         # picks have not plateaued
    hp_epochs: int                       # epochs per trial of the hyperparameter searches (MNIST-1D)
    hp_trials: int                       # trials of each MLP search (HP-TUNABILITY); the LSTM searches take the
                                         # budget's tuning_trials (~7 s a trial against ~0.5 s)
    searches: int                        # repeated MLP searches per sampler (hp-random-i, hp-tpe-i), at most 5
    lstm_searches: int                   # repeated random LSTM searches (lstm-random-i), at most 10
    lstm_max_epochs: int                 # every LSTM run (search trials included) trains up to this many epochs ...
    lstm_patience: int                   # ... stopping when validation loss has not improved for this many
    batch_sizes: tuple[int, ...]         # HP-BATCH's grid of batch sizes m
    base_lrs: tuple[float, ...]          # HP-BATCH's grid of per-example learning rates η̃ (SGD step m·η̃)
    batch_seeds: int                     # seeds per point of the HP-BATCH grid
    # -- the protocol: the same in every tier
    n_search_train: int = 3000           # MNIST-1D signals the searches and the HP-BATCH grid train on ...
    n_val: int = 1000                    # ... and the validation signals after them (4000 in all)
    hidden: dict[str, tuple[int, ...]] = field(default_factory=lambda: {
        "mnist1d": (100, 100),           # 40-100-100-10 ReLU MLP (Greydanus 2020's MLP)
        "fashion-mnist": (100,),         # 784-100-10 ReLU MLP (the Fashion-MNIST benchmark's MLPClassifier)
    })
    # SEED-SENS: each model trained by its reference's recipe, to its reference's accuracy
    sens_optimizer: dict[str, str] = field(default_factory=lambda: {"mnist1d": "adam", "fashion-mnist": "sgd"})
    sens_lr: dict[str, float] = field(default_factory=lambda: {"mnist1d": 0.01, "fashion-mnist": 0.05})
    sens_momentum: dict[str, float] = field(default_factory=lambda: {"mnist1d": 0.0, "fashion-mnist": 0.9})
    few_lr_factor: float = 0.7071        # SEED-FEW's second configuration: the MNIST-1D learning rate / sqrt(2)
    lr: float = 0.05                     # SGD of the SEED-SOURCES factorial
    momentum: float = 0.9
    batch_size: int = 100
    retain_hidden: float = 0.8           # the factorial's dropout MLP: hidden units kept with this probability
    grid_momentum: float = 0.0           # HP-BATCH: plain SGD (Masters & Luschi), no momentum
    optimizer: str = "sgd"               # the factorial, the grid and the searches
    lstm_forget_bias: float = 1.0        # HP-MOMENTUM-BATCH's LSTM: forget gates start at this bias (nets.py says why)
