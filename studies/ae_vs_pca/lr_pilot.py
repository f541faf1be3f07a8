"""Is Adam's 1e-3 fair to every depth? A one-seed pilot, outside the study's
design, that trains the AE-DEPTH arms (and the linear AE) at a ladder of
starting learning rates with the study's own trial code and protocol (the
tier's training and validation images, the plateau schedule: patience, one
tenfold decay, patience again) and reports each run's best validation error
-- never a test error (the trials run in their tuning phase, where the test
slot holds the validation split).

    python -m studies.ae_vs_pca.lr_pilot --lrs 3e-4,1e-3,3e-3 [--budget standard]

The committed reports run every arm at 1e-3 (``Settings.lr``); the note
string ``notes.LR_PILOT``, shown in the AE-DEPTH claims' notes, quotes this
pilot's numbers. Replicate 0's images and seeds, the same for every arm and
rate.
"""
from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
from pathlib import Path

ARMS = ("linear-ae-30", "shallow-ae-small", "deep-ae-small", "shallow-ae-1m", "deep-ae-30")


@dataclass(frozen=True)
class PilotRun:
    arm: str
    lr: float
    best_val_sse: float
    epochs: int


def pilot_run(arm_name: str, lr: float, budget_name: str, scratch: Path) -> PilotRun:
    """One run of the study's trial for ``arm_name`` at starting rate ``lr``, on replicate 0's data."""
    from dataclasses import replace

    import torch

    from harness.context import TrialContext
    from harness.seeding import trial_seeds
    from studies.ae_vs_pca import STUDY, trials

    budget = STUDY.budget(budget_name)
    arm = next(a for a in STUDY.design(budget_name) if a.name == arm_name)
    arm = replace(arm, config={**arm.config, "lr": lr})
    ctx = TrialContext(STUDY.name, arm, 0, budget_name, budget, trial_seeds(STUDY.root_seed, STUDY.name, 0,
                                                                             arm.seed_group),
                       "cpu", torch.get_num_threads(), scratch, phase="tune", show_progress=False)
    result = trials.run_trial(ctx)
    return PilotRun(arm_name, lr, result["val_sse"], len(ctx.curve("val_sse")))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m studies.ae_vs_pca.lr_pilot", description=__doc__.split("\n\n")[0])
    parser.add_argument("--lrs", default="3e-4,1e-3,3e-3", help="comma-separated starting learning rates")
    parser.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated arms (default: {','.join(ARMS)})")
    parser.add_argument("--budget", default="standard", help="the tier whose images and schedule the runs use")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        for arm in args.arms.split(","):
            for lr in (float(v) for v in args.lrs.split(",")):
                r = pilot_run(arm, lr, args.budget, Path(scratch))
                print(f"{r.arm:18s} lr {r.lr:<7g} best validation squared error {r.best_val_sse:.3f}  "
                      f"epochs {r.epochs:3d}", flush=True)


if __name__ == "__main__":
    main()
