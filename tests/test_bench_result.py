"""A benchmark's ratio, its interval from paired repeats, and what it may say
about its target (fast: no timing here)."""
from __future__ import annotations

import math

import pytest
from scipy import stats

from harness.bench import Result, render


def result(samples, threshold=5.0):
    return Result("b", "base", 10.0, "cand", 2.0, "ratio >= 5", threshold, samples=tuple(samples))


def test_the_interval_is_a_t_interval_on_log_ratios():
    samples = [4.0, 6.0, 5.5]
    logs = [math.log(x) for x in samples]
    low, high = stats.t.interval(0.95, len(logs) - 1, loc=sum(logs) / 3, scale=stats.sem(logs))
    assert result(samples).interval == pytest.approx((math.exp(low), math.exp(high)))


def test_met_only_when_the_whole_interval_clears_the_target():
    assert result([6.0, 6.2, 6.1]).status == "met" and result([6.0, 6.2, 6.1]).met is True
    assert result([3.0, 3.1, 3.2]).status == "NOT met" and result([3.0, 3.1, 3.2]).met is False
    straddling = result([4.0, 6.0, 5.0])
    assert straddling.status == "undecided (the interval straddles 5)" and straddling.met is None


def test_one_repeat_cannot_decide_and_a_report_has_no_target():
    assert result([9.0]).interval is None and result([9.0]).status.startswith("undecided (one repeat")
    assert result([1.0, 2.0], threshold=None).status == "no target"


def test_render_shows_interval_and_status_and_the_study_table():
    text = render([result([6.0, 6.2, 6.1])], "python -m harness.bench b", "a machine",
                  [("dropout", 43, 11.7, 1.84)], "sqlite:////x/mlflow.db")
    row = next(line for line in text.splitlines() if line.startswith("| b |"))
    assert "**5.00x**" in row and "(n=3)" in row and row.endswith("| ratio >= 5 | met |")
    assert "| dropout | 43 | 11.7 | 1.84 |" in text
