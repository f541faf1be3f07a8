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
from harness.tracking import FINAL_METRICS, Tracker, default_tracking_uri

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


# Final metrics a study re-logs under the name of a curve with another value at the run's last step. The sweep
# stamps them after the curve, so the run's final value is the trial's result (test_tracking), but a reader of the
# curve then ends on it: dropout's epoch times end on their median. It goes when the study's curve gets its own name
# (as the seeds study's LSTM curves have, epoch_val_loss, and batchnorm's, epoch_val_acc), with its next regeneration.
CURVE_CLASHES = {"dropout": {"epoch_seconds"}}


def final_metrics_that_clash_with_their_curves(tracker: Tracker, runs) -> set[str]:
    """The final metrics (of every finished run, tuning runs included) that
    leave a curve of the same name with two values at the run's last step."""
    finished = runs[runs["status"] == "FINISHED"]
    assert len(finished)
    clashes = set()
    for run_id, names in zip(finished["run_id"], finished[f"tags.{FINAL_METRICS}"]):
        for key in names.split(","):
            history = tracker.metric_history(run_id, key)
            last = max(step for step, _ in history)
            if len({value for step, value in history if step == last}) > 1:
                clashes.add(key)
    return clashes


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
    report = (folder / "report.md").read_text()
    assert "smoke budget" in report and "## Environment" in report
    assert all(f"## {c.id}" in report for c in study.claims)
    index = (home / "reports" / "smoke" / "index.md").read_text()
    assert all(c.id in index for c in study.claims)

    tracker = Tracker(default_tracking_uri(paths.home()))
    runs = tracker.runs(name, "smoke")
    replicates = runs[runs["phase"] == "replicate"]
    if "stages" in doc:  # a sequential design: the looks decide how many ran, never more than the maximum
        assert doc["stages"]["complete"] and doc["stages"]["replicate_trials"] <= expected
        expected = doc["stages"]["replicate_trials"]
    assert len(replicates) == expected
    assert replicates.groupby(["arm", "replicate"]).size().max() == 1
    assert set(replicates["status"]) == {"FINISHED"}
    assert final_metrics_that_clash_with_their_curves(tracker, runs) == CURVE_CLASHES.get(name, set())
    parent = tracker.find_parent(name, "smoke")
    assert ({a.path for a in tracker.client.list_artifacts(parent, "report")}
            >= {"report/report.md", "report/verdicts.json"})

    # resume: nothing left to do. report=False: the report was checked above, and rebuilding it (statistics,
    # notes, figures: ~30 % of the seeds study's smoke run) is not what this resume checks
    run_study(RunRequest(name, "smoke", progress=False, report=False))
    again = tracker.runs(name, "smoke")
    assert len(again) == len(runs)
