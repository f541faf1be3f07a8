"""Study ``seeds``: how much the random seed moves results, where that
variance comes from, what five seeds can and cannot show, which
hyperparameters matter, and which batch sizes train best.

Claims (see shared/claims.md): SEED-SENS, SEED-SOURCES, SEED-FEW,
HP-TUNABILITY (with its second sentence as HP-MOMENTUM-BATCH) and HP-BATCH.

Protocol: small ReLU MLPs on MNIST-1D (4000 training, 1000 test signals) and
Fashion-MNIST. Hundreds of seeds of one shape train at once in
``harness.ensemble`` (the sweep groups them); each seed is still its own
Optuna trial and MLflow run.

- ``sens-*``: the classic "random seed" (initial weights and minibatch order
  change together, the training data stay fixed), each model trained by its
  published reference's recipe to its reference's accuracy; ``few-mnist1d``
  is SEED-FEW's second configuration (the MNIST-1D learning rate / sqrt 2).
- ``src-f*``: replicated crossed factorials over the four sources of
  randomness -- weight init, data order, dropout masks, a bootstrap resample
  of the training set -- each at ``source_levels`` seeds (a dropout MLP, so
  that masks exist).
- ``hp-random-*`` / ``hp-tpe-*``: repeated Optuna searches (random and TPE)
  over learning rate, width, depth, momentum, batch size and weight decay on a
  validation split; importances come from the searches' logged runs.
- ``batch-m*-lr*``: Masters & Luschi's grid, batch size m against the
  per-example learning rate η̃ (SGD step η = m·η̃), fixed epochs, several
  seeds, each point measured on a validation split and the test set. A grid
  point that diverges is an outcome here (the stable range of η̃ narrows as m
  grows), recorded as ``diverged = 1``, not a failed trial.
"""
from __future__ import annotations

import math
from dataclasses import replace
from functools import partial
from typing import Any

from harness.checks import Trained
from harness.claimtests import Importance, RateAbove, Trend, VarianceAbove, VarianceShares
from harness.claims import Claim
from harness.discovery import register
from harness.study import Arm, Budget, Ensemble, Study, StudyDeclarationError, Tuning
from studies.seeds import figures, grid, notes, search_checks, trials
from studies.seeds.search_checks import SearchConverged, SearchLearned
from studies.seeds.settings import Settings

NAME = "seeds"
MNIST1D, FASHION = trials.MNIST1D, trials.FASHION
ARTICLE = "Hyperparameter (machine learning)"
SENS_ARMS = ("sens-mnist1d", "sens-fashion")
FEW_PAIR = ("sens-mnist1d", "few-mnist1d")  # SEED-FEW: the better configuration first
# the published accuracy of each SEED-SENS model on its data, and how far below it an arm may train
REFERENCES = {"sens-mnist1d": 0.68,    # Greydanus 2020, MNIST-1D README: MLP 68% (Adam 1e-2, 6000 steps of 100)
              "sens-fashion": 0.877}   # Fashion-MNIST benchmark: MLPClassifier relu, hidden (100,), 87.7%
REFERENCE_GAP = 0.02
# the study's other model/data pairs (all MNIST-1D) and the nearest published accuracy, shown in SEED-SENS's notes:
# Greydanus 2020's table (MNIST-1D README) has logistic regression 32%, MLP 68%, CNN 94% and GRU 91%, no LSTM
OTHER_REFERENCES = (
    notes.Reference("few-mnist1d", "SEED-FEW's second configuration: the reference MLP recipe at its learning rate "
                    "/ sqrt 2", 0.68, "the published MLP"),
    notes.Reference("src-f", "SEED-SOURCES's factorial: the reference MLP's shape with hidden dropout, plain SGD with "
                    "momentum, a fixed number of epochs", 0.68, "the published MLP"),
    notes.Reference("hp-", "HP-TUNABILITY's searches: each search's best MLP trained once more on the search's "
                    "training signals (the reference trains on all 4000), as long as a search trial", 0.68,
                    "the published MLP"),
    notes.Reference("lstm-", "HP-MOMENTUM-BATCH's searches: each search's best LSTM trained once more as a search "
                    "trial is (early stopping on the validation signals); no LSTM is published, the GRU is the "
                    "nearest recurrent net", 0.91,
                    "the published GRU"),
    notes.Reference("batch-", "HP-BATCH's grid: the MLP with plain SGD on the search's training signals", 0.68,
                    "the published MLP", read=notes.grid_at_validation_picks),
)
SD_THRESHOLD = 0.005     # SEED-SENS: "very heavily" = seed SD of test accuracy >= half a percentage point
SHARE_FLOOR = 0.10       # SEED-SOURCES: a source "moves results" = its total-effect share of the variance > 10%
FEW = 5                  # SEED-FEW: seeds per configuration (Henderson et al.'s 5 vs 5)
FEW_OFF = 0.5            # SEED-FEW: a 5-seed difference "misses" when it is off by more than half the true one
FEW_RATE = 0.10          # SEED-FEW: "adequate" = it misses at most 1 time in 10
TOP_SHARE = 0.5          # HP-TUNABILITY: the two most important of six carry most (> half) of the variance
MINOR_IMPORTANCE = 0.10  # HP-MOMENTUM-BATCH: "no significant effect" = importance below 0.1 each
SMALL_BATCHES = 32       # HP-BATCH: "between 2 and 32"
MAX_SEARCHES = 5         # the most repeated MLP searches per sampler a tier runs (full): Tuning names every hp- arm
MAX_LSTM_SEARCHES = 10   # the most repeated LSTM searches a tier runs (full): Tuning names every lstm- arm


# -- the fixed design -------------------------------------------------------------------------------
def _seed_arm(name: str, dataset: str, budget: Budget, lr_factor: float = 1.0) -> Arm:
    return Arm(name, {"kind": "seed", "dataset": dataset, "hidden": budget["hidden"][dataset],
                      "optimizer": budget["sens_optimizer"][dataset], "lr": budget["sens_lr"][dataset] * lr_factor,
                      "momentum": budget["sens_momentum"][dataset], "batch_size": budget["batch_size"],
                      "epochs": budget["epochs"][dataset], "n_train": budget["n_train"][dataset]},
               max_replicates=budget["sens_seeds"][dataset])


def arms(budget: Budget) -> list[Arm]:
    design = [_seed_arm("sens-mnist1d", MNIST1D, budget), _seed_arm("sens-fashion", FASHION, budget),
              _seed_arm("few-mnist1d", MNIST1D, budget, budget["few_lr_factor"])]
    levels = budget["source_levels"]  # seeds per source: levels ** 4 cells per block
    design += [Arm(f"src-f{block}", {"kind": "factorial", "dataset": MNIST1D, "hidden": budget["hidden"][MNIST1D],
                                     "optimizer": budget["optimizer"], "lr": budget["lr"],
                                     "momentum": budget["momentum"], "batch_size": budget["batch_size"],
                                     "retain_hidden": budget["retain_hidden"], "epochs": budget["source_epochs"],
                                     "n_train": budget["n_train"][MNIST1D], "levels": levels},
                   max_replicates=levels ** len(trials.SOURCES))
               for block in range(budget["source_blocks"])]
    # each search's best configuration is then trained once more and measured on the test set
    design += [Arm(f"hp-{sampler}-{i}", {"kind": "search", "dataset": MNIST1D, "sampler": sampler, "search": i,
                                         "optimizer": budget["optimizer"], "epochs": budget["hp_epochs"],
                                         "n_train": budget["n_search_train"], "tuning_trials": budget["hp_trials"]},
                   max_replicates=1)
               for sampler in ("random", "tpe") for i in range(budget["searches"])]
    # HP-MOMENTUM-BATCH's subject: repeated random searches of an LSTM (Greff et al.'s protocol; TPE's
    # concentrated sampling makes fANOVA read a null hyperparameter high: `control_design`), every run, search
    # trials included, trained with early stopping on validation loss up to `lstm_max_epochs`
    design += [Arm(f"lstm-random-{i}", {"kind": "lstm", "dataset": MNIST1D, "sampler": "random", "search": i,
                                        "epochs": budget["lstm_max_epochs"], "patience": budget["lstm_patience"],
                                        "forget_bias": budget["lstm_forget_bias"],
                                        "n_train": budget["n_search_train"]},
                   max_replicates=1)
               for i in range(budget["lstm_searches"])]
    design += [Arm(f"batch-m{m}-lr{j}", {"kind": "grid", "dataset": MNIST1D, "hidden": budget["hidden"][MNIST1D],
                                         "optimizer": budget["optimizer"], "batch_size": m, "base_lr": base_lr,
                                         "lr": m * base_lr, "momentum": budget["grid_momentum"],
                                         **grid_length(budget, m)},
                   max_replicates=budget["batch_seeds"])
               for m in budget["batch_sizes"] for j, base_lr in enumerate(budget["base_lrs"])]
    return design


def grid_length(budget, m: int) -> dict[str, int]:
    """HP-BATCH's training length at batch size m: at least ``grid_epochs``
    epochs and ``grid_steps`` steps (a large batch takes few steps an epoch),
    then on until the picks plateau, up to ``grid_max_epochs`` or twice the
    minimum, whichever is longer. The cap was once the minimum itself where that
    was longer, so m >= 128 had no room to reach a plateau: on one machine m = 256's
    picks were still improving at their 256 epochs and `converged` failed."""
    least = max(budget["grid_epochs"], math.ceil(budget["grid_steps"] * m / budget["n_search_train"]))
    return {"min_epochs": least, "epochs": max(2 * least, budget["grid_max_epochs"])}


def hp_space(trial) -> dict[str, Any]:
    return {
        "lr": trial.suggest_float("lr", 1e-3, 1.0, log=True),
        "width": trial.suggest_int("width", 16, 256, log=True),
        "depth": trial.suggest_int("depth", 1, 4),
        "momentum": trial.suggest_float("momentum", 0.0, 0.95),
        "batch_size": trial.suggest_categorical("batch_size", [16, 32, 64, 128, 256]),
        "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True),
    }


def lstm_space(trial) -> dict[str, Any]:
    """Greff et al.'s hyperparameters of an LSTM that the sentence names: learning rate, network size, momentum
    (Adam's β1: plain SGD did not train this LSTM -- chance accuracy after 15 epochs at every rate tried, 0.05
    to 2) and batch size."""
    return {
        "lr": trial.suggest_float("lr", 1e-4, 0.1, log=True),
        "hidden_size": trial.suggest_int("hidden_size", 8, 64, log=True),
        "momentum": trial.suggest_float("momentum", 0.0, 0.99),
        "batch_size": trial.suggest_categorical("batch_size", [32, 64, 128, 256]),
    }


# -- claims ---------------------------------------------------------------------------------------
# Every run of the seed-spread claims trained: its loss fell by at least a tenth. No convergence check: these
# claims measure the spread of a fixed recipe over seeds (SEED-SENS's recipe is the published reference's, and its
# `at-reference` check holds it to that accuracy), not what a method can reach, so a run is what its recipe gives.
TRAINED = Trained("train_loss", fell_by=0.1)
BOUTHILLIER = ("Bouthillier et al. 2021, \"Accounting for variance in machine learning benchmarks\" (MLSys)")
SOURCES_TEST = VarianceShares("test_accuracy", "src-f", trials.SOURCES, SHARE_FLOOR)
FEW_TEST = RateAbove(partial(notes.few_outcomes, pair=FEW_PAIR, size=FEW, off=FEW_OFF), FEW_PAIR,
                     null_rate=FEW_RATE, margin=FEW_RATE, metric="test_accuracy",
                     description=f"disjoint {FEW}-seed draws from each of `{FEW_PAIR[0]}` and `{FEW_PAIR[1]}`; a "
                                 f"draw misses when its difference of mean test accuracy is off the all-seeds "
                                 f"difference by more than {FEW_OFF:g} of it (misranking included)")
# fANOVA's main effects as fractions of the total variance (Hutter et al. 2014, Greff et al.'s "variance explained"),
# not rescaled to sum 1: the rescaled shares of pure noise stay above TOP_SHARE at any number of trials
# each noise control reads a search as the mean of 10 permutations (one permutation's reading moved 0.084-0.150
# with its seed on stop 35's searches)
CONTROL_PERMUTATIONS = 10
TUNABILITY_TEST = Importance("val_accuracy", "top", TOP_SHARE, hp_space, of_total=True,
                             control_permutations=CONTROL_PERMUTATIONS)
MOMENTUM_BATCH_TEST = Importance("val_accuracy", ("momentum", "batch_size"), MINOR_IMPORTANCE, lstm_space,
                                 of_total=True, prefix="lstm-", control_permutations=CONTROL_PERMUTATIONS)
BATCH_TEST = Trend("test_error", {}, direction="increasing", table=grid.picked_by_validation, label="m")

CLAIMS = (
    Claim(
        id="SEED-SENS",
        quote="For example, research has shown that deep learning models depend very heavily even on the random seed "
              "selection of the random number generator.",
        article=ARTICLE, section="Reproducibility",
        source="Picard 2021, \"torch.manual_seed(3407) is all you need\" (arXiv 2109.08203); " + BOUTHILLIER,
        source_numbers=("Picard: up to 10⁴ seeds on CIFAR-10; \"it is surprisingly easy to find an outlier that "
                        "performs much better or much worse than the average\". Bouthillier et al.: data sampling, "
                        "initialisation and hyperparameter choice all move results."),
        measure=(f"Test accuracy over seeds (initial weights and minibatch order vary, training data fixed) of two "
                 f"models, each trained by its published reference's recipe: the MNIST-1D MLP (40-100-100-10, all "
                 f"4000 training signals, Adam 0.01, 150 epochs of batch 100 = the reference's 6000 steps; "
                 f"published: 68%) and the Fashion-MNIST MLP (784-100-10, all 60,000 images, SGD 0.05 momentum 0.9, "
                 f"10 epochs; published for this shape: 87.7%); an arm more than {REFERENCE_GAP:g} below its "
                 f"reference fails the `at-reference` check. Pre-registered: \"very heavily\" means a seed-to-seed "
                 f"SD of at least {SD_THRESHOLD:g} (half a percentage point), so that the best of 100 seeds sits "
                 f"about 1.25 points above the mean seed -- the size of many published improvements."),
        test=VarianceAbove("test_accuracy", SENS_ARMS, SD_THRESHOLD, REFERENCES, REFERENCE_GAP),
        checks=(TRAINED,),
        notes=lambda runs: (notes.spread_note(runs, arms=SENS_ARMS, references=REFERENCES)
                            + notes.references_note(runs, pairs=OTHER_REFERENCES)),
    ),
    Claim(
        id="SEED-SOURCES",
        quote="An inherent stochasticity in learning directly implies that the empirical hyperparameter performance "
              "is not necessarily its true performance.",
        article=ARTICLE, section="Considerations › Robustness", source=BOUTHILLIER,
        source_numbers=("Bouthillier et al.: data sampling (bootstrap), weight initialisation, data order and "
                        "dropout each move benchmark results; randomising all sources gives a better estimator at "
                        "51x less compute than re-running hyperparameter optimisation."),
        measure=(f"MNIST-1D dropout MLP (hidden retain 0.8, SGD 0.05 momentum 0.9): replicated crossed factorials, "
                 f"each over init, data order, dropout masks and a bootstrap of the 4000 training signals at "
                 f"3 seeds each at the standard tier (2 at quick, 4 in full), one run per cell. Per factorial, "
                 f"random-effects variance components of test accuracy: the four main effects and the interactions "
                 f"sum to one; a source's total-effect share adds the interactions it enters (what varying that "
                 f"source alone moves). Pre-registered: a "
                 f"source \"moves results\" if its total-effect share exceeds {SHARE_FLOOR:g}; the claim needs every "
                 f"source to (t over factorials), and is contradicted if some source's share is significantly "
                 f"below. The main-effect shares are in the notes."),
        test=SOURCES_TEST,
        checks=(TRAINED,),  # on every factorial block the test reads
        notes=partial(notes.sources_note, test=SOURCES_TEST),
    ),
    Claim(
        id="SEED-FEW",
        quote="Their evaluation with a small number of random seeds does not capture performance adequately due to "
              "high variance.",
        article=ARTICLE, section="Considerations › Robustness",
        source="Henderson et al. 2018, \"Deep Reinforcement Learning that Matters\" (AAAI)",
        source_numbers=("Two groups of 5 seeds of one configuration (HalfCheetah, TRPO) gave curves that a t-test "
                        "called significantly different (t = −9.09, p = 0.0016)."),
        measure=(f"The sentence is about reinforcement learning; we test whether it carries over to a supervised "
                 f"comparison. Two configurations with a small true difference (the SEED-SENS MNIST-1D MLP and the "
                 f"same at its learning rate / √2; a 16-seed pilot put it about one point, one seed SD, below), "
                 f"each with as many seeds as `sens-mnist1d`; the all-seeds difference stands for the true one. "
                 f"Disjoint {FEW}-vs-{FEW} draws: how often the {FEW}-seed difference misses the true one by more "
                 f"than {FEW_OFF:g} of it. Pre-registered: a {FEW}-seed comparison captures performance "
                 f"\"adequately\" if it misses at most {FEW_RATE:g} of the time; the claim says it misses more "
                 f"often. The notes give the misranking rate and how far a {FEW}-seed mean lies from the "
                 f"all-seeds one; the reports index (`reports/index.md`) sets seed noise beside every study's "
                 f"effects."),
        test=FEW_TEST,
        checks=(TRAINED,),
        notes=partial(notes.few_note, pair=FEW_PAIR, size=FEW),
    ),
    Claim(
        id="HP-TUNABILITY",
        quote="Most performance variation can be attributed to just a few hyperparameters.",
        article=ARTICLE, section="Considerations › Tunability",
        source=("Probst, Boulesteix & Bischl 2019 (JMLR 20(53)); Greff et al. 2017, \"LSTM: A search space odyssey\" "
                "(IEEE TNNLS 28:2222); Hutter, Hoos & Leyton-Brown 2014 (fANOVA)"),
        source_numbers=("Greff et al.: fANOVA over 5,400 LSTM runs; the learning rate alone explains most of the "
                        "variance, then the network size."),
        measure=(f"Repeated Optuna searches (random and TPE) over learning rate, width, depth, momentum, batch size "
                 f"and weight decay of an SGD MLP on MNIST-1D, each trial trained for a fixed number of epochs "
                 f"(`hp_epochs`: 10 at the standard tier) on 3000 signals and scored by its validation accuracy on "
                 f"the next 1000 after them. The training length is held fixed, not searched: a configuration's value "
                 f"is what it reaches in that budget, and batch size sets how many steps the budget is (from 120 at "
                 f"batch 256 to 1880 at 16), so slow configurations count as worse (HP-MOMENTUM-BATCH's LSTM trials "
                 f"train to early stopping instead). Per search, fANOVA's share of "
                 f"the total variance of validation accuracy that each hyperparameter's main effect explains (Hutter "
                 f"et al.'s fraction; interactions stay in the total). Pre-registered: \"just a few\" = the two most "
                 f"important of the six explain more than {TOP_SHARE:g} of the variance. Noise control: the same "
                 f"searches with each one's objective shuffled among its trials; the `noise-control` check fails if "
                 f"fANOVA's top-2 share of nothing already clears {TOP_SHARE:g}. PED-ANOVA (normalised: it has no "
                 f"variance fraction) is shown beside it. A trial that does not train is part of what a search "
                 f"measures, so no check asks every trial to; the `trained` check asks each search's best trial to "
                 f"reach {search_checks.CHANCE + SearchLearned.margin:g} validation accuracy (chance "
                 f"{search_checks.CHANCE:g}) and counts the trials at chance."),
        test=TUNABILITY_TEST,
        checks=(SearchLearned(),),
        notes=partial(notes.importance_note, test=TUNABILITY_TEST),
    ),
    Claim(
        id="HP-MOMENTUM-BATCH",
        quote="For an LSTM, while the learning rate followed by the network size are its most crucial "
              "hyperparameters, batching and momentum have no significant effect on its performance.",
        article=ARTICLE, section="Considerations › Tunability", source="Greff et al. 2017 (IEEE TNNLS 28:2222)",
        source_numbers=("LSTM, fANOVA over random searches of learning rate, hidden size, momentum and input "
                        "noise: the learning rate explains most of the variance, then hidden size; momentum a "
                        "negligible share. Batch size was not searched (the networks were updated after each "
                        "sequence), so the sentence's \"batching\" has no number in this source."),
        measure=(f"The sentence's own subject: repeated random searches (Greff et al.'s protocol) of a one-layer LSTM "
                 f"reading MNIST-1D as a sequence of 40 values (Adam; forget gates started at bias 1; every run "
                 f"trained until its validation loss has not improved for `lstm_patience` epochs or for at most "
                 f"`lstm_max_epochs` (10 and 60 at the standard tier), its best epoch's weights kept; 3000 training "
                 f"and 1000 validation signals) over learning rate, hidden size, momentum (Adam's "
                 f"β1) and batch size; per search, fANOVA's share of the total variance of validation accuracy "
                 f"that each main effect explains, as for HP-TUNABILITY. Pre-registered: \"no significant effect\" "
                 f"= momentum and batch size each explain less than {MINOR_IMPORTANCE:g} of it. The notes rank all "
                 f"four (the sentence's first half). Noise control: each search with momentum's (then batch "
                 f"size's) values permuted among its trials, the objective and the other hyperparameters kept; "
                 f"the `noise-control` check fails if a hyperparameter of no effect already reads "
                 f"{MINOR_IMPORTANCE:g} or more (then no share below it could be shown). The `trained` check "
                 f"is HP-TUNABILITY's; the `converged` check asks at least {SearchConverged.min_share:.0%} of each "
                 f"search's trials to have stopped by validation patience before the cap, since a trial at the cap "
                 f"was still improving and its value mixes speed (batch size sets the steps an epoch takes) with "
                 f"performance."),
        test=MOMENTUM_BATCH_TEST,
        checks=(SearchLearned(), SearchConverged()),
        notes=partial(notes.importance_note, test=MOMENTUM_BATCH_TEST),
    ),
    Claim(
        id="HP-BATCH",
        quote="…other work has found the best performance with mini-batch sizes between 2 and 32.",
        article=ARTICLE, section="Considerations › Tunability",
        source="Masters & Luschi 2018, \"Revisiting small batch training for deep neural networks\" (arXiv 1804.07612)",
        source_numbers=("Base learning rate per example held fixed (η = m·η̃); best results for m = 2–32 on "
                        "CIFAR-10/100 and ImageNet; larger m narrows the range of stable learning rates."),
        measure=("MNIST-1D MLP, plain SGD over a grid of batch sizes m and per-example learning rates η̃ (3000 "
                 "training signals, 1000 validation), validation and test accuracy measured after every epoch, "
                 "each run read at its best validation epoch. Every m trains at least `grid_epochs` epochs and at "
                 "least `grid_steps` steps (20 and 3000 at the standard tier: m = 512 gets at least 512 epochs), then "
                 "on until the runs its validation split would pick have plateaued -- the best validation accuracy "
                 f"of a run's first half within {grid.PLATEAU_TOLERANCE:g} of its best overall -- or `grid_max_epochs` "
                 "(100 at the standard tier) or twice its minimum, whichever is longer, end it. Per batch size and "
                 "seed, the η̃ with the best validation accuracy is picked and its test error read (one pick per m, "
                 "whatever its number of stable grid points); "
                 "the claim, tested as a trend: test error rises with log2 m. Every pick must have plateaued "
                 "(`converged`). The notes give the same at a fixed epoch budget for every m, the source's "
                 "protocol."),
        test=BATCH_TEST,
        checks=(grid.PicksConverged(),),
        notes=partial(notes.batch_note, small=SMALL_BATCHES),
    ),
)


# every search arm a tier can run (Tuning names them all; a tier runs the first `searches` / `lstm_searches`)
MLP_SEARCHES = tuple(f"hp-{s}-{i}" for s in ("random", "tpe") for i in range(MAX_SEARCHES))
LSTM_SEARCHES = tuple(f"lstm-random-{i}" for i in range(MAX_LSTM_SEARCHES))


# -- budgets -------------------------------------------------------------------------------------
def check_budget(budget: Budget) -> None:
    if min(budget["sens_seeds"].values()) < 2 * FEW or min(budget["batch_sizes"]) < 1 or budget["batch_seeds"] < 2:
        raise StudyDeclarationError(f"seeds: sens_seeds must be >= {2 * FEW} per dataset (SEED-FEW's disjoint "
                                    "draws), batch sizes >= 1 and batch_seeds >= 2 (the trend test's slopes)")
    if budget["n_train"][FASHION] > 60_000 or budget["n_train"][MNIST1D] > 4000 \
            or budget["n_search_train"] + budget["n_val"] > 4000:
        raise StudyDeclarationError("seeds: Fashion-MNIST has 60,000 training images and MNIST-1D 4000 signals "
                                    "(the searches and the grid need n_search_train + n_val of them)")
    if budget["searches"] > MAX_SEARCHES or budget["lstm_searches"] > MAX_LSTM_SEARCHES \
            or budget["source_blocks"] < 2:
        raise StudyDeclarationError(f"seeds: at most {MAX_SEARCHES} MLP searches per sampler and {MAX_LSTM_SEARCHES} "
                                    "LSTM searches (Tuning names the hp- and lstm- arms up to MAX_SEARCHES and "
                                    "MAX_LSTM_SEARCHES; raise them with the tier) and at least 2 factorial blocks "
                                    "(SEED-SOURCES tests over blocks)")
    if budget["source_levels"] < 2 or budget["source_levels"] ** len(trials.SOURCES) > budget.replicates:
        raise StudyDeclarationError("seeds: source_levels must be >= 2 and source_levels ** 4 (a block's cells) at "
                                    "most the tier's replicates")
    if not 1 <= budget["lstm_patience"] <= budget["lstm_max_epochs"]:
        raise StudyDeclarationError(f"seeds: lstm_patience must be >= 1 and at most lstm_max_epochs (got "
                                    f"{budget['lstm_patience']} and {budget['lstm_max_epochs']}): an LSTM run stops "
                                    f"after that many epochs without a better validation loss")


# the committed reports' settings (the quick tier is these, smaller)
STANDARD = Settings(
    n_train={MNIST1D: 4000, FASHION: 60_000}, epochs={MNIST1D: 150, FASHION: 10},
    sens_seeds={MNIST1D: 100, FASHION: 30}, source_epochs=60, source_levels=3, source_blocks=4,
    grid_epochs=20, grid_steps=3000, grid_max_epochs=100, hp_epochs=10, hp_trials=80, searches=4,
    # HP-MOMENTUM-BATCH: 8 random LSTM searches of the budget's 60 trials (Greff et al. ran 200 random trials per
    # variant and task), every run up to 60 epochs with early stopping (patience 10 epochs). Trained so, a trial
    # costs several times a trial of stop 36's 15 fixed epochs (2.3 s; those left 44% of the trials at chance).
    # `python -m studies.seeds.lstm_pilot --trials 24 --forget-bias default,1` (the study's trial code, 24 random
    # configurations): at torch's default init 9 of 24 end at chance (mean validation accuracy 0.40), at forget
    # bias 1 one of 24 (0.59; lr 2.5e-4, 8 units); 20 of 24 reach the 60-epoch cap; 6.8 s a trial on one thread.
    # 8 x 60 trials is what the standard tier's time allows. On the synthetic
    # objective at the shares stop 35's searches gave lr and hidden size (0.35, 0.16; `python -m
    # studies.seeds.control_design --samplers random`), a null momentum reads 0.056 (SD 0.036) of the total
    # variance at 60 random trials, batch size 0.049 (SD 0.028): 8 searches give the one-sided t-test 70% and 97%
    # power (momentum, batch size) at a Holm level of 0.0125, 48% and 89% at the strictest (0.05 / 12); if the
    # searches read 1.3 times the simulation, as stop 35's did, about 20% and 50%. (80 trials simulated no better:
    # 0.061, SD 0.050.) Runs that train should leave less of the variance to noise than the searches those shares
    # came from
    lstm_searches=8, lstm_max_epochs=60, lstm_patience=10,
    batch_sizes=(2, 4, 8, 16, 32, 64, 128, 256, 512),
    base_lrs=(2 ** -12, 2 ** -10, 2 ** -8, 2 ** -6, 2 ** -4, 2 ** -2), batch_seeds=5)


STUDY = register(Study(
    name=NAME,
    title="Seeds and hyperparameters: seed sensitivity, variance sources, few-seed comparisons, tunability, batch size",
    summary=("How much does the random seed alone move a small network's test accuracy, which source of "
             "randomness moves it, what can a comparison of five seeds show, which hyperparameters carry the "
             "variation of a search, and which batch sizes train best? Small SGD MLPs on MNIST-1D and "
             "Fashion-MNIST, hundreds of seeds trained at once as ensembles (each seed its own run)."),
    claims=CLAIMS,
    arms=arms,
    budgets={
        "smoke": Budget(replicates=16, tuning_trials=5, settings=Settings(
            n_train={MNIST1D: 1000, FASHION: 2000}, epochs={MNIST1D: 2, FASHION: 1},
            sens_seeds={MNIST1D: 10, FASHION: 10}, source_epochs=2, source_levels=2, source_blocks=2, grid_epochs=1,
            grid_steps=20, grid_max_epochs=2,
            hp_epochs=1, hp_trials=5, searches=1, lstm_searches=1, lstm_max_epochs=2, lstm_patience=1,
            batch_sizes=(16, 64, 256),
            base_lrs=(2 ** -9, 2 ** -6), batch_seeds=2)),
        # a preview within 8 minutes on 2 cores: standard's recipes with fewer seeds (50 and 20 reference seeds),
        # 2 levels per source in the factorial (16 cells a block), half the MLP searches and their trials, two
        # random LSTM searches of 10 trials of at most 20 epochs (too few for HP-MOMENTUM-BATCH's noise control: a
        # preview), and a batch-size grid of 5 sizes, 3 seeds, at least 10 epochs and 1500 steps
        "quick": Budget(replicates=50, tuning_trials=10, settings=replace(
            STANDARD, sens_seeds={MNIST1D: 50, FASHION: 20}, source_levels=2, grid_epochs=10, grid_steps=1500,
            grid_max_epochs=50, hp_trials=40, searches=2, lstm_searches=2, lstm_max_epochs=20, lstm_patience=5,
            batch_sizes=(2, 8, 32, 128, 512), batch_seeds=3)),
        # the committed reports
        "standard": Budget(replicates=100, tuning_trials=60, settings=STANDARD),
        "full": Budget(replicates=1000, tuning_trials=200, settings=Settings(
            n_train={MNIST1D: 4000, FASHION: 60_000}, epochs={MNIST1D: 150, FASHION: 10},
            sens_seeds={MNIST1D: 1000, FASHION: 200}, source_epochs=60, source_levels=4, source_blocks=10,
            grid_epochs=50, grid_steps=10_000, grid_max_epochs=200, hp_epochs=20, hp_trials=200, searches=5,
            lstm_searches=10, lstm_max_epochs=150, lstm_patience=15,
            batch_sizes=(2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            base_lrs=(2 ** -14, 2 ** -12, 2 ** -10, 2 ** -8, 2 ** -6, 2 ** -4, 2 ** -2, 2 ** 0), batch_seeds=10)),
    },
    run_trial=trials.run_trial,
    datasets=(MNIST1D, FASHION),
    figures=partial(figures.figures, sens_arms=SENS_ARMS, few_pair=FEW_PAIR, few=FEW, sources=SOURCES_TEST,
                    tunability=TUNABILITY_TEST),
    seed_noise_reference="SEED-SENS",
    tuning=Tuning(arms=(*MLP_SEARCHES, *LSTM_SEARCHES), space=hp_space, metric="val_accuracy", direction="maximize",
                  spaces={arm: lstm_space for arm in LSTM_SEARCHES}),
    root_seed=trials.ROOT_SEED,
    check=check_budget,
    ensemble=Ensemble(key=trials.ensemble_key, run=trials.run_group, max_members=128),
))
