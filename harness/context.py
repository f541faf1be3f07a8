"""What a study's trial function sees: its arm, replicate, seeds, budget and
device, plus buffered logging.

Metrics are kept in memory and written by the sweep in one ``log_batch`` after
the trial (design.md: ~35 ms a run instead of ~200 ms for per-call logging).
Artifacts go to a per-trial temporary folder that the sweep uploads.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from harness.seeding import TrialSeeds
from harness.design import Arm, Budget


@dataclass(frozen=True)
class DatasetRecord:
    """A data set a trial used, logged as an MLflow dataset input."""

    name: str
    digest: str
    source: str
    context: str  # "train" / "test" / "validation": MLflow's input tag


class SettingsReads:
    """A trial's view of its budget that notes which settings it reads: an arm's
    design fingerprint covers only those (``Runner.check_design``), so a setting
    added for another arm does not stop this one from resuming. Reading every
    setting at once (``.values``, ``.settings``) counts as reading them all."""

    def __init__(self, budget: Budget):
        self._budget = budget
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        value = self._budget[key]
        self.read.add(key)
        return value

    def __getattr__(self, name: str) -> Any:
        if name in ("values", "settings"):
            self.read.update(self._budget.values)
        return getattr(self._budget, name)


@dataclass
class TrialContext:
    study: str
    arm: Arm
    replicate: int
    budget_name: str
    budget: Budget  # or the SettingsReads view of it the sweep hands a trial
    seeds: TrialSeeds
    device: str
    threads: int
    artifact_dir: Path
    phase: str = "replicate"                       # "replicate" or "tune"
    hyperparams: Mapping[str, Any] = field(default_factory=dict)  # from the tuning phase or the tuner
    show_progress: bool = True
    metrics: list[tuple[str, float, int, int]] = field(default_factory=list)  # key, value, step, ms
    params: dict[str, Any] = field(default_factory=dict)
    datasets: list[DatasetRecord] = field(default_factory=list)

    @property
    def config(self) -> dict[str, Any]:
        """The arm's config with tuned hyperparameters merged over it."""
        return {**self.arm.config, **self.hyperparams}

    @property
    def tuning(self) -> bool:
        return self.phase == "tune"

    def log_metric(self, key: str, value: float, step: int = 0) -> None:
        self.metrics.append((key, float(value), int(step), int(time.time() * 1000)))

    def log_metrics(self, values: Mapping[str, float], step: int = 0) -> None:
        for key, value in values.items():
            self.log_metric(key, value, step)

    def log_param(self, key: str, value: Any) -> None:
        self.params[key] = value

    def use_dataset(self, name: str, digest: str, source: str, context: str = "train") -> None:
        self.datasets.append(DatasetRecord(name, digest, source, context))

    def data_split(self, name: str, n_train: int, n_val: int = 0, n_test: int | None = None) -> tuple:
        """numpy ``(x_train, y_train, x_eval, y_eval)`` for this trial, with the
        data sets recorded for its run: the replicate's training subset (drawn
        from the *subsample* seed, so every arm of a replicate sees the same
        images) and the first ``n_test`` test examples (all when None) — or,
        while tuning, ``n_val`` validation examples carved from the training
        set instead, so the test set never steers a hyperparameter."""
        from harness import datasets

        full = datasets.load(name)
        if self.tuning:
            pool = full.subsample(n_train + n_val, seed=self.seeds.subsample)
            self.use_dataset(name, pool.digest, pool.source, "train+validation")
            return pool.x_train[:n_train], pool.y_train[:n_train], pool.x_train[n_train:], pool.y_train[n_train:]
        data = full.subsample(n_train, seed=self.seeds.subsample)
        self.use_dataset(name, data.digest, data.source, "train")
        self.use_dataset(name, full.digest, full.source, "test")
        return data.x_train, data.y_train, full.x_test[:n_test], full.y_test[:n_test]

    def data_split_with_validation(self, name: str, n_train: int, n_val: int, n_test: int | None = None) -> tuple:
        """numpy ``(x_train, y_train, x_val, y_val, x_test, y_test)`` for a trial
        that stops on a validation split: the replicate's training subset and
        ``n_val`` validation examples carved from the same pool (drawn from the
        *subsample* seed, so every arm of a replicate sees the same images),
        and the first ``n_test`` test examples (all when None). While tuning,
        the test slot holds the validation split too, so the test set never
        steers a hyperparameter."""
        from harness import datasets

        full = datasets.load(name)
        pool = full.subsample(n_train + n_val, seed=self.seeds.subsample)
        self.use_dataset(name, pool.digest, pool.source, "train+validation")
        x_train, y_train = pool.x_train[:n_train], pool.y_train[:n_train]
        x_val, y_val = pool.x_train[n_train:], pool.y_train[n_train:]
        if self.tuning:
            return x_train, y_train, x_val, y_val, x_val, y_val
        self.use_dataset(name, full.digest, full.source, "test")
        return x_train, y_train, x_val, y_val, full.x_test[:n_test], full.y_test[:n_test]

    def artifact_path(self, name: str) -> Path:
        self.artifact_dir.mkdir(parents=True, exist_ok=True)
        return self.artifact_dir / name

    def progress(self, iterable: Iterable, total: int | None = None, desc: str = "epochs") -> Iterator:
        """An inner tqdm bar (epochs) under the sweep's bar of trials."""
        if not self.show_progress:
            return iter(iterable)
        from tqdm.auto import tqdm

        label = f"{self.arm.name} r{self.replicate} {desc}"
        # disable=None: the inner bar shows on a terminal only, so logs keep just the bar of trials
        return iter(tqdm(iterable, total=total, desc=label, leave=False, position=1, dynamic_ncols=True,
                         disable=None))

    def curve(self, key: str) -> list[tuple[int, float]]:
        """The (step, value) pairs logged so far under ``key``."""
        return [(step, value) for k, value, step, _ in self.metrics if k == key]
