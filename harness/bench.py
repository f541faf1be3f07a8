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
    target: str            # the goal, in words ("ratio >= 5")
    met: bool
    detail: str = ""       # what else a reader needs (agreement of results, sizes)

    @property
    def ratio(self) -> float:
        return self.baseline_s / self.candidate_s


BENCHMARKS: Registry[Callable[[argparse.Namespace], Result]] = Registry("benchmark")
benchmark = BENCHMARKS.register


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
    from harness.context import TrialContext
    from harness.ensemble import Member, Shape, train
    from harness.nets import MLP
    from harness.seeding import trial_seeds
    from harness.study import Arm, Budget

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
            for r, s in enumerate(seeds):
                ctx = TrialContext("bench", Arm("mlp"), r, "bench", Budget(1), s, str(device), torch.get_num_threads(),
                                   Path(scratch), show_progress=False)
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
        name="ensemble-seeds",
        baseline=f"{args.seeds} seeds one after another (engine.fit, nn.Module)", baseline_s=sequential_s,
        candidate=f"the same {args.seeds} seeds as one ensemble (harness.ensemble)", candidate_s=ensemble_s,
        target="ratio >= 5 (32 MNIST-1D MLP seeds on 2 CPU cores)", met=sequential_s / ensemble_s >= 5,
        detail=(f"MNIST-1D 4000/1000, 40-100-100-10 ReLU MLP, SGD lr {lr} momentum {momentum}, batch 100, "
                f"{args.epochs} epochs; largest test-accuracy difference between a member and its sequential run: "
                f"{gap:.4f} (float rounding of two matmul orders, amplified by training)"))


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
    import os

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
             "Each ratio is baseline time / candidate time, both measured in this one invocation: the median of "
             "alternating timed runs of each side, after an untimed warm-up of each.", "",
             "| benchmark | baseline | s | candidate | s | ratio | target | met |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        lines.append(f"| {r.name} | {r.baseline} | {r.baseline_s:.3g} | {r.candidate} | {r.candidate_s:.3g} | "
                     f"**{r.ratio:.2f}x** | {r.target} | {'yes' if r.met else 'no'} |")
    lines.append("")
    lines += [f"- **{r.name}**: {r.detail}" for r in results if r.detail]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS.names())})")
    parser.add_argument("--seeds", type=int, default=32, help="ensemble-seeds: seeds (default 32)")
    parser.add_argument("--epochs", type=int, default=5, help="ensemble-seeds: epochs per seed (default 5)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each side, alternating (median; default 3)")
    parser.add_argument("--device", help="torch device (default: cuda when present, else cpu)")
    parser.add_argument("--out", default="reports/bench.md", help="where to write the table (default reports/bench.md)")
    args = parser.parse_args(argv)
    if min(args.seeds, args.epochs, args.repeats) < 1:
        parser.error("--seeds, --epochs and --repeats must be >= 1")
    try:
        chosen = [BENCHMARKS.get(n) for n in (args.names or BENCHMARKS.names())]
    except KeyError as exc:  # an unknown name: the message lists the known ones
        parser.error(str(exc))
    from harness import engine

    device = str(engine.pick_device(args.device))
    engine.configure_torch(engine.threads_per_worker(1))
    results = []
    for run in chosen:
        result = run(args)
        print(f"{result.name}: {result.baseline_s:.2f} s -> {result.candidate_s:.2f} s = {result.ratio:.2f}x "
              f"(target {result.target}: {'met' if result.met else 'NOT met'})", flush=True)
        results.append(result)
    command = "python -m harness.bench " + " ".join(sys.argv[1:] if argv is None else argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(results, command.strip(), machine(device)))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
