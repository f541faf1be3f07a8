"""harness.tracking against a real MLflow SQLite store (no mocks)."""
from __future__ import annotations

import http.server
import json
import os
import socket
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from harness.context import DatasetRecord
from harness.sweep import clashes_with_curves, final_metrics_stamp
from harness.tracking import (
    BATCH_LIMIT,
    PARAM_BATCH_LIMIT,
    TAG,
    Tracker,
    TrackingError,
    check_tracking_uri,
    default_tracking_uri,
    latest_per_trial,
    resolve_tracking_uri,
)

COLUMNS = {"run_id", "status", "arm", "replicate", "phase", "budget"}


def sqlite_uri(path: Path) -> str:
    return "sqlite:///" + str(path.resolve())


def trial_tags(arm: str, replicate: int, budget: str = "smoke", phase: str = "replicate") -> dict[str, str]:
    return {TAG + "role": "trial", TAG + "arm": arm, TAG + "replicate": str(replicate),
            TAG + "phase": phase, TAG + "budget": budget}


# --------------------------------------------------------------------------
# check_tracking_uri / resolve_tracking_uri
# --------------------------------------------------------------------------


def test_check_missing_folder(tmp_path):
    with pytest.raises(TrackingError, match="does not exist"):
        check_tracking_uri(sqlite_uri(tmp_path / "missing" / "mlflow.db"))


def test_check_file_used_as_folder(tmp_path):
    (tmp_path / "file.txt").write_text("not a folder")
    with pytest.raises(TrackingError):
        check_tracking_uri(sqlite_uri(tmp_path / "file.txt" / "mlflow.db"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to a 0o500 folder")
def test_check_unwritable_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(TrackingError, match="not writable"):
            check_tracking_uri(sqlite_uri(folder / "mlflow.db"))
    finally:
        folder.chmod(0o700)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_check_unreachable_server_fails_fast(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    uri = f"http://127.0.0.1:{_free_port()}"
    start = time.monotonic()
    with pytest.raises(TrackingError, match="unreachable"):
        check_tracking_uri(uri, timeout=1)
    assert time.monotonic() - start < 5


def test_check_reachable_server_passes(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    seen: list[str] = []

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        check_tracking_uri(f"http://127.0.0.1:{server.server_address[1]}/", timeout=2)
    finally:
        server.shutdown()
        server.server_close()
    assert seen == ["/health"]


@pytest.mark.parametrize("uri", ["file:///x", "file:./mlruns", "mlruns", "/abs/mlruns"])
def test_check_rejects_file_store(uri):
    with pytest.raises(TrackingError, match="file store"):
        check_tracking_uri(uri)


def test_check_good_sqlite_paths(tmp_path, monkeypatch):
    check_tracking_uri(sqlite_uri(tmp_path / "mlflow.db"))  # new file in a writable folder
    (tmp_path / "existing.db").write_bytes(b"")
    check_tracking_uri(sqlite_uri(tmp_path / "existing.db"))
    # a relative sqlite path is checked against the working directory
    monkeypatch.chdir(tmp_path)
    check_tracking_uri("sqlite:///mlflow.db")
    with pytest.raises(TrackingError, match="does not exist"):
        check_tracking_uri("sqlite:///missing/mlflow.db")


def test_resolve_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    default = resolve_tracking_uri(None, tmp_path)
    assert default == default_tracking_uri(tmp_path)
    assert default.startswith("sqlite:////")
    assert Path(default[len("sqlite:///"):]) == (tmp_path / "mlflow.db").resolve()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env-server:5000")
    assert resolve_tracking_uri(None, tmp_path) == "http://env-server:5000"
    assert resolve_tracking_uri("sqlite:////explicit/mlflow.db", tmp_path) == "sqlite:////explicit/mlflow.db"


def test_default_uri_is_absolute_from_relative_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = default_tracking_uri(Path("."))
    path = Path(uri[len("sqlite:///"):])
    assert path.is_absolute()
    assert path == (tmp_path / "mlflow.db").resolve()


# --------------------------------------------------------------------------
# Tracker against one SQLite store for the module (creating a store costs seconds)
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)  # MLflow's default artifact root is ./mlruns: keep it out of the repository
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        tracker = Tracker(sqlite_uri(root / "mlflow.db"))
        yield tracker, root


@pytest.fixture
def tracker(store) -> Tracker:
    return store[0]


def test_tracker_creates_the_store(store):
    tracker, root = store
    tracker.experiment_id("trk-create")
    assert (root / "mlflow.db").is_file()


def test_experiment_created_once(tracker):
    assert tracker.experiment_id("trk-missing", create=False) is None
    assert tracker.client.get_experiment_by_name("trk-missing") is None
    first = tracker.experiment_id("trk-exp")
    assert first is not None
    assert tracker.experiment_id("trk-exp") == first
    assert tracker.experiment_id("trk-exp", create=False) == first
    assert tracker.client.get_experiment(first).tags[TAG + "study"] == "trk-exp"


def test_experiments_open_on_training_runs_in_the_mlflow_ui(tracker):
    """MLflow 3's UI shows an experiment without a kind in its GenAI layout
    ("Evaluation runs"); the kind tag the UI reads makes it a training experiment."""
    new = tracker.experiment_id("trk-kind")
    assert tracker.client.get_experiment(new).tags["mlflow.experimentKind"] == "custom_model_development"
    # an experiment from a store written before the tag gets it the next time a run writes there
    old = tracker.client.create_experiment("trk-kind-old")
    assert "mlflow.experimentKind" not in tracker.client.get_experiment(old).tags
    assert tracker.experiment_id("trk-kind-old") == old
    assert tracker.client.get_experiment(old).tags["mlflow.experimentKind"] == "custom_model_development"


def test_parent_run_reused_per_budget(tracker):
    smoke = tracker.parent_run("trk-parent", "smoke", {"harness.git": "abc"})
    assert tracker.parent_run("trk-parent", "smoke", {}) == smoke
    quick = tracker.parent_run("trk-parent", "quick", {})
    assert quick != smoke
    run = tracker.client.get_run(smoke)
    assert run.data.tags[TAG + "role"] == "study"
    assert run.data.tags[TAG + "budget"] == "smoke"
    assert run.data.tags["harness.git"] == "abc"
    assert run.info.experiment_id == tracker.experiment_id("trk-parent")
    # a finished parent is reopened on resume
    tracker.finish(smoke)
    assert tracker.client.get_run(smoke).info.status == "FINISHED"
    assert tracker.parent_run("trk-parent", "smoke", {}) == smoke
    assert tracker.client.get_run(smoke).info.status == "RUNNING"


def test_find_parent(tracker):
    assert tracker.find_parent("trk-find-none", "smoke") is None
    assert tracker.experiment_id("trk-find-none", create=False) is None  # looking did not create it
    parent = tracker.parent_run("trk-find", "smoke", {})
    assert tracker.find_parent("trk-find", "smoke") == parent
    assert tracker.find_parent("trk-find", "full") is None
    # a child run is never mistaken for the parent
    tracker.start_child("trk-find", parent, "a r0", trial_tags("a", 0, budget="quick"))
    assert tracker.find_parent("trk-find", "quick") is None


def test_start_child_links_parent(tracker):
    parent = tracker.parent_run("trk-child", "smoke", {})
    child = tracker.start_child("trk-child", parent, "arm-a r0", trial_tags("arm-a", 0))
    run = tracker.client.get_run(child)
    assert run.data.tags["mlflow.parentRunId"] == parent
    assert run.info.run_name == "arm-a r0"
    assert run.data.tags[TAG + "arm"] == "arm-a"
    assert run.info.experiment_id == tracker.experiment_id("trk-child")
    assert run.info.status == "RUNNING"


def _child(tracker: Tracker, study: str, arm: str = "a", replicate: int = 0, **kw) -> str:
    parent = tracker.parent_run(study, kw.get("budget", "smoke"), {})
    return tracker.start_child(study, parent, f"{arm} r{replicate}", trial_tags(arm, replicate, **kw))


def test_log_metrics_more_than_one_batch(tracker):
    run_id = _child(tracker, "trk-metrics")
    n = 2 * BATCH_LIMIT + 500
    assert n > BATCH_LIMIT
    tracker.log_metrics(run_id, [("loss", float(i) / 10, i, 1_000 + i) for i in range(n)]
                        + [("final", 0.25, 0, 0)])
    history = tracker.client.get_metric_history(run_id, "loss")
    assert len(history) == n
    assert sorted(m.step for m in history) == list(range(n))
    assert {(m.step, m.value, m.timestamp) for m in history} == {(i, i / 10, 1_000 + i) for i in range(n)}
    assert tracker.client.get_run(run_id).data.metrics["final"] == 0.25
    assert sorted(tracker.metric_history(run_id, "loss"))[:2] == [(0, 0.0), (1, 0.1)]


def test_a_final_metric_stamped_after_its_curve_is_the_runs_final_value_whatever_the_clock(tracker):
    # a curve's last epoch (0.8) and the trial's result under its name (0.7, the restored best epoch's) at one step
    curve = [("val_loss", 0.9, 2, 5_000), ("val_loss", 0.8, 3, 5_001)]
    same_ms = _child(tracker, "trk-final", replicate=0)
    tracker.log_metrics(same_ms, [*curve, ("val_loss", 0.7, 3, 5_001)])
    assert tracker.client.get_run(same_ms).data.metrics["val_loss"] == 0.8  # MLflow: on a tie the larger value
    stamped = _child(tracker, "trk-final", replicate=1)
    stamp = final_metrics_stamp(curve, now_ms=5_001)  # the clock had not moved on since the last epoch
    assert stamp == 5_002 and final_metrics_stamp(curve, now_ms=9_000) == 9_000
    tracker.log_metrics(stamped, [*curve, ("val_loss", 0.7, 3, stamp)])
    assert tracker.client.get_run(stamped).data.metrics["val_loss"] == 0.7
    assert tracker.metric_history(stamped, "val_loss")[-1] == (3, 0.7)  # curve readers' last value at the step


def test_only_a_final_metric_that_differs_from_its_curves_last_point_clashes():
    curves = [("val_loss", 0.9, 2, 5_000), ("val_loss", 0.8, 3, 5_001), ("lr", 0.1, 2, 5_000)]
    assert clashes_with_curves({"val_loss": 0.7, "test_loss": 0.5}, curves) == ["val_loss"]
    assert clashes_with_curves({"val_loss": 0.8, "lr": 0.1}, curves) == []  # repeats of the last points
    assert clashes_with_curves({"lr": 0.05}, curves) == ["lr"]  # logged at step 3, it would be the curve's last
    assert clashes_with_curves({"val_loss": 0.7}, []) == []


def test_log_params_more_than_one_batch(tracker):
    run_id = _child(tracker, "trk-params")
    n = PARAM_BATCH_LIMIT + 50
    params = {f"p{i:03d}": i for i in range(n)}
    params["nested"] = {"b": 2, "a": [1, 2]}
    params["long"] = "x" * 7000
    tracker.log_params(run_id, params)
    logged = tracker.client.get_run(run_id).data.params
    assert len(logged) == n + 2
    assert all(logged[f"p{i:03d}"] == str(i) for i in range(n))
    assert json.loads(logged["nested"]) == {"a": [1, 2], "b": 2}
    assert logged["long"] == "x" * 6000


@pytest.mark.parametrize("size", ["one call", "chunked"])
def test_log_batch_writes_params_metrics_and_tags(tracker, size):
    run_id = _child(tracker, f"trk-batch-{size}")
    n_params = 3 if size == "one call" else PARAM_BATCH_LIMIT + 5
    n_metrics = 10 if size == "one call" else BATCH_LIMIT + 5
    params = {f"p{i}": i for i in range(n_params)}
    metrics = [("loss", float(i), i, 1_000 + i) for i in range(n_metrics)]
    tracker.log_batch(run_id, params, metrics, {TAG + "x": "y"})
    data = tracker.client.get_run(run_id).data
    assert len(data.params) == n_params and data.params["p2"] == "2"
    assert data.tags[TAG + "x"] == "y"
    assert len(tracker.client.get_metric_history(run_id, "loss")) == n_metrics


def test_log_tags(tracker):
    run_id = _child(tracker, "trk-tags")
    tracker.log_tags(run_id, {TAG + "fail_reason": "ValueError: boom", TAG + "info": {"k": 1}})
    tags = tracker.client.get_run(run_id).data.tags
    assert tags[TAG + "fail_reason"] == "ValueError: boom"
    assert json.loads(tags[TAG + "info"]) == {"k": 1}


def test_log_datasets(tracker):
    run_id = _child(tracker, "trk-data")
    digest = "0123456789abcdef" * 4
    tracker.log_datasets(run_id, [DatasetRecord("mnist-train", digest, "/data/mnist.npz", "train"),
                                  DatasetRecord("mnist-test", digest[::-1], "/data/mnist.npz", "test")])
    tracker.log_datasets(run_id, [])  # nothing to log: no error
    inputs = tracker.client.get_run(run_id).inputs.dataset_inputs
    by_name = {d.dataset.name: d for d in inputs}
    assert set(by_name) == {"mnist-train", "mnist-test"}
    train = by_name["mnist-train"]
    assert train.dataset.digest == digest[:36]
    assert train.dataset.source_type == "local"
    assert json.loads(train.dataset.source) == {"uri": "/data/mnist.npz"}
    assert {t.key: t.value for t in train.tags}["mlflow.data.context"] == "train"
    assert {t.key: t.value for t in by_name["mnist-test"].tags}["mlflow.data.context"] == "test"


def test_log_artifacts(tracker, tmp_path):
    run_id = _child(tracker, "trk-art")
    folder = tmp_path / "art"
    folder.mkdir()
    tracker.log_artifacts(run_id, folder)  # empty folder: nothing uploaded, no error
    tracker.log_artifacts(run_id, tmp_path / "missing")
    assert tracker.client.list_artifacts(run_id) == []
    (folder / "learning_curve.csv").write_text("step,loss\n0,1.0\n")
    tracker.log_artifacts(run_id, folder)
    tracker.log_artifacts(run_id, folder, "report")
    assert [f.path for f in tracker.client.list_artifacts(run_id)] == ["learning_curve.csv", "report"]
    assert [f.path for f in tracker.client.list_artifacts(run_id, "report")] == ["report/learning_curve.csv"]
    local = tracker.download(run_id, "learning_curve.csv", tmp_path / "down")
    assert local.read_text() == "step,loss\n0,1.0\n"


@pytest.mark.parametrize("status", ["FINISHED", "FAILED", "KILLED"])
def test_finish_sets_status(tracker, status):
    run_id = _child(tracker, "trk-finish")
    tracker.finish(run_id, status)
    info = tracker.client.get_run(run_id).info
    assert info.status == status
    assert info.end_time is not None and info.end_time >= info.start_time


def test_runs_one_row_per_child(tracker):
    study = "trk-runs"
    smoke_parent = tracker.parent_run(study, "smoke", {})
    quick_parent = tracker.parent_run(study, "quick", {})
    expected = {}
    for arm in ("deep", "pca"):
        for rep in range(2):
            run_id = tracker.start_child(study, smoke_parent, f"{arm} r{rep}", trial_tags(arm, rep))
            value = 0.1 * rep + (0.5 if arm == "pca" else 0.0)
            tracker.log_metrics(run_id, [("mse", value, 0, 0)])
            tracker.finish(run_id, "FAILED" if (arm, rep) == ("pca", 1) else "FINISHED")
            expected[run_id] = (arm, rep, value)
    other = tracker.start_child(study, quick_parent, "deep r0", trial_tags("deep", 0, budget="quick"))
    tune = tracker.start_child(study, smoke_parent, "deep tune0", trial_tags("deep", 1_000_000, phase="tune"))

    frame = tracker.runs(study, "smoke")
    assert COLUMNS <= set(frame.columns) and "metrics.mse" in frame.columns
    assert set(frame["run_id"]) == set(expected) | {tune}
    assert len(frame) == len(expected) + 1
    assert smoke_parent not in set(frame["run_id"]) and other not in set(frame["run_id"])
    assert pd.api.types.is_integer_dtype(frame["replicate"])
    assert set(frame["budget"]) == {"smoke"}
    rows = frame.set_index("run_id")
    assert rows.loc[tune, "phase"] == "tune"
    for run_id, (arm, rep, value) in expected.items():
        row = rows.loc[run_id]
        assert (row["arm"], row["replicate"], row["phase"]) == (arm, rep, "replicate")
        assert row["metrics.mse"] == pytest.approx(value)
        assert row["status"] == ("FAILED" if (arm, rep) == ("pca", 1) else "FINISHED")
    assert rows.loc[tune, "status"] == "RUNNING"

    everything = tracker.runs(study)
    assert set(everything["run_id"]) == set(expected) | {tune, other}
    assert set(everything["budget"]) == {"smoke", "quick"}
    assert tracker.runs(study, "full").empty


def test_runs_of_unknown_study_is_empty_with_columns(tracker):
    frame = tracker.runs("trk-never-created", "smoke")
    assert frame.empty
    assert COLUMNS <= set(frame.columns)
    assert tracker.experiment_id("trk-never-created", create=False) is None
    assert latest_per_trial(frame).empty


def test_runs_then_latest_per_trial_prefers_the_rerun(tracker):
    study = "trk-rerun"
    first = _child(tracker, study, "a", 0)
    tracker.finish(first, "FAILED")
    second = _child(tracker, study, "a", 0)
    tracker.log_metrics(second, [("mse", 0.3, 0, 0)])
    tracker.finish(second, "FINISHED")
    third = _child(tracker, study, "a", 1)
    tracker.finish(third, "FAILED")
    kept = latest_per_trial(tracker.runs(study, "smoke"))
    assert sorted(kept["run_id"]) == sorted([second, third])


# --------------------------------------------------------------------------
# latest_per_trial on hand-built frames
# --------------------------------------------------------------------------


def frame(rows: list[tuple[str, str, str, int, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["run_id", "phase", "arm", "replicate", "status", "start_time"])


def test_latest_per_trial_finished_beats_later_failure():
    runs = frame([("r1", "replicate", "a", 0, "FAILED", 100), ("r2", "replicate", "a", 0, "FINISHED", 200),
                  ("r3", "replicate", "a", 0, "FAILED", 300)])
    kept = latest_per_trial(runs)
    assert list(kept["run_id"]) == ["r2"]
    assert "_finished" not in kept.columns
    assert list(kept.columns) == list(runs.columns)


def test_latest_per_trial_failed_then_finished():
    runs = frame([("r1", "replicate", "a", 0, "FAILED", 100), ("r2", "replicate", "a", 0, "FINISHED", 200)])
    assert list(latest_per_trial(runs)["run_id"]) == ["r2"]


def test_latest_per_trial_two_failed_keep_latest():
    runs = frame([("r2", "replicate", "a", 0, "FAILED", 200), ("r1", "replicate", "a", 0, "FAILED", 100)])
    kept = latest_per_trial(runs)
    assert list(kept["run_id"]) == ["r2"]
    assert list(kept["status"]) == ["FAILED"]


def test_latest_per_trial_distinct_keys_kept_and_sorted():
    runs = frame([("r4", "tune", "a", 0, "FINISHED", 400), ("r3", "replicate", "b", 0, "FINISHED", 300),
                  ("r2", "replicate", "a", 1, "FAILED", 200), ("r1", "replicate", "a", 0, "FINISHED", 100)])
    kept = latest_per_trial(runs)
    assert list(kept["run_id"]) == ["r1", "r2", "r3", "r4"]
    assert list(kept.index) == [0, 1, 2, 3]


def test_latest_per_trial_empty():
    empty = frame([])
    assert latest_per_trial(empty).empty
