"""Hyperparameter importance from the tracking store, with bootstrap CIs.

A search's trials are MLflow runs (phase "tune") whose params carry the
hyperparameters as ``hp.NAME`` and whose metrics carry the objective. They are
rebuilt into an in-memory Optuna study (the distributions come from the
study's own search space, drawn once on a throwaway trial) so that Optuna's
evaluators -- fANOVA (Hutter et al. 2014, the method of Greff et al.'s LSTM
study) and PED-ANOVA (Optuna 5's default) -- run on exactly what was logged.
Repeating the search with other sampler seeds gives one importance vector per
search; the CI of the mean importance is a percentile bootstrap over searches.
"""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

EVALUATORS = ("fanova", "ped-anova")


def _quiet() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one in-memory study per search: no INFO line each


def search_space(space: Callable[[Any], Mapping[str, Any]]) -> dict[str, Any]:
    """The Optuna distributions that ``space(trial)`` suggests from."""
    import optuna

    _quiet()
    trial = optuna.create_study().ask()
    space(trial)
    return dict(trial.distributions)


def _value(distribution, text: str) -> Any:
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(distribution, CategoricalDistribution):
        return next(c for c in distribution.choices if str(c) == str(text))
    if isinstance(distribution, IntDistribution):
        return int(float(text))
    return float(text)


def rebuild(runs: "pd.DataFrame", distributions: Mapping[str, Any], metric: str, direction: str):
    """An in-memory Optuna study holding the finished runs as trials."""
    import optuna

    study = optuna.create_study(direction=direction)
    column = f"metrics.{metric}"
    for _, row in runs.iterrows():
        if row.get("status") != "FINISHED" or column not in runs.columns or not np.isfinite(row[column]):
            continue
        params = {name: _value(d, row[f"params.hp.{name}"]) for name, d in distributions.items()}
        study.add_trial(optuna.trial.create_trial(params=params, distributions=dict(distributions),
                                                  value=float(row[column])))
    return study


def importances(study, evaluator: str, seed: int = 0, of_total: bool = False) -> dict[str, float]:
    """Importance of every hyperparameter, normalised to sum 1 over them; or,
    with ``of_total`` (fANOVA only), each one's main-effect variance as a
    fraction of the total variance of the objective (Hutter et al. 2014's
    definition: interactions stay in the denominator, so the shares need not
    sum to 1). Normalising rescales what the forest fits to noise as well: on
    an objective that nothing explains, fANOVA's normalised shares still sum
    to 1, so its top shares stay high however many trials there are."""
    import optuna
    from optuna.importance import FanovaImportanceEvaluator, PedAnovaImportanceEvaluator

    if evaluator not in EVALUATORS:
        raise ValueError(f"unknown importance evaluator {evaluator!r}; known: {', '.join(EVALUATORS)}")
    if of_total and evaluator != "fanova":
        raise ValueError(f"{evaluator} has no fraction of the total variance: only fanova can give of_total shares")
    judge = FanovaImportanceEvaluator(seed=seed) if evaluator == "fanova" else PedAnovaImportanceEvaluator()
    names = list(study.trials[0].distributions) if study.trials else []
    with warnings.catch_warnings():  # Optuna flags `normalize` experimental; it has been there since 3.0
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        result = optuna.importance.get_param_importances(study, evaluator=judge, normalize=not of_total)
    return {name: float(result.get(name, 0.0)) for name in names}


_CACHE: dict[tuple, dict[str, dict[str, float]]] = {}


def per_search(runs: "pd.DataFrame", distributions: Mapping[str, Any], metric: str, direction: str,
               evaluator: str, min_trials: int = 4, shuffle_seed: int | None = None,
               of_total: bool = False, permute: str | None = None) -> dict[str, dict[str, float]]:
    """Importances per search (one search = one tuned arm), for searches with
    at least ``min_trials`` finished trials. Cached on the runs used, because
    the claim tests, the notes and the figures all ask for the same numbers.

    ``shuffle_seed``: a noise control, permuting within each search (with this
    seed) either the objective values among its trials, so no hyperparameter
    matters and whatever importance the evaluator still finds is its bias on
    so few trials; or, with ``permute`` naming a hyperparameter, only that
    hyperparameter's values, the objective and the others kept, so it cannot
    matter while the others matter as much as they do, and its importance is
    what the evaluator gives a hyperparameter of no effect in these data.
    A search's rows are put in trial order (``replicate``) first, so that a
    permutation, and the forest fANOVA fits, do not depend on the order in
    which the store returned them.
    ``of_total``: as ``importances``."""
    if permute is not None and (shuffle_seed is None or permute not in distributions):
        raise ValueError(f"permute={permute!r} needs a shuffle_seed and one of the searched hyperparameters "
                         f"({', '.join(distributions)})")
    key = (tuple(sorted(runs["run_id"])), metric, direction, evaluator, tuple(distributions), shuffle_seed, of_total,
           permute)
    if key not in _CACHE:
        out = {}
        rng = np.random.default_rng(shuffle_seed) if shuffle_seed is not None else None
        column = f"metrics.{metric}" if permute is None else f"params.hp.{permute}"
        for arm, rows in sorted(runs.groupby("arm")):
            if "replicate" in rows:
                rows = rows.sort_values("replicate", kind="stable")
            if rng is not None and column in rows:
                rows = rows.copy()
                rows[column] = rng.permutation(rows[column].to_numpy())
            study = rebuild(rows, distributions, metric, direction)
            if len(study.trials) >= min_trials:
                out[arm] = importances(study, evaluator, of_total=of_total)
        _CACHE[key] = out
    return _CACHE[key]


def bootstrap_mean(vectors: list[dict[str, float]], n_boot: int = 2000, seed: int = 0
                   ) -> dict[str, tuple[float, float, float]]:
    """Mean importance per hyperparameter over searches, with a 95% percentile
    bootstrap CI (resampling whole searches): name -> (mean, low, high)."""
    if not vectors:
        return {}
    names = list(vectors[0])
    table = np.array([[v.get(n, 0.0) for n in names] for v in vectors])
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(vectors), size=(n_boot, len(vectors)))
    means = table[picks].mean(1)
    low, high = np.percentile(means, [2.5, 97.5], axis=0)
    return {n: (float(table[:, i].mean()), float(low[i]), float(high[i])) for i, n in enumerate(names)}
