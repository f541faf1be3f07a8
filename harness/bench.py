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
import contextlib
import os
import platform
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from harness.registry import Registry


@dataclass(frozen=True)
class Result:
    name: str
    baseline: str          # what the candidate is compared with, in words
    baseline_s: float
    candidate: str
    candidate_s: float
    target: str            # the goal, in words ("ratio >= 5"), or "report" when there is none
    met: bool | None       # None: a measurement to report, with no target
    detail: str = ""       # what else a reader needs (agreement of results, sizes)

    @property
    def ratio(self) -> float:
        return self.baseline_s / self.candidate_s


BENCHMARKS: Registry[Callable[[argparse.Namespace], "Result | list[Result]"]] = Registry("benchmark")
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


@benchmark("ensemble-seeds")
def ensemble_vs_sequential(args: argparse.Namespace) -> Result:
    """K seeds of the MNIST-1D MLP (40-100-100-10, SGD with momentum, batch
    100): one after another through the harness's single-run path
    (``engine.fit`` on an ``nn.Module`` with ``torch.optim``), then as one
    ``harness.ensemble`` model. Same seeds, same epochs, same device."""
    import tempfile

    import numpy as np
    import torch

    from harness import datasets, engine
    from harness.ensemble import Member, Shape, train
    from harness.nets import MLP
    from harness.seeding import trial_seeds

    device = engine.pick_device(args.device)
    data = datasets.load("mnist1d")
    x, y, xt, yt = (engine.as_tensor(a, device) for a in (data.x_train, data.y_train.astype("int64"),
                                                          data.x_test, data.y_test.astype("int64")))
    seeds = [trial_seeds(0, "bench", r) for r in range(args.seeds)]
    lr, momentum, hidden = 0.05, 0.9, (100, 100)
    cfg = engine.TrainConfig(epochs=args.epochs, batch_size=100, lr=lr, optimizer="sgd", momentum=momentum)

    def sequential() -> list[float]:
        accuracies = []
        with tempfile.TemporaryDirectory() as scratch:
            for r in range(len(seeds)):
                ctx = bench_context(r, Path(scratch), device)
                model = engine.build_model(lambda: MLP(40, 10, hidden), ctx)
                engine.fit(model, x, y, torch.nn.functional.cross_entropy, cfg, ctx)
                with torch.no_grad():
                    accuracies.append(float((model(xt).argmax(1) == yt).float().mean()))
        return accuracies

    def together() -> list[float]:
        shape = Shape(40, 10, hidden, epochs=args.epochs, batch_size=100, optimizer="sgd")
        members = [Member(s.init, s.data_order, s.noise, lr=lr, momentum=momentum) for s in seeds]
        return [r.test_accuracy for r in train(shape, members, x, y, xt, yt)]

    sequential_s, ensemble_s, one_by_one, batched = _alternate(sequential, together, args.repeats)
    gap = float(np.max(np.abs(np.array(one_by_one) - np.array(batched))))
    return Result(
        name="ensemble-seeds",  # timing: the median of alternating runs of each side (--repeats)
        baseline=f"{args.seeds} seeds one after another (engine.fit, nn.Module)", baseline_s=sequential_s,
        candidate=f"the same {args.seeds} seeds as one ensemble (harness.ensemble)", candidate_s=ensemble_s,
        target="ratio >= 5 (32 MNIST-1D MLP seeds on 2 CPU cores)", met=sequential_s / ensemble_s >= 5,
        detail=(f"median of {args.repeats} alternating runs of each side; MNIST-1D 4000/1000, 40-100-100-10 ReLU MLP, SGD lr {lr} momentum {momentum}, batch 100, "
                f"{args.epochs} epochs; largest test-accuracy difference between a member and its sequential run: "
                f"{gap:.4f} (float rounding of two matmul orders, amplified by training)"))


@contextlib.contextmanager
def _home(tmp: Path):
    """Point the harness's home at ``tmp`` for a benchmark, restoring it after."""
    before = os.environ.get("HARNESS_HOME")
    os.environ["HARNESS_HOME"] = str(tmp)
    try:
        yield tmp
    finally:
        if before is None:
            os.environ.pop("HARNESS_HOME", None)
        else:
            os.environ["HARNESS_HOME"] = before


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

    from harness import benchstudy, engine
    from harness.context import TrialContext
    from harness.run import RunRequest, prepare
    from harness.sweep import Runner, SweepOptions
    from harness.tracking import default_tracking_uri

    device, threads, n = str(engine.pick_device(args.device)), torch.get_num_threads(), args.trials
    with tempfile.TemporaryDirectory() as scratch, _home(Path(scratch)) as home:
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
        callback_study = optuna.create_study(study_name=benchstudy.NAME, storage=optuna.storages.JournalStorage(journal))

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
               f"the same {n} trials through the harness", harness_s, "ratio >= 0.95 (within 5%)",
               bare_s / harness_s >= 0.95,
               f"{size}; the three sides interleaved trial by trial, summed; harness overhead "
               f"{100 * (harness_s / bare_s - 1):+.1f}% per trial ({(harness_s - bare_s) / n * 1000:.0f} ms)"),
        Result("tracking-vs-callback", f"{n} trials, MLflowCallback + log_metric per epoch", callback_s,
               f"the same {n} trials through the harness", harness_s, "report (> 1: the harness is faster)",
               None, f"callback recipe overhead {100 * (callback_s / bare_s - 1):+.1f}% against the bare loop"),
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
        for _ in range(2):  # the first epoch warms up; the second is timed
            model = engine.build_model(lambda: MLP(784, 10, (512, 512)), ctx)
            started = time.perf_counter()
            engine.fit(model, x, y, torch.nn.functional.cross_entropy, cfg, ctx)
            sync()
            epochs.append(time.perf_counter() - started)
    epoch_s = epochs[-1]
    return Result("compute-efficiency", "one epoch at the measured fp32 matmul peak", flops / peak,
                  "the epoch as trained (engine.fit)", epoch_s, "ratio >= 0.70 (of peak)", flops / peak / epoch_s >= 0.7,
                  f"peak {peak / 1e9:.0f} GFLOP/s (best of 3), epoch {flops / 1e9:.0f} GFLOP in {epoch_s:.2f} s = "
                  f"{flops / epoch_s / 1e9:.0f} GFLOP/s")


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

    def timed(command: list[str]) -> float:
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            subprocess.run(command, capture_output=True, check=True)
            runs.append(time.perf_counter() - started)
        return statistics.median(runs)

    heavy = timed([sys.executable, "-c", "import torch, mlflow, sklearn"])
    out = []
    for words in (["--help"], ["list"]):
        seconds = timed([sys.executable, "-m", "harness", *words])
        out.append(Result(f"cli-startup ({' '.join(words)})", "python -c 'import torch, mlflow, sklearn'", heavy,
                          f"harness {' '.join(words)}", seconds, "ratio >= 5", heavy / seconds >= 5))
    return out


def _alternate(baseline: Callable[[], object], candidate: Callable[[], object], repeats: int):
    """Median seconds of each side over ``repeats`` alternating runs, after one
    untimed warm-up of each (first calls allocate and pick kernels). Alternating
    spreads slow spells of a shared machine over both sides; the median drops outliers."""
    import statistics

    baseline(), candidate()
    times: tuple[list[float], list[float]] = ([], [])
    results = [None, None]
    for _ in range(repeats):
        for index, fn in enumerate((baseline, candidate)):
            started = time.perf_counter()
            results[index] = fn()
            times[index].append(time.perf_counter() - started)
    return statistics.median(times[0]), statistics.median(times[1]), results[0], results[1]


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


def render(results: list[Result], command: str, where: str) -> str:
    lines = ["# Benchmarks", "", f"Generated {datetime.now(timezone.utc).isoformat(timespec='seconds')} by `{command}`.",
             "", f"Machine: {where}.", "",
             "Each ratio is baseline time / candidate time, both measured in this one invocation after an untimed "
             "warm-up of each side; how each side was timed is in the notes under the table.", "",
             "| benchmark | baseline | s | candidate | s | ratio | target | met |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        lines.append(f"| {r.name} | {r.baseline} | {r.baseline_s:.3g} | {r.candidate} | {r.candidate_s:.3g} | "
                     f"**{r.ratio:.2f}x** | {r.target} | {'–' if r.met is None else 'yes' if r.met else 'no'} |")
    lines.append("")
    lines += [f"- **{r.name}**: {r.detail}" for r in results if r.detail]
    lines += ["", "Run `make bench` (or the command above) to reproduce; `python -m harness.bench NAME` runs one."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS.names())})")
    parser.add_argument("--seeds", type=int, default=32, help="ensemble-seeds: seeds (default 32)")
    parser.add_argument("--epochs", type=int, default=5, help="ensemble-seeds: epochs per seed (default 5)")
    parser.add_argument("--trials", type=int, default=5, help="tracking-overhead: trials per side (default 5)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each side, alternating (median; default 3)")
    parser.add_argument("--device", help="torch device (default: cuda when present, else cpu)")
    parser.add_argument("--out", default="reports/bench.md", help="where to write the table (default reports/bench.md)")
    args = parser.parse_args(argv)
    if min(args.seeds, args.epochs, args.repeats, args.trials) < 1:
        parser.error("--seeds, --epochs, --repeats and --trials must be >= 1")
    try:
        chosen = [BENCHMARKS.get(n) for n in (args.names or BENCHMARKS.names())]
    except KeyError as exc:  # an unknown name: the message lists the known ones
        parser.error(str(exc))
    from harness import engine

    device = str(engine.pick_device(args.device))
    engine.configure_torch(engine.threads_per_worker(1))
    results = []
    for run in chosen:
        produced = run(args)
        for result in produced if isinstance(produced, list) else [produced]:
            verdict = "no target" if result.met is None else "met" if result.met else "NOT met"
            print(f"{result.name}: {result.baseline_s:.2f} s -> {result.candidate_s:.2f} s = {result.ratio:.2f}x "
                  f"({result.target}: {verdict})", flush=True)
            results.append(result)
    command = "python -m harness.bench " + " ".join(sys.argv[1:] if argv is None else argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(results, command.strip(), machine(device)))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
