"""The one-screen summary of verdicts printed at the end of a run."""
from __future__ import annotations

import math
from typing import Any, Sequence


def _num(value: Any) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3g}"


def format_summary(documents: Sequence[dict[str, Any]]) -> str:
    lines = []
    for doc in documents:
        smoke = "  (smoke budget: machinery check, not results)" if doc["budget"] == "smoke" else ""
        lines.append(f"{doc['study']} [{doc['budget']}] -> reports/{doc['study']}/report.md{smoke}")
        for c in doc["claims"]:
            ci = c["ci"] or [None, None]
            lines.append(f"  {c['id']:<27} {c['verdict']:<15} effect {_num(c['effect']):>9} "
                         f"[{_num(ci[0])}, {_num(ci[1])}]  p={_num(c['p_value'])}  n={c['n']}")
    return "\n".join(lines)


def print_summary(documents: Sequence[dict[str, Any]]) -> None:
    if documents:
        print(format_summary(documents))
