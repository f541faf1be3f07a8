"""How many trials HP-MOMENTUM-BATCH's LSTM searches need, on a synthetic
objective (no training): the design computation behind the standard tier's
``tuning_trials`` and ``lstm_searches``.

Each simulated search runs an Optuna sampler (random or TPE, as the study's
searches do) over ``lstm_space`` on an objective that depends on the learning
rate (an optimum inside its range) and the hidden size only, plus Gaussian
noise, so momentum and batch size have no effect. ``--shares`` sets the
variance that lr and hidden size explain under random sampling (TPE
concentrates on good learning rates, so there lr explains less and noise
more). For each number of trials it prints what fANOVA (fractions of the total
variance, as the test reads) gives the two null hyperparameters in the data,
with their own values permuted within the search (the `noise-control` check,
averaged over ``--permutations`` as the check averages its), and with the
objective shuffled (nothing matters): mean and SD over searches; and the
power of the claim's one-sided t-test over ``--n-searches`` searches (half
of each sampler) to show a null hyperparameter below the 0.1 bound.

    python -m studies.seeds.control_design --trials 60 120 200 --searches 12

The first design (stop 35: lr 0.6 and hidden size 0.13, random sampling only)
chose 60 trials; the searches it gave explained less (lr 0.35, hidden size
0.16, mean over the 8 searches) and their control read 0.134, above the bound.
The second (stop 36) took random searches of 120 trials of 15 epochs; the
third trains every run with early stopping, three times the cost a trial, and
takes 60 (``STANDARD``'s comment has the numbers).
"""
from __future__ import annotations

import argparse

import numpy as np

NULL = ("momentum", "batch_size")
SHARES = {"lr": 0.35, "hidden_size": 0.16}  # the 8 searches of stop 35 (random sampling's shares; the rest noise)
BOUND = 0.10  # MINOR_IMPORTANCE
BEST_LOG10_LR = -2.5  # the objective's best learning rate, about 3e-3
SAMPLERS = ("random", "tpe")


def _standardisers(size: int = 20_000, seed: int = 0) -> dict[str, tuple[float, float]]:
    """Mean and SD of each signal term over ``lstm_space``'s ranges sampled at
    random (log-uniform, as the space draws them), so that ``SHARES`` are the
    variance shares under random sampling."""
    from harness.importance import search_space
    from studies.seeds import lstm_space

    space = search_space(lstm_space)
    rng = np.random.default_rng(seed)
    lr = rng.uniform(np.log10(space["lr"].low), np.log10(space["lr"].high), size)  # log10 lr
    # log2 hidden size (drawn continuous, the space rounds to integers: close enough for a scale)
    width = rng.uniform(np.log2(space["hidden_size"].low), np.log2(space["hidden_size"].high), size)
    bowl = -(lr - BEST_LOG10_LR) ** 2
    return {"lr": (bowl.mean(), bowl.std()), "hidden_size": (width.mean(), width.std())}


def objective_factory(shares: dict[str, float], rng: np.random.Generator):
    """A synthetic objective on ``lstm_space``'s trials: lr's bowl and hidden size's slope at their shares."""
    from studies.seeds import lstm_space

    scale = _standardisers()
    noise = np.sqrt(max(1.0 - sum(shares.values()), 0.0))

    def objective(trial) -> float:
        p = lstm_space(trial)
        bowl = -(np.log10(p["lr"]) - BEST_LOG10_LR) ** 2
        signal = (bowl - scale["lr"][0]) / scale["lr"][1] * np.sqrt(shares["lr"]) \
            + (np.log2(p["hidden_size"]) - scale["hidden_size"][0]) / scale["hidden_size"][1] \
            * np.sqrt(shares["hidden_size"])
        return float(signal + rng.normal(0.0, noise))

    return objective


def simulated_search(trials: int, rng: np.random.Generator, sampler: str = "random",
                     shares: dict[str, float] | None = None):
    """(params of each trial, their distributions, objective values) of one search."""
    import optuna

    seed = int(rng.integers(2 ** 31))
    chosen = optuna.samplers.RandomSampler(seed=seed) if sampler == "random" else optuna.samplers.TPESampler(seed=seed)
    study = optuna.create_study(sampler=chosen, direction="maximize")
    study.optimize(objective_factory(shares or SHARES, rng), n_trials=trials)
    done = study.trials
    return [t.params for t in done], dict(done[0].distributions), np.array([t.value for t in done])


def fanova_shares(params, distributions, values) -> dict[str, float]:
    import optuna

    from harness.importance import importances

    study = optuna.create_study()
    for p, v in zip(params, values):
        study.add_trial(optuna.trial.create_trial(params=p, distributions=distributions, value=float(v)))
    return importances(study, "fanova", of_total=True)


def readings(trials: int, searches: int, seed: int = 0, sampler: str = "random", permutations: int = 1,
             shares: dict[str, float] | None = None) -> dict[str, np.ndarray]:
    """reading -> array (searches x NULL) of the null hyperparameters' shares;
    "own values permuted" is the mean over ``permutations`` permutations."""
    rng = np.random.default_rng(seed)
    out = {"in the data": [], "own values permuted": [], "objective shuffled": []}
    for _ in range(searches):
        params, distributions, values = simulated_search(trials, rng, sampler, shares)
        data = fanova_shares(params, distributions, values)
        shuffled = fanova_shares(params, distributions, rng.permutation(values))
        permuted = []
        for name in NULL:
            reads = []
            for _ in range(permutations):
                order = rng.permutation(trials)
                moved = [dict(p, **{name: params[j][name]}) for p, j in zip(params, order)]
                reads.append(fanova_shares(moved, distributions, values)[name])
            permuted.append(float(np.mean(reads)))
        out["in the data"].append([data[n] for n in NULL])
        out["own values permuted"].append(permuted)
        out["objective shuffled"].append([shuffled[n] for n in NULL])
    return {k: np.array(v) for k, v in out.items()}


def power(values: np.ndarray, n: int, alpha: float, bound: float = BOUND) -> float:
    """Power of the one-sided one-sample t-test over ``n`` searches that the
    mean lies below ``bound``, when searches read like ``values`` (their mean
    and SD; the harness's noncentral-t power)."""
    from harness.stats import paired_t_power

    sd = float(np.std(values, ddof=1))
    if sd == 0:
        return float(values.mean() < bound)
    return paired_t_power(n, (float(values.mean()) - bound) / sd, alpha, "less")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[60, 120, 200])
    parser.add_argument("--searches", type=int, default=12, help="simulated searches per sampler and number of trials")
    parser.add_argument("--samplers", nargs="+", choices=SAMPLERS, default=list(SAMPLERS))
    parser.add_argument("--shares", type=float, nargs=2, default=[SHARES["lr"], SHARES["hidden_size"]],
                        metavar=("LR", "HIDDEN"), help="variance shares of lr and hidden size under random sampling")
    parser.add_argument("--permutations", type=int, default=3, help="permutations averaged in the control")
    parser.add_argument("--n-searches", type=int, default=8, help="searches the real test has (power)")
    parser.add_argument("--alpha", type=float, nargs="+", default=[0.0125, 0.05 / 12],
                        help="one-sided levels for the power (a Holm step and the study's strictest)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if min(args.trials) < 4 or args.searches < 2 or args.permutations < 1 or args.n_searches < 2:
        parser.error("--trials must be >= 4 (fANOVA's least), --searches and --n-searches >= 2, --permutations >= 1")
    if min(args.shares) < 0 or sum(args.shares) >= 1:
        parser.error("--shares must be >= 0 and sum to less than 1 (the rest is noise)")
    from harness.importance import _quiet

    _quiet()
    shares = dict(zip(("lr", "hidden_size"), args.shares))
    print(f"fANOVA share of the total variance of a hyperparameter of no effect (mean, SD over {args.searches} "
          f"searches per sampler); lr and hidden size explain {shares['lr']:g} and {shares['hidden_size']:g} "
          f"under random sampling; the control averages {args.permutations} permutations")
    for trials in args.trials:
        pooled: dict[str, list[np.ndarray]] = {}
        for sampler in args.samplers:
            table = readings(trials, args.searches, args.seed, sampler, args.permutations, shares)
            for reading, values in table.items():
                pooled.setdefault(reading, []).append(values)
                cells = ", ".join(f"{n} {m:.3f} (SD {s:.3f})"
                                  for n, m, s in zip(NULL, values.mean(0), values.std(0, ddof=1)))
                print(f"{trials:4d} trials, {sampler:6s} {reading:20s} {cells}", flush=True)
        data = np.concatenate(pooled["in the data"])
        cells = "; ".join(f"{n} " + ", ".join(f"{power(data[:, i], args.n_searches, a):.0%} at {a:.4g}"
                                               for a in args.alpha) for i, n in enumerate(NULL))
        print(f"{trials:4d} trials, power over {args.n_searches} searches ({' and '.join(args.samplers)}): "
              f"{cells}", flush=True)


if __name__ == "__main__":
    main()
