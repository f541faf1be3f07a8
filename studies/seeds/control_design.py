"""How many trials HP-MOMENTUM-BATCH's LSTM searches need, on a synthetic
objective (no training): the design computation behind the standard tier's
``tuning_trials`` and ``lstm_searches``.

Each simulated search draws its trials from ``lstm_space`` at random; the
objective depends on the learning rate (an optimum inside its range) and the
hidden size only, with variance shares of about 0.6 and 0.13, the rest
Gaussian noise, so momentum and batch size have no effect. For each number of
trials it prints what fANOVA (fractions of the total variance, as the test
reads) gives the two null hyperparameters in the data, with their own values
permuted within the search (the `noise-control` check), and with the
objective shuffled (nothing matters): mean and SD over searches.

    python -m studies.seeds.control_design --trials 20 40 60 --searches 30
"""
from __future__ import annotations

import argparse

import numpy as np

NULL = ("momentum", "batch_size")
SHARES = {"lr": 0.6, "hidden_size": 0.13}  # the rest of the variance is noise


def simulated_search(trials: int, rng: np.random.Generator):
    """(params of each trial, their distributions, objective values) of one random search."""
    import optuna

    from studies.seeds import lstm_space

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=int(rng.integers(2 ** 31))))
    params = []
    for _ in range(trials):
        trial = study.ask()
        lstm_space(trial)
        params.append(trial.params)
    lr = np.log10([p["lr"] for p in params])
    size = np.log2([p["hidden_size"] for p in params])
    bowl = -(lr + 2.5) ** 2  # best near lr = 3e-3
    signal = (bowl - bowl.mean()) / bowl.std() * np.sqrt(SHARES["lr"]) \
        + (size - size.mean()) / size.std() * np.sqrt(SHARES["hidden_size"])
    values = signal + rng.normal(0.0, np.sqrt(1.0 - sum(SHARES.values())), trials)
    return params, dict(trial.distributions), values


def fanova_shares(params, distributions, values) -> dict[str, float]:
    import optuna

    from harness.importance import importances

    study = optuna.create_study()
    for p, v in zip(params, values):
        study.add_trial(optuna.trial.create_trial(params=p, distributions=distributions, value=float(v)))
    return importances(study, "fanova", of_total=True)


def readings(trials: int, searches: int, seed: int = 0) -> dict[str, np.ndarray]:
    """reading -> array (searches x NULL) of the null hyperparameters' shares."""
    rng = np.random.default_rng(seed)
    out = {"in the data": [], "own values permuted": [], "objective shuffled": []}
    for _ in range(searches):
        params, distributions, values = simulated_search(trials, rng)
        data = fanova_shares(params, distributions, values)
        shuffled = fanova_shares(params, distributions, rng.permutation(values))
        permuted = []
        for name in NULL:
            order = rng.permutation(trials)
            moved = [dict(p, **{name: params[j][name]}) for p, j in zip(params, order)]
            permuted.append(fanova_shares(moved, distributions, values)[name])
        out["in the data"].append([data[n] for n in NULL])
        out["own values permuted"].append(permuted)
        out["objective shuffled"].append([shuffled[n] for n in NULL])
    return {k: np.array(v) for k, v in out.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[20, 40, 60])
    parser.add_argument("--searches", type=int, default=30, help="simulated searches per number of trials")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if min(args.trials) < 4 or args.searches < 2:
        parser.error("--trials must be >= 4 (fANOVA's least) and --searches >= 2")
    from harness.importance import _quiet

    _quiet()
    print(f"fANOVA share of the total variance of a hyperparameter of no effect (mean, SD over {args.searches} "
          f"searches); lr and hidden size explain {sum(SHARES.values()):.2f}")
    for trials in args.trials:
        for reading, table in readings(trials, args.searches, args.seed).items():
            cells = ", ".join(f"{n} {m:.3f} (SD {s:.3f})" for n, m, s in zip(NULL, table.mean(0), table.std(0, ddof=1)))
            print(f"{trials:4d} trials, {reading:20s} {cells}", flush=True)


if __name__ == "__main__":
    main()
