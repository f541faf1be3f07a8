"""A thin adapter over ``MlflowClient`` with explicit run ids.

Why not optuna-integration's ``MLflowCallback``: it is deprecated (removed in
Optuna 6), never creates a parent run, and serialises trials under a lock.
Here a study invocation owns one parent run (reused on resume); every trial
gets a named child run ("deep-ae-30 r3") with its params, seeds, tags,
buffered metrics (``log_batch``), dataset inputs and artifacts.
"""
from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from harness.locks import schema_lock
from harness.redact import BadURL, parse_url, redact, without_userinfo

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from harness.context import DatasetRecord

# MLflow's per-download progress bars would drown the harness's own when reports fetch artifacts.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

# "Creating initial MLflow database tables..." on every new store is noise in a progress display, and a
# failed write (a full disk, a lost database) is logged there with SQLAlchemy's whole traceback before it is
# re-raised; the harness reports each failure itself, with its cause on one line.
logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)

TAG = "harness."  # prefix of every tag the harness writes
# A finished trial's final metrics by name, comma-separated, in the order its trial function returned them (the
# first is its Optuna value): tells them from the learning curve's metrics, for `harness rebuild`
FINAL_METRICS = TAG + "final_metrics"


def final_metric_names(run) -> list[str]:
    """The names in an MLflow run's ``FINAL_METRICS`` tag, in order; [] for a run without it."""
    return [name for name in run.data.tags.get(FINAL_METRICS, "").split(",") if name]


def trial_tags(study: str, arm: str, replicate: int, phase: str, budget: str, claims: str,
               optuna_study: str, trial_number: int, environment: Mapping[str, str],
               stage: int | None = None) -> dict[str, str]:
    """The tags of a trial's run: the one place they are written (``Tracker.runs``
    reads them back as the ``arm``, ``replicate``, ``phase`` and ``budget`` columns).
    ``stage``: the look of a sequential design that queued a replicate."""
    return {TAG + "role": "trial", TAG + "study": study, TAG + "arm": arm, TAG + "replicate": str(replicate),
            TAG + "phase": phase, TAG + "budget": budget, TAG + "claims": claims,
            **({TAG + "stage": str(stage)} if stage is not None else {}),
            "optuna.study": optuna_study, "optuna.trial_number": str(trial_number),
            **{TAG + k: v for k, v in environment.items()}}
BATCH_LIMIT = 1000  # MLflow's log_batch cap on metrics per call
PARAM_BATCH_LIMIT = 100  # and on params (and tags) per call
# MLflow 3's UI opens an experiment with no kind in its GenAI layout ("Evaluation runs"); this tag,
# read by the UI itself, opens the harness's experiments on their training runs.
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")


class TrackingError(RuntimeError):
    """The tracking store cannot be used; the message says how to fix it."""


def default_tracking_uri(root: Path) -> str:
    """An absolute SQLite URI in the project (MLflow 3 rejects the file store
    unless opted in, and a relative URI would move with the working directory)."""
    return f"sqlite:///{(root / 'mlflow.db').resolve()}"


def resolve_tracking_uri(explicit: str | None, root: Path) -> str:
    return explicit or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri(root)


def sqlite_path(uri: str) -> Path:
    """The database file of a ``sqlite:///`` URI (relative to the working directory unless absolute)."""
    path = Path(uri[len("sqlite:///"):])
    return path if path.is_absolute() else Path.cwd() / path


def check_tracking_uri(uri: str, timeout: float = 3.0) -> None:
    """Fail before any compute if the store cannot be written or reached.
    Every message names the URI with its password redacted."""
    shown = redact(uri)
    if uri.startswith("sqlite:///"):
        path = sqlite_path(uri)
        folder = path.parent
        if not folder.is_dir():
            raise TrackingError(f"tracking store folder {folder} does not exist: create it or pass "
                                "--tracking-uri sqlite:////absolute/path/mlflow.db")
        # SQLite writes journal files beside the database: the folder must be writable too
        if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise TrackingError(f"tracking store {path} is not writable: fix its permissions or pass "
                                "--tracking-uri with a writable location")
        return
    if uri.startswith("file:") or "://" not in uri:
        raise TrackingError(f"tracking URI {shown!r}: MLflow 3 disables the file store by default; use "
                            "sqlite:////absolute/path/mlflow.db or an http:// server")
    try:
        parse_url(uri, "tracking URI")
    except BadURL as exc:
        raise TrackingError(str(exc)) from None
    if uri.startswith(("http://", "https://")):
        # urllib reads no credentials from a URL ("http://u:pw@host" would be host "u:pw@host", port "pw@host"):
        # strip them and send them as basic auth, as MLflow's client does
        bare, credentials = without_userinfo(uri)
        request = urllib.request.Request(bare.rstrip("/") + "/health")
        if credentials:
            import base64

            token = base64.b64encode(":".join(credentials).encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                response.read()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise TrackingError(f"tracking server {shown} is unreachable ({redact(str(exc))}): start it (see "
                                "README, 'Several machines') or pass --tracking-uri") from None
    elif uri.split("://", 1)[0].split("+")[0] not in ("postgresql", "mysql", "mssql", "databricks"):
        raise TrackingError(f"tracking URI {shown!r}: unsupported scheme; use sqlite:////absolute/path/mlflow.db, "
                            "http://host:port (an mlflow server) or a database URL such as postgresql://…")


def _flat(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text[:6000]  # MLflow's param value limit


class Tracker:
    def __init__(self, uri: str):
        from mlflow import MlflowClient

        self.uri = redact(uri)  # for messages and reports: the password never leaves the process
        self._uri = uri
        if uri.startswith("sqlite:///") and ":memory:" not in uri:
            # MLflow creates or migrates the schema when its client is built: N workers opening a fresh store at
            # once race in that ("table experiments already exists", "duplicate column name", alembic's "expected
            # to match one row"). A tracking server or a database server does it once for everyone.
            with schema_lock(sqlite_path(uri)):
                self.client = MlflowClient(tracking_uri=uri)
        else:
            self.client = MlflowClient(tracking_uri=uri)

    # -- experiments and the parent run ---------------------------------
    def experiment_id(self, study: str, create: bool = True) -> str | None:
        experiment = self.client.get_experiment_by_name(study)
        if experiment is not None:
            if create and EXPERIMENT_KIND[0] not in experiment.tags:  # a store written before the tag existed
                self.client.set_experiment_tag(experiment.experiment_id, *EXPERIMENT_KIND)
            return experiment.experiment_id
        if not create:
            return None
        from mlflow.exceptions import MlflowException

        try:
            return self.client.create_experiment(study, artifact_location=self._artifact_location(study),
                                                 tags={TAG + "study": study, EXPERIMENT_KIND[0]: EXPERIMENT_KIND[1]})
        except MlflowException:
            # workers on several machines may create it at the same moment: one wins, the others use it
            experiment = self.client.get_experiment_by_name(study)
            if experiment is None:
                raise
            return experiment.experiment_id

    def _artifact_location(self, study: str) -> str | None:
        """Artifacts beside a SQLite store (``<folder>/mlartifacts/<study>``);
        MLflow's own default is ``./mlruns`` under whatever the working
        directory happens to be. A server chooses its own location."""
        if self._uri.startswith("sqlite:///"):
            return (Path(self._uri[len("sqlite:///"):]).parent / "mlartifacts" / study).resolve().as_uri()
        return None

    def parent_run(self, study: str, budget: str, tags: Mapping[str, str]) -> str:
        """The study's parent run for this budget: reused on resume, else created."""
        experiment = self.experiment_id(study)
        found = self.client.search_runs(
            [experiment],
            filter_string=f"tags.`{TAG}role` = 'study' and tags.`{TAG}budget` = '{budget}'",
            order_by=["attributes.start_time DESC"], max_results=1)
        if found:
            run_id = found[0].info.run_id
            self.client.update_run(run_id, status="RUNNING")
            return run_id
        run = self.client.create_run(experiment, run_name=f"{study} [{budget}]",
                                     tags={**tags, TAG + "role": "study", TAG + "budget": budget})
        return run.info.run_id

    def find_parent(self, study: str, budget: str) -> str | None:
        experiment = self.experiment_id(study, create=False)
        if experiment is None:
            return None
        found = self.client.search_runs(
            [experiment], filter_string=f"tags.`{TAG}role` = 'study' and tags.`{TAG}budget` = '{budget}'",
            order_by=["attributes.start_time DESC"], max_results=1)
        return found[0].info.run_id if found else None

    # -- child runs ------------------------------------------------------
    def start_child(self, study: str, parent_id: str, name: str, tags: Mapping[str, str]) -> str:
        from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

        run = self.client.create_run(self.experiment_id(study), run_name=name,
                                     tags={**tags, MLFLOW_PARENT_RUN_ID: parent_id})
        return run.info.run_id

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, _flat(v)) for k, v in params.items()]
        for i in range(0, len(items), PARAM_BATCH_LIMIT):
            self.client.log_batch(run_id, params=items[i : i + PARAM_BATCH_LIMIT], synchronous=True)

    def log_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        from mlflow.entities import RunTag

        items = [RunTag(k, _flat(v)) for k, v in tags.items()]
        for i in range(0, len(items), PARAM_BATCH_LIMIT):  # the same cap of 100 applies to tags
            self.client.log_batch(run_id, tags=items[i : i + PARAM_BATCH_LIMIT], synchronous=True)

    def log_metrics(self, run_id: str, metrics: Iterable[tuple[str, float, int, int]]) -> None:
        """Buffered metrics (key, value, step, timestamp ms), ≤1000 per ``log_batch``."""
        from mlflow.entities import Metric

        items = [Metric(key, value, timestamp, step) for key, value, step, timestamp in metrics]
        for i in range(0, len(items), BATCH_LIMIT):
            self.client.log_batch(run_id, metrics=items[i : i + BATCH_LIMIT], synchronous=True)

    def log_batch(self, run_id: str, params: Mapping[str, Any], metrics: list[tuple[str, float, int, int]],
                  tags: Mapping[str, Any]) -> None:
        """Params, metrics and tags in one ``log_batch`` call when they fit
        MLflow's limits (one round trip instead of three), else in chunks."""
        from mlflow.entities import Metric, Param, RunTag

        if len(params) > PARAM_BATCH_LIMIT or len(tags) > PARAM_BATCH_LIMIT or \
                len(params) + len(tags) + len(metrics) > BATCH_LIMIT:
            self.log_params(run_id, params)
            self.log_metrics(run_id, metrics)
            self.log_tags(run_id, tags)
            return
        self.client.log_batch(run_id, metrics=[Metric(k, v, ts, step) for k, v, step, ts in metrics],
                              params=[Param(k, _flat(v)) for k, v in params.items()],
                              tags=[RunTag(k, _flat(v)) for k, v in tags.items()], synchronous=True)

    def log_datasets(self, run_id: str, records: Iterable["DatasetRecord"]) -> None:
        from mlflow.entities import Dataset, DatasetInput, InputTag

        from mlflow.exceptions import MlflowException

        inputs = [DatasetInput(Dataset(r.name, r.digest[:36], "local", json.dumps({"uri": r.source})),
                               tags=[InputTag("mlflow.data.context", r.context)]) for r in records]
        for attempt in range(3):
            if not inputs:
                return
            try:
                self.client.log_inputs(run_id, datasets=inputs)
                return
            except MlflowException as exc:
                # MLflow's SQL store inserts a dataset after checking it is absent, not atomically: two workers
                # logging the same new dataset at once on PostgreSQL collide on its unique key. The retry finds
                # the dataset and only links it to this run.
                if attempt == 2 or "unique" not in str(exc).lower():
                    raise
                time.sleep(0.2 * (attempt + 1))

    def log_artifacts(self, run_id: str, folder: Path, artifact_path: str | None = None) -> None:
        if folder.is_dir() and any(folder.iterdir()):
            self.client.log_artifacts(run_id, str(folder), artifact_path)

    def finish(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status=status, end_time=int(time.time() * 1000))

    def close_if_running(self, run_id: str, status: str, reason: str) -> bool:
        """End a run left open by a worker that died or was failed as stale,
        with the reason as its ``fail_reason`` tag; False when it was already closed."""
        if self.client.get_run(run_id).info.status != "RUNNING":
            return False
        self.log_tags(run_id, {TAG + "fail_reason": redact(reason)})
        self.finish(run_id, status)
        return True

    def open_trial_runs(self, study: str, optuna_study: str) -> list[str]:
        """Ids of the trial runs of one Optuna study (``optuna.study`` tag) still RUNNING."""
        experiment = self.experiment_id(study, create=False)
        if experiment is None:
            return []
        runs = self.client.search_runs(
            [experiment], filter_string=f"attributes.status = 'RUNNING' and tags.`optuna.study` = '{optuna_study}'",
            max_results=1000)
        return [run.info.run_id for run in runs]

    def download(self, run_id: str, path: str, destination: Path) -> Path:
        destination.mkdir(parents=True, exist_ok=True)
        return Path(self.client.download_artifacts(run_id, path, str(destination)))

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        """(step, value) in the order they were logged. A value logged twice at
        one step (a final metric repeating the last epoch's, stamped after it:
        ``sweep.final_metrics_stamp``) appears twice, the final one last;
        readers keep the last value per step (``CheckContext.curves``)."""
        logged = sorted(self.client.get_metric_history(run_id, key), key=lambda m: (m.timestamp, m.step))
        return [(m.step, m.value) for m in logged]

    # -- reading back ------------------------------------------------------
    def trial_runs(self, study: str, budget: str | None = None) -> list:
        """Every child run of a study (optionally of one budget), any status, as
        MLflow ``Run`` objects in start order: what ``runs`` tabulates."""
        experiment = self.experiment_id(study, create=False)
        if experiment is None:
            return []
        query = f"tags.`{TAG}role` = 'trial'"
        if budget:
            query += f" and tags.`{TAG}budget` = '{budget}'"
        found, token = [], None
        while True:
            page = self.client.search_runs([experiment], filter_string=query, max_results=1000,
                                           order_by=["attributes.start_time ASC"], page_token=token)
            found.extend(page)
            token = page.token
            if not token:
                return found

    def runs(self, study: str, budget: str | None = None) -> "pd.DataFrame":
        """Every child run of a study (optionally of one budget) as one DataFrame.

        Columns follow ``mlflow.search_runs``: ``run_id``, ``run_name``,
        ``status``, ``start_time``, ``metrics.*``, ``params.*``, ``tags.*``;
        plus ``arm``, ``replicate`` (int), ``phase`` and ``budget`` for convenience.
        """
        import pandas as pd

        rows: list[dict[str, Any]] = []
        for run in self.trial_runs(study, budget):
            row: dict[str, Any] = {"run_id": run.info.run_id, "run_name": run.info.run_name,
                                   "status": run.info.status, "start_time": run.info.start_time}
            row.update({f"metrics.{k}": v for k, v in run.data.metrics.items()})
            row.update({f"params.{k}": v for k, v in run.data.params.items()})
            row.update({f"tags.{k}": v for k, v in run.data.tags.items()})
            rows.append(row)
        frame = pd.DataFrame(rows)
        if frame.empty:
            return pd.DataFrame(columns=["run_id", "run_name", "status", "start_time", "arm", "replicate",
                                         "phase", "budget"])
        frame["arm"] = frame[f"tags.{TAG}arm"]
        frame["replicate"] = frame[f"tags.{TAG}replicate"].astype(int)
        frame["phase"] = frame[f"tags.{TAG}phase"]
        frame["budget"] = frame[f"tags.{TAG}budget"]
        return frame


def study_runs(study: str, budget: str | None = None, tracking_uri: str | None = None) -> "pd.DataFrame":
    """A study's trial runs as one pandas DataFrame, the table the reports are
    built from (columns as in ``Tracker.runs``). The tracking URI defaults as
    for ``harness run``: the argument, $MLFLOW_TRACKING_URI, the project's store."""
    from harness import paths

    return Tracker(resolve_tracking_uri(tracking_uri, paths.home())).runs(study, budget)


def latest_per_trial(runs: "pd.DataFrame") -> "pd.DataFrame":
    """One row per (phase, arm, replicate): the finished run if there is one,
    else the latest attempt — so a failed-then-rerun trial counts once."""
    if runs.empty:
        return runs
    ranked = runs.assign(_finished=runs["status"] == "FINISHED").sort_values(["_finished", "start_time"])
    return ranked.groupby(["phase", "arm", "replicate"], as_index=False).tail(1).drop(columns="_finished") \
        .sort_values(["phase", "arm", "replicate"]).reset_index(drop=True)
