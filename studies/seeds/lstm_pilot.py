"""Does HP-MOMENTUM-BATCH's LSTM train, and what does a trial cost? A pilot
outside the study's design, behind ``Settings.lstm_forget_bias`` and the
tiers' ``lstm_max_epochs`` / ``lstm_patience``.

    python -m studies.seeds.lstm_pilot --trials 24 --forget-bias default,1 [--max-epochs 60] [--patience 10]

For each forget-gate bias (``default``: torch's own small uniform init), the same ``--trials`` random configurations of
``lstm_space`` (Optuna's random sampler, seed 1), each trained by the study's
own trial code (``trials.run_sequence`` in its tuning phase: the searches'
training and validation signals, early stopping on validation loss, the best
epoch's weights kept) with seeds no study run uses. It prints each trial's
configuration, how it ended (stopped by patience, or at the cap), its
validation accuracy and seconds, and per bias how many trials ended at chance
(validation accuracy below ``search_checks.AT_CHANCE``), how many at the cap, and the
mean seconds a trial. It reads validation data only and logs nothing.

Stop 37 chose the forget bias (1) and the 60-epoch cap from ad-hoc versions
of this check (at torch's default init 427 of stop 36's 960 search trials had
ended at chance); ``STANDARD``'s comment quotes this pilot's numbers.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

PILOT_REPLICATES = 100_000  # trial i uses the seeds of replicate PILOT_REPLICATES + i: no study run has them


@dataclass(frozen=True)
class PilotTrial:
    params: dict
    forget_bias: float | None
    val_accuracy: float
    epochs: int
    stopped_early: bool
    seconds: float


def configurations(n: int, seed: int = 1) -> list[dict]:
    """``n`` random draws from ``lstm_space``, as the study's random searches draw them."""
    import optuna

    from studies.seeds import lstm_space

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    drawn = []
    for _ in range(n):
        trial = study.ask()
        drawn.append(lstm_space(trial))
        study.tell(trial, 0.0)
    return drawn


def pilot_trial(i: int, params: dict, forget_bias: float | None, max_epochs: int, patience: int, budget_name: str,
                scratch: Path) -> PilotTrial:
    """Search trial ``i`` of the pilot: the study's LSTM trial at ``params`` and the given bias, cap and patience."""
    import torch

    from harness.context import TrialContext
    from harness.seeding import trial_seeds
    from studies.seeds import STUDY, trials

    budget = STUDY.budget(budget_name)
    arm = next(a for a in STUDY.design(budget_name) if a.config.get("kind") == "lstm")
    arm = replace(arm, config={**arm.config, "forget_bias": forget_bias, "epochs": max_epochs, "patience": patience})
    ctx = TrialContext(STUDY.name, arm, PILOT_REPLICATES + i, budget_name, budget,
                       trial_seeds(STUDY.root_seed, STUDY.name, PILOT_REPLICATES + i, arm.seed_group),
                       "cpu", torch.get_num_threads(), scratch, phase="tune", hyperparams=params, show_progress=False)
    start = time.perf_counter()
    result = trials.run_sequence(ctx)
    return PilotTrial(params, forget_bias, result["val_accuracy"], int(result["epochs_trained"]),
                      bool(result["stopped_early"]), time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    from studies.seeds.search_checks import AT_CHANCE

    parser = argparse.ArgumentParser(prog="python -m studies.seeds.lstm_pilot", description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=24, help="random configurations of lstm_space")
    parser.add_argument("--forget-bias", default="default,1",
                        help="comma-separated forget-gate biases; default: torch's init")
    parser.add_argument("--max-epochs", type=int, default=60, help="each run's epoch cap")
    parser.add_argument("--patience", type=int, default=10, help="epochs without a better validation loss")
    parser.add_argument("--budget", default="standard", help="the tier whose search data the runs use")
    args = parser.parse_args(argv)
    if args.trials < 1 or not 1 <= args.patience <= args.max_epochs:
        parser.error("need --trials >= 1 and 1 <= --patience <= --max-epochs")
    drawn = configurations(args.trials)
    with tempfile.TemporaryDirectory() as scratch:
        for bias in (None if v == "default" else float(v) for v in args.forget_bias.split(",")):
            label = "default" if bias is None else f"{bias:g}"
            runs = []
            for i, params in enumerate(drawn):
                r = pilot_trial(i, params, bias, args.max_epochs, args.patience, args.budget, Path(scratch))
                runs.append(r)
                print(f"bias {label}  lr {params['lr']:.1e}  hidden {params['hidden_size']:3d}  momentum "
                      f"{params['momentum']:.2f}  batch {params['batch_size']:3d}: "
                      f"{'stopped' if r.stopped_early else 'at the cap'} after {r.epochs:3d} epochs, validation "
                      f"accuracy {r.val_accuracy:.3f}, {r.seconds:.1f} s", flush=True)
            print(f"bias {label}: {sum(r.val_accuracy < AT_CHANCE for r in runs)} of {len(runs)} at chance, "
                  f"{sum(not r.stopped_early for r in runs)} at the {args.max_epochs}-epoch cap, mean "
                  f"{sum(r.seconds for r in runs) / len(runs):.1f} s a trial", flush=True)


if __name__ == "__main__":
    main()
