"""Claim tests (Better, Similar, Bound), Holm across claims in ``decide`` and
declaration checks, on runs DataFrames built by hand."""
from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from harness.claims import Better, Bound, Claim, Evidence, Similar, decide, arm_mean
from harness.study import StudyDeclarationError

METRIC = "mse"
COL = f"metrics.{METRIC}"


def make_runs(values: dict[str, list[float]], statuses: dict[tuple[str, int], str] | None = None,
              replicates: dict[str, list[int]] | None = None) -> pd.DataFrame:
    """One row per (arm, replicate) with run id "<arm>-r<replicate>"."""
    statuses = statuses or {}
    rows = []
    for arm, vals in values.items():
        reps = (replicates or {}).get(arm, list(range(len(vals))))
        assert len(reps) == len(vals)
        for rep, v in zip(reps, vals):
            rows.append({"run_id": f"{arm}-r{rep}", "arm": arm, "replicate": int(rep),
                         "status": statuses.get((arm, rep), "FINISHED"), COL: float(v)})
    return pd.DataFrame(rows)


def verdict_of(test, runs):
    evidence = test.evaluate(runs)
    return evidence, decide([evidence])[0]


def paired(base: np.ndarray, diff: np.ndarray) -> dict[str, list[float]]:
    return {"new": list(base + diff), "old": list(base)}


BASE8 = np.array([1.00, 1.10, 0.95, 1.05, 0.98, 1.02, 1.07, 0.93])
NOISE8 = np.array([0.010, -0.012, 0.005, -0.004, 0.008, -0.009, 0.003, -0.001])


# --------------------------------------------------------------------------
# Better
# --------------------------------------------------------------------------


def test_better_clear_improvement_is_reproduced():
    runs = make_runs(paired(BASE8, -0.2 + NOISE8))
    evidence, verdict = verdict_of(Better(METRIC, "new", "old"), runs)
    assert evidence.n == 8
    assert evidence.effect == pytest.approx(float(np.mean(-0.2 + NOISE8)))
    assert evidence.p_support < 1e-6
    assert evidence.p_opposite > 0.99
    assert verdict.verdict == "reproduced"
    assert verdict.p_value == pytest.approx(evidence.p_support)
    assert evidence.ci[0] < evidence.effect < evidence.ci[1] < 0
    assert evidence.measured == pytest.approx({"new": float(np.mean(BASE8 - 0.2 + NOISE8)),
                                               "old": float(np.mean(BASE8))})


def test_better_reverse_is_contradicted():
    runs = make_runs(paired(BASE8, +0.2 + NOISE8))
    evidence, verdict = verdict_of(Better(METRIC, "new", "old"), runs)
    assert evidence.p_support > 0.99
    assert evidence.p_opposite < 1e-6
    assert verdict.verdict == "contradicted"
    assert verdict.p_value == pytest.approx(evidence.p_opposite)


def test_better_tiny_difference_within_margin_is_not_reproduced():
    base = np.linspace(1.0, 2.0, 20)
    diff = np.array([0.001, -0.001] * 10) + np.linspace(-0.002, 0.002, 20)  # mean 0, tiny spread
    runs = make_runs(paired(base, diff))
    evidence, verdict = verdict_of(Better(METRIC, "new", "old", margin=0.1), runs)
    assert evidence.n == 20
    assert evidence.p_support > 0.05 and evidence.p_opposite > 0.05
    assert evidence.p_equivalence < 1e-6
    assert verdict.verdict == "not reproduced"
    assert verdict.p_value == pytest.approx(evidence.p_equivalence)


def test_better_without_margin_has_no_equivalence_test():
    base = np.linspace(1.0, 2.0, 20)
    diff = np.array([0.001, -0.001] * 10)
    evidence, verdict = verdict_of(Better(METRIC, "new", "old"), make_runs(paired(base, diff)))
    assert math.isnan(evidence.p_equivalence)
    assert verdict.verdict == "inconclusive"


def test_better_noisy_three_seeds_is_inconclusive_with_seeds_needed():
    diff = np.array([-0.1, 0.3, -0.5])
    runs = make_runs(paired(np.array([1.0, 1.2, 0.9]), diff))
    evidence, verdict = verdict_of(Better(METRIC, "new", "old"), runs)
    assert evidence.n == 3
    assert evidence.p_support > 0.05 and evidence.p_opposite > 0.05
    assert verdict.verdict == "inconclusive"
    assert isinstance(evidence.seeds_needed, int) and evidence.seeds_needed > 3
    match = re.search(r"about (\d+) paired seeds", verdict.reason)
    assert match, verdict.reason
    assert int(match.group(1)) == evidence.seeds_needed


def test_better_higher_is_better_flips_direction():
    lower = make_runs(paired(BASE8, -0.2 + NOISE8))
    higher = make_runs(paired(BASE8, +0.2 + NOISE8))
    up = Better(METRIC, "new", "old", lower_is_better=False)
    assert verdict_of(up, higher)[1].verdict == "reproduced"
    assert verdict_of(up, lower)[1].verdict == "contradicted"
    down = Better(METRIC, "new", "old", lower_is_better=True)
    e_up, e_down = up.evaluate(higher), down.evaluate(higher)
    assert e_up.p_support == pytest.approx(e_down.p_opposite)
    assert e_up.p_opposite == pytest.approx(e_down.p_support)
    assert "higher" in up.describe() and "lower" in down.describe()


def test_better_wilcoxon():
    diff = -0.2 + NOISE8
    runs = make_runs(paired(BASE8, diff))
    evidence, verdict = verdict_of(Better(METRIC, "new", "old", method="wilcoxon"), runs)
    assert verdict.verdict == "reproduced"
    # all 8 differences negative: the exact one-sided signed-rank p is 1 / 2**8
    assert evidence.p_support == pytest.approx(1 / 256)
    assert evidence.p_support == pytest.approx(sps.wilcoxon(diff, alternative="less").pvalue)
    assert evidence.effect == pytest.approx(float(np.median(diff)))  # median for Wilcoxon
    assert "Wilcoxon" in evidence.test


def test_better_excludes_failed_and_nan_runs():
    base = np.array([1.0, 1.1, 0.9, 1.05, 0.95, 1.02])
    diff = np.array([-0.21, -0.19, -0.2, -0.22, -0.18, -0.2])
    values = paired(base, diff)
    values["new"][5] = 100.0   # a FAILED run with a wild value: must not count
    values["old"][4] = math.nan  # a finished run without the metric: must not count
    runs = make_runs(values, statuses={("new", 5): "FAILED"})
    evidence, verdict = verdict_of(Better(METRIC, "new", "old"), runs)
    assert evidence.n == 4
    assert evidence.effect == pytest.approx(float(np.mean(diff[:4])))
    assert set(evidence.runs) == {f"{arm}-r{r}" for arm in ("new", "old") for r in range(4)}
    assert len(evidence.runs) == 8
    assert verdict.verdict == "reproduced"
    # measured means use the finished, non-NaN pairs only, so they match the effect
    assert evidence.measured["new"] == pytest.approx(float(np.mean(values["new"][:4])))
    assert evidence.measured["old"] == pytest.approx(float(np.mean(values["old"][:4])))
    assert evidence.measured["new"] - evidence.measured["old"] == pytest.approx(evidence.effect)


def test_better_pairs_only_common_replicates():
    runs = make_runs({"new": [0.8, 0.82, 0.79, 0.81, 0.5, 0.5], "old": [1.0, 1.01, 0.99, 1.02, 2.0]},
                     replicates={"new": [0, 1, 2, 3, 4, 5], "old": [0, 1, 2, 3, 7]})
    evidence = Better(METRIC, "new", "old").evaluate(runs)
    assert evidence.n == 4
    assert evidence.effect == pytest.approx(np.mean([0.8 - 1.0, 0.82 - 1.01, 0.79 - 0.99, 0.81 - 1.02]))
    assert sorted(evidence.runs) == sorted(f"{a}-r{r}" for a in ("new", "old") for r in range(4))


def test_better_pairing_is_by_replicate_not_row_order():
    # the same values, rows shuffled: pairing by replicate gives the same evidence
    runs = make_runs(paired(BASE8, -0.2 + NOISE8))
    shuffled = runs.sample(frac=1.0, random_state=3).reset_index(drop=True)
    a, b = Better(METRIC, "new", "old").evaluate(runs), Better(METRIC, "new", "old").evaluate(shuffled)
    assert a.p_support == pytest.approx(b.p_support)
    assert a.effect == pytest.approx(b.effect)


def test_failed_attempt_before_a_finished_rerun_is_not_evidence():
    """Without deduplication a (arm, replicate) may have a failed attempt and a finished rerun:
    only the finished run is data, and only its id is listed."""
    runs = make_runs(paired(BASE8[:4], -0.2 + NOISE8[:4]))
    failed = pd.DataFrame([{"run_id": "new-r1-failed", "arm": "new", "replicate": 1, "status": "FAILED",
                            COL: math.nan},
                           {"run_id": "new-r2-failed", "arm": "new", "replicate": 2, "status": "FAILED",
                            COL: 50.0}])
    runs = pd.concat([failed, runs], ignore_index=True)
    evidence = Better(METRIC, "new", "old").evaluate(runs)
    assert evidence.n == 4
    assert evidence.effect == pytest.approx(float(np.mean(-0.2 + NOISE8[:4])))
    assert sorted(evidence.runs) == sorted(f"{a}-r{r}" for a in ("new", "old") for r in range(4))
    bound = Bound(METRIC, 10.0, "below", ("new",)).evaluate(runs)
    assert bound.n == 4
    assert sorted(bound.runs) == [f"new-r{r}" for r in range(4)]


@pytest.mark.parametrize("n_pairs", [0, 1])
def test_better_fewer_than_two_pairs_is_inconclusive(n_pairs):
    runs = make_runs({"new": [0.5, 0.6, 0.7], "old": [1.0, 1.1, 1.2]},
                     statuses={("old", r): "FAILED" for r in range(n_pairs, 3)})
    evidence, verdict = verdict_of(Better(METRIC, "new", "old"), runs)
    assert evidence.n == n_pairs
    assert math.isnan(evidence.p_support)
    assert verdict.verdict == "inconclusive"
    assert f"only {n_pairs} replicate" in verdict.reason
    assert len(evidence.runs) == 2 * n_pairs


def test_better_missing_metric_column_is_inconclusive():
    runs = make_runs({"new": [0.5, 0.6], "old": [1.0, 1.1]})
    evidence, verdict = verdict_of(Better("other", "new", "old"), runs)
    assert evidence.n == 0
    assert verdict.verdict == "inconclusive"


def test_better_evidence_runs_are_exactly_the_pairs_used():
    runs = make_runs({"new": [0.8, 0.82, 0.79], "old": [1.0, 1.01, 0.99], "other": [5.0, 5.0, 5.0]},
                     statuses={("new", 2): "FAILED"})
    evidence = Better(METRIC, "new", "old").evaluate(runs)
    assert sorted(evidence.runs) == ["new-r0", "new-r1", "old-r0", "old-r1"]


# --------------------------------------------------------------------------
# Similar
# --------------------------------------------------------------------------


def base_diff(runs: pd.DataFrame) -> np.ndarray:
    new = runs[runs["arm"] == "new"].set_index("replicate")[COL].sort_index()
    old = runs[runs["arm"] == "old"].set_index("replicate")[COL].sort_index()
    return (new - old).to_numpy()


def test_similar_equal_arms_with_generous_margin_reproduced():
    runs = make_runs(paired(BASE8, NOISE8))
    evidence, verdict = verdict_of(Similar(METRIC, "new", "old", margin=0.1), runs)
    assert evidence.n == 8
    assert evidence.effect == pytest.approx(float(np.mean(NOISE8)))
    assert evidence.p_support < 1e-6
    assert verdict.verdict == "reproduced"


def test_similar_clearly_different_is_contradicted():
    d = 0.2 + 3 * NOISE8
    runs = make_runs(paired(BASE8, d))
    evidence, verdict = verdict_of(Similar(METRIC, "new", "old", margin=0.1), runs)
    assert evidence.p_support > 0.5
    # one-sided test that the difference exceeds the margin, Bonferroni x2 over the two sides
    expected = min(1.0, 2 * sps.ttest_1samp(base_diff(runs), 0.1, alternative="greater").pvalue)
    assert 1e-9 < expected < 0.05
    assert evidence.p_opposite == pytest.approx(expected, rel=1e-6, abs=0)
    assert verdict.verdict == "contradicted"
    # the other side too
    runs = make_runs(paired(BASE8, -0.5 + NOISE8))
    assert verdict_of(Similar(METRIC, "new", "old", margin=0.1), runs)[1].verdict == "contradicted"


def test_similar_difference_near_margin_is_inconclusive():
    runs = make_runs(paired(BASE8, 0.1 + NOISE8))  # right at the margin
    evidence, verdict = verdict_of(Similar(METRIC, "new", "old", margin=0.1), runs)
    assert verdict.verdict == "inconclusive"


# --------------------------------------------------------------------------
# Bound
# --------------------------------------------------------------------------

ARM_A = [0.50, 0.52, 0.48, 0.51, 0.49, 0.50]
ARM_B = [0.70, 0.72, 0.68, 0.71, 0.69, 0.70]


def test_bound_below_and_above():
    runs = make_runs({"a": ARM_A, "b": ARM_B})
    below, v_below = verdict_of(Bound(METRIC, 1.0, "below", ("a", "b")), runs)
    assert v_below.verdict == "reproduced"
    above, v_above = verdict_of(Bound(METRIC, 0.3, "above", ("a", "b")), runs)
    assert v_above.verdict == "reproduced"
    # worst arm: the highest mean for "below", the lowest for "above"
    assert below.effect == pytest.approx(np.mean(ARM_B))
    assert above.effect == pytest.approx(np.mean(ARM_A))
    # wrong side in every arm: contradicted
    assert verdict_of(Bound(METRIC, 0.3, "below", ("a", "b")), runs)[1].verdict == "contradicted"
    assert verdict_of(Bound(METRIC, 1.0, "above", ("a", "b")), runs)[1].verdict == "contradicted"


def test_bound_intersection_union_takes_largest_p():
    runs = make_runs({"a": ARM_A, "b": ARM_B})
    bound = 0.69  # a clearly below, b not clearly below
    evidence, verdict = verdict_of(Bound(METRIC, bound, "below", ("a", "b")), runs)
    p_a = sps.ttest_1samp(ARM_A, bound, alternative="less").pvalue
    p_b = sps.ttest_1samp(ARM_B, bound, alternative="less").pvalue
    assert p_a < 0.05 < p_b
    assert evidence.p_support == pytest.approx(max(p_a, p_b))
    assert evidence.effect == pytest.approx(np.mean(ARM_B))
    assert evidence.measured == pytest.approx({"a": np.mean(ARM_A), "b": np.mean(ARM_B)})
    assert verdict.verdict != "reproduced"
    # opposite: Bonferroni over arms of the "greater" p-values
    q = [sps.ttest_1samp(x, bound, alternative="greater").pvalue for x in (ARM_A, ARM_B)]
    assert evidence.p_opposite == pytest.approx(min(1.0, 2 * min(q)))


def test_bound_counts_finished_runs_and_uses_smallest_arm():
    runs = make_runs({"a": ARM_A, "b": ARM_B}, statuses={("b", r): "FAILED" for r in range(3, 6)})
    evidence = Bound(METRIC, 1.0, "below", ("a", "b")).evaluate(runs)
    assert evidence.n == 3
    assert len(evidence.runs) == 6 + 3
    assert not any(i in evidence.runs for i in ("b-r3", "b-r4", "b-r5"))
    assert evidence.measured["b"] == pytest.approx(np.mean(ARM_B[:3]))


def test_bound_one_arm_without_runs_is_inconclusive():
    runs = make_runs({"a": ARM_A})
    evidence, verdict = verdict_of(Bound(METRIC, 1.0, "below", ("a", "b")), runs)
    assert evidence.n == 0
    assert verdict.verdict == "inconclusive"
    assert "only 0 replicate" in verdict.reason


# --------------------------------------------------------------------------
# decide: Holm across claims
# --------------------------------------------------------------------------


def evidence(p_support: float, p_opposite: float = math.nan, p_equivalence: float = math.nan,
             n: int = 5) -> Evidence:
    return Evidence("t", 0.0, (0.0, 0.0), n, p_support, p_opposite, p_equivalence, ())


def test_decide_holm_all_reproduced():
    verdicts = decide([evidence(0.01), evidence(0.02), evidence(0.04)])
    assert [v.p_value for v in verdicts] == pytest.approx([0.03, 0.04, 0.04])
    assert [v.verdict for v in verdicts] == ["reproduced"] * 3


def test_decide_holm_first_reproduced_only():
    verdicts = decide([evidence(0.01), evidence(0.03), evidence(0.04)])
    assert [v.p_value for v in verdicts] == pytest.approx([0.03, 0.06, 0.06])
    assert [v.verdict for v in verdicts] == ["reproduced", "inconclusive", "inconclusive"]


def test_decide_holm_in_input_order():
    verdicts = decide([evidence(0.04), evidence(0.01), evidence(0.03)])
    assert [v.p_value for v in verdicts] == pytest.approx([0.06, 0.03, 0.06])
    assert [v.verdict for v in verdicts] == ["inconclusive", "reproduced", "inconclusive"]


def test_decide_single_claim_is_unadjusted():
    assert decide([evidence(0.04)])[0].verdict == "reproduced"


def test_decide_opposite_and_equivalence_families_are_adjusted_separately():
    # opposite p 0.02 alone would be significant, but Holm over two (0.02, 0.03) gives 0.04 / 0.04
    verdicts = decide([evidence(0.9, p_opposite=0.02), evidence(0.9, p_opposite=0.03)])
    assert [v.verdict for v in verdicts] == ["contradicted", "contradicted"]
    assert [v.p_value for v in verdicts] == pytest.approx([0.04, 0.04])
    verdicts = decide([evidence(0.9, p_opposite=0.03), evidence(0.9, p_opposite=0.03), evidence(0.9, p_opposite=0.5)])
    assert [v.verdict for v in verdicts] == ["inconclusive"] * 3  # 0.03 * 3 = 0.09
    verdicts = decide([evidence(0.9, p_equivalence=0.01), evidence(0.9, p_equivalence=0.06)])
    assert [v.verdict for v in verdicts] == ["not reproduced", "inconclusive"]
    assert verdicts[0].p_value == pytest.approx(0.02)  # Holm: 2 * 0.01
    assert verdicts[1].p_value == pytest.approx(1.0)   # inconclusive reports the support p: min(1, 2 * 0.9)


def test_decide_untestable_claims_do_not_count_in_holm():
    nan = math.nan
    verdicts = decide([evidence(0.04), Evidence("t", nan, (nan, nan), 1, nan, nan, nan, ())])
    assert verdicts[0].verdict == "reproduced"
    assert verdicts[0].p_value == pytest.approx(0.04)
    assert verdicts[1].verdict == "inconclusive"
    assert "only 1 replicate" in verdicts[1].reason


def test_decide_alpha():
    assert decide([evidence(0.02)], alpha=0.01)[0].verdict == "inconclusive"
    assert decide([evidence(0.005)], alpha=0.01)[0].verdict == "reproduced"


# --------------------------------------------------------------------------
# declaration errors
# --------------------------------------------------------------------------


@pytest.mark.parametrize("margin", [0, 0.0, -0.1, math.nan])
def test_better_bad_margin(margin):
    with pytest.raises(StudyDeclarationError, match="margin"):
        Better(METRIC, "new", "old", margin=margin)


def test_better_bad_method():
    with pytest.raises(StudyDeclarationError, match="method"):
        Better(METRIC, "new", "old", method="t-test")


@pytest.mark.parametrize("margin", [0, -1.0])
def test_similar_bad_margin(margin):
    with pytest.raises(StudyDeclarationError, match="margin"):
        Similar(METRIC, "new", "old", margin=margin)


def test_bound_bad_side_and_empty_over():
    with pytest.raises(StudyDeclarationError, match="side"):
        Bound(METRIC, 1.0, "under", ("a",))
    with pytest.raises(StudyDeclarationError, match="over"):
        Bound(METRIC, 1.0, "below", ())


def claim(**overrides) -> Claim:
    fields = dict(id="c1", quote="Deep autoencoders beat PCA.", article="a", section="s", source="src",
                  source_numbers="1.0 vs 2.0", measure="reconstruction error",
                  test=Better(METRIC, "new", "old"))
    fields.update(overrides)
    return Claim(**fields)


def test_claim_valid_declaration():
    c = claim()
    assert c.test.arms() == {"new", "old"}


@pytest.mark.parametrize("name", ["quote", "id", "measure"])
def test_claim_empty_field(name):
    with pytest.raises(StudyDeclarationError, match=name):
        claim(**{name: "   "})


def test_claim_test_must_be_a_claim_test():
    with pytest.raises(StudyDeclarationError, match="ClaimTest"):
        claim(test="better")


def test_arm_mean_uses_finished_runs_with_the_metric_only():
    runs = make_runs({"a": [1.0, 2.0, 100.0, math.nan], "b": [5.0]}, statuses={("a", 2): "FAILED"})
    assert arm_mean(runs, "a", METRIC) == pytest.approx(1.5)
    assert arm_mean(runs, "b", METRIC) == pytest.approx(5.0)
    assert math.isnan(arm_mean(runs, "missing", METRIC))
    assert math.isnan(arm_mean(runs, "a", "no_such_metric"))
