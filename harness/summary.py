"""The one-screen summary of verdicts printed at the end of a run."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

from harness.paths import reports_dir


def _num(value: Any) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3g}"


def format_summary(documents: Sequence[dict[str, Any]]) -> str:
    lines = []
    for doc in documents:
        smoke = {"smoke": "  (smoke budget: machinery check, not results)",
                 "quick": "  (quick budget: a preview; the committed reports are standard's)"}.get(doc["budget"], "")
        folder = reports_dir(doc["budget"], Path())  # relative: reports/ or reports/<budget>/
        lines.append(f"{doc['study']} [{doc['budget']}] -> {folder.as_posix()}/{doc['study']}/report.md{smoke}")
        for c in doc["claims"]:
            if c["ci"] is None:  # invalid, untested, or a tolerance check: the reason says which
                detail = c["reason"] if c["verdict"] == "inconclusive" else "tolerance check"
            else:
                lo, hi = ("-inf" if c["ci"][0] is None else _num(c["ci"][0]),
                          "inf" if c["ci"][1] is None else _num(c["ci"][1]))
                detail = f"[{lo}, {hi}] at {_num(100 * c['ci_level'])}%  p={_num(c['p_value'])}"
            lines.append(f"  {c['id']:<27} {c['verdict']:<15} effect {_num(c['effect']):>9}  {detail[:90]}  n={c['n']}")
    return "\n".join(lines)


def print_summary(documents: Sequence[dict[str, Any]]) -> None:
    if documents:
        print(format_summary(documents))
