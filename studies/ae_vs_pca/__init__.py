"""Study ``ae-vs-pca``: deep and shallow autoencoders against PCA.

Claims (see shared/claims.md): AE-PCA-30 (a deep AE's 30-d code reconstructs
better than PCA-30), AE-LIN-SUBSPACE in three parts (a linear single-layer AE
spans the PCA subspace; its weights are not orthogonal; the components can be
recovered with an SVD), AE-SIGMOID-PCA (a single sigmoid hidden layer does
not beat PCA), and AE-DEPTH (deep beats shallow and linear AEs at matched
parameter counts, tested at ~100k and ~1.1M parameters).

Protocol: Fashion-MNIST pixels in [0, 1]; the training set is a random subset
whose size the budget sets, drawn per replicate from the subsample seed and
shared by every arm of that replicate (so PCA and the AEs are paired on the
same data). Error unit: summed squared error per test image, as in Hinton &
Salakhutdinov 2006. The linear-AE claims use centred data (digits and
Fashion-MNIST), trained full-batch so that the optimum is actually reached.
"""
from __future__ import annotations

from typing import Any

from harness.checks import Converged, NoBottleneck, Trained, TunedAlike
from harness.claimtests import Better, Bound
from harness.claims import Claim
from harness.discovery import register
from harness.study import Arm, Budget, Study, StudyDeclarationError, Tuning
from studies.ae_vs_pca import figures, notes, trials
from studies.ae_vs_pca.settings import Settings

DEPTH_MARGIN = 0.25  # SSE/image: ~2% of PCA-30's error; a smaller deep-vs-shallow gap would not count


# -- the fixed design -------------------------------------------------------------------------------
def _depth_widths(budget: Budget) -> dict[str, Any]:
    """Hidden widths of the parameter-matched AEs: ~100k parameters, and the
    deep 784-512-256-128-30 AE's own count."""
    from harness.models import autoencoder_params, widths_for_params

    code, pixels = budget["code"], trials.PIXELS
    large = autoencoder_params(pixels, budget["deep_hidden"], code)
    return {
        "deep-ae-100k": widths_for_params(budget["matched_params"], pixels, code, depth=3),
        "shallow-ae-100k": widths_for_params(budget["matched_params"], pixels, code, depth=1),
        "shallow-ae-1m": widths_for_params(large, pixels, code, depth=1),
    }


def arms(budget: Budget) -> list[Arm]:
    widths = _depth_widths(budget)
    code, deep = budget["code"], budget["deep_hidden"]
    seeds = budget["ae_replicates"]  # Fashion-MNIST training dominates the cost: fewer seeds than the cheap arms
    design = [
        Arm("pca-30", {"model": "pca", "code": code}, max_replicates=seeds),
        Arm("deep-ae-30", {"model": "deep-ae", "hidden": deep, "code": code}, max_replicates=seeds),
        Arm("linear-ae-30", {"model": "single-layer-ae", "code": code, "out_act": "sigmoid"}, max_replicates=seeds),
        Arm("deep-ae-100k", {"model": "deep-ae", "hidden": widths["deep-ae-100k"], "code": code},
            max_replicates=seeds),
        Arm("shallow-ae-100k", {"model": "shallow-ae", "hidden": widths["shallow-ae-100k"][0], "code": code},
            max_replicates=seeds),
        Arm("shallow-ae-1m", {"model": "shallow-ae", "hidden": widths["shallow-ae-1m"][0], "code": code},
            max_replicates=seeds),
    ]
    # Error against code size: deep AEs at other code sizes; descriptive only, so one seed at quick.
    design += [Arm(f"deep-ae-{k}", {"model": "deep-ae", "hidden": deep, "code": k},
                   max_replicates=budget["curve_replicates"]) for k in budget["curve_codes"]]
    design += [Arm(name, {"model": "single-layer-ae", "dataset": ds, "code": p, "subspace": True})
               for name, ds, p in budget["subspace_arms"]]
    design.append(Arm("sigmoid-digits-p10", {"model": "single-layer-ae", "dataset": trials.DIGITS, "code": 10,
                                             "code_act": "sigmoid", "subspace": True}))
    return design


def lr_space(trial) -> dict[str, Any]:
    return {"lr": trial.suggest_float("lr", 1e-4, 1e-2, log=True)}


# -- claims ----------------------------------------------------------------------------
ARTICLE = "Autoencoder"
HINTON = "Hinton & Salakhutdinov 2006, \"Reducing the dimensionality of data with neural networks\", Science 313:504"
BALDI = ("Baldi & Hornik 1989, Neural Networks 2:53; Bourlard & Kamp 1988, Biol. Cybern. 59:291; "
         "recovery by SVD: Plaut 2018, arXiv:1804.10253")
SUBSPACE_QUOTE = ("The weights of an autoencoder with a single hidden layer of size p (where p is less than the size "
                  "of the input) span the same vector subspace as the one spanned by the first p principal "
                  "components, and the output of the autoencoder is an orthogonal projection onto this subspace.")
NOT_ORTHO_QUOTE = ("The autoencoder weights are not equal to the principal components, and are generally not "
                   "orthogonal, yet the principal components may be recovered from them using the singular value "
                   "decomposition.")
DEPTH_QUOTE = "Experimentally, deep autoencoders yield better compression compared to shallow or linear autoencoders."
DEPTH_SOURCE_NUMBERS = ("Hinton & Salakhutdinov 2006 qualify it: \"When the number of parameters is the same, deep "
                        "autoencoders can produce lower reconstruction errors on test data than shallow ones, but this "
                        "advantage disappears as the number of parameters increases.\"")
SUBSPACE_ARMS = tuple(arm for arm, _, _ in Settings.subspace_arms)  # the linear AEs of AE-LIN-*


# Validity checks (harness.checks): an AE arm must have trained (loss down 10% from its first epoch), have
# stopped improving (test error down < 1% over its last 3 epochs) and have no hidden layer narrower than its
# code; the linear AEs of the subspace claims ("at the optimum") must have reached their plateau.
def AE_CHECKS(*arms: str) -> tuple:
    return (Trained("train_loss", fell_by=0.1, arms=arms), Converged("test_sse", last=3, tolerance=0.01, arms=arms),
            NoBottleneck("hidden", "code", arms=arms))


SUBSPACE_CHECKS = (Trained("train_loss", fell_by=0.1), Converged("train_loss", last=3, tolerance=0.01))

CLAIMS = (
    Claim(
        id="AE-PCA-30",
        quote=("For Hinton's 2006 study, he pretrained a multi-layer autoencoder with a stack of RBMs … The resulting "
               "30 dimensions of the code yielded a smaller reconstruction error compared to the first 30 components "
               "of a principal component analysis (PCA), …"),
        article=ARTICLE, section="Dimensionality reduction", source=HINTON,
        source_numbers="MNIST, average squared error per test image: deep AE 3.00, logistic PCA 8.01, PCA 13.87.",
        measure=("Summed squared error per Fashion-MNIST test image (pixels in [0, 1]) of a 784-512-256-128-30 ReLU "
                 "AE (linear code, sigmoid output, Adam with a TPE-tuned learning rate, no pretraining) and of PCA-30, "
                 "both fitted on the same training subset."),
        test=Better("test_sse", "deep-ae-30", "pca-30", lower_is_better=True),
        checks=(*AE_CHECKS("deep-ae-30"),
                TunedAlike(reason="PCA has no hyperparameter to tune; the AE's learning rate is tuned")),
        notes=lambda runs: notes.ratio_note(runs) + notes.convergence_note("deep-ae-30")(runs),
    ),
    Claim(
        id="AE-LIN-SUBSPACE",
        quote=SUBSPACE_QUOTE, article=ARTICLE, section="Dimensionality reduction › Principal component analysis",
        source=BALDI, source_numbers="a theorem: at the optimum the principal angles are exactly 0.",
        measure=("Largest principal angle (degrees) between the column space of a trained linear single-layer AE's "
                 "decoder and the top-p PCA subspace of the same centred training data; digits with p = 5, 10, 30 "
                 "and Fashion-MNIST (a training subset) with p = 10; full-batch Adam."),
        test=Bound("max_angle_deg", 5.0, side="below", over=SUBSPACE_ARMS),
        checks=SUBSPACE_CHECKS,
        notes=notes.eigengap_note,
    ),
    Claim(
        id="AE-LIN-NONORTHOGONAL",
        quote=NOT_ORTHO_QUOTE, article=ARTICLE, section="Dimensionality reduction › Principal component analysis",
        source=BALDI, source_numbers="a theorem: any invertible mixing C of the top-p directions is optimal, so nothing forces orthogonality.",
        measure=("Largest |cosine| between two distinct decoder columns of the trained linear AE (0 = orthogonal); "
                 "'generally not orthogonal' is pre-registered as a mean above 0.1 in every configuration."),
        test=Bound("max_abs_cos", 0.1, side="above", over=SUBSPACE_ARMS),
        checks=SUBSPACE_CHECKS,
    ),
    Claim(
        id="AE-LIN-SVD",
        quote=NOT_ORTHO_QUOTE, article=ARTICLE, section="Dimensionality reduction › Principal component analysis",
        source=BALDI, source_numbers="exact recovery at the optimum (Plaut 2018 shows it on MNIST).",
        measure=("Largest angle (degrees) between a recovered direction and the matching principal direction, over "
                 "all p directions, recovering with the SVD of the decoder and of the data projected on it."),
        test=Bound("recovered_max_angle_deg", 5.0, side="below", over=SUBSPACE_ARMS),
        checks=SUBSPACE_CHECKS,
        notes=notes.naive_svd_note,
    ),
    Claim(
        id="AE-SIGMOID-PCA",
        quote=("If linear activations are used, or only a single sigmoid hidden layer, then the optimal solution to "
               "an autoencoder is strongly related to principal component analysis (PCA)."),
        article=ARTICLE, section="Dimensionality reduction › Principal component analysis",
        source="Bourlard & Kamp 1988, Biol. Cybern. 59:291",
        source_numbers="a theorem: with linear outputs, sigmoid hidden units cannot beat the PCA projection.",
        measure=("Test squared error of a 64-10-64 AE with sigmoid hidden units and linear outputs on centred digits, "
                 "divided by PCA-10's; pre-registered margin: the AE does not beat PCA by more than 5% (ratio > 0.95)."),
        test=Bound("sse_ratio_to_pca", 0.95, side="above", over=("sigmoid-digits-p10",)),
        checks=SUBSPACE_CHECKS,
    ),
    Claim(
        id="AE-DEPTH-100K",
        quote=DEPTH_QUOTE, article=ARTICLE, section="Advantages of depth", source=HINTON,
        source_numbers=DEPTH_SOURCE_NUMBERS,
        measure=("Test squared error per image of a deep (784-60-30-15-30, mirrored) and a shallow (784-61-30-61-784) "
                 "ReLU AE, both ~100k parameters, equal epochs, same data."),
        test=Better("test_sse", "deep-ae-100k", "shallow-ae-100k", margin=DEPTH_MARGIN),
        checks=AE_CHECKS("deep-ae-100k", "shallow-ae-100k"),
        notes=notes.convergence_note("deep-ae-100k", "shallow-ae-100k"),
    ),
    Claim(
        id="AE-DEPTH-1M",
        quote=DEPTH_QUOTE, article=ARTICLE, section="Advantages of depth", source=HINTON,
        source_numbers=DEPTH_SOURCE_NUMBERS,
        measure=("Test squared error per image of the 784-512-256-128-30 deep AE (1.14M parameters) and a shallow AE "
                 "with one hidden layer of 693 units per side (1.14M parameters), equal epochs, same data."),
        test=Better("test_sse", "deep-ae-30", "shallow-ae-1m", margin=DEPTH_MARGIN),
        checks=AE_CHECKS("deep-ae-30", "shallow-ae-1m"),
        notes=notes.convergence_note("deep-ae-30", "shallow-ae-1m"),
    ),
    Claim(
        id="AE-DEPTH-LINEAR",
        quote=DEPTH_QUOTE, article=ARTICLE, section="Advantages of depth", source=HINTON,
        source_numbers=DEPTH_SOURCE_NUMBERS,
        measure=("Test squared error per image of the ~100k-parameter deep AE and a linear 784-30-784 AE (sigmoid "
                 "output, 48k parameters: a linear AE cannot use more), equal epochs, same data."),
        test=Better("test_sse", "deep-ae-100k", "linear-ae-30", margin=DEPTH_MARGIN),
        checks=AE_CHECKS("deep-ae-100k", "linear-ae-30"),
        notes=notes.convergence_note("deep-ae-100k", "linear-ae-30"),
    ),
)


# -- budgets -------------------------------------------------------------------------------------
def check_budget(budget: Budget) -> None:
    """Fashion-MNIST has 60,000 training images: tuning draws n_train + n_val of them."""
    if budget["n_train"] + budget["n_val"] > 60_000 or budget["subspace_n_fashion"] > 60_000:
        raise StudyDeclarationError(
            f"budget asks for {budget['n_train']} + {budget['n_val']} training images; Fashion-MNIST has 60000")


STUDY = register(Study(
    name="ae-vs-pca",
    title="Autoencoders versus PCA",
    summary=__doc__.split("\n\n", 1)[1],
    claims=CLAIMS,
    arms=arms,
    run_trial=trials.run_trial,
    figures=figures.figures,
    datasets=(trials.FASHION, trials.DIGITS),
    tuning=Tuning(arms=("deep-ae-30", "shallow-ae-1m"), space=lr_space, metric="val_sse"),
    root_seed=2006,
    check=check_budget,
    budgets={
        # machinery only: tiny data, one epoch, two replicates
        "smoke": Budget(replicates=2, tuning_trials=1, settings=Settings(
            n_train=512, n_val=256, epochs=1, epochs_tune=1, ae_replicates=2, curve_codes=(), curve_replicates=1,
            subspace_steps=50, subspace_n_fashion=500)),
        # real verdicts in about six minutes on 2 cores: 15 epochs (the protocol's 15-20) on 15k images
        "quick": Budget(replicates=5, tuning_trials=3, settings=Settings(
            n_train=15_000, n_val=5_000, epochs=15, epochs_tune=3, ae_replicates=3, curve_codes=(8,),
            curve_replicates=1, subspace_steps=1500, subspace_n_fashion=1000)),
        # near the paper's scale: 50k training images (10k held out for tuning), 20 epochs
        "full": Budget(replicates=10, tuning_trials=12, settings=Settings(
            n_train=50_000, n_val=10_000, epochs=20, epochs_tune=5, ae_replicates=10, curve_codes=(2, 4, 8, 16, 60),
            curve_replicates=3, subspace_steps=10_000, subspace_n_fashion=10_000)),
    },
))
