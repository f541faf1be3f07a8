"""Study ``seeds``: how much the random seed moves results, where that
variance comes from, what five seeds can and cannot show, which
hyperparameters matter, and which batch sizes train best.

Claims (see shared/claims.md): SEED-SENS, SEED-SOURCES, SEED-FEW,
HP-TUNABILITY (with its second sentence as HP-MOMENTUM-BATCH) and HP-BATCH.

Protocol: small ReLU MLPs trained with SGD on a fixed subset of MNIST-1D's
training signals (all 1000 test signals) and on a fixed 10,000-image subset
of Fashion-MNIST (all 10,000 test images). Hundreds of seeds of one
shape train at once in ``harness.ensemble`` (the sweep groups them); each
seed is still its own Optuna trial and MLflow run.

- ``sens-*``: the classic "random seed": initial weights and minibatch order
  change together, the training data stay fixed.
- ``src-*``: one source of randomness at a time -- weight init, data order,
  dropout masks, or a bootstrap resample of the training set -- against
  ``src-all`` where all four vary (a dropout MLP, so that masks exist).
- ``hp-random-*`` / ``hp-tpe-*``: repeated Optuna searches (random and TPE)
  over learning rate, width, depth, momentum, batch size and weight decay on a
  validation split; importances come from the searches' logged runs.
- ``batch-m*-lr*``: Masters & Luschi's grid, batch size m against the
  per-example learning rate η̃ (SGD step η = m·η̃), fixed epochs, several
  seeds. A grid point that diverges is an outcome here (the stable range of
  η̃ narrows as m grows), recorded as ``diverged = 1``, not a failed trial.
"""
from __future__ import annotations

from functools import partial
from typing import Any

from harness.claimtests import BestOverGrid, Importance, RateAbove, VarianceAbove, VarianceRatios
from harness.claims import Claim
from harness.discovery import register
from harness.study import Arm, Budget, Ensemble, Study, StudyDeclarationError, Tuning
from studies.seeds import figures, notes, trials
from studies.seeds.settings import Settings

NAME = "seeds"
MNIST1D, FASHION = trials.MNIST1D, trials.FASHION
ARTICLE = "Hyperparameter (machine learning)"
SENS_ARMS = ("sens-mnist1d", "sens-fashion")
FEW_ARMS = (*SENS_ARMS, "src-all")  # identical-configuration runs that SEED-FEW splits
SD_THRESHOLD = 0.005     # SEED-SENS: "very heavily" = seed SD of test accuracy >= half a percentage point
SHARE_FLOOR = 0.10       # SEED-SOURCES: "moves results" = >= 10% of the all-sources variance
FEW = 5                  # SEED-FEW: seeds per group (Henderson et al.'s 5 vs 5)
FP_MARGIN = 0.15         # SEED-FEW: a 5-vs-5 false-positive rate below 15% counts as "no excess"
TOP_SHARE = 0.5          # HP-TUNABILITY: the two most important of six carry most (> half) of the variance
MINOR_IMPORTANCE = 0.10  # HP-MOMENTUM-BATCH: "no significant effect" = importance below 0.1 each
SMALL_BATCHES = 32       # HP-BATCH: "between 2 and 32"
BATCH_MARGIN = 0.005     # HP-BATCH: |difference| below half a point of test error = no difference
MAX_SEARCHES = 5         # the most repeated searches a tier runs (full): Tuning names every hp- arm there can be


# -- the fixed design -------------------------------------------------------------------------------
def arms(budget: Budget) -> list[Arm]:
    sgd = {"lr": budget["lr"], "momentum": budget["momentum"], "batch_size": budget["batch_size"]}
    design = [Arm(f"sens-{name.split('-')[0]}", {"dataset": name, "hidden": budget["hidden"][name], **sgd,
                                                 "vary": "seed"})
              for name in (MNIST1D, FASHION)]
    dropout = {"dataset": MNIST1D, "hidden": budget["hidden"][MNIST1D], **sgd, "retain_hidden": budget["retain_hidden"]}
    design += [Arm(f"src-{source}", {**dropout, "vary": source}, max_replicates=budget["source_seeds"])
               for source in ("all", *trials.SOURCES)]
    design += [Arm(f"hp-{sampler}-{i}", {"dataset": MNIST1D, "sampler": sampler, "search": i}, max_replicates=1)
               for sampler in ("random", "tpe") for i in range(budget["searches"])]
    design += [Arm(f"batch-m{m}-lr{j}", {"dataset": MNIST1D, "hidden": budget["hidden"][MNIST1D], "batch_size": m,
                                         "base_lr": base_lr, "lr": m * base_lr, "momentum": budget["grid_momentum"],
                                         "grid": "batch"},
                   max_replicates=budget["batch_seeds"])
               for m in budget["batch_sizes"] for j, base_lr in enumerate(budget["base_lrs"])]
    return design


def hp_space(trial) -> dict[str, Any]:
    return {
        "lr": trial.suggest_float("lr", 1e-3, 1.0, log=True),
        "width": trial.suggest_int("width", 16, 256, log=True),
        "depth": trial.suggest_int("depth", 1, 4),
        "momentum": trial.suggest_float("momentum", 0.0, 0.95),
        "batch_size": trial.suggest_categorical("batch_size", [16, 32, 64, 128, 256]),
        "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True),
    }


# -- claims ---------------------------------------------------------------------------------------
BOUTHILLIER = ("Bouthillier et al. 2021, \"Accounting for variance in machine learning benchmarks\" (MLSys)")
SOURCES_TEST = VarianceRatios("test_accuracy", "src-all", {s: f"src-{s}" for s in trials.SOURCES}, SHARE_FLOOR)
FEW_TEST = RateAbove(partial(notes.split_outcomes, arms=FEW_ARMS, size=FEW), FEW_ARMS, null_rate=0.05,
                     margin=FP_MARGIN, metric="test_accuracy",
                     description=f"disjoint random {FEW}-vs-{FEW} splits of identical-configuration seeds "
                                 f"({', '.join(FEW_ARMS)}), Welch t-test on test_accuracy per split at 0.05")
TUNABILITY_TEST = Importance("val_accuracy", "top", TOP_SHARE, hp_space)

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
        measure=(f"Test accuracy of ≥100 seeds per model (initial weights and minibatch order vary, training data "
                 f"fixed) on MNIST-1D (40-100-100-10 MLP) and Fashion-MNIST (784-100-10 MLP, 10,000 training "
                 f"images); pre-registered: \"very heavily\" means a seed-to-seed SD of at least "
                 f"{SD_THRESHOLD:g} (half a percentage point), so that the best of 100 seeds sits about "
                 f"1.25 points above the mean seed -- the size of many published improvements."),
        test=VarianceAbove("test_accuracy", SENS_ARMS, SD_THRESHOLD),
        notes=partial(notes.spread_note, arms=SENS_ARMS),
    ),
    Claim(
        id="SEED-SOURCES",
        quote="An inherent stochasticity in learning directly implies that the empirical hyperparameter performance "
              "is not necessarily its true performance.",
        article=ARTICLE, section="Considerations › Robustness", source=BOUTHILLIER,
        source_numbers=("Bouthillier et al.: data sampling (bootstrap), weight initialisation, data order and "
                        "dropout each move benchmark results; randomising all sources gives a better estimator at "
                        "51x less compute than re-running hyperparameter optimisation."),
        measure=(f"MNIST-1D dropout MLP (hidden retain 0.8): one source varies at a time (init, data order, dropout "
                 f"masks, bootstrap of the training set) against all four varying; each source's share = its "
                 f"variance / the all-sources variance of test accuracy. Pre-registered: a source \"moves results\" "
                 f"if its share exceeds {SHARE_FLOOR:g}; the claim needs every source to."),
        test=SOURCES_TEST,
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
        measure=(f"Henderson's demonstration on supervised nets: runs of one configuration (the SEED-SENS arms and "
                 f"`src-all`) split at random into disjoint {FEW}-vs-{FEW} groups; the rate at which Welch's t-test "
                 f"finds a difference at 0.05. Supported if the rate exceeds the nominal 5%; not reproduced if it is "
                 f"below {FP_MARGIN:g} (no excess). The notes add the top-5-vs-bottom-5 artefact; the table after the "
                 f"claims gives the seeds each other claim needs."),
        test=FEW_TEST,
        notes=partial(notes.few_note, arms=FEW_ARMS, size=FEW),
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
                 f"and weight decay of an SGD MLP on MNIST-1D (validation accuracy); fANOVA importance per search. "
                 f"Pre-registered: \"just a few\" = the two most important of the six carry more than "
                 f"{TOP_SHARE:g} of the importance. PED-ANOVA is shown beside it."),
        test=TUNABILITY_TEST,
        notes=partial(notes.importance_note, test=TUNABILITY_TEST),
    ),
    Claim(
        id="HP-MOMENTUM-BATCH",
        quote="For an LSTM, while the learning rate followed by the network size are its most crucial "
              "hyperparameters, batching and momentum have no significant effect on its performance.",
        article=ARTICLE, section="Considerations › Tunability", source="Greff et al. 2017 (IEEE TNNLS 28:2222)",
        source_numbers=("LSTM, fANOVA: learning rate, then hidden size; batch size and momentum explain a "
                        "negligible share of the variance."),
        measure=(f"The same searches, for an MLP (the sentence is about LSTMs; we test whether it carries over): "
                 f"fANOVA importance of momentum and of batch size; pre-registered: \"no significant effect\" = "
                 f"each below {MINOR_IMPORTANCE:g}."),
        test=Importance("val_accuracy", ("momentum", "batch_size"), MINOR_IMPORTANCE, hp_space),
    ),
    Claim(
        id="HP-BATCH",
        quote="…other work has found the best performance with mini-batch sizes between 2 and 32.",
        article=ARTICLE, section="Considerations › Tunability",
        source="Masters & Luschi 2018, \"Revisiting small batch training for deep neural networks\" (arXiv 1804.07612)",
        source_numbers=("Base learning rate per example held fixed (η = m·η̃); best results for m = 2–32 on "
                        "CIFAR-10/100 and ImageNet; larger m narrows the range of stable learning rates."),
        measure=("MNIST-1D MLP, plain SGD for a fixed number of epochs over a grid of batch sizes m and per-example "
                 "learning rates η̃; per seed, the best test error over η̃ at m ≤ 32 against m > 32."),
        test=BestOverGrid(notes.grid_for_test, SMALL_BATCHES, BATCH_MARGIN, label="m", metric="test_error"),
        notes=notes.batch_note,
    ),
)


# -- budgets -------------------------------------------------------------------------------------
def check_budget(budget: Budget) -> None:
    if budget["source_seeds"] < FEW * 2 or min(budget["batch_sizes"]) < 1:
        raise StudyDeclarationError("seeds: source_seeds must be >= 10 and batch sizes >= 1")
    if budget["n_train"][FASHION] > 60_000 or budget["n_train"][MNIST1D] + budget["n_val"] > 4000:
        raise StudyDeclarationError("seeds: Fashion-MNIST has 60,000 training images and MNIST-1D 4000 signals "
                                    "(the MNIST-1D search needs n_train + n_val of them)")
    if budget["searches"] > MAX_SEARCHES:
        raise StudyDeclarationError(f"seeds: at most {MAX_SEARCHES} searches per sampler (Tuning names the hp- arms "
                                    "up to MAX_SEARCHES; raise it with the tier)")


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
        "smoke": Budget(replicates=10, tuning_trials=5, settings=Settings(
            n_train={MNIST1D: 1000, FASHION: 2000}, epochs={MNIST1D: 2, FASHION: 1}, hp_epochs=1, source_seeds=10,
            searches=1, batch_sizes=(16, 64, 256), base_lrs=(2 ** -9, 2 ** -6), batch_seeds=2)),
        "quick": Budget(replicates=100, tuning_trials=20, settings=Settings(
            n_train={MNIST1D: 3000, FASHION: 10_000}, epochs={MNIST1D: 20, FASHION: 5}, hp_epochs=10,
            source_seeds=50, searches=2, batch_sizes=(2, 4, 8, 16, 32, 64, 128, 256, 512),
            base_lrs=(2 ** -12, 2 ** -10, 2 ** -8, 2 ** -6, 2 ** -4, 2 ** -2), batch_seeds=3)),
        "full": Budget(replicates=1000, tuning_trials=100, settings=Settings(
            n_train={MNIST1D: 3000, FASHION: 60_000}, epochs={MNIST1D: 50, FASHION: 20}, hp_epochs=20,
            source_seeds=200, searches=5, batch_sizes=(2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            base_lrs=(2 ** -14, 2 ** -12, 2 ** -10, 2 ** -8, 2 ** -6, 2 ** -4, 2 ** -2, 2 ** 0), batch_seeds=5)),
    },
    run_trial=trials.run_trial,
    datasets=(MNIST1D, FASHION),
    figures=partial(figures.figures, sens_arms=SENS_ARMS, few_arms=FEW_ARMS, few=FEW, sources=SOURCES_TEST,
                    tunability=TUNABILITY_TEST, small_batches=SMALL_BATCHES),
    sections=partial(notes.effects_table, study=NAME, sens_arms=SENS_ARMS),
    tuning=Tuning(arms=tuple(f"hp-{s}-{i}" for s in ("random", "tpe") for i in range(MAX_SEARCHES)), space=hp_space,
                  metric="val_accuracy", direction="maximize"),
    root_seed=trials.ROOT_SEED,
    check=check_budget,
    ensemble=Ensemble(key=trials.ensemble_key, run=trials.run_group, max_members=128),
))
