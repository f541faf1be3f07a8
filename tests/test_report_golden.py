"""Report rendering against a golden file: the Markdown a reader sees.

``render`` turns a verdicts document into report.md. The document here is
written out by hand (one claim reproduced with its interval, one made invalid
by a failed check, one tolerance check) so any change to the page's words,
tables or order shows up as a diff of ``tests/golden/tiny_report.md``. After a
deliberate change, rewrite the golden file with
``UPDATE_GOLDEN=1 python -m pytest tests/test_report_golden.py`` and read its diff.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from harness.claims import Claim
from harness.claimtests import Better, Similar
from harness.report import Figure, render
from harness.study import Arm, Budget, Study

GOLDEN = Path(__file__).parent / "golden" / "tiny_report.md"

STUDY = Study(
    name="golden", title="A study for the golden report", summary="Wide against narrow MLPs on synthetic data.",
    claims=(
        Claim(id="G-WIDE", quote="Wider is better.", article="Tests", section="Fixtures", source="A paper 2020",
              source_numbers="2.1% vs 3.4% error", measure="Test error of the final epoch.",
              test=Better("test_error", "wide", "narrow")),
        Claim(id="G-SAME", quote="Width does not matter.", article="Tests", section="Fixtures", source="none",
              source_numbers="none", measure="Test error.", test=Similar("test_error", "wide", "narrow", margin=0.05)),
    ),
    arms=lambda budget: [Arm("narrow", {"width": 2}), Arm("wide", {"width": 32})],
    run_trial=lambda ctx: {},
    datasets=("synthetic",),
    budgets={name: Budget(replicates=3, settings={"epochs": 3}) for name in ("smoke", "quick", "standard", "full")},
)


def claim(**fields):
    base = {"quote": "Wider is better.", "article": "Tests", "section": "Fixtures", "source": "A paper 2020",
            "source_numbers": "2.1% vs 3.4% error", "measure": "Test error of the final epoch.",
            "test": "paired t-test of test_error, wide − narrow, lower is better", "effect_note": "",
            "null": 0.0, "ci_method": "t-interval", "alpha": 0.025,
            "p_raw": {"support": 0.001, "opposite": 0.999, "equivalence": None}, "budget": "standard",
            "measured": {"wide": 0.1, "narrow": 0.2}, "settle": "", "preregistered": True, "notes": []}
    return base | fields


DOC = {
    "study": "golden", "budget": "standard", "generated_at": "2026-01-01T00:00:00+00:00", "experiment_id": "7",
    "parent_run": "parent0", "tracking_uri": "sqlite:////store/mlflow.db",
    "provenance": {"preregistered": True, "why": "every run came from commit abc123 (clean)",
                   "study_source": ["f00d"]},
    "trials": {"finished": 6, "failed": 1, "tuning": 4, "tuning_failed": 1},
    "environment": {"torch": "2.13.0", "device": "cpu"},
    "claims": [
        claim(id="G-WIDE", verdict="reproduced", reason="significant in the claimed direction",
              effect=-0.1, ci=[None, -0.05], ci_level=0.975, p_value=0.002, n=3, runs=["r1", "r2"],
              checks=[{"name": "trained", "arm": "wide", "passed": True, "detail": "`wide`: train_loss fell 80.0%"},
                      {"name": "tuned-alike", "arm": "all", "passed": True, "detail": "neither arm is tuned"}],
              settle="settled: the one-sided 97.5% bound −0.05 < 0",
              notes=["The narrow arm is 2 units wide | by design."]),
        claim(id="G-SAME", quote="Width does not matter.", verdict="inconclusive",
              reason="invalid: `narrow`: still improving 6.7% over its last 3 evaluations of test_error",
              effect=-0.1, ci=None, ci_level=None, p_value=None, n=3, runs=["r1"], lower_bounds=["narrow"],
              checks=[{"name": "converged", "arm": "narrow", "passed": False,
                       "detail": "`narrow`: still improving 6.7% over its last 3 evaluations of test_error"}]),
    ],
}

RUNS = pd.DataFrame([
    {"run_id": "r1", "arm": "wide", "replicate": 0, "status": "FINISHED", "tags.harness.fail_reason": None},
    {"run_id": "r9", "arm": "narrow", "replicate": 2, "status": "FAILED",
     "tags.harness.fail_reason": "TrialDiverged: training loss became nan | in epoch 2\nat step 7"},
])


def test_report_markdown_matches_the_golden_file():
    text = render(STUDY, DOC, [Figure("curves.png", "Test error by epoch.")], RUNS,
                  sections=["## Wall-clock time", "", "Seconds per epoch: a report-only section.", ""])
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text(), "report.md changed: rerun with UPDATE_GOLDEN=1 and review the diff"


def test_the_golden_file_says_what_a_reader_needs():
    """What the golden file must keep whatever its wording: so regenerating it cannot lose these."""
    text = GOLDEN.read_text()
    assert "| [G-WIDE](#g-wide) | **reproduced** | -0.1 | [−∞, -0.05] (97.5%) | 0.002 | 3 | 2/2 passed |" in text
    assert "| [G-SAME](#g-same) | **inconclusive** | -0.1 | — | n/a | 3 | 0/1 passed |" in text
    assert "- ✗ `converged` — `narrow`: still improving 6.7%" in text
    assert "no interval shown: the comparison is invalid" in text
    assert "Means per arm: `wide` 0.1; `narrow` ≥ 0.2." in text     # a mean over capped runs is a bound
    assert "TrialDiverged: training loss became nan \\| in epoch 2 at step 7" in text   # one table row
    assert "Pre-registered: every run came from commit abc123 (clean)" in text


def test_a_quick_report_says_it_is_a_preview_and_a_standard_one_does_not():
    quick = render(STUDY, DOC | {"budget": "quick"}, [], RUNS)
    assert "> **quick budget: a preview" in quick.split("## ")[0]   # above the first section
    assert "quick budget" not in render(STUDY, DOC, [], RUNS)


def test_a_contradiction_within_the_claims_own_margin_says_so():
    """AE-DEPTH-1M's case: significant opposite (contradicted), and the TOST against its declared margin holds at
    the same level too; the page says both. Without a margin, or with the TOST short of the level, it says nothing."""
    def verdict_line(p_equivalence):
        opposite = claim(id="G-WIDE", verdict="contradicted", reason="significant opposite to the claim",
                         effect=0.02, ci=[0.01, 0.03], ci_level=0.975, p_value=0.004, n=12, runs=["r1"], checks=[],
                         p_raw={"support": 0.998, "opposite": 0.002, "equivalence": p_equivalence})
        text = render(STUDY, DOC | {"claims": [opposite]}, [], RUNS)
        return next(line for line in text.splitlines() if line.startswith("**Verdict: contradicted**"))

    assert "also lies within the pre-registered equivalence margin (TOST p = 7e-05 < its level 0.025)" in \
        verdict_line(7e-05)
    assert "margin" not in verdict_line(0.2) and "margin" not in verdict_line(None)
