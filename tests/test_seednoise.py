"""Seed noise beside the claimed effects: each report records its claims'
seed spread (``seed_noise``), and ``reports/index.md`` sets every study's
effects beside it and beside the reference spread of the same data set."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from harness.claims import Claim
from harness.claimtests import Better, Bound
from harness.report import write_index
from harness.seednoise import dataset_digests, seed_noise, seed_noise_table
from harness.study import Arm, Budget, Study, StudyDeclarationError

FASHION, SUBSET, MNIST1D = "9354c7b0b2d549fe", "034a9e4cda6def11", "caa0161726158055"


def _claim(test) -> Claim:
    return Claim(id="X", quote="q.", article="a", section="s", source="p", source_numbers="n", measure="m.",
                 test=test)


def _runs(values: dict[str, list[float]], digest: str) -> pd.DataFrame:
    rows = [{"run_id": f"{arm}{i}", "arm": arm, "replicate": i, "status": "FINISHED", "metrics.test_error": v,
             "tags.harness.dataset_digest": digest} for arm, vs in values.items() for i, v in enumerate(vs)]
    return pd.DataFrame(rows)


def test_runs_match_a_reference_by_the_data_digests_they_record():
    fashion = pd.DataFrame({"tags.harness.dataset_digest": [FASHION, None]})
    subset = pd.DataFrame({"tags.harness.dataset_digest": [f"{SUBSET},{FASHION}"]})
    mnist1d = pd.DataFrame({"tags.harness.dataset_digest": [MNIST1D]})
    assert dataset_digests(fashion) == {FASHION}
    assert dataset_digests(fashion) & dataset_digests(subset)      # a Fashion-MNIST subset run matches Fashion
    assert not dataset_digests(mnist1d) & dataset_digests(subset)  # MNIST-1D's spread is not its reference
    assert dataset_digests(pd.DataFrame({"metrics.x": [1.0]})) == set()


def test_a_claims_seed_noise_is_the_pooled_spread_of_its_own_arms_on_the_runs_it_read():
    wide, narrow = [0.10, 0.12, 0.11, 0.13, 0.09], [0.15, 0.16, 0.18, 0.14, 0.17]
    runs = _runs({"wide": wide, "narrow": narrow, "other": [0.5, 0.9]}, f"{SUBSET},{FASHION}")
    claim = _claim(Better("test_error", "wide", "narrow"))
    noise = seed_noise(claim, claim.test.evaluate(runs), runs)
    pooled = np.sqrt((np.var(wide, ddof=1) + np.var(narrow, ddof=1)) / 2)  # equal sizes: the mean variance
    assert noise["pooled_sd"] == pytest.approx(pooled)                     # "other" is not the claim's arm
    assert noise["kind"] == "difference" and noise["metric"] == "test_error"
    assert noise["arms"]["wide"] == {"n": 5, "sd": pytest.approx(np.std(wide, ddof=1)), "data": [SUBSET, FASHION]}
    assert isinstance(noise["seeds_needed"], int) and noise["seeds_needed"] >= 2

    level = _claim(Bound("test_error", 0.2, over=("wide",)))  # a level against a fixed bound: no difference, no seeds
    noise = seed_noise(level, level.test.evaluate(runs), runs)
    assert noise["kind"] == "other" and noise["test"] == "Bound" and noise["seeds_needed"] is None
    assert seed_noise(claim, claim.test.evaluate(runs), runs.drop(columns="metrics.test_error")) is None


def _doc(study: str, budget: str, claims: list[dict], reference: str | None = None) -> dict:
    return {"study": study, "budget": budget, "seed_noise_reference": reference, "claims": claims}


def _noise(kind: str, sd: float, data: str, arms=("a", "b"), metric: str = "test_error") -> dict:
    return {"metric": metric, "kind": kind, "test": "Better" if kind == "difference" else "VarianceAbove",
            "pooled_sd": sd, "seeds_needed": 12 if kind == "difference" else None,
            "arms": {arm: {"n": 10, "sd": sd, "data": [data]} for arm in arms}}


def test_the_index_sets_each_effect_beside_its_seed_sd_and_the_reference_of_its_data_at_its_budget():
    seeds = _doc("seeds", "standard", [
        {"id": "SENS", "effect": 0.004, "seed_noise": _noise("other", 0.004, FASHION, arms=("sens-fashion",))}],
        reference="SENS")
    other = _doc("dropout", "standard", [
        {"id": "BIG", "effect": -0.02, "seed_noise": _noise("difference", 0.005, f"{SUBSET}")},
        {"id": "SMALL", "effect": 0.001, "seed_noise": _noise("difference", 0.005, MNIST1D)},
        {"id": "SEARCH", "effect": 0.3, "seed_noise": None}])
    quick = _doc("batchnorm", "quick",
                 [{"id": "Q", "effect": -0.02, "seed_noise": _noise("difference", 0.01, FASHION)}])
    old = {"study": "ae-vs-pca", "budget": "standard", "claims": [{"id": "AE", "effect": 1.0}]}
    seeds["claims"][0]["seed_noise"]["arms"]["sens-fashion"]["data"] = [FASHION, SUBSET]
    rows = {line.split(" | ")[1]: line for line in seed_noise_table([seeds, other, quick, old])
            if line.startswith("| ") and not line.startswith("| study") and not line.startswith("| ---")}
    assert set(rows) == {"SENS", "BIG", "SMALL", "Q"}                  # a tuning claim has no replicate metric
    assert "| 4 | 12 | 5x (`sens-fashion`) |" in rows["BIG"]           # 0.02 / 0.005 and 0.02 / 0.004
    assert "(**below seed noise**)" in rows["SMALL"] and rows["SMALL"].endswith("| – |")  # MNIST-1D: no reference
    assert rows["Q"].endswith("| – |")                                 # a quick-tier effect against no standard SD
    assert "VarianceAbove: not a difference in the metric" in rows["SENS"]
    assert "Not in the table: `ae-vs-pca`" in "\n".join(seed_noise_table([seeds, other, quick, old]))


def test_write_index_reads_the_committed_documents_into_both_tables(tmp_path):
    for doc in (_doc("seeds", "standard", [{"id": "SENS", "effect": 0.004, "seed_noise": _noise("other", 0.004,
                                                                                                   FASHION)}], "SENS"),
                _doc("dropout", "standard", [{"id": "BIG", "effect": -0.02,
                                              "seed_noise": _noise("difference", 0.005, FASHION)}])):
        for claim in doc["claims"]:
            claim.update(verdict="reproduced", ci=None, p_value=0.01, n=10)
        (tmp_path / doc["study"]).mkdir()
        (tmp_path / doc["study"] / "verdicts.json").write_text(json.dumps(doc))
    text = write_index(tmp_path).read_text()
    assert "| [dropout](dropout/report.md) | BIG | **reproduced** |" in text
    assert "## Seed noise beside the claimed effects" in text
    assert "| dropout | BIG | test_error | -0.02 | 0.005 |" in text


def test_a_study_names_one_of_its_own_claims_as_the_seed_noise_reference():
    def study(reference):
        return Study(name="refs", title="t", summary="s", claims=(_claim(Better("test_error", "a", "b")),),
                     arms=lambda budget: [Arm("a", {}), Arm("b", {})], run_trial=lambda ctx: {},
                     budgets={n: Budget(replicates=2) for n in ("smoke", "quick", "standard", "full")},
                     seed_noise_reference=reference)

    assert study("X").seed_noise_reference == "X"
    with pytest.raises(StudyDeclarationError, match="seed_noise_reference 'SEED-SENS' is not one of its claims"):
        study("SEED-SENS")
