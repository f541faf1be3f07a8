"""The one-screen summary printed after a run."""
from __future__ import annotations

from harness.summary import format_summary


def claim(**overrides):
    base = {"id": "C-1", "verdict": "reproduced", "effect": -0.25, "ci": [-0.4, -0.1], "ci_level": 0.975,
            "p_value": 0.012, "n": 5, "reason": "significant in the claimed direction"}
    return base | overrides


def test_summary_shows_interval_with_its_level_and_the_reason_when_there_is_none():
    doc = {"study": "s", "budget": "standard", "claims": [
        claim(),
        claim(id="C-2", verdict="inconclusive", ci=None, ci_level=None, p_value=None,
              reason="invalid: `deep`: still improving 6.7% over its last 3 evaluations"),
        claim(id="C-3", ci=[None, 0.5], ci_level=0.95),
        claim(id="C-4", verdict="reproduced", ci=None, ci_level=None, p_value=None, reason="tolerance check"),
    ]}
    text = format_summary([doc])
    lines = text.splitlines()
    assert lines[0] == "s [standard] -> reports/s/report.md"
    assert "[-0.4, -0.1] at 97.5%  p=0.012" in lines[1] and "n=5" in lines[1]
    assert "invalid: `deep`: still improving 6.7%" in lines[2]
    assert "[-inf, 0.5] at 95%" in lines[3]
    assert "tolerance check" in lines[4]


def test_smoke_summaries_say_they_are_not_results():
    assert "machinery check, not results" in format_summary([{"study": "s", "budget": "smoke", "claims": []}])


def test_quick_summaries_say_they_are_a_preview():
    text = format_summary([{"study": "s", "budget": "quick", "claims": []}])
    assert text.splitlines()[0] == ("s [quick] -> reports/quick/s/report.md  "
                                    "(quick budget: a preview; the committed reports are standard's)")
    assert "preview" not in format_summary([{"study": "s", "budget": "standard", "claims": []}])
