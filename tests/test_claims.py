"""The verdict rule (``decide``), claim declarations and the runs helpers of
``harness.claims``. The claim tests themselves are in test_claimtests.py, the
error-rate calibration in test_calibration.py."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from harness import stats
from harness.checks import CheckResult, TunedAlike, Trained
from harness.claims import Claim, Evidence, arm_mean, decide, directional_p
from harness.claimtests import Better, Bound, difference_evidence
from harness.design import StudyDeclarationError

METRIC = "mse"
COL = f"metrics.{METRIC}"


def make_runs(values: dict[str, list[float]], statuses: dict[tuple[str, int], str] | None = None) -> pd.DataFrame:
    statuses = statuses or {}
    rows = [{"run_id": f"{arm}-r{rep}", "arm": arm, "replicate": rep, "status": statuses.get((arm, rep), "FINISHED"),
             COL: float(v)} for arm, vals in values.items() for rep, v in enumerate(vals)]
    return pd.DataFrame(rows)


def evidence(p_support: float, p_opposite: float | None = None, p_equivalence: float = math.nan,
             n: int = 5) -> Evidence:
    """Evidence with given one-sided p-values (opposite = 1 - support unless given) and
    a t-like interval around an effect of the matching sign."""
    p_opposite = 1 - p_support if p_opposite is None else p_opposite
    return Evidence("t", 0.0, n, p_support, p_opposite, p_equivalence, ())


# --------------------------------------------------------------------------
# the rule: each direction at alpha/2, Holm across claims
# --------------------------------------------------------------------------


def test_directional_p_is_twice_the_smaller_side():
    assert directional_p(evidence(0.01)) == pytest.approx(0.02)
    assert directional_p(evidence(0.99)) == pytest.approx(0.02)
    assert directional_p(evidence(0.7, p_opposite=math.nan)) == 1.0


def test_single_claim_needs_half_alpha_per_direction():
    assert decide([evidence(0.02)])[0].verdict == "reproduced"      # 2 x 0.02 = 0.04 < 0.05
    assert decide([evidence(0.03)])[0].verdict == "inconclusive"    # 2 x 0.03 = 0.06: alpha per direction would say yes
    assert decide([evidence(0.98)])[0].verdict == "contradicted"
    assert decide([evidence(0.97)])[0].verdict == "inconclusive"


def test_holm_across_claims_in_input_order():
    verdicts = decide([evidence(0.02), evidence(0.005), evidence(0.011)])
    # directional 0.04, 0.01, 0.022 -> Holm: 0.01*3 = 0.03, 0.022*2 = 0.044, 0.04*1 -> max-accumulated 0.044
    assert [v.p_value for v in verdicts] == pytest.approx([0.044, 0.03, 0.044])
    assert [v.verdict for v in verdicts] == ["reproduced"] * 3
    verdicts = decide([evidence(0.02), evidence(0.005), evidence(0.02)])
    assert [v.verdict for v in verdicts] == ["inconclusive", "reproduced", "inconclusive"]


def test_equivalence_family_gives_not_reproduced():
    verdicts = decide([evidence(0.4, p_equivalence=0.01), evidence(0.4, p_equivalence=0.06)])
    assert [v.verdict for v in verdicts] == ["not reproduced", "inconclusive"]
    assert verdicts[0].p_value == pytest.approx(0.02)


def test_untestable_claims_do_not_count_in_holm():
    nan = math.nan
    verdicts = decide([evidence(0.02), Evidence("t", nan, 1, nan, nan)])
    assert verdicts[0].verdict == "reproduced" and verdicts[0].p_value == pytest.approx(0.04)
    assert verdicts[1].verdict == "inconclusive" and "only 1 replicate" in verdicts[1].reason
    assert verdicts[1].ci is None


def test_a_failed_check_makes_the_claim_invalid_and_untested():
    failed = CheckResult("converged", "deep", False, "`deep`: still improving 6.7% over its last 3 evaluations")
    ok = CheckResult("trained", "deep", True, "fine")
    verdicts = decide([evidence(1e-6), evidence(0.02)], [[failed, ok], [ok]])
    assert verdicts[0].verdict == "inconclusive"
    assert verdicts[0].reason == "invalid: `deep`: still improving 6.7% over its last 3 evaluations"
    assert verdicts[0].ci is None and math.isnan(verdicts[0].p_value)
    assert verdicts[0].checks == (failed, ok)
    # the invalid claim is not in the family: the other one is tested alone
    assert verdicts[1].verdict == "reproduced" and verdicts[1].p_value == pytest.approx(0.04)


def test_checks_the_test_ran_itself_count_too():
    degenerate = CheckResult("not-degenerate", "all", False, "every paired difference is exactly 0")
    e = Evidence("t", 0.0, 5, 0.5, 0.5, checks=(degenerate,))
    assert decide([e])[0].reason == "invalid: every paired difference is exactly 0"


def test_tolerance_checks_have_no_statistics():
    passed = Evidence("tol", 1e-15, 3, math.nan, math.nan, tolerance_passed=True)
    failed = Evidence("tol", 1e-3, 3, math.nan, math.nan, tolerance_passed=False)
    verdicts = decide([passed, failed, evidence(0.02)])
    assert [v.verdict for v in verdicts] == ["reproduced", "contradicted", "reproduced"]
    assert math.isnan(verdicts[0].p_value)
    assert verdicts[2].p_value == pytest.approx(0.04)  # the tolerance checks are not in the Holm family


def test_alpha_is_a_parameter():
    assert decide([evidence(0.01)], alpha=0.01)[0].verdict == "inconclusive"
    assert decide([evidence(0.004)], alpha=0.01)[0].verdict == "reproduced"


# --------------------------------------------------------------------------
# intervals agree with verdicts; settle lines are one-sided at the Holm level
# --------------------------------------------------------------------------


def _difference(d: np.ndarray, lower_is_better: bool = True) -> Evidence:
    base = np.linspace(1.0, 2.0, len(d))
    return difference_evidence(base + d, base, lower_is_better=lower_is_better, describe="t")


@pytest.mark.parametrize("seed", range(40))
def test_interval_excludes_the_null_exactly_when_the_verdict_is_directional(seed):
    rng = np.random.default_rng(seed)
    lower = [bool(rng.integers(2)) for _ in range(int(rng.integers(1, 6)))]
    claims = [_difference(rng.normal(rng.normal(0, 0.7), 1.0, size=int(rng.integers(3, 12))), lower_is_better=lb)
              for lb in lower]
    for lower_is_better, v in zip(lower, decide(claims)):
        lo, hi = v.ci
        claimed_side = hi < 0 if lower_is_better else lo > 0
        opposite_side = lo > 0 if lower_is_better else hi < 0
        assert 0 < v.alpha <= 0.05
        if v.verdict == "inconclusive":
            assert lo <= 0.0 <= hi
        elif v.verdict == "reproduced":
            assert claimed_side
        else:
            assert v.verdict == "contradicted" and opposite_side


def test_reproduced_interval_lies_on_the_claimed_side():
    better = _difference(np.array([-0.3, -0.25, -0.35, -0.28, -0.31]), lower_is_better=True)
    v = decide([better])[0]
    assert v.verdict == "reproduced" and v.ci[1] < 0
    worse = _difference(np.array([0.3, 0.25, 0.35, 0.28, 0.31]), lower_is_better=True)
    v = decide([worse])[0]
    assert v.verdict == "contradicted" and v.ci[0] > 0


def test_settle_line_in_the_claimed_direction_at_the_holm_level():
    noisy = _difference(np.array([-0.2, 0.1, -0.3, 0.05]))  # leans the claimed way (lower), not significant
    sure = _difference(np.array([-1.0, -1.1, -0.9, -1.05, -0.95, -1.02]))
    v_noisy, _ = decide([noisy, sure])
    assert v_noisy.verdict == "inconclusive"
    # the noisy claim ranks second of two: its Holm level is alpha/1, one-sided alpha/2 = 0.025
    n = stats.seeds_needed(np.array([-0.2, 0.1, -0.3, 0.05]), alpha=0.025, alternative="less")
    assert f"about {n} replicates would settle it" in v_noisy.settle
    assert "one-sided α = 0.025" in v_noisy.settle


def test_settle_line_says_when_more_seeds_would_contradict():
    against = _difference(np.array([0.2, -0.1, 0.3, 0.05]))  # leans against a lower-is-better claim
    v = decide([against])[0]
    assert v.verdict == "inconclusive"
    n = stats.seeds_needed(np.array([0.2, -0.1, 0.3, 0.05]), alpha=0.025, alternative="greater")
    assert "opposes the claim" in v.settle and "`contradicted`" in v.settle and f"about {n}" in v.settle


def test_settle_line_never_asks_for_what_the_run_already_has_without_saying_why():
    e = _difference(np.array([-0.2, 0.1, -0.3, 0.05, -0.1, -0.15, 0.02]))
    v = decide([e])[0]
    if v.verdict == "inconclusive":
        n = int(v.settle.split("about ")[1].split(" ")[0])
        assert n > e.n or "Holm's step-down stopped" in v.settle


# --------------------------------------------------------------------------
# declarations
# --------------------------------------------------------------------------


def claim(**overrides) -> Claim:
    fields = dict(id="c1", quote="Deep autoencoders beat PCA.", article="a", section="s", source="src",
                  source_numbers="1.0 vs 2.0", measure="reconstruction error", test=Better(METRIC, "new", "old"))
    fields.update(overrides)
    return Claim(**fields)


def test_claim_valid_declaration_adds_tuned_alike_to_a_comparison():
    c = claim()
    assert c.test.arms() == {"new", "old"}
    assert any(isinstance(check, TunedAlike) for check in c.all_checks)
    declared = TunedAlike(reason="PCA has nothing to tune")
    assert claim(checks=(declared,)).all_checks == (declared,)
    one_arm = claim(test=Bound(METRIC, 1.0, "below", ("a",)), checks=(Trained(),))
    assert one_arm.all_checks == (Trained(),)


@pytest.mark.parametrize("name", ["quote", "id", "measure"])
def test_claim_empty_field(name):
    with pytest.raises(StudyDeclarationError, match=name):
        claim(**{name: "   "})


def test_claim_test_and_checks_must_be_the_harness_types():
    with pytest.raises(StudyDeclarationError, match="ClaimTest"):
        claim(test="better")
    with pytest.raises(StudyDeclarationError, match="checks"):
        claim(checks=("converged",))


def test_arm_mean_uses_finished_runs_with_the_metric_only():
    runs = make_runs({"a": [1.0, 2.0, 100.0, math.nan], "b": [5.0]}, statuses={("a", 2): "FAILED"})
    assert arm_mean(runs, "a", METRIC) == pytest.approx(1.5)
    assert arm_mean(runs, "b", METRIC) == pytest.approx(5.0)
    assert math.isnan(arm_mean(runs, "missing", METRIC))
    assert math.isnan(arm_mean(runs, "a", "no_such_metric"))


def test_read_arms_are_the_declared_arms_and_those_the_test_finds_by_pattern():
    runs = pd.DataFrame({"arm": ["a", "b", "grid-1", "grid-2", "other"], "status": ["FINISHED"] * 5})
    assert Better("test_error", "a", "missing").read_arms(runs) == ["a", "missing"]  # a declared arm without runs stays

    class ByPrefix(Better):
        def reads(self, arm):
            return arm == self.arm or arm.startswith("grid-")

    assert ByPrefix("test_error", "a", "b").read_arms(runs) == ["a", "b", "grid-1", "grid-2"]
    assert ByPrefix("test_error", "a", "b").read_arms(runs.iloc[0:0]) == ["a", "b"]
