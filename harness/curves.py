"""Per-run learning-curve artifacts: a CSV of every per-epoch metric, and optionally a PNG."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterable


def write_learning_curve(metrics: Iterable[tuple[str, float, int, int]], path: Path, title: str,
                         plot: bool = True) -> None:
    """``metrics`` are (key, value, step, timestamp) rows; writes ``path`` (CSV,
    one column per metric, one row per step) and, with ``plot``, the same name
    as a PNG (~0.2 s a run here, so studies opt in: `Study.curve_plots`)."""
    table: dict[int, dict[str, float]] = {}
    keys: list[str] = []
    for key, value, step, _ in metrics:
        table.setdefault(step, {})[key] = value
        if key not in keys:
            keys.append(key)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["step", *keys])
        for step in sorted(table):
            writer.writerow([step, *(table[step].get(k, "") for k in keys)])
    steps = sorted(table)
    if len(steps) < 2 or not plot:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    for key in keys:
        points = [(s, table[s][key]) for s in steps if key in table[s]]
        if len(points) > 1:
            ax.plot(*zip(*points), label=key)
    ax.set_xlabel("epoch")
    if all(v > 0 for row in table.values() for v in row.values()):
        ax.set_yscale("log")  # losses span decades; a log axis shows the tail
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path.with_suffix(".png"), dpi=80)
    plt.close(fig)
