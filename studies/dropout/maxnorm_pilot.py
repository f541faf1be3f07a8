"""How DO-MAXNORM's bounds were chosen: a one-seed pilot, outside the study's
design, that trains the standard tier's dropout MLP with each candidate bound c
(and learning rate) and reports the share of hidden units whose incoming
weights end at the bound -- nothing about test error. The sweep
(``studies.dropout.MAXNORM_SWEEP``) is every candidate whose share reached a
half (the ``binds`` check's line).

    python -m studies.dropout.maxnorm_pilot --lrs 0.05 --bounds 0.4,0.5,0.6,0.75,1

The training follows the study's MLP protocol (``Settings``: 784-512-512-10
ReLU, retain 0.8/0.5, SGD with momentum, batch 128; patience on validation
error, one tenfold decay, then stop) in a plain loop, on the standard tier's
5000 training and 5000 validation images of one subsample.
"""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

INIT_SEED, SUBSAMPLE_SEED = 0, 123  # the seeds of the pilot whose numbers studies/dropout/__init__.py quotes


@dataclass(frozen=True)
class PilotRun:
    lr: float
    c: float | None            # None: no bound
    best_val_error: float
    epochs: int
    median_row_norm: float
    at_bound: float            # share of hidden rows within 0.1% of c (NaN without a bound)
    diverged: bool = False


def pilot_run(x, y, xv, yv, lr: float, c: float | None, *, max_epochs: int = 150, seed: int = INIT_SEED) -> PilotRun:
    import torch

    from harness.dropnets import apply_max_norm
    from harness.models import MODELS
    from studies.dropout.settings import Settings

    s = Settings  # the protocol defaults (the same in every tier)
    torch.manual_seed(seed)
    model = MODELS.get("dropout-mlp")(hidden=s.hidden, p_input=s.p_input, p_hidden=s.p_hidden)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=s.momentum)
    order = torch.Generator().manual_seed(seed)
    best, waited, decays, epoch = math.inf, 0, 0, 0
    for epoch in range(1, max_epochs + 1):
        model.train()
        for batch in torch.randperm(len(y), generator=order).split(s.batch):
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
            if c:
                with torch.no_grad():
                    apply_max_norm(model, c)
        if not torch.isfinite(loss):
            return PilotRun(lr, c, math.nan, epoch, math.nan, math.nan, diverged=True)
        model.eval()
        with torch.no_grad():
            error = float((model(xv).argmax(1) != yv).float().mean())
        if error < best:
            best, waited = error, 0
            continue
        waited += 1
        if waited >= s.patience:  # a plateau: decay the step size once, stop at the next
            if decays >= s.lr_decays:
                break
            decays, waited = decays + 1, 0
            for group in optimizer.param_groups:
                group["lr"] *= 0.1
    rows = torch.cat([m.weight.detach().norm(dim=1) for m in model.modules()
                      if isinstance(m, torch.nn.Linear) and m.out_features in s.hidden])
    share = float((rows >= c * (1 - 1e-3)).float().mean()) if c else math.nan
    return PilotRun(lr, c, best, epoch, float(rows.median()), share)


def load(n_train: int = 5000, n_val: int = 5000, seed: int = SUBSAMPLE_SEED):
    import numpy as np
    import torch

    from harness import datasets

    pool = datasets.load("fashion-mnist").subsample(n_train + n_val, seed=seed)
    x = torch.as_tensor(np.array(pool.x_train.reshape(len(pool.y_train), -1), dtype=np.float32))
    y = torch.as_tensor(np.array(pool.y_train, dtype=np.int64))
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m studies.dropout.maxnorm_pilot",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--lrs", default="0.05", help="comma-separated learning rates (default: the study's 0.05)")
    parser.add_argument("--bounds", default="0,0.4,0.5,0.6,0.75,1", help="comma-separated c; 0 = no bound")
    parser.add_argument("--n-train", type=int, default=5000)
    parser.add_argument("--n-val", type=int, default=5000)
    args = parser.parse_args(argv)
    data = load(args.n_train, args.n_val)
    for lr in (float(v) for v in args.lrs.split(",")):
        for c in (float(v) for v in args.bounds.split(",")):
            r = pilot_run(*data, lr, c or None)
            bound = "none" if r.c is None else f"{r.c:g}"
            print(f"lr {r.lr:g}  c {bound:>5}  validation error {r.best_val_error:.4f}  epochs {r.epochs:3d}  "
                  f"median row norm {r.median_row_norm:.3f}  at the bound {r.at_bound:.1%}"
                  + ("  (diverged)" if r.diverged else ""), flush=True)


if __name__ == "__main__":
    main()
