"""Study ``ae-vs-pca``: deep and shallow autoencoders against PCA.

Claims (see shared/claims.md): AE-PCA-30 (a deep AE's 30-d code reconstructs
better than PCA-30), AE-LIN-SUBSPACE in three parts (a linear single-layer AE
spans the PCA subspace; its weights are not orthogonal; the components can be
recovered from them with an SVD), AE-SIGMOID-PCA (a single sigmoid hidden
layer is no better than PCA), AE-DEPTH (deep beats shallow and linear AEs at
matched parameter counts, at ~454k and ~1.14M parameters) and AE-DEPTH-SHRINKS
(Hinton & Salakhutdinov: the advantage disappears as parameters increase).

Protocol: Fashion-MNIST pixels in [0, 1]; every arm of a replicate trains on
the same training images and stops on the same validation split, so PCA and
the AEs are paired on the same data. Where a tier uses the whole training set
(standard: 55,000 training images and the last 5,000 as validation), every
replicate has that split and replicates differ in their seeds; a smaller tier
draws each replicate's subset and split (the subsample seed). Every
autoencoder starts from He initialisation and Adam at 1e-3 and trains to its
validation plateau (one tenfold step-size decay, then patience); the best
validation epoch is measured. Error unit: summed squared error per test
image, as in Hinton & Salakhutdinov 2006. The linear-AE claims use centred
data (digits and Fashion-MNIST), trained full-batch with an annealed step
size so that the optimum is actually reached.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from harness.checks import Converged, NoBottleneck, Stationary, Trained, TunedAlike
from harness.claimtests import Better, Bound, Shrinks, Within
from harness.claims import Claim
from harness.discovery import register
from harness.study import Arm, Budget, Study, StudyDeclarationError, Tuning, cap_replicates
from studies.ae_vs_pca import figures, notes, trials
from studies.ae_vs_pca.settings import L2_ARMS, SUBSPACE_ARMS, Settings

DEPTH_MARGIN = 0.25  # SSE/image: ~2% of PCA-30's error; a smaller deep-vs-shallow gap would not count
EQUIVALENCE_MARGIN = 0.05  # AE-SIGMOID-PCA: the sigmoid AE's error within 5% of PCA's counts as "strongly related"


# -- the fixed design -------------------------------------------------------------------------------
def _depth_widths(budget: Budget) -> dict[str, Any]:
    """Hidden widths of the shallow AEs: one layer per side, as wide as makes
    the deep AE's parameter count at each size (the deep AEs share depth 3 and
    taper 2; see Settings.small_deep_hidden)."""
    from harness.models import autoencoder_params, widths_for_params

    code, pixels = budget["code"], trials.PIXELS
    small = autoencoder_params(pixels, budget["small_deep_hidden"], code)
    large = autoencoder_params(pixels, budget["deep_hidden"], code)
    return {"shallow-ae-small": widths_for_params(small, pixels, code, depth=1)[0],
            "shallow-ae-1m": widths_for_params(large, pixels, code, depth=1)[0]}


def arms(budget: Budget) -> list[Arm]:
    widths = _depth_widths(budget)
    code, deep, init = budget["code"], budget["deep_hidden"], budget["init"]
    seeds = budget["ae_replicates"]  # the Fashion-MNIST AE and PCA arms: AE-PCA-30's and AE-DEPTH's

    def ae(name: str, model: str, **config: Any) -> Arm:
        return Arm(name, {"model": model, "code": code, "init": init, **config}, max_replicates=seeds)

    design = [
        Arm("pca-30", {"model": "pca", "code": code}, max_replicates=seeds),
        ae("deep-ae-30", "deep-ae", hidden=deep),
        ae("shallow-ae-1m", "shallow-ae", hidden=widths["shallow-ae-1m"]),
        ae("deep-ae-small", "deep-ae", hidden=budget["small_deep_hidden"]),
        ae("shallow-ae-small", "shallow-ae", hidden=widths["shallow-ae-small"]),
        ae("linear-ae-30", "single-layer-ae", out_act="sigmoid"),
    ]
    # Error against code size: deep AEs at other code sizes; descriptive only.
    design += [Arm(f"deep-ae-{k}", {"model": "deep-ae", "hidden": deep, "code": k, "init": init},
                   max_replicates=budget["curve_replicates"]) for k in budget["curve_codes"]]

    def subspace(name: str, dataset: str, p: int, **config: Any) -> Arm:
        return Arm(name, {"model": "single-layer-ae", "dataset": dataset, "code": p, "subspace": True, **config})

    design += [subspace(name, ds, p, **({"solver": "als"} if name in budget["als_arms"] else {}))
               for name, ds, p in budget["subspace_arms"]]
    design += [subspace(name, ds, p, l2=True) for name, ds, p in budget["l2_arms"]]
    design.append(subspace("sigmoid-digits-p10", trials.DIGITS, 10, code_act="sigmoid"))
    # AE-DEPTH's arms (and the PCA and linear arms paired with them) run to `ae_replicates`, the plain linear AEs
    # of AE-LIN-SUBSPACE and AE-LIN-NONORTHOGONAL to the tier's replicates, every other arm to `other_replicates`
    return cap_replicates(design, budget["other_replicates"], keep={"pca-30", *AE_ARMS, *SUBSPACE_ARMS})


def lr_space(trial) -> dict[str, Any]:
    return {"lr": trial.suggest_float("lr", 3e-4, 3e-3, log=True)}


# -- claims ----------------------------------------------------------------------------
ARTICLE = "Autoencoder"
HINTON = "Hinton & Salakhutdinov 2006, \"Reducing the dimensionality of data with neural networks\", Science 313:504"
BALDI = ("Baldi & Hornik 1989, Neural Networks 2:53; Bourlard & Kamp 1988, Biol. Cybern. 59:291; "
         "recovery by SVD: Plaut 2018, arXiv:1804.10253; Kunin et al. 2019, ICML, \"Loss landscapes of regularized "
         "linear autoencoders\"")
SUBSPACE_QUOTE = ("The weights of an autoencoder with a single hidden layer of size p (where p is less than the size "
                  "of the input) span the same vector subspace as the one spanned by the first p principal "
                  "components, and the output of the autoencoder is an orthogonal projection onto this subspace.")
NOT_ORTHO_QUOTE = ("The autoencoder weights are not equal to the principal components, and are generally not "
                   "orthogonal, yet the principal components may be recovered from them using the singular value "
                   "decomposition.")
DEPTH_QUOTE = "Experimentally, deep autoencoders yield better compression compared to shallow or linear autoencoders."
HINTON_QUALIFIER = ("\"When the number of parameters is the same, deep autoencoders can produce lower reconstruction "
                    "errors on test data than shallow ones, but this advantage disappears as the number of parameters "
                    "increases.\"")
HINTON_PRETRAINING = "Their deep AEs were pretrained layer by layer as a stack of RBMs, then fine-tuned; ours are not."
DEPTH_SOURCE_NUMBERS = f"Hinton & Salakhutdinov 2006 qualify it: {HINTON_QUALIFIER} {HINTON_PRETRAINING}"
PROTOCOL = ("He initialisation, Adam from 1e-3 (tuned per arm when the tier tunes), trained to its validation "
            "plateau (one tenfold step-size decay, then patience), best validation epoch measured")


# Validity checks (harness.checks): an AE arm must have trained (loss down 10% from its first epoch), have
# reached its validation plateau (stopped on patience, or the validation error down < 1% over its last 3 epochs)
# and have no ReLU layer narrower than twice its code (NoBottleneck); the linear AEs of the subspace claims ("at the
# optimum") must have reached their plateau.
def AE_CHECKS(*arms: str) -> tuple:
    return (Trained("train_loss", fell_by=0.1, arms=arms), Converged("val_sse", last=3, tolerance=0.01, arms=arms),
            NoBottleneck("hidden", "code", arms=arms, per_code=2))


def SUBSPACE_CHECKS(*arms: str, optimum: bool = False) -> tuple:
    """The step size is annealed to 0, so a flat loss says nothing: the final gradient must be ~0 (Stationary).
    A plain linear AE's optimum is known (Eckart–Young: PCA's training error), so with ``optimum`` its training
    error must also be within 1e-5 of PCA's: a seed whose subspace is still turning passes the gradient check."""
    checks = (Trained("train_loss", fell_by=0.1, arms=arms), Stationary("grad_norm_ratio", tolerance=1e-3, arms=arms))
    if optimum:
        checks += (Stationary("optimality_gap", tolerance=1e-5, arms=arms,
                              what="training error above PCA's (the optimum), relative"),)
    return checks


AE_ARMS = ("deep-ae-30", "shallow-ae-1m", "deep-ae-small", "shallow-ae-small", "linear-ae-30")
TUNED_ALIKE = TunedAlike(reason="PCA has no hyperparameter to tune; every autoencoder gets the same protocol")

CLAIMS = (
    Claim(
        id="AE-PCA-30",
        quote=("For Hinton's 2006 study, he pretrained a multi-layer autoencoder with a stack of RBMs … The resulting "
               "30 dimensions of the code yielded a smaller reconstruction error compared to the first 30 components "
               "of a principal component analysis (PCA), …"),
        article=ARTICLE, section="Dimensionality reduction", source=HINTON,
        source_numbers="MNIST, average squared error per test image: deep AE 3.00, logistic PCA 8.01, PCA 13.87.",
        measure=("Summed squared error per Fashion-MNIST test image (pixels in [0, 1]) of a 784-512-256-128-30 ReLU "
                 f"AE (linear code, sigmoid output, no pretraining; {PROTOCOL}) and of PCA-30, both fitted on the "
                 "same training images."),
        test=Better("test_sse", "deep-ae-30", "pca-30", lower_is_better=True),
        checks=(*AE_CHECKS("deep-ae-30"), TUNED_ALIKE),
        notes=lambda runs: notes.ratio_note(runs) + notes.plateau_note("deep-ae-30")(runs),
    ),
    Claim(
        id="AE-LIN-SUBSPACE",
        quote=SUBSPACE_QUOTE, article=ARTICLE, section="Dimensionality reduction › Principal component analysis",
        source=BALDI, source_numbers="a theorem: at the optimum the principal angles are exactly 0.",
        measure=("Largest principal angle (degrees) between the column space of a trained linear single-layer AE's "
                 "decoder and the top-p PCA subspace of the same centred training data; digits and Fashion-MNIST "
                 "(a training subset) with p = 5, 10, 30; full-batch Adam, step size annealed to 0, except Fashion-"
                 "MNIST at p = 30, trained by alternating least squares (each layer's exact optimum given the other, "
                 "in turn): its relative eigengaps go down to 0.7%, and Adam reached the optimum for 3 of 4 seeds "
                 "tried, the 4th stalled by a saddle 83° off (studies/ae_vs_pca/settings.py). Every run must end at "
                 "the optimum (training error within 1e-5 of PCA's, gradient ~0), whatever its solver."),
        test=Bound("max_angle_deg", 5.0, side="below", over=SUBSPACE_ARMS),
        checks=SUBSPACE_CHECKS(*SUBSPACE_ARMS, optimum=True),
        notes=notes.eigengap_note,
    ),
    Claim(
        id="AE-LIN-NONORTHOGONAL",
        quote=NOT_ORTHO_QUOTE, article=ARTICLE, section="Dimensionality reduction › Principal component analysis",
        source=BALDI,
        source_numbers=("a theorem: any invertible mixing C of the top-p directions is optimal, so nothing forces "
                        "orthogonality."),
        measure=("Largest |cosine| between two distinct decoder columns of the trained linear AE (0 = orthogonal); "
                 "'generally not orthogonal' is pre-registered as a mean above 0.1 in every configuration."),
        test=Bound("max_abs_cos", 0.1, side="above", over=SUBSPACE_ARMS),
        checks=SUBSPACE_CHECKS(*SUBSPACE_ARMS, optimum=True),
        notes=notes.nonortho_note(SUBSPACE_ARMS, {"digits": 64, "fashion": trials.PIXELS}),
    ),
    Claim(
        id="AE-LIN-SVD",
        quote=NOT_ORTHO_QUOTE, article=ARTICLE, section="Dimensionality reduction › Principal component analysis",
        source=BALDI,
        source_numbers=("Plaut 2018 recovers the loading vectors as the left singular vectors of the decoder, training "
                        "with weight decay; Kunin et al. 2019 prove that this needs the weight decay (without it any "
                        "invertible mixing of the code is optimal and the SVD gives an arbitrary basis)."),
        measure=("Recovery from the weights alone: the largest angle (degrees), over all p directions, between the "
                 "left singular vectors of the decoder and the principal directions, for linear AEs trained with "
                 "weight decay λ = λp/2 (Plaut's training; digits p = 5, 10, 30, Fashion-MNIST p = 10). The same "
                 "construction on the AEs without weight decay, and recovery with the data, are shown beside it."),
        test=Bound("weights_svd_max_angle_deg", 5.0, side="below", over=L2_ARMS),
        checks=SUBSPACE_CHECKS(*L2_ARMS),
        notes=notes.svd_constructions_note,
    ),
    Claim(
        id="AE-SIGMOID-PCA",
        quote=("If linear activations are used, or only a single sigmoid hidden layer, then the optimal solution to "
               "an autoencoder is strongly related to principal component analysis (PCA)."),
        article=ARTICLE, section="Dimensionality reduction › Principal component analysis",
        source="Bourlard & Kamp 1988, Biol. Cybern. 59:291",
        source_numbers="a theorem: with linear outputs, sigmoid hidden units cannot beat the PCA projection.",
        measure=("Test squared error of a 64-10-64 AE with sigmoid hidden units and linear outputs on centred digits, "
                 "divided by PCA-10's; 'strongly related' is pre-registered as equivalence: the ratio within "
                 f"1 ± {EQUIVALENCE_MARGIN:g}."),
        test=Within("sse_ratio_to_pca", 1.0, EQUIVALENCE_MARGIN, over=("sigmoid-digits-p10",)),
        checks=SUBSPACE_CHECKS("sigmoid-digits-p10"),
    ),
    Claim(
        id="AE-DEPTH-SMALL",
        quote=DEPTH_QUOTE, article=ARTICLE, section="Advantages of depth", source=HINTON,
        source_numbers=DEPTH_SOURCE_NUMBERS,
        measure=("Test squared error per image of a deep (784-240-120-60-30, mirrored) and a shallow (784-278-30, "
                 "mirrored) ReLU AE, no pretraining, both ~454k parameters: the smallest deep AE of this depth and "
                 "taper with no ReLU layer narrower than twice the code (what it takes to contain the linear AE of "
                 f"its code); {PROTOCOL}; same data."),
        test=Better("test_sse", "deep-ae-small", "shallow-ae-small", margin=DEPTH_MARGIN),
        checks=(*AE_CHECKS("deep-ae-small", "shallow-ae-small"), TUNED_ALIKE),
        notes=lambda runs: notes.plateau_note("deep-ae-small", "shallow-ae-small")(runs) + notes.lr_pilot_note(runs),
    ),
    Claim(
        id="AE-DEPTH-1M",
        quote=DEPTH_QUOTE, article=ARTICLE, section="Advantages of depth", source=HINTON,
        source_numbers=DEPTH_SOURCE_NUMBERS,
        measure=("Test squared error per image of the 784-512-256-128-30 deep AE (1.14M parameters) and a shallow AE "
                 f"with one hidden layer of 699 units per side (1.14M parameters), no pretraining; {PROTOCOL}; "
                 "same data."),
        test=Better("test_sse", "deep-ae-30", "shallow-ae-1m", margin=DEPTH_MARGIN),
        checks=(*AE_CHECKS("deep-ae-30", "shallow-ae-1m"), TUNED_ALIKE),
        notes=lambda runs: notes.plateau_note("deep-ae-30", "shallow-ae-1m")(runs) + notes.lr_pilot_note(runs),
    ),
    Claim(
        id="AE-DEPTH-LINEAR",
        quote=DEPTH_QUOTE, article=ARTICLE, section="Advantages of depth", source=HINTON,
        source_numbers=DEPTH_SOURCE_NUMBERS,
        measure=("Test squared error per image of the smallest deep AE (784-240-120-60-30, 454k parameters, no "
                 "pretraining) and a linear 784-30-784 AE (sigmoid output, 48k parameters). Not parameter-matched: "
                 "a linear AE's only width is its code, so it cannot use more parameters; what is compared is the "
                 f"linear AE against the smallest deep AE without a bottleneck, {PROTOCOL}, same data."),
        test=Better("test_sse", "deep-ae-small", "linear-ae-30", margin=DEPTH_MARGIN),
        checks=(*AE_CHECKS("deep-ae-small", "linear-ae-30"), TUNED_ALIKE),
        notes=lambda runs: (notes.plateau_note("deep-ae-small", "linear-ae-30")(runs) + notes.depth_linear_note(runs)
                            + notes.lr_pilot_note(runs)),
    ),
    Claim(
        id="AE-DEPTH-SHRINKS",
        quote=DEPTH_QUOTE, article=ARTICLE, section="Advantages of depth", source=HINTON,
        source_numbers=(f"The article's sentence has no size qualifier; its source has one: {HINTON_QUALIFIER} "
                        f"This claim tests the source's qualifier beside the sentence's three depth claims. "
                        f"{HINTON_PRETRAINING}"),
        measure=("The deep AE's advantage over the parameter-matched shallow AE (shallow − deep test squared error "
                 "per image) at ~454k parameters minus the same advantage at ~1.14M, per replicate; the source "
                 "predicts a positive difference."),
        test=Shrinks("test_sse", smaller=("deep-ae-small", "shallow-ae-small"), larger=("deep-ae-30", "shallow-ae-1m")),
        checks=(*AE_CHECKS("deep-ae-small", "shallow-ae-small", "deep-ae-30", "shallow-ae-1m"), TUNED_ALIKE),
        notes=lambda runs: notes.shrinks_note(runs) + notes.lr_pilot_note(runs),
    ),
)


# -- budgets -------------------------------------------------------------------------------------
def check_budget(budget: Budget) -> None:
    """Fashion-MNIST has 60,000 training images: tuning draws n_train + n_val of them. Alternating least squares
    solves a plain linear AE only: an arm it names must be one of ``subspace_arms`` (no weight decay, linear code)."""
    if budget["n_train"] + budget["n_val"] > 60_000 or budget["subspace_n_fashion"] > 60_000:
        raise StudyDeclarationError(
            f"budget asks for {budget['n_train']} + {budget['n_val']} training images and "
            f"{budget['subspace_n_fashion']} for the Fashion-MNIST linear AEs; Fashion-MNIST has 60000")
    plain = [name for name, _, _ in budget["subspace_arms"]]
    if not set(budget["als_arms"]) <= set(plain) or budget["als_sweeps"] < 1:
        raise StudyDeclarationError(
            f"als_arms must name plain linear AEs among subspace_arms ({', '.join(plain)}) and als_sweeps must be "
            f">= 1; got als_arms={budget['als_arms']}, als_sweeps={budget['als_sweeps']}")


# the committed reports' settings (the quick tier is these, smaller)
STANDARD = Settings(
    n_train=55_000, n_val=5_000, max_epochs=80, ae_replicates=12, curve_codes=(), curve_replicates=1,
    subspace_steps=3000, subspace_steps_fashion=6000, subspace_n_fashion=1000, other_replicates=6)


STUDY = register(Study(
    name="ae-vs-pca",
    title="Autoencoders versus PCA",
    summary=__doc__.split("\n\n", 1)[1],
    claims=CLAIMS,
    arms=arms,
    run_trial=trials.run_trial,
    figures=figures.figures,
    datasets=(trials.FASHION, trials.DIGITS),
    # every autoencoder tuned alike where a tier tunes (its search runs the replicates' own plateau protocol)
    tuning=Tuning(arms=AE_ARMS, space=lr_space, metric="val_sse"),
    root_seed=2006,
    check=check_budget,
    budgets={
        # machinery only: tiny data, a few epochs, two replicates
        "smoke": Budget(replicates=2, tuning_trials=1, settings=Settings(
            n_train=512, n_val=256, max_epochs=3, ae_replicates=2, curve_codes=(), curve_replicates=1,
            subspace_steps=50, subspace_steps_fashion=50, subspace_n_fashion=500)),
        # a preview within 8 minutes on 2 cores: standard's protocol at a fixed 3 seeds, on 6000 training images
        # (2000 validation) and half its Fashion-MNIST subspace set (500); its settle lines say what would decide
        # the claims it leaves open. On 7500 + 2500 images it took 477 s here: too close to the 8 minutes
        "quick": Budget(replicates=3, tuning_trials=0, settings=replace(
            STANDARD, n_train=6000, n_val=2000, ae_replicates=3, subspace_n_fashion=500)),
        # real verdicts on 2 cores (the committed reports): every AE to its validation plateau on the whole training
        # set (55k images; the last 5k are the validation split), as Hinton & Salakhutdinov trained on all of theirs
        # (it was 15k + 5k before, which left open whether the deep AEs lacked data), no tuning (the plateau
        # schedule starts every arm at Adam's default and decays it);
        # sequential, looks at 3, 6, 12 and 20 seeds, an arm going on only while an open claim reads it: the six
        # Fashion-MNIST AE and PCA arms up to 12 (`ae_replicates`), the six plain linear AEs of AE-LIN-SUBSPACE and
        # AE-LIN-NONORTHOGONAL up to 20, every other arm up to 6 (`other_replicates`; its claims keep their looks at
        # 3 and 6). Sized by the settle lines (the observed effect taken as the truth, 80% power, one-sided 0.0056)
        # of the runs that stopped short: at most 6 seeds (looks 3, 6) left AE-DEPTH-SMALL and AE-DEPTH-1M
        # inconclusive, about 13 and 11 seeds short, so their arms went to 12, what the committed run affords (~9 min
        # a seed for the four depth arms; AE-DEPTH-SHRINKS would need ~28); the 12-seed run (3beff41) left
        # AE-LIN-NONORTHOGONAL inconclusive at its 6, about 19 short, so its arms go to 20 (~1 min a seed for the
        # six). At a fixed 3, AE-DEPTH's verdicts sat near their level and moved with the machine's floats (p 0.07-0.09
        # on one CPU, 0.01-0.03 on another)
        "standard": Budget(replicates=20, looks=(3, 6, 12, 20), tuning_trials=0, settings=STANDARD),
        # near the paper's scale: 50k training images (10k validation), each AE's learning rate tuned by TPE on
        # runs of the replicates' own length; sequential like standard, and no arm gets fewer seeds than there
        # (the AE, PCA and plain linear arms up to 20, every other arm up to 10)
        "full": Budget(replicates=20, looks=(5, 10, 20), tuning_trials=12, settings=Settings(
            n_train=50_000, n_val=10_000, max_epochs=200, ae_replicates=20, curve_codes=(2, 4, 8, 16, 60),
            curve_replicates=3, subspace_steps=10_000, subspace_steps_fashion=20_000, subspace_n_fashion=10_000,
            other_replicates=10)),
    },
))
