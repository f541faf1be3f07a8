"""The committed reports keep the promises of the verdict rule (README,
"Verdicts"): every claim records its checks, no p-value is exactly 0, and the
interval shown agrees with the verdict (for an equivalence test, its position
against the band ± margin). (That they are what the committed
code produces is `make verify-reports`' job: it reruns every study.)"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from harness.design import REPORT_BUDGET

REPORTS = Path(__file__).resolve().parent.parent / "reports"
DOCUMENTS = sorted(REPORTS.glob("*/verdicts.json"))


def _claims():
    for path in DOCUMENTS:
        doc = json.loads(path.read_text())
        for claim in doc["claims"]:
            yield pytest.param(doc, claim, id=f"{doc['study']}/{claim['id']}")


def _test_of(study: str, claim_id: str):
    from harness.discovery import get_study

    return next(c.test for c in get_study(study).claims if c.id == claim_id)


def _equivalence_margin(study: str, claim_id: str) -> float | None:
    """The margin of a claim declared as an equivalence test (``Similar``, ``Within``), else None."""
    from harness.claimtests import Similar, Within

    test = _test_of(study, claim_id)
    return test.margin if isinstance(test, (Similar, Within)) else None


def test_there_are_committed_reports():
    assert DOCUMENTS, "reports/*/verdicts.json: the standard-tier reports are committed"


@pytest.mark.parametrize("doc, claim", list(_claims()))
def test_committed_claim_keeps_the_rules(doc, claim):
    assert doc["budget"] == REPORT_BUDGET == "standard", "committed reports come from the standard tier"
    assert claim["checks"], "a claim without checks"
    for p in (claim["p_value"], *claim["p_raw"].values()):
        assert p != 0.0, "a p-value of exactly 0"
    if claim["ci"] is None:
        return
    lo = -math.inf if claim["ci"][0] is None else claim["ci"][0]
    hi = math.inf if claim["ci"][1] is None else claim["ci"][1]
    margin = _equivalence_margin(doc["study"], claim["id"])
    if margin is not None:  # an equivalence test: the band null ± margin decides, not the point null
        inside = claim["null"] - margin < lo and hi < claim["null"] + margin
        beyond = hi < claim["null"] - margin or lo > claim["null"] + margin
        expected = "reproduced" if inside else "contradicted" if beyond else "inconclusive"
        assert claim["verdict"] == expected, f"interval [{lo:g}, {hi:g}] against ±{margin:g}: {expected}"
        assert 0 < claim["alpha"] <= 0.05 and claim["ci_level"] == pytest.approx(1 - claim["alpha"])
        return
    if claim["verdict"] == "not reproduced":  # a directional test's TOST: its 1 - 2 alpha interval inside the margin
        margin = _test_of(doc["study"], claim["id"]).margin   # the directional test's declared 'not reproduced' band
        assert claim["null"] - margin < lo and hi < claim["null"] + margin, f"[{lo:g}, {hi:g}] not inside ±{margin:g}"
        assert 0 < claim["alpha"] <= 0.05 and claim["ci_level"] == pytest.approx(1 - 2 * claim["alpha"])
        return
    excludes = not (lo <= claim["null"] <= hi)
    if claim["verdict"] == "inconclusive":
        assert not excludes, "an inconclusive claim whose interval excludes the null"
    if claim["verdict"] in ("reproduced", "contradicted"):
        assert excludes, "a directional verdict whose interval contains the null"
    assert 0 < claim["alpha"] <= 0.05 and claim["ci_level"] == pytest.approx(1 - claim["alpha"])
