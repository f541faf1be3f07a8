"""harness.curves: the per-run learning-curve CSV (and optional PNG)."""
from __future__ import annotations

import csv

from harness.curves import write_learning_curve


def test_one_row_per_step_one_column_per_metric(tmp_path):
    rows = [("train_loss", 1.0, 1, 0), ("test_error", 0.5, 1, 0), ("train_loss", 0.5, 2, 0), ("train_loss", 0.25, 3, 0),
            ("test_error", 0.4, 3, 0)]
    path = tmp_path / "curve.csv"
    write_learning_curve(rows, path, "arm r0", plot=False)
    table = list(csv.reader(path.open()))
    assert table[0] == ["step", "train_loss", "test_error"]
    assert table[1:] == [["1", "1.0", "0.5"], ["2", "0.5", ""], ["3", "0.25", "0.4"]]  # a step without a metric: empty
    assert not path.with_suffix(".png").exists()                    # plot=False: CSV only


def test_png_only_with_a_curve_to_draw(tmp_path):
    two = tmp_path / "two.csv"
    write_learning_curve([("loss", 1.0, 1, 0), ("loss", 0.5, 2, 0)], two, "two steps")
    assert two.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    one = tmp_path / "one.csv"
    write_learning_curve([("loss", 1.0, 1, 0)], one, "one step")
    assert one.exists() and not one.with_suffix(".png").exists()   # one point is not a curve
