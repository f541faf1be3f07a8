"""The sequential design's rule (``harness.sequential``) on hand-made runs of
the ``tiny-seq`` study: which claims stop at which look, which arms get more
replicates, and that one look is the fixed design's rule exactly."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from harness import sequential
from harness.checks import Trained
from harness.claims import ALPHA, decide
from harness.claimtests import Better, Faster, sign_test_floor
from harness.design import Budget, StudyDeclarationError
from harness.sequential import DECIDED, INVALID, MAXIMUM, RUNNING, evaluate, spent
from harness.spending import undecidable
from tiny_study import SEQUENTIAL_STUDY as STUDY

SHIFT = {"base": 0.0, "large": -100.0, "null": 0.0}
NOISE = {"base": 0.5, "large": 0.001, "null": 0.5}


def _runs(counts: dict[str, int], status: str = "FINISHED") -> pd.DataFrame:
    """Runs as ``tracking.latest_per_trial`` gives them: the first ``counts[arm]`` replicates of each arm."""
    rng = np.random.default_rng(0)
    pair = rng.normal(size=20)
    rows = [{"run_id": f"{arm}-{r}", "status": status, "arm": arm, "replicate": r, "phase": "replicate",
             "metrics.score": pair[r] + SHIFT[arm] + NOISE[arm] * rng.normal()}
            for arm, n in counts.items() for r in range(n)]
    return pd.DataFrame(rows)


def _no_history(run_id, key):
    return []


def test_spending_is_obrien_fleming_type_and_spends_alpha_by_the_end():
    assert spent(0.0) == 0.0 and spent(1.0) == ALPHA
    assert spent(1 / 3) == pytest.approx(0.000687, abs=2e-6)  # 2 - 2 Phi(1.96 sqrt(3))
    assert spent(2 / 3) == pytest.approx(0.0164, abs=2e-4)
    steps = [spent(t) for t in np.linspace(0.05, 1.0, 20)]
    assert steps == sorted(steps)


def test_a_decided_claim_stops_and_its_arm_gets_no_more_replicates():
    outcome = evaluate(STUDY, "quick", _runs({"base": 3, "large": 3, "null": 3}), _no_history)
    large, null = outcome.stops
    assert (large.look, large.why) == (1, DECIDED) and outcome.verdicts[0].verdict == "reproduced"
    assert null.why == RUNNING and outcome.verdicts[1].verdict == "inconclusive"
    assert not outcome.complete and outcome.look == 1
    assert outcome.counts == {"base": 6, "large": 3, "null": 6}   # the next look: only what SEQ-NULL reads grows
    assert "look 2 of 2 in progress" in outcome.verdicts[1].reason


def test_an_undecided_claim_runs_to_its_maximum_and_says_what_would_settle_it():
    outcome = evaluate(STUDY, "quick", _runs({"base": 6, "large": 3, "null": 6}), _no_history)
    assert outcome.complete
    stop, verdict = outcome.stops[1], outcome.verdicts[1]
    assert (stop.look, stop.why, dict(stop.replicates)) == (2, MAXIMUM, {"base": 6, "null": 6})
    assert verdict.verdict == "inconclusive" and "its level at the last look" in verdict.settle
    # its share at look 2 after Holm: SEQ-LARGE was rejected, so the family left is SEQ-NULL alone
    assert verdict.alpha == pytest.approx(ALPHA - spent(0.5))
    lo, hi = verdict.ci
    assert lo <= 0 <= hi  # the interval is the test's own: inconclusive, so it holds "no effect"
    assert outcome.alpha_spent[1] == pytest.approx([spent(0.5), ALPHA - spent(0.5)])


@dataclasses.dataclass(frozen=True)
class _ByPattern(Better):
    """SEQ-NULL's test with its arms found by pattern, as ``BestOverGrid`` and
    ``VarianceShares`` find theirs: no names from ``arms``, only ``reads``."""

    def arms(self) -> set[str]:
        return set()

    def reads(self, arm: str) -> bool:
        return arm in ("null", "base")


def test_a_test_that_finds_its_arms_by_pattern_still_gets_its_later_looks():
    claims = (STUDY.claims[0], dataclasses.replace(STUDY.claims[1], test=_ByPattern("score", "null", "base")))
    outcome = evaluate(dataclasses.replace(STUDY, claims=claims), "quick", _runs({"base": 3, "large": 3, "null": 3}),
                       _no_history)
    assert outcome.stops[1].why == RUNNING   # not "at its maximum" after the first look
    assert outcome.counts == {"base": 6, "large": 3, "null": 6}
    assert dict(outcome.stops[1].replicates) == {"base": 6, "null": 6}  # what it reads at the next look


def test_an_arm_only_a_claims_notes_read_grows_with_it_and_leaves_its_alpha_alone():
    # SEQ-LARGE is decided at look 1, so `large` stops at 3; SEQ-NULL's notes reading it keep it growing with SEQ-NULL
    claims = (STUDY.claims[0], dataclasses.replace(STUDY.claims[1], reads_also=("large",)))
    study = dataclasses.replace(STUDY, claims=claims)
    first = evaluate(study, "quick", _runs({"base": 3, "large": 3, "null": 3}), _no_history)
    assert first.counts == {"base": 6, "large": 6, "null": 6}
    # `large` last, so the other arms' simulated values are the same draws in both stores
    last = evaluate(study, "quick", _runs({"base": 6, "null": 6, "large": 6}), _no_history)
    plain = evaluate(STUDY, "quick", _runs({"base": 6, "null": 6, "large": 3}), _no_history)
    assert dict(last.stops[1].replicates) == {"base": 6, "null": 6}   # what its test read
    assert last.verdicts[1].alpha == plain.verdicts[1].alpha and last.alpha_spent == plain.alpha_spent
    assert last.verdicts[1].p_value == plain.verdicts[1].p_value
    notes_see = last.runs_at_stop(_runs({"base": 6, "null": 6, "large": 6}), 1)
    assert (notes_see["arm"] == "large").sum() == 6
    some = (STUDY.claims[0], dataclasses.replace(STUDY.claims[1], reads_also=("large", "at-another-tier")))
    assert len(dataclasses.replace(STUDY, claims=some).design("quick")) == 3, "an arm a tier lacks is skipped"
    with pytest.raises(StudyDeclarationError, match="reads_also of which the design has none"):
        bad = (STUDY.claims[0], dataclasses.replace(STUDY.claims[1], reads_also=("nowhere",)))
        dataclasses.replace(STUDY, claims=bad).design("quick")


@dataclasses.dataclass(frozen=True)
class _Blind(_ByPattern):
    """A pattern test that forgot to say which arms it reads."""

    def reads(self, arm: str) -> bool:
        return False


def test_a_sequential_claim_that_reads_no_arm_fails_at_declaration():
    claims = (STUDY.claims[0], dataclasses.replace(STUDY.claims[1], test=_Blind("score", "null", "base")))
    study = dataclasses.replace(STUDY, claims=claims)
    with pytest.raises(StudyDeclarationError, match=r"\['SEQ-NULL'\] read none of the design's arms.*ClaimTest.reads"):
        study.design("quick")
    assert [a.name for a in study.design("full")] == ["base", "large", "null"]  # a fixed design grows nothing


def test_a_sign_test_that_could_be_decided_only_after_other_claims_fails_at_declaration():
    # SEQ-NULL as an exact sign test: at 6 pairs its p cannot go below 2 x 2^-6 = 0.031, above Holm's first step at
    # its last look, (0.05 - spent(1/2)) / 2 claims = 0.022: decidable only once SEQ-LARGE is rejected
    claims = (STUDY.claims[0], dataclasses.replace(STUDY.claims[1], test=Faster("score", "null", "base")))
    study = dataclasses.replace(STUDY, claims=claims)
    first_step = (ALPHA - spent(0.5)) / 2
    assert sign_test_floor(6) > first_step > sign_test_floor(7)
    with pytest.raises(StudyDeclarationError, match=r"SEQ-NULL: with 6 replicates its test's p cannot go below "
                                                    r"0\.0312.* = 0\.0222; give the arms it reads \(base, null\) at "
                                                    r"least 7 replicates"):
        study.design("quick")
    assert [a.name for a in study.design("smoke")] == ["base", "large", "null"]  # smoke checks the machinery only
    wider = dataclasses.replace(study, budgets={**study.budgets, "quick": Budget(replicates=7, looks=(3, 7))})
    assert undecidable(wider.claims, wider.budget("quick"), wider.design("quick")) == []


def test_a_decided_claims_interval_excludes_the_null_at_its_level():
    outcome = evaluate(STUDY, "quick", _runs({"base": 3, "large": 3, "null": 3}), _no_history)
    verdict = outcome.verdicts[0]
    assert verdict.alpha == pytest.approx(spent(0.5) / 2)   # Holm's first step: its share over 2 claims
    assert verdict.ci[1] < 0 and verdict.p_value < ALPHA


def test_a_claim_whose_checks_fail_buys_no_replicates():
    # SEQ-NULL's arms must have trained: a flat loss curve fails the check at the first look
    claims = (STUDY.claims[0], dataclasses.replace(STUDY.claims[1], checks=(Trained("train_loss", 0.1),)))
    study = dataclasses.replace(STUDY, claims=claims)
    outcome = evaluate(study, "quick", _runs({"base": 3, "large": 3, "null": 3}),
                       lambda run_id, key: [(0, 1.0), (1, 1.0)])
    assert outcome.complete and outcome.stops[1].why == INVALID and outcome.stops[1].look == 1
    assert outcome.verdicts[1].reason.startswith("invalid:")
    assert outcome.counts == {"base": 3, "large": 3, "null": 3}


def test_a_look_is_judged_only_once_every_key_ended():
    runs = _runs({"base": 3, "large": 3, "null": 3})
    runs.loc[runs["run_id"] == "null-2", "status"] = "RUNNING"
    outcome = evaluate(STUDY, "quick", runs, _no_history)
    assert outcome.look == 0 and not outcome.complete
    assert all(v.verdict == "inconclusive" for v in outcome.verdicts)   # no verdict before the look has run
    killed = _runs({"base": 3, "large": 3, "null": 3})
    killed.loc[killed["run_id"] == "null-2", "status"] = "KILLED"      # Ctrl-C or a dead worker: it runs again
    assert evaluate(STUDY, "quick", killed, _no_history).look == 0
    failed = _runs({"base": 3, "large": 3, "null": 3})
    failed.loc[failed["run_id"] == "null-2", "status"] = "FAILED"      # a failed key is missing data, not a wait
    assert evaluate(STUDY, "quick", failed, _no_history).look == 1


def test_one_look_is_the_fixed_rule_exactly():
    runs = _runs({"base": 6, "large": 6, "null": 6})
    fixed = evaluate(STUDY, "full", runs, _no_history)
    evidence = [c.test.evaluate(runs) for c in STUDY.claims]
    expected = decide(evidence, fixed.checks)
    assert [(v.verdict, v.p_value, v.alpha, v.ci) for v in fixed.verdicts] == \
           [(v.verdict, v.p_value, v.alpha, v.ci) for v in expected]
    assert fixed.complete and [s.why for s in fixed.stops] == [sequential.FIXED] * 2


@pytest.mark.parametrize("looks", [(3, 2, 6), (3, 3, 6), (3, 5), (0, 6), (2.5, 6)])
def test_bad_looks_fail_at_declaration(looks):
    with pytest.raises(StudyDeclarationError, match="looks must be increasing"):
        Budget(replicates=6, looks=looks)


def test_a_fixed_budget_has_one_look_and_replace_keeps_it_fixed():
    budget = Budget(replicates=4)
    assert budget.schedule == (4,) and not budget.sequential
    assert dataclasses.replace(budget, replicates=8).schedule == (8,)
    assert Budget(replicates=9, looks=(3, 6, 9)).sequential
    assert not math.isnan(spent(0.5))


# -- end to end: the sweep queues look by look ------------------------------------------------------------
def _keys(runs: pd.DataFrame) -> list[str]:
    finished = runs[runs["status"] == "FINISHED"]
    return sorted(f"{a}/r{r}" for a, r in zip(finished["arm"], finished["replicate"]))


EXPECTED = sorted([f"base/r{r}" for r in range(6)] + [f"large/r{r}" for r in range(3)]
                  + [f"null/r{r}" for r in range(6)])


@pytest.mark.slow
def test_a_sequential_study_queues_look_by_look_and_tags_each_stage(home):
    from harness.run import RunRequest, run_study
    from harness.tracking import TAG, Tracker, default_tracking_uri

    doc = run_study(RunRequest("tiny-seq", "smoke", progress=False))
    runs = Tracker(default_tracking_uri(home)).runs("tiny-seq", "smoke")
    assert _keys(runs) == EXPECTED            # `large` stopped at 3: SEQ-LARGE was decided at the first look
    stages = {f"{a}/r{r}": s for a, r, s in zip(runs["arm"], runs["replicate"], runs[f"tags.{TAG}stage"])}
    assert stages["base/r2"] == "1" and stages["base/r3"] == "2" and stages["null/r5"] == "2"
    assert doc["stages"]["complete"] and doc["stages"]["replicate_trials"] == 15
    large, null = doc["claims"]
    assert large["stage"]["look"] == 1 and large["stage"]["why"] == DECIDED and large["n"] == 3
    assert null["stage"]["look"] == 2 and null["n"] == 6
    report = (home / "reports" / "smoke" / "tiny-seq" / "report.md").read_text()
    assert "| stopped |" in report and "**Stopped.** Look 1 of 2: decided." in report


@pytest.mark.slow
def test_a_resumed_sequential_study_continues_at_the_stage_it_reached(home, monkeypatch):
    from harness.run import RunRequest, run_study
    from harness.tracking import Tracker, default_tracking_uri

    monkeypatch.setenv("TINY_FAIL", "null/r4=interrupt")   # Ctrl-C in the second look
    with pytest.raises(KeyboardInterrupt):
        run_study(RunRequest("tiny-seq", "smoke", progress=False))
    tracker = Tracker(default_tracking_uri(home))
    before = _keys(tracker.runs("tiny-seq", "smoke"))
    assert "base/r3" in before or "null/r3" in before   # the second look had begun
    monkeypatch.delenv("TINY_FAIL")
    doc = run_study(RunRequest("tiny-seq", "smoke", progress=False))
    runs = tracker.runs("tiny-seq", "smoke")
    assert _keys(runs) == EXPECTED                     # each key finished once, the first look not re-run
    assert len(runs[runs["status"] == "FINISHED"]) == 15
    assert doc["stages"]["complete"]


@pytest.mark.slow
def test_two_workers_share_the_looks_and_queue_each_key_once(home):
    import subprocess
    import sys

    from conftest import harness_env, run_cli
    from harness.tracking import Tracker, default_tracking_uri

    env = harness_env(home, TINY_SLEEP="0.3", TINY_FAIL="")
    workers = [subprocess.Popen([sys.executable, "-m", "harness", "worker", "tiny-seq", "--budget", "smoke"],
                                cwd=home, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    outputs = [w.communicate(timeout=300) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    runs = Tracker(default_tracking_uri(home)).runs("tiny-seq", "smoke")
    assert _keys(runs) == EXPECTED and len(runs) == 15
    assert all("finished" in err for _, err in outputs)
    report = run_cli(home, "report", "tiny-seq", "--budget", "smoke")
    assert report.returncode == 0, report.stderr
    assert '"complete": true' in (home / "reports" / "smoke" / "tiny-seq" / "verdicts.json").read_text()


def _evidence(p_support: float, p_equivalence: float = math.nan):
    """Evidence of a one-sided test in the claimed direction whose interval records the level asked for."""
    from harness.claims import Evidence

    return Evidence("hand-made", effect=-1.0, n=5, p_support=p_support, p_opposite=1 - p_support,
                    p_equivalence=p_equivalence, interval=lambda level: (level, level))


def test_one_look_of_the_rule_is_decide_level_by_level_and_equivalence_is_its_own_family():
    # four claims in one look: three directional at Holm's three step levels (listed weakest first, so a rule
    # that recorded the level after its last rejection, or in list order, would show the wrong one), and one
    # whose only decision is equivalence: in decide's family of the claims with a margin (here 1 of 4), not of all
    evidence = [_evidence(0.9 * ALPHA / 2 / 2), _evidence(0.9 * ALPHA / 3 / 2), _evidence(1e-6),  # p_dir: 2x
                _evidence(0.4, p_equivalence=0.8 * ALPHA)]
    expected = decide(evidence)
    rule = sequential.SequentialRule([frozenset({"a"})] * 4, [{"a": 5}], (5,))
    outcome = rule.run(lambda counts: True, lambda counts, indices: ([evidence[i] for i in indices],
                                                                      [[] for _ in indices]))
    assert [v.verdict for v in outcome.verdicts] == [v.verdict for v in expected] == \
           ["reproduced", "reproduced", "reproduced", "not reproduced"]
    assert [v.alpha for v in outcome.verdicts[:3]] == pytest.approx([ALPHA / 2, ALPHA / 3, ALPHA / 4])
    assert [v.alpha for v in outcome.verdicts[:3]] == pytest.approx([v.alpha for v in expected[:3]])
    assert [v.p_value for v in outcome.verdicts] == pytest.approx([v.p_value for v in expected])
    # TOST at level a is the two-sided 1 - 2a interval inside the margin: that is the interval shown
    equivalence = outcome.verdicts[3]
    assert equivalence.alpha == pytest.approx(ALPHA) and equivalence.interval_alpha == pytest.approx(2 * ALPHA)
    assert equivalence.ci[0] == pytest.approx(2 * ALPHA)
    assert (expected[3].alpha, expected[3].ci_alpha, expected[3].ci) == \
           (equivalence.alpha, equivalence.ci_alpha, equivalence.ci)
