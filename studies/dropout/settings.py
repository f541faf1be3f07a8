"""Every knob of the dropout study's trials, typed; one instance per budget tier
in ``studies/dropout/__init__.py``. Trial code reads them as ``ctx.budget["name"]``;
each is logged as the MLflow param ``settings.<name>`` and is part of the design
fingerprint. Fields with defaults are the protocol (the same in every tier)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    # -- how much: differs by tier
    sizes: tuple[int, ...]               # Fashion-MNIST training subsets, increasing; the last is the tested one,
                                         # the others the small-data case (Srivastava et al. Fig. 10) for the notes
    max_epochs: dict[int, int]           # a cap on the epochs at each size: every run stops on validation before it
    n_test: int                          # test images (the fixed test subset)
    n_val: int                           # validation images carved from the training pool (stopping and tuning)
    rate_searches: int                   # DO-RATE: independent random searches of the retain rates (each of the
                                         # budget's tuning_trials trials trained like a replicate, on the largest size)
    cnn_n: int                           # training images of the CNN arms
    cnn_max_epochs: int
    cnn_replicates: int                  # most seeds of each CNN arm (DO-CONV), at most the tier's replicates
    max_norms: tuple[float, ...]         # DO-MAXNORM's sweep of the bound c: values that bind (see the notes)
    mc_samples: tuple[int, ...]          # DO-SCALING: Monte-Carlo averages over k sampled nets (k = 50 is tested)
    other_replicates: int | None = None  # most seeds of every arm but DO-SPEED's two and DO-CONV's CNNs (None: no
                                         # cap beyond the arm's own); the quick tier gives the sign test its 8 and
                                         # the rest 3
    speed_replicates: int | None = None  # most seeds of DO-SPEED's two arms (`dropout`, `none`; None: the tier's
                                         # replicates): a sign test on n pairs cannot go below 2 x 2^-n
    # -- the protocol: the same in every tier
    p_conv: float = 0.75                 # DO-CONV: retain probability of *either* placement (matched rates): after
                                         # each conv block, or in the fully connected head
    p_input: float = 0.8                 # Srivastava et al.'s customary retain probabilities
    p_hidden: float = 0.5
    hidden: tuple[int, ...] = (512, 512)  # the MLP: 784-512-512-10, ReLU
    cnn_channels: tuple[int, ...] = (16, 32)
    lr: float = 0.05                     # SGD with momentum, for every arm (the starting step size)
    momentum: float = 0.9
    batch: int = 128
    # "trained to its own validation plateau": stop when the validation error has not improved for `patience`
    # epochs, after first dividing the step size by 10 at the first such plateau (`lr_decays`); the weights of
    # the best validation epoch are the ones measured (each arm's best epoch)
    patience: int = 4
    lr_decays: int = 1
    common_epochs: int = 9               # the gap at a common budget too: every run reaches it, as no run can stop
                                         # before (lr_decays + 1) * patience + 1 epochs
    train_error_rows: int = 2000         # train error/loss on the first rows only: the gap's estimate at a fraction
                                         # of the cost
    loss_target: float = 0.35            # DO-SPEED: training cross-entropy to reach (noise-free and as trained)
