"""Scale-out against real servers on localhost: a PostgreSQL cluster (Optuna's
RDB storage and the MLflow server's backend) and a real ``mlflow server``
with proxied artifacts, started here with ``harness.services`` and torn down
after. Also: heartbeats retry a dead worker's trial, and a tracking server
that goes away mid-study fails the trial in flight with a clear reason and
loses nothing finished.

Without PostgreSQL's programs these tests skip, unless
HARNESS_REQUIRE_SERVICES=1 (as in .ci/run), where they must run.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from conftest import ROOT, TESTS, harness_env
from harness import services
from harness.run import RunRequest, run_study
from harness.tracking import Tracker

pytestmark = pytest.mark.slow  # a real PostgreSQL and mlflow server: in `make test`, not `make check`


MISSING = services.postgres_missing()
if MISSING and not os.environ.get("HARNESS_REQUIRE_SERVICES"):
    pytest.skip(f"PostgreSQL not available: {MISSING}", allow_module_level=True)

# MLflow's client retries a refused connection for minutes by default (good for a blip, slow for a test)
FAST_FAIL = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}


@pytest.fixture(scope="module")
def postgres():
    # not under pytest's tmp folder: it is private to root, and PostgreSQL runs as the postgres user
    root = Path(tempfile.mkdtemp(prefix="harness-test-pg-"))
    pg = services.Postgres(root, services.free_port()).start()
    yield pg
    pg.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def mlflow_server(postgres, tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow")
    server = services.MlflowServer(postgres.create_database("mlflow"), root / "artifacts", services.free_port(),
                                   log=root / "server.log").start()
    yield server
    server.stop(timeout=2)


def keys_by_state(storage_url: str, study: str) -> dict[str, list[str]]:
    trials = optuna.load_study(study_name=study, storage=storage_url).get_trials(deepcopy=False)
    out: dict[str, list[str]] = {}
    for t in trials:
        out.setdefault(t.state.name, []).append(t.user_attrs["key"])
    return {k: sorted(v) for k, v in out.items()}


DESIGN = ["narrow/r0", "narrow/r1", "wide/r0", "wide/r1"]


def test_two_workers_on_postgres_and_an_mlflow_server_run_each_key_once(home, postgres, mlflow_server, monkeypatch):
    storage = postgres.create_database("two_workers")
    # `--workers 2`: two `harness worker` processes, started by run_study in this process as `harness run`
    # would (a `python -m harness` parent as well would add only its imports); they find the tiny study on
    # PYTHONPATH and work in the home, so a local artifact folder would show there
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.chdir(home)
    run_study(RunRequest("tiny", "smoke", workers=2, storage=storage, tracking_uri=mlflow_server.url, progress=False))
    assert keys_by_state(storage, "tiny.smoke") == {"COMPLETE": DESIGN}
    runs = Tracker(mlflow_server.url).runs("tiny", "smoke")
    assert len(runs) == 4 and set(runs["status"]) == {"FINISHED"}
    assert sorted(f"{a}/r{r}" for a, r in zip(runs["arm"], runs["replicate"])) == DESIGN
    # artifacts went through the server (proxied), not to a local folder
    first = runs["run_id"].iloc[0]
    assert any(a.path == "learning_curve.csv" for a in Tracker(mlflow_server.url).client.list_artifacts(first))
    assert not (home / "mlartifacts").exists() and not (home / "mlruns").exists()


def test_a_dead_workers_trial_is_failed_by_heartbeat_and_retried(home, postgres, mlflow_server, monkeypatch):
    storage = postgres.create_database("heartbeat")
    env = harness_env(home, TINY_SLEEP="30", HARNESS_HEARTBEAT_SECONDS="1")
    worker = subprocess.Popen([sys.executable, "-m", "harness", "worker", "tiny", "--budget", "smoke",
                               "--storage", storage, "--tracking-uri", mlflow_server.url], cwd=home, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and "RUNNING" not in _states(storage):
        time.sleep(0.5)
    assert "RUNNING" in _states(storage), "the worker never started a trial"
    worker.send_signal(signal.SIGKILL)  # no cleanup: its trial stays RUNNING with a heartbeat that stops
    worker.wait()
    time.sleep(6)  # past the grace period (4 heartbeats)
    # the resume, in this process (the killed worker above is the real process; a second `python -m harness`
    # start would add only its imports to the same run_study)
    monkeypatch.setenv("HARNESS_HEARTBEAT_SECONDS", "1")
    run_study(RunRequest("tiny", "smoke", storage=storage, tracking_uri=mlflow_server.url, progress=False))
    states = keys_by_state(storage, "tiny.smoke")
    assert states["COMPLETE"] == DESIGN and len(states["FAIL"]) == 1  # nothing lost, nothing twice
    trials = optuna.load_study(study_name="tiny.smoke", storage=storage).get_trials(deepcopy=False)
    retried = [t for t in trials if "failed_trial" in t.system_attrs]
    assert len(retried) == 1 and retried[0].state == TrialState.COMPLETE  # Optuna's heartbeat retry ran it


def _states(storage: str) -> set[str]:
    try:
        return {t.state.name for t in optuna.load_study(study_name="tiny.smoke", storage=storage).get_trials()}
    except KeyError:  # the study is not created yet
        return set()


@pytest.mark.faults  # two server starts and two runs (about a minute): `make faults`
                     # (harness.infrafaults covers it too)
def test_tracking_server_gone_mid_study_fails_the_trial_in_flight_and_keeps_the_rest(home, tmp_path, empty_store):
    # the server's backend starts as a copy of the session's empty store: the same schema, without the
    # server running every MLflow migration again at its first start
    shutil.copy(empty_store, tmp_path / "server.db")
    server = services.MlflowServer(f"sqlite:///{tmp_path / 'server.db'}", tmp_path / "artifacts",
                                   services.free_port(), log=tmp_path / "server.log").start()
    run = subprocess.Popen([sys.executable, "-m", "harness", "run", "tiny", "--budget", "smoke", "--no-progress",
                            "--tracking-uri", server.url], cwd=home, env=harness_env(home, TINY_SLEEP="2", **FAST_FAIL),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    journal = f"{home}/.harness/optuna.journal"
    deadline = time.time() + 120
    # a trial complete and the next one training (its run created: the previous run is closed by then)
    while time.time() < deadline and not {"COMPLETE", "RUNNING+run"} <= _journal_states(journal, with_runs=True):
        time.sleep(0.3)
    server.stop(timeout=0)  # the tracking server dies while the next trial trains
    _, stderr = run.communicate(timeout=120)
    assert run.returncode != 0
    assert "tracking store" in stderr and "failed" in stderr and "finished trials are kept" in stderr
    trials = optuna.load_study(study_name="tiny.smoke", storage=_journal(journal))
    complete = [t for t in trials.get_trials() if t.state == TrialState.COMPLETE]
    failed = [t for t in trials.get_trials() if t.state == TrialState.FAIL]
    assert complete and failed
    assert all("tracking store" in t.user_attrs["fail_reason"] for t in failed)

    server.start()  # same backend: resume finishes the study without repeating a finished key
    try:
        # the resume, in this process (the run the server died under is the real process above; a second
        # `python -m harness` start would add only its imports to the same run_study)
        run_study(RunRequest("tiny", "smoke", tracking_uri=server.url, progress=False))
        # read while this server is up (nothing writes to its backend after the run; a restart only to read cost ~15 s)
        runs = Tracker(server.url).runs("tiny", "smoke")
    finally:
        server.stop(timeout=2)
    final = trials.get_trials()
    finished_keys = sorted(t.user_attrs["key"] for t in final if t.state == TrialState.COMPLETE)
    assert finished_keys == DESIGN
    assert {t.number for t in complete} <= {t.number for t in final if t.state == TrialState.COMPLETE}
    assert "RUNNING" not in set(runs["status"])


def _journal(path: str):
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))


def _journal_states(path: str, with_runs: bool = False) -> set[str]:
    """The states of the tiny study's trials; with ``with_runs``, "RUNNING+run" for a running trial whose run exists."""
    if not os.path.exists(path):
        return set()
    try:
        trials = optuna.load_study(study_name="tiny.smoke", storage=_journal(path)).get_trials()
    except KeyError:
        return set()
    return {t.state.name + ("+run" if with_runs and t.state == TrialState.RUNNING and "mlflow_run_id" in t.user_attrs
                            else "") for t in trials}


def listening_addresses(port: int) -> set[str]:
    """The IPv4 addresses a TCP port listens on, from /proc/net/tcp (Linux)."""
    found = set()
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
            found.add(".".join(str(int(address[i:i + 2], 16)) for i in (6, 4, 2, 0)))
    return found


def test_servers_and_the_ui_bind_to_localhost_only(home, postgres, mlflow_server):
    assert listening_addresses(postgres.port) == {"127.0.0.1"}
    assert listening_addresses(mlflow_server.port) == {"127.0.0.1"}
    port = services.free_port()
    ui = subprocess.Popen([sys.executable, "-m", "harness", "ui", "--port", str(port)], cwd=home,
                          env=harness_env(home), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          start_new_session=True)
    try:
        deadline = time.time() + 90
        while time.time() < deadline and not services.healthy(f"http://127.0.0.1:{port}"):
            assert ui.poll() is None, "harness ui exited"
            time.sleep(0.5)
        assert listening_addresses(port) == {"127.0.0.1"}
    finally:
        services.stop_group(ui.pid, timeout=2)
        ui.wait(timeout=30)


def test_workers_logging_the_same_new_dataset_at_once_do_not_collide(mlflow_server):
    """MLflow's SQL store checks-then-inserts a dataset; on PostgreSQL two runs
    logging the same new dataset at once hit its unique key. The tracker
    retries, so every run ends up linked to the one dataset."""
    from concurrent.futures import ThreadPoolExecutor

    from harness.context import DatasetRecord

    tracker = Tracker(mlflow_server.url)
    experiment = tracker.experiment_id("dataset-race")
    for round_ in range(4):
        runs = [tracker.client.create_run(experiment).info.run_id for _ in range(6)]
        record = DatasetRecord("race", f"{round_:064d}", "test", "train")
        with ThreadPoolExecutor(len(runs)) as pool:
            list(pool.map(lambda run: tracker.log_datasets(run, [record]), runs))
        for run in runs:
            inputs = tracker.client.get_run(run).inputs.dataset_inputs
            assert [i.dataset.name for i in inputs] == ["race"]


def test_workers_opening_a_fresh_postgres_database_at_once_all_open_it(postgres):
    """Optuna creates its tables when a storage is opened; N workers opening a
    fresh database at once raced in that (alembic_version: "duplicate key value
    violates unique constraint"), all but one crashing. harness.storage holds a
    PostgreSQL advisory lock while one opens it."""
    from concurrent.futures import ThreadPoolExecutor

    from harness.storage import open_storage

    for round_ in range(3):
        url = postgres.create_database(f"fresh_schema{round_}")
        with ThreadPoolExecutor(4) as pool:
            storages = list(pool.map(lambda _: open_storage(url), range(4)))
        assert len(storages) == 4
        assert optuna.create_study(storage=storages[0], study_name="s").study_name == "s"
        for storage in storages:
            storage.engine.dispose()


def test_two_workers_enqueueing_at_once_on_postgres_queue_each_key_once(home, postgres):
    """The enqueue race on PostgreSQL: the queue lock is a pg_advisory_lock."""
    from test_workers import SlowReader, in_threads, make_runner

    from harness.discovery import get_study
    from harness.tracking import default_tracking_uri

    storage = postgres.create_database("enqueue_race")
    parent = Tracker(default_tracking_uri(home)).parent_run("tiny", "smoke", {})
    rendezvous = __import__("threading").Barrier(2)
    runners = [make_runner(storage=storage, cls=SlowReader, parent=parent) for _ in range(2)]
    for r in runners:
        r.rendezvous = rendezvous
    arms = get_study("tiny").design("smoke")
    in_threads(*[lambda r=r: r.enqueue(arms) for r in runners])
    assert keys_by_state(storage, "tiny.smoke") == {"WAITING": DESIGN}
    ostudy = runners[0].design_study()
    outcomes = in_threads(*[lambda r=r: r.work(ostudy, arms, {}) for r in runners])
    assert sum(o.completed for o in outcomes) == 4
    assert keys_by_state(storage, "tiny.smoke") == {"COMPLETE": DESIGN}


def test_the_postgres_queue_lock_excludes_other_sessions_until_released(postgres):
    import threading

    from harness.queue_lock import QueueLock
    from harness.storage import open_storage

    url = postgres.create_database("advisory")
    waited: list[str] = []
    first = QueueLock(url, open_storage(url), announce=None)
    second = QueueLock(url, open_storage(url), announce=waited.append, announce_after=0.1)
    order: list[str] = []

    def take_second():
        with second.hold("s.smoke", "tuning"):
            order.append("second")

    with first.hold("s.smoke", "enqueueing"):
        with first.hold("s.smoke"):  # re-entrant within a thread
            pass
        thread = threading.Thread(target=take_second)
        thread.start()
        time.sleep(1.0)
        order.append("first released")
    thread.join(timeout=30)
    assert order == ["first released", "second"] and waited == ["waiting for another worker tuning (s.smoke)"]
    with first.hold("other.smoke"):  # another study's lock is independent
        pass
