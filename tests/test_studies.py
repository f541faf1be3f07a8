"""Every registered study, end to end at the smoke budget, in a temporary home:
the report and verdicts.json exist with the promised shape, there is one
MLflow child run per trial, and a second run resumes without duplicates."""
from __future__ import annotations

import json

import pytest

from harness import paths
from harness.claims import VERDICTS
from harness.run import RunRequest, run_study
from harness.discovery import load_studies
from harness.tracking import Tracker, default_tracking_uri

pytestmark = pytest.mark.slow  # every study end to end: in `make test`, not `make check`

STUDIES = [name for name in load_studies().names()]


def assert_interval_agrees_with_verdict(claim: dict) -> None:
    """The interval shown excludes the null only for a directional verdict (None ends are unbounded)."""
    if claim["ci"] is None:
        assert claim["verdict"] != "reproduced" or claim["p_value"] is None  # tolerance checks have none
        return
    lo, hi = (-float("inf") if claim["ci"][0] is None else claim["ci"][0],
              float("inf") if claim["ci"][1] is None else claim["ci"][1])
    excludes = not (lo <= claim["null"] <= hi)
    if claim["verdict"] in ("reproduced", "contradicted"):
        assert excludes, claim["id"]
    elif claim["verdict"] == "inconclusive":
        assert not excludes, claim["id"]


@pytest.mark.parametrize("name", STUDIES)
def test_study_smoke_end_to_end(home, name):
    study = load_studies().get(name)
    design = study.design("smoke")
    expected = sum(arm.replicates(study.budget("smoke")) for arm in design)
    run_study(RunRequest(name, "smoke", progress=False))

    folder = home / "reports" / "smoke" / name
    doc = json.loads((folder / "verdicts.json").read_text())
    assert {"study", "budget", "generated_at", "environment", "claims"} <= doc.keys()
    assert doc["study"] == name and doc["budget"] == "smoke"
    assert {"version.torch", "version.mlflow", "version.optuna", "device", "threads",
            "git_commit"} <= doc["environment"].keys()
    assert [c["id"] for c in doc["claims"]] == [c.id for c in study.claims]
    for claim in doc["claims"]:
        assert claim["verdict"] in VERDICTS
        assert isinstance(claim["quote"], str) and claim["quote"]
        assert isinstance(claim["source"], str) and isinstance(claim["test"], str)
        assert isinstance(claim["n"], int)
        assert claim["checks"], "every claim records the checks it passed or failed"
        assert all({"name", "arm", "passed", "detail"} == set(c) for c in claim["checks"])
        assert claim["p_value"] != 0.0 and claim["p_raw"]["support"] != 0.0
        assert_interval_agrees_with_verdict(claim)
        assert isinstance(claim["preregistered"], bool)
        assert all(isinstance(v, (float, int, type(None))) for v in [claim["effect"], claim["p_value"]])
        assert claim["runs"] and all(isinstance(r, str) for r in claim["runs"])
        noise = claim["seed_noise"]  # None only for a claim with no replicate metric (a search's)
        assert noise is None or (noise["pooled_sd"] >= 0 and set(noise["arms"]) <= {a.name for a in design})
    report = (folder / "report.md").read_text()
    assert "smoke budget" in report and "## Environment" in report
    assert all(f"## {c.id}" in report for c in study.claims)
    index = (home / "reports" / "smoke" / "index.md").read_text()
    assert all(c.id in index for c in study.claims)
    assert "## Seed noise beside the claimed effects" in index

    tracker = Tracker(default_tracking_uri(paths.home()))
    runs = tracker.runs(name, "smoke")
    replicates = runs[runs["phase"] == "replicate"]
    if "stages" in doc:  # a sequential design: the looks decide how many ran, never more than the maximum
        assert doc["stages"]["complete"] and doc["stages"]["replicate_trials"] <= expected
        expected = doc["stages"]["replicate_trials"]
    assert len(replicates) == expected
    assert replicates.groupby(["arm", "replicate"]).size().max() == 1
    # tuning runs too: a trial fails on any error, a final metric that would end its curve on another value included
    assert set(replicates["status"]) == set(runs["status"]) == {"FINISHED"}
    parent = tracker.find_parent(name, "smoke")
    assert ({a.path for a in tracker.client.list_artifacts(parent, "report")}
            >= {"report/report.md", "report/verdicts.json"})

    # resume: nothing left to do. report=False: the report was checked above, and rebuilding it (statistics,
    # notes, figures: ~30 % of the seeds study's smoke run) is not what this resume checks
    run_study(RunRequest(name, "smoke", progress=False, report=False))
    again = tracker.runs(name, "smoke")
    assert len(again) == len(runs)
