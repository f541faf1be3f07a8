"""Benchmarks: each result is a ratio of two timings taken in one invocation.

``python -m harness.bench`` (``make bench``) runs every benchmark, prints the
table and writes ``reports/bench.md`` with the command that produced it and
the machine it ran on. Absolute seconds depend on the machine; a ratio
measured in the same process, back to back, mostly does not -- so targets are
stated as ratios (the developers' guide: no timed unit tests).

Benchmarks register with ``@benchmark(name)`` and return a ``Result``.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from harness.design import REPORT_BUDGET
from harness.registry import Registry


@dataclass(frozen=True)
class Result:
    name: str
    baseline: str          # what the candidate is compared with, in words
    baseline_s: float
    candidate: str
    candidate_s: float
    target: str            # the goal, in words ("ratio >= 5"), or "report" when there is none
    threshold: float | None  # met when the ratio's interval lies at or above it; None: a measurement to report
    detail: str = ""       # what else a reader needs (agreement of results, sizes)
    samples: tuple[float, ...] = ()  # the ratio of each paired repeat (baseline run / candidate run)

    @property
    def ratio(self) -> float:
        return self.baseline_s / self.candidate_s

    @property
    def interval(self) -> tuple[float, float] | None:
        """95% interval of the ratio from its paired repeats: a t-interval on
        the log ratios (timings are multiplicative), back on the ratio scale.
        None with fewer than two repeats."""
        if len(self.samples) < 2:
            return None
        import math
        import statistics

        from scipy import stats

        logs = [math.log(r) for r in self.samples]
        half = stats.t.ppf(0.975, len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs))
        centre = statistics.fmean(logs)
        return math.exp(centre - half), math.exp(centre + half)

    @property
    def status(self) -> str:
        """"met" only when the whole interval clears the threshold, "NOT met" when
        it lies below; an interval that straddles it cannot say either."""
        if self.threshold is None:
            return "no target"
        interval = self.interval
        if interval is None:
            return "undecided (one repeat: no interval; use --repeats 3 or more)"
        if interval[0] >= self.threshold:
            return "met"
        if interval[1] < self.threshold:
            return "NOT met"
        return f"undecided (the interval straddles {self.threshold:g})"

    @property
    def met(self) -> bool | None:
        return {"met": True, "NOT met": False}.get(self.status)


BENCHMARKS: Registry[Callable[[argparse.Namespace], "Result | list[Result]"]] = Registry("benchmark")
DESIGNS = "sequential-vs-fixed"  # not a timing: seeds and claims decided per study (harness.designbench)
benchmark = BENCHMARKS.register


def bench_context(replicate: int, scratch: Path, device, study: str = "bench", cls=None):
    """A trial context that keeps its metrics in memory: the harness's
    single-run path with no Optuna and no MLflow behind it."""
    import torch

    from harness.context import TrialContext
    from harness.seeding import trial_seeds
    from harness.study import Arm, Budget

    return (cls or TrialContext)(study, Arm("mlp"), replicate, "bench", Budget(1), trial_seeds(0, study, replicate),
                                 str(device), torch.get_num_threads(), scratch, show_progress=False)


def _family(args: argparse.Namespace, name: str, dataset: str, factory, shape, lr: float, momentum: float,
            k: int, target: float, what: str):
    """One family's benchmark: ``k`` seeds one after another through the
    single-run path (``engine.fit`` on ``factory()``, an ``nn.Module`` with
    ``torch.optim``), then as one ``harness.ensemble`` model of ``shape``.
    Same seeds, same epochs, same device; timed alternately (``_alternate``).
    An autoencoder shape trains on squared error and is measured by its test
    reconstruction error; a classifier by its test accuracy."""
    import tempfile

    import numpy as np
    import torch

    from harness import datasets, engine
    from harness.ensemble import Member, train
    from harness.seeding import trial_seeds

    device = engine.pick_device(args.device)
    data = datasets.load(dataset)
    if dataset == "fashion-mnist":
        data = data.subsample(2000, seed=0)
    x, y, xt, yt = (engine.as_tensor(a, device) for a in (data.x_train, data.y_train.astype("int64"),
                                                          data.x_test, data.y_test.astype("int64")))
    reconstructs = shape.reconstructs
    labels, test_labels = (None, None) if reconstructs else (y, yt)
    loss_fn = torch.nn.functional.mse_loss if reconstructs else torch.nn.functional.cross_entropy
    seeds = [trial_seeds(0, name, r) for r in range(k)]
    cfg = engine.TrainConfig(epochs=shape.epochs, batch_size=shape.batch_size, lr=lr, optimizer=shape.optimizer,
                             momentum=momentum)

    def sequential() -> list[float]:
        measured = []
        with tempfile.TemporaryDirectory() as scratch:
            for r in range(k):
                ctx = bench_context(r, Path(scratch), device, name)
                model = engine.build_model(factory, ctx)
                engine.fit(model, x, x if reconstructs else y, loss_fn, cfg, ctx)
                model.eval()
                with torch.no_grad():
                    measured.append(engine.sse_per_example(model, xt) if reconstructs
                                    else float((model(xt).argmax(1) == yt).float().mean()))
        return measured

    def together() -> list[float]:
        members = [Member(s.init, s.data_order, s.noise, lr=lr, momentum=momentum) for s in seeds]
        return [r.test_sse if reconstructs else r.test_accuracy
                for r in train(shape, members, x, labels, xt, test_labels)]

    sequential_s, ensemble_s, one_by_one, batched, ratios = _alternate(sequential, together, args.repeats)
    gap = float(np.max(np.abs(np.array(one_by_one) - np.array(batched))))
    measure = "test squared error per image" if reconstructs else "test accuracy"
    noise = (" (the masks are drawn from other generators than the module's, so the runs differ by more than rounding)"
             if shape.retain_input < 1 or shape.retain_hidden < 1 else
             " (float rounding of two summation orders, amplified by training)")
    return Result(
        name=name,
        baseline=f"{k} {what} seeds one after another (engine.fit, nn.Module)", baseline_s=sequential_s,
        candidate=f"the same {k} seeds as one ensemble (harness.ensemble)", candidate_s=ensemble_s,
        target=f"ratio >= {target:g} ({k} {what} seeds)", threshold=target, samples=ratios,
        detail=(f"median of {args.repeats} alternating runs of each side; {dataset} ({len(y)} training rows), "
                f"{shape.epochs} epochs, batch {shape.batch_size}, {shape.optimizer.upper()} lr {lr}"
                f"{f' momentum {momentum}' if momentum else ''}; largest {measure} difference between a member "
                f"and its sequential run: {gap:.4f}{noise}"))


@benchmark("ensemble-seeds")
def ensemble_vs_sequential(args: argparse.Namespace) -> Result:
    """The MLP family: 32 seeds of the MNIST-1D MLP (40-100-100-10 ReLU, SGD
    with momentum, batch 100), the seeds study's network."""
    from harness.ensemble import Shape
    from harness.nets import MLP

    shape = Shape(40, 10, (100, 100), epochs=args.epochs, batch_size=100, optimizer="sgd")
    return _family(args, "ensemble-seeds", "mnist1d", lambda: MLP(40, 10, (100, 100)), shape, 0.05, 0.9,
                   args.seeds, 5.0, "MNIST-1D MLP")


@benchmark("ensemble-bn-mlp")
def ensemble_bn_mlp(args: argparse.Namespace) -> Result:
    """The batch-norm MLP family: 16 seeds of the batchnorm study's network
    (784-100-100-100-10, linear → batch norm → sigmoid, SGD, batch 60) on 2000
    Fashion-MNIST images, each member with its own batch statistics."""
    from harness.ensemble import Shape
    from harness.normnets import NormMLP

    shape = Shape(784, 10, (100, 100, 100), act="sigmoid", epochs=args.epochs, batch_size=60, norm="bn")
    return _family(args, "ensemble-bn-mlp", "fashion-mnist", lambda: NormMLP(784, 10, (100, 100, 100), "sigmoid",
                                                                             norm="bn"),
                   shape, 0.1, 0.0, min(args.seeds, 16), 4.0, "batch-norm MLP")


@benchmark("ensemble-cnn")
def ensemble_cnn(args: argparse.Namespace) -> Result:
    """The CNN family: 16 seeds of a small conv net (8x8 digits, conv blocks
    of 8 and 16 channels, SGD with momentum, batch 32), the ensemble's conv
    layers grouped by member."""
    from harness.ensemble import Shape
    from harness.normnets import SmallCNN

    shape = Shape(64, 10, (), channels=(8, 16), in_shape=(1, 8, 8), epochs=args.epochs, batch_size=32)
    return _family(args, "ensemble-cnn", "digits", lambda: SmallCNN((1, 8, 8), 10, (8, 16), norm="none"), shape,
                   0.05, 0.9, min(args.seeds, 16), 4.0, "small-CNN")


# The families below run at the K the standard tier would batch: one arm's replicates, read from the study's
# declaration. Their target is only that batching pays at all (ratio > 1): whether routing those studies'
# replicates through ensembles is worth it. Their networks are 10-100x the MLP's, so they train at most
# FAMILY_EPOCHS epochs: the ratio is one of time per step, and more epochs would only lengthen `make bench`.
FAMILY_EPOCHS = 2



def _standard_k(study: str, arm: str) -> int:
    """The replicates of ``arm`` the standard tier queues at once: its first look's (a fixed design: all of them)."""
    from harness.discovery import get_study

    declared = get_study(study)
    return next(a for a in declared.design(REPORT_BUDGET)
                if a.name == arm).replicates_at(declared.budget(REPORT_BUDGET), 0)


@benchmark("ensemble-dropconnect")
def ensemble_dropconnect(args: argparse.Namespace) -> Result:
    """The dropout study's DropConnect MLP (784-512-512-10, input dropout 0.8,
    weights kept with 0.5, one mask per minibatch; SGD with momentum, batch
    128) on 2000 Fashion-MNIST images, at the dropout study's standard K."""
    from harness.dropnets import DropoutMLP
    from harness.ensemble import Shape

    shape = Shape(784, 10, (512, 512), retain_input=0.8, retain_hidden=0.5, dropconnect=True,
                  epochs=min(args.epochs, FAMILY_EPOCHS), batch_size=128)
    return _family(args, "ensemble-dropconnect", "fashion-mnist",
                   lambda: DropoutMLP(784, 10, (512, 512), p_input=0.8, p_hidden=0.5, dropconnect=True), shape,
                   0.05, 0.9, _standard_k("dropout", "dropconnect"), 1.0, "DropConnect MLP")


@benchmark("dropconnect-masks")
def dropconnect_masks(args: argparse.Namespace) -> Result:
    """Wan et al.'s one DropConnect mask per example against the dropout
    study's one per minibatch: the study's DropConnect MLP (784-512-512-10,
    input retain 0.8, weights kept with 0.5) through the study's training path
    (``engine.build_model``, then ``engine.fit``: shuffled minibatches of 128,
    SGD lr 0.05 with momentum 0.9) on 2000 Fashion-MNIST images for
    ``min(--epochs, 2)`` epochs, the same seed on both sides. Whether
    per-example masks are affordable (the dropout issue's question) is this
    ratio: below 1 the per-example net is that many times slower."""
    import tempfile

    import torch

    from harness import datasets, engine
    from harness.dropnets import DropoutMLP

    device = engine.pick_device(args.device)
    data = datasets.load("fashion-mnist").subsample(2000, seed=0)
    x, y = engine.as_tensor(data.x_train, device), engine.as_tensor(data.y_train.astype("int64"), device)
    epochs, batch = min(args.epochs, FAMILY_EPOCHS), 128
    cfg = engine.TrainConfig(epochs=epochs, batch_size=batch, lr=0.05, optimizer="sgd", momentum=0.9)

    def trainer(per_example: bool):
        def run() -> float:
            with tempfile.TemporaryDirectory() as scratch:
                ctx = bench_context(0, Path(scratch), device, "dropconnect-masks")
                model = engine.build_model(lambda: DropoutMLP(784, 10, (512, 512), p_input=0.8, p_hidden=0.5,
                                                              dropconnect=True, per_example_masks=per_example), ctx)
                return engine.fit(model, x, y, torch.nn.functional.cross_entropy, cfg, ctx)[-1]
        return run

    per_batch_s, per_example_s, _, _, ratios = _alternate(trainer(False), trainer(True), args.repeats)
    steps = epochs * -(-len(x) // batch)
    return Result(
        name="dropconnect-masks",
        baseline=f"{steps} steps, one DropConnect mask per minibatch (the dropout study's)", baseline_s=per_batch_s,
        candidate=f"the same {steps} steps, one mask per example (Wan et al.)", candidate_s=per_example_s,
        target="report (< 1: per-example masks are slower by 1/ratio)", threshold=None, samples=ratios,
        detail=(f"median of {args.repeats} alternating runs of each side through engine.build_model and engine.fit; "
                f"fashion-mnist (2000 training rows), {epochs} epochs, batch {batch}, SGD lr 0.05 momentum 0.9; per "
                f"step the per-example net draws {batch} x (784x512 + 512x512) mask entries where the per-minibatch "
                "one draws 784x512 + 512x512"))


@benchmark("ensemble-ae")
def ensemble_autoencoder(args: argparse.Namespace) -> Result:
    """The ae-vs-pca study's deep autoencoder (784-512-256-128-30, mirrored
    decoder, sigmoid output; Adam, batch 128) on 2000 Fashion-MNIST images, at
    the study's standard K."""
    from harness.ensemble import Shape
    from harness.nets import Autoencoder

    shape = Shape(784, 784, (512, 256, 128), code=30, epochs=min(args.epochs, FAMILY_EPOCHS), batch_size=128,
                  optimizer="adam")
    return _family(args, "ensemble-ae", "fashion-mnist", lambda: Autoencoder(784, (512, 256, 128), 30), shape,
                   1e-3, 0.0, _standard_k("ae-vs-pca", "deep-ae-30"), 1.0, "deep autoencoder")


@benchmark("ensemble-bn-cnn")
def ensemble_bn_cnn(args: argparse.Namespace) -> Result:
    """The batchnorm study's CNN (28x28 Fashion-MNIST, conv-BN-ReLU blocks of 8
    and 16 channels, SGD with momentum, batch 128) on 2000 images, at the
    study's standard K, each member's channels with their own statistics."""
    from harness.ensemble import Shape
    from harness.normnets import SmallCNN

    shape = Shape(784, 10, (), channels=(8, 16), in_shape=(1, 28, 28), epochs=min(args.epochs, FAMILY_EPOCHS),
                  batch_size=128, norm="bn")
    return _family(args, "ensemble-bn-cnn", "fashion-mnist", lambda: SmallCNN((1, 28, 28), 10, (8, 16), norm="bn"),
                   shape, 0.05, 0.9, _standard_k("batchnorm", "cnn-bn"), 1.0, "batch-norm CNN")


@benchmark("tracking-overhead")
def tracking_overhead(args: argparse.Namespace) -> list[Result]:
    """Trials of a Fashion-MNIST MLP (784-512-512-10, Adam, 3 epochs on 20,000
    images, ``harness.benchstudy``) three ways: the bare training loop (no
    Optuna, no MLflow); through the harness (claimed from an Optuna journal,
    one MLflow child run with params, seeds, tags, batched metrics, dataset
    inputs and learning-curve artifacts); and through optuna-integration's
    ``MLflowCallback`` recipe with one ``mlflow.log_metric`` call per epoch."""
    import tempfile
    import warnings

    import mlflow
    import optuna
    import torch

    from harness import benchstudy, engine, paths
    from harness.context import TrialContext
    from harness.run import RunRequest, prepare
    from harness.sweep import Runner, SweepOptions
    from harness.tracking import default_tracking_uri

    device, threads, n = str(engine.pick_device(args.device)), torch.get_num_threads(), args.trials
    with tempfile.TemporaryDirectory() as scratch, paths.home_at(Path(scratch)) as home:
        def context(r: int, cls=TrialContext) -> TrialContext:
            return bench_context(r, home / "scratch", device, benchstudy.NAME, cls)

        def bare(r: int) -> None:
            _, (x, y) = benchstudy.load(device)
            benchstudy.train(context(r), x, y)

        study, arms, tracker, uri = prepare(RunRequest(benchstudy.NAME, "full", progress=False,
                                                       tracking_uri=default_tracking_uri(home)))
        parent = tracker.parent_run(study.name, "full", {})  # store and experiment exist before the clock runs
        runner = Runner(study, SweepOptions("full", None, uri, threads, device, False), tracker, parent)
        ostudy, _ = runner.enqueue(arms)

        def harness(r: int) -> None:  # one trial of the queue: claim, run, record
            trial = runner.claim(ostudy)[0]
            runner.execute(ostudy, trial, arms[0], int(trial.user_attrs["replicate"]), "replicate", {})

        from optuna_integration.mlflow import MLflowCallback

        callback_uri = f"sqlite:///{home / 'callback.db'}"
        mlflow.MlflowClient(callback_uri).search_experiments()  # schema made before the clock runs, as above
        with warnings.catch_warnings():  # deprecated (4.9) and experimental: it is the baseline, not our choice
            warnings.simplefilter("ignore")
            callback = MLflowCallback(tracking_uri=callback_uri, metric_name="train_loss")

            class PerEpoch(TrialContext):  # the recipe: one log_metric call per epoch, as training goes
                def log_metric(self, key, value, step=0):
                    mlflow.log_metric(key, value, step=step)

            @callback.track_in_mlflow()
            def objective(trial):
                _, (x, y) = benchstudy.load(device)
                return benchstudy.train(context(trial.number, PerEpoch), x, y)[-1]

        journal = optuna.storages.journal.JournalFileBackend(str(home / "callback.journal"))
        callback_study = optuna.create_study(study_name=benchstudy.NAME,
                                             storage=optuna.storages.JournalStorage(journal))

        def callback_recipe(r: int) -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                callback_study.optimize(objective, n_trials=1, callbacks=[callback])

        sides = {"bare": bare, "harness": harness, "callback": callback_recipe}
        for run in sides.values():  # untimed warm-up of each side: caches, allocator, first-use imports
            run(n)
        seconds: dict[str, list[float]] = {name: [] for name in sides}
        for r in range(n):  # interleaved, trial by trial, so a slow spell of the machine hits every side
            for name, run in sides.items():
                started = time.perf_counter()
                run(r)
                seconds[name].append(time.perf_counter() - started)
        bare_s, harness_s, callback_s = (sum(seconds[name]) for name in sides)
    size = "{} images x {} epochs, hidden {}".format(*benchstudy.settings())
    return [
        Result("tracking-overhead", f"{n} trials, bare loop (no Optuna, no MLflow)", bare_s,
               f"the same {n} trials through the harness", harness_s, "ratio >= 0.95 (within 5%)", 0.95,
               f"{size}; the three sides interleaved trial by trial, summed; harness overhead "
               f"{100 * (harness_s / bare_s - 1):+.1f}% per trial ({(harness_s - bare_s) / n * 1000:.0f} ms)",
               _paired(seconds["bare"], seconds["harness"])),
        Result("tracking-vs-callback", f"{n} trials, MLflowCallback + log_metric per epoch", callback_s,
               f"the same {n} trials through the harness", harness_s, "report (> 1: the harness is faster)",
               None, f"callback recipe overhead {100 * (callback_s / bare_s - 1):+.1f}% against the bare loop",
               _paired(seconds["callback"], seconds["harness"])),
    ]


@benchmark("compute-efficiency")
def compute_efficiency(args: argparse.Namespace) -> Result:
    """Achieved FLOP/s of one Fashion-MNIST epoch of a 784-512-512-10 MLP
    (engine.fit, SGD, batch 256, all 60,000 images) against the fp32 matmul
    peak measured in the same process (4096x4096 matrices)."""
    import tempfile

    import torch

    from harness import datasets, engine
    from harness.nets import MLP

    device = engine.pick_device(args.device)
    a = torch.randn(4096, 4096, device=device)
    b = torch.randn(4096, 4096, device=device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    a @ b
    sync()
    peaks = []
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(4):
            a @ b
        sync()
        peaks.append(4 * 2 * 4096 ** 3 / (time.perf_counter() - started))
    peak = max(peaks)
    data = datasets.load("fashion-mnist")
    x, y = engine.as_tensor(data.x_train, device), engine.as_tensor(data.y_train.astype("int64"), device)
    weights = 784 * 512 + 512 * 512 + 512 * 10
    flops = 6 * len(y) * weights  # forward 2, backward 4 per weight and example; biases and activations not counted
    cfg = engine.TrainConfig(epochs=1, batch_size=256, lr=0.05, optimizer="sgd")
    epochs = []
    with tempfile.TemporaryDirectory() as scratch:
        ctx = bench_context(0, Path(scratch), device)
        for _ in range(1 + args.repeats):  # the first epoch warms up; the rest are timed
            model = engine.build_model(lambda: MLP(784, 10, (512, 512)), ctx)
            started = time.perf_counter()
            engine.fit(model, x, y, torch.nn.functional.cross_entropy, cfg, ctx)
            sync()
            epochs.append(time.perf_counter() - started)
    import statistics

    epoch_s = statistics.median(epochs[1:])
    return Result("compute-efficiency", "one epoch at the measured fp32 matmul peak", flops / peak,
                  "the epoch as trained (engine.fit)", epoch_s, "ratio >= 0.70 (of peak)", 0.70,
                  f"peak {peak / 1e9:.0f} GFLOP/s (best of 3), epoch {flops / 1e9:.0f} GFLOP in {epoch_s:.2f} s = "
                  f"{flops / epoch_s / 1e9:.0f} GFLOP/s (median of {args.repeats} timed epochs)",
                  tuple(flops / peak / e for e in epochs[1:]))


@benchmark("worker-scaling")
def worker_scaling(args: argparse.Namespace) -> Result:
    """A study of 16 small trials (784-128-128-10 on 3,000 images, 2 epochs)
    run by `harness run --workers 1` and by `--workers 2` on this machine,
    each in a fresh home: wall time of the whole command."""
    import subprocess
    import tempfile

    times = {}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as scratch:
            env = {**os.environ, "HARNESS_HOME": scratch, "HARNESS_STUDY_MODULES": "harness.benchstudy",
                   "HARNESS_BENCH_TRIAL": "3000,2,128"}
            env.pop("MLFLOW_TRACKING_URI", None)
            command = [sys.executable, "-m", "harness", "run", "bench-overhead", "--budget", "full", "--workers",
                       str(workers), "--no-progress"] + (["--device", args.device] if args.device else [])
            started = time.perf_counter()
            done = subprocess.run(command, cwd=scratch, env=env, capture_output=True, text=True)
            times[workers] = time.perf_counter() - started
            if done.returncode:
                raise RuntimeError(f"worker-scaling: {' '.join(command)} failed: {done.stderr[-800:]}")
    cores = os.cpu_count() or 1
    return Result("worker-scaling", "16 small trials, --workers 1", times[1], "the same, --workers 2", times[2],
                  "report (> 1: two workers are faster)", None,
                  f"{cores} cores: 1 worker x {cores} thread(s) against 2 workers x {max(1, cores // 2)} thread(s); "
                  "wall time of the whole command, start-up and report included")


@benchmark("cli-startup")
def cli_startup(args: argparse.Namespace) -> list[Result]:
    """`harness --help` and `harness list` against importing what they avoid
    (torch, mlflow, scikit-learn): median of 3 runs each."""
    import statistics
    import subprocess

    def timed(command: list[str]) -> list[float]:
        runs = []
        for _ in range(max(3, args.repeats)):
            started = time.perf_counter()
            subprocess.run(command, capture_output=True, check=True)
            runs.append(time.perf_counter() - started)
        return runs

    heavy = timed([sys.executable, "-c", "import torch, mlflow, sklearn"])
    out = []
    for words in (["--help"], ["list"]):
        seconds = timed([sys.executable, "-m", "harness", *words])
        out.append(Result(f"cli-startup ({' '.join(words)})", "python -c 'import torch, mlflow, sklearn'",
                          statistics.median(heavy), f"harness {' '.join(words)}", statistics.median(seconds),
                          "ratio >= 5", 5.0, samples=_paired(heavy, seconds)))
    return out


def _alternate(baseline: Callable[[], object], candidate: Callable[[], object], repeats: int):
    """Median seconds of each side over ``repeats`` alternating runs, after one
    untimed warm-up of each (first calls allocate and pick kernels), and the
    ratio of each pair of runs (the interval's samples). Alternating spreads
    slow spells of a shared machine over both sides; the median drops outliers."""
    import statistics

    baseline(), candidate()
    times: tuple[list[float], list[float]] = ([], [])
    results = [None, None]
    for _ in range(repeats):
        for index, fn in enumerate((baseline, candidate)):
            started = time.perf_counter()
            results[index] = fn()
            times[index].append(time.perf_counter() - started)
    ratios = tuple(b / c for b, c in zip(*times))
    return statistics.median(times[0]), statistics.median(times[1]), results[0], results[1], ratios


def study_throughput(tracking_uri: str, budget: str = REPORT_BUDGET) -> list[tuple[str, int, float, float]]:
    """Per study in the tracking store: (study, finished runs at ``budget``,
    wall minutes from the first run's start to the last run's end, runs per
    CPU-minute = runs / (wall minutes x the runs' torch threads)). Read from the
    store, not measured here: it describes the last ``harness run`` of each
    study (one worker), on whatever machine made it."""
    from mlflow import MlflowClient

    from harness.tracking import TAG

    client = MlflowClient(tracking_uri)
    rows = []
    for experiment in client.search_experiments():
        runs = client.search_runs([experiment.experiment_id],
                                  f"tags.`{TAG}budget` = '{budget}' and tags.`{TAG}role` = 'trial' "
                                  "and attributes.status = 'FINISHED'", max_results=50_000)
        if not runs:
            continue
        wall = (max(r.info.end_time for r in runs) - min(r.info.start_time for r in runs)) / 60_000
        threads = max(int(r.data.tags.get(TAG + "threads", "1")) for r in runs)
        rows.append((experiment.name, len(runs), wall, len(runs) / (wall * threads) if wall > 0 else float("nan")))
    return sorted(rows)


def _paired(baseline: list[float], candidate: list[float]) -> tuple[float, ...]:
    """The ratio of each pair of runs taken back to back (the interval's samples)."""
    return tuple(b / c for b, c in zip(baseline, candidate))


def machine(device: str) -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = f", {torch.cuda.get_device_name(0)}" if device.startswith("cuda") else ""
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} with {torch.get_num_threads()} threads, "
            f"device {device}{gpu}, Python {platform.python_version()}")


def render(results: list[Result], command: str, where: str,
           throughput: list[tuple[str, int, float, float]] = (), store: str = "", sections: list[str] = ()) -> str:
    lines = ["# Benchmarks", "",
             f"Generated {datetime.now(timezone.utc).isoformat(timespec='seconds')} by `{command}`.",
             "", f"Machine: {where}.", "",
             "Each ratio is baseline time / candidate time, both measured in this one invocation after an untimed "
             "warm-up of each side; how each side was timed is in the notes under the table. The interval is a "
             "95% t-interval on the log ratios of the paired repeats: a target is met only when the whole "
             "interval clears it, missed only when the whole interval falls short, and undecided otherwise.", "",
             "| benchmark | baseline | s | candidate | s | ratio | 95% interval | target | status |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        interval = f"[{r.interval[0]:.2f}, {r.interval[1]:.2f}] (n={len(r.samples)})" if r.interval else "—"
        lines.append(f"| {r.name} | {r.baseline} | {r.baseline_s:.3g} | {r.candidate} | {r.candidate_s:.3g} | "
                     f"**{r.ratio:.2f}x** | {interval} | {r.target} | {r.status} |")
    lines.append("")
    lines += [f"- **{r.name}**: {r.detail}" for r in results if r.detail]
    if throughput:
        lines += ["", f"## Studies at the {REPORT_BUDGET} budget", "",
                  f"From the tracking store `{store}` (the last run of each study, one worker), not timed here:", "",
                  "| study | finished runs | wall minutes | runs per CPU-minute |", "| --- | --- | --- | --- |"]
        lines += [f"| {name} | {n} | {wall:.1f} | {rate:.2f} |" for name, n, wall, rate in throughput]
    lines += list(sections)
    lines += ["", "Run `make bench` (or the command above) to reproduce; `python -m harness.bench NAME` runs one."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of "
                                                 f"{', '.join([*BENCHMARKS.names(), DESIGNS])})")
    parser.add_argument("--design-studies", nargs="+", metavar="STUDY",
                        help=f"{DESIGNS}: the studies to compare (default: every registered study)")
    parser.add_argument("--seeds", type=int, default=32, help="ensemble-seeds: seeds (default 32)")
    parser.add_argument("--epochs", type=int, default=5, help="ensemble-seeds: epochs per seed (default 5)")
    parser.add_argument("--trials", type=int, default=5, help="tracking-overhead: trials per side (default 5)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed runs of each side, alternating: the median and the interval's samples (default 5)")
    parser.add_argument("--tracking-uri", help="store whose standard-budget runs give each study's runs per CPU-minute "
                                               "(default: the project's; none there, no such table)")
    parser.add_argument("--device", help="torch device (default: cuda when present, else cpu)")
    parser.add_argument("--out", default="reports/bench.md", help="where to write the table (default reports/bench.md)")
    args = parser.parse_args(argv)
    if min(args.seeds, args.epochs, args.repeats, args.trials) < 1:
        parser.error("--seeds, --epochs, --repeats and --trials must be >= 1")
    designs = not args.names or DESIGNS in args.names
    try:
        chosen = [BENCHMARKS.get(n) for n in (args.names or BENCHMARKS.names()) if n != DESIGNS]
        if designs:
            from harness.discovery import get_study, load_studies

            # named now: the timing benchmarks register a study of their own (bench-overhead) as they run
            design_studies = [get_study(n).name for n in args.design_studies or load_studies().names()]
    except KeyError as exc:  # an unknown name: the message lists the known ones
        parser.error(str(exc))
    from harness import engine

    device = str(engine.pick_device(args.device))
    engine.configure_torch(engine.threads_per_worker(1))
    results = []
    for run in chosen:
        produced = run(args)
        for result in produced if isinstance(produced, list) else [produced]:
            interval = f", 95% [{result.interval[0]:.2f}, {result.interval[1]:.2f}]" if result.interval else ""
            print(f"{result.name}: {result.baseline_s:.2f} s -> {result.candidate_s:.2f} s = {result.ratio:.2f}x"
                  f"{interval} ({result.target}: {result.status})", flush=True)
            results.append(result)
    from harness import designbench

    comparisons = []
    if designs:
        comparisons = designbench.compare(design_studies)
        for row in comparisons:
            print(f"{DESIGNS} {row.study}: fixed {row.fixed_trials} trials, {row.fixed_decided} decided; sequential "
                  f"{row.sequential_trials} trials, {row.sequential_decided} decided ({row.status})", flush=True)
    command = "python -m harness.bench " + " ".join(sys.argv[1:] if argv is None else argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    from harness import paths
    from harness.redact import redact
    from harness.tracking import resolve_tracking_uri

    uri = resolve_tracking_uri(args.tracking_uri, paths.home())
    try:
        throughput = study_throughput(uri)
    except Exception as exc:  # noqa: BLE001 - the table is extra: a store that cannot be read is said, not fatal
        print(f"no study throughput: {redact(uri)} could not be read ({type(exc).__name__})", file=sys.stderr)
        throughput = []
    for name, n, wall, rate in throughput:
        print(f"{name} [{REPORT_BUDGET}]: {n} runs in {wall:.1f} min = {rate:.2f} runs per CPU-minute (from the store)")
    sections = designbench.render(comparisons, REPORT_BUDGET) if comparisons else []
    out.write_text(render(results, command.strip(), machine(device), throughput, redact(uri), sections))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
