"""Study ``dropout``: overfitting, weight scaling, speed, retain rates, conv
layers, DropConnect and max-norm.

Claims (see shared/claims.md): DO-OVERFIT (gap and error), DO-SCALING,
DO-SPEED, DO-RATE, DO-CONV, DO-DROPCONNECT and DO-MAXNORM, each tested on the
seed text's words.

Protocol: Fashion-MNIST subsets; a 784-512-512-10 ReLU MLP trained with SGD
(momentum 0.9) long enough to overfit, with dropout at Srivastava et al.'s
customary retain probabilities (0.8 input, 0.5 hidden) or without; train and
test error logged every epoch. Weight scaling is torch's inverted dropout
(kept units scaled by 1/p in training), the same network as scaling weights
by p at test time. DropConnect draws one weight mask per minibatch (see
harness.dropnets for why). The retain rates are tuned with Optuna's TPE on a
validation split; the tuned and the customary settings are then replicated on
fresh seeds.
"""

from __future__ import annotations

from harness.checks import Converged, Trained, TunedAlike
from harness.claimtests import Better, Bound, Faster, Similar
from harness.claims import Claim
from harness.discovery import register
from harness.study import Arm, Budget, Study, StudyDeclarationError, Tuning
from studies.dropout import figures, notes, trials
from studies.dropout.settings import Settings

SCALING_MARGIN = 0.005  # DO-SCALING: weight scaling within half a point of 50-sample MC averaging
SIMILAR_MARGIN = 0.01   # DO-RATE / DO-DROPCONNECT: "as good as" means within one point of test error


# -- the fixed design -------------------------------------------------------------------------------
def arms(budget: Budget) -> list[Arm]:
    small, large = budget["sizes"]
    dropout = {"p_input": budget["p_input"], "p_hidden": budget["p_hidden"]}
    design = [
        Arm(f"none-{small}", {"kind": "mlp", "n_train": small}),
        Arm(f"dropout-{small}", {"kind": "mlp", "n_train": small, **dropout}),
        Arm("none", {"kind": "mlp", "n_train": large}),
        Arm("dropout", {"kind": "mlp", "n_train": large, **dropout, "mc": True}),
        Arm("dropconnect", {"kind": "mlp", "n_train": large, **dropout, "dropconnect": True}),
        Arm("rate-tuned", {"kind": "mlp", "n_train": large}),
        Arm("cnn", {"kind": "cnn"}),
        Arm("cnn-conv-dropout", {"kind": "cnn", "p_conv": budget["p_conv"]}),
        Arm("cnn-fc-dropout", {"kind": "cnn", "p_fc": budget["p_hidden"]}),
    ]
    design += [Arm(f"maxnorm-c{c}", {"kind": "mlp", "n_train": large, **dropout, "max_norm": c},
                   max_replicates=None if c == 3 else budget["sweep_replicates"]) for c in budget["max_norms"]]
    return design


def rate_space(trial) -> dict[str, float]:
    return {"p_input": trial.suggest_float("p_input", 0.5, 1.0), "p_hidden": trial.suggest_float("p_hidden", 0.2, 1.0)}


# -- claims ---------------------------------------------------------------------------------------
ARTICLE = "Convolutional neural network"
SRIVASTAVA = ("Srivastava, Hinton, Krizhevsky, Sutskever & Salakhutdinov 2014, \"Dropout: a simple way to prevent "
              "neural networks from overfitting\", JMLR 15:1929")
WAN = "Wan, Zeiler, Zhang, LeCun & Fergus 2013, \"Regularization of neural networks using DropConnect\", ICML"
OVERFIT_QUOTE = "By avoiding training all nodes on all training data, dropout decreases overfitting."
TABLE2 = ("MNIST test error (Table 2): standard 2x800 logistic net 1.60%; dropout 3x1024 logistic 1.35%, ReLU 1.25%, "
          "+ max-norm 1.06%; 2x8192 + max-norm 0.95%. No gain with 100 or 500 training examples (Fig. 10).")


# Validity checks (harness.checks): each compared net trained (loss down 10% from its first epoch) and its
# test error improved by less than 1% over its last 3 epochs (a claim about what dropout can do is not tested
# by a run that is still improving).
TRAINED_AND_CONVERGED = (Trained("train_loss", fell_by=0.1), Converged("test_error", last=3, tolerance=0.01))

CLAIMS = (
    Claim(
        id="DO-OVERFIT",
        quote=OVERFIT_QUOTE, article=ARTICLE, section="Regularization methods › Empirical › Dropout", source=SRIVASTAVA,
        source_numbers=TABLE2,
        measure=("Generalization gap (test error − train error) after training the 784-512-512-10 ReLU MLP on the large "
                 "Fashion-MNIST subset, with dropout (0.8/0.5) against without; paired by seed."),
        test=Better("gap", "dropout", "none"),
        checks=TRAINED_AND_CONVERGED,
        notes=notes.overfit_note,
    ),
    Claim(
        id="DO-OVERFIT-ERROR",
        quote=OVERFIT_QUOTE, article=ARTICLE, section="Regularization methods › Empirical › Dropout", source=SRIVASTAVA,
        source_numbers=TABLE2,
        measure="Test error of the same runs: dropout against none.",
        test=Better("test_error", "dropout", "none"),
        checks=TRAINED_AND_CONVERGED,
    ),
    Claim(
        id="DO-SCALING",
        quote=("However, we can find an approximation by using the full network with each node's output weighted by a "
               "factor of p, so the expected value of the output of any node is the same as in the training stages."),
        article=ARTICLE, section="Regularization methods › Empirical › Dropout", source=SRIVASTAVA,
        source_numbers="Fig. 11 (MNIST): MC averaging matches weight scaling at about k = 50 sampled networks.",
        measure=(f"|test error of 50-sample MC averaging − test error with weight scaling| for the trained dropout "
                 f"MLP; pre-registered: a good approximation is within {SCALING_MARGIN}."),
        test=Bound("abs_mc50_minus_scaling", SCALING_MARGIN, side="below", over=("dropout",)),
        checks=(Trained("train_loss", fell_by=0.1),),
        notes=notes.scaling_note,
    ),
    Claim(
        id="DO-SPEED",
        quote="The method also significantly improves training speed.",
        article=ARTICLE, section="Regularization methods › Empirical › Dropout", source=SRIVASTAVA,
        source_numbers="§7: dropout training takes 2-3 times longer than standard training.",
        measure=(f"Epochs until the training loss (epoch mean) falls to {Settings.loss_target}, with dropout against without "
                 "(censored at the epoch budget); seconds per epoch and epochs to the best test error in the notes."),
        test=Faster("epochs_to_loss_target", "dropout", "none"),
        checks=(Trained("train_loss", fell_by=0.1),),
        notes=notes.speed_note,
    ),
    Claim(
        id="DO-RATE",
        quote=("In the training stages, p is usually 0.5; for input nodes, it is typically much higher because "
               "information is directly lost when input nodes are ignored."),
        article=ARTICLE, section="Regularization methods › Empirical › Dropout", source=SRIVASTAVA,
        source_numbers="Retain 0.5 for hidden units and 0.8 for inputs throughout; Fig. 9 sweeps p (best 0.4–0.8).",
        measure=(f"Test error of the customary (0.8, 0.5) setting against the TPE-tuned retain probabilities, both "
                 f"replicated on fresh seeds; 'as good as' = within ±{SIMILAR_MARGIN}."),
        test=Similar("test_error", "dropout", "rate-tuned", margin=SIMILAR_MARGIN),
        checks=(*TRAINED_AND_CONVERGED, TunedAlike(reason="the claim compares the conventional rates with tuned "
                                                          "ones: tuning one arm is the comparison")),
        notes=notes.rate_note,
    ),
    Claim(
        id="DO-CONV",
        quote=("A major drawback to Dropout is that it does not have the same benefits for convolutional layers, where "
               "the neurons are not fully connected."),
        article=ARTICLE, section="Regularization methods › Empirical › Stochastic pooling", source=SRIVASTAVA,
        source_numbers=("Table 4 (SVHN): dropout in the conv layers too lowered error from 3.02% (FC only) to 2.55% — "
                        "the primary source reports a benefit."),
        measure=("Test error of a CNN with dropout after the conv blocks (retain p_conv) against the same CNN with "
                 "dropout only in its fully connected head (retain 0.5): the claim predicts the FC placement is better."),
        test=Better("test_error", "cnn-fc-dropout", "cnn-conv-dropout"),
        checks=TRAINED_AND_CONVERGED,
    ),
    Claim(
        id="DO-DROPCONNECT",
        quote=("DropConnect is the generalization of dropout in which each connection, rather than each output unit, "
               "can be dropped with probability 1−p."),
        article=ARTICLE, section="Regularization methods › Empirical › DropConnect", source=WAN,
        source_numbers="MNIST: DropConnect 1.20% vs dropout 1.28% test error (no data augmentation, 800-unit nets).",
        measure=(f"Test error of the MLP with DropConnect (weights kept with p = 0.5, one mask per minibatch) against "
                 f"dropout at the same retain rate; equivalence margin ±{SIMILAR_MARGIN}."),
        test=Similar("test_error", "dropconnect", "dropout", margin=SIMILAR_MARGIN),
        checks=TRAINED_AND_CONVERGED,
    ),
    Claim(
        id="DO-MAXNORM",
        quote="Typical values of c are order of 3–4. Some papers report improvements when using this form of regularization.",
        article=ARTICLE, section="Regularization methods › Explicit › Max norm constraints", source=SRIVASTAVA,
        source_numbers="Table 9 (MNIST): dropout + max-norm 1.05% vs dropout + L2 1.25%; c tuned in 3–4.",
        measure="Test error of dropout with the max-norm constraint c = 3 against dropout alone.",
        test=Better("test_error", "maxnorm-c3", "dropout"),
        checks=TRAINED_AND_CONVERGED,
        notes=notes.maxnorm_note,
    ),
)


# -- budgets -------------------------------------------------------------------------------------
def check_budget(budget: Budget) -> None:
    small, large = budget["sizes"]
    if not small < large or large + budget["n_val"] > 60_000 or set(budget["epochs"]) != {small, large}:
        raise StudyDeclarationError("dropout budget: sizes (small, large) with an epoch count for each, and "
                                    "large + n_val at most 60000 Fashion-MNIST training images")
    if 3 not in budget["max_norms"]:
        raise StudyDeclarationError("DO-MAXNORM tests c = 3: max_norms must include 3")


STUDY = register(Study(
    name="dropout",
    title="Dropout, DropConnect and max-norm",
    summary=__doc__.split("\n\n", 1)[1],
    claims=CLAIMS,
    arms=arms,
    run_trial=trials.run_trial,
    figures=figures.figures,
    datasets=(trials.DATASET,),
    tuning=Tuning(arms=("rate-tuned",), space=rate_space, metric="val_error"),
    sections=notes.sections,
    root_seed=2014,
    check=check_budget,
    budgets={
        "smoke": Budget(replicates=2, tuning_trials=2, settings=Settings(
            sizes=(200, 1000), epochs={200: 2, 1000: 2}, n_test=500, n_val=300, tune_n=500, tune_epochs=1,
            cnn_n=500, cnn_epochs=1, max_norms=(3,), sweep_replicates=1)),
        "quick": Budget(replicates=3, tuning_trials=10, settings=Settings(
            sizes=(1000, 10_000), epochs={1000: 60, 10_000: 20}, n_test=5000, n_val=5000, tune_n=5000,
            tune_epochs=8, cnn_n=10_000, cnn_epochs=4, max_norms=(1, 2, 3, 4), sweep_replicates=1)),
        "full": Budget(replicates=10, tuning_trials=40, settings=Settings(
            sizes=(1000, 50_000), epochs={1000: 200, 50_000: 50}, n_test=10_000, n_val=10_000, tune_n=20_000,
            tune_epochs=20, cnn_n=50_000, cnn_epochs=20, max_norms=(1, 2, 3, 4, 6), sweep_replicates=3)),
    },
))
