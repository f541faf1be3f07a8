"""Local stand-ins for the servers of a several-machine setup: a PostgreSQL
cluster (Optuna's RDB storage and the MLflow server's backend) and an
``mlflow server`` with proxied artifacts, both on 127.0.0.1 unless told
otherwise.

``python -m harness.services up`` (``make services``) starts them under
``.harness/services/`` and prints the ``--storage`` and ``--tracking-uri`` to
give ``harness run``/``harness worker``; ``down`` stops them. The scale-out
tests start the same servers with the same functions. On several machines,
run PostgreSQL and the MLflow server once (README, "Several machines") and
point every worker at them.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from harness import paths


class ServiceError(RuntimeError):
    """A server could not be started; the message says what to install or check."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def pg_bin() -> Path:
    """The folder with PostgreSQL's server programs (initdb, pg_ctl)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise ServiceError("PostgreSQL's server programs (initdb, pg_ctl) are not installed: "
                       "apt-get install postgresql (Debian/Ubuntu), or use a PostgreSQL you already run")


def postgres_missing() -> str:
    """Why a throwaway PostgreSQL cannot be started and used here ("" when it can)."""
    import importlib.util

    try:
        pg_bin()
    except ServiceError as exc:
        return str(exc)
    return "" if importlib.util.find_spec("psycopg2") else "psycopg2 is not installed: pip install psycopg2-binary"


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its programs as the postgres user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@dataclass
class Postgres:
    """A throwaway cluster in ``root`` (trust authentication: local use only)."""

    root: Path
    port: int
    host: str = "127.0.0.1"

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg2://postgres@{self.host}:{self.port}/{database}"

    def start(self) -> "Postgres":
        binary = pg_bin()
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            if subprocess.run(_as_postgres(["test", "-w", str(self.root)])).returncode:
                raise ServiceError(f"the postgres user cannot reach {self.root} (a parent folder is private); "
                                   "put the cluster somewhere it can, e.g. --pg-dir /tmp/harness-postgres")
        if not self.data.exists():
            _check(_as_postgres([str(binary / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                                 "-E", "UTF8", "--no-locale"]), "initdb")
        options = f"-c listen_addresses={self.host} -p {self.port} -k {self.root} -c fsync=off"
        _check(_as_postgres([str(binary / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "postgres.log"),
                             "-w", "-o", options, "start"]), f"pg_ctl start (see {self.root / 'postgres.log'})")
        return self

    def create_database(self, name: str) -> str:
        """Create ``name`` unless it exists; returns its URL."""
        binary = pg_bin()
        done = subprocess.run(_as_postgres([str(binary / "createdb"), "-h", self.host, "-p", str(self.port),
                                            "-U", "postgres", name]), capture_output=True, text=True)
        if done.returncode and "already exists" not in done.stderr:
            raise ServiceError(f"createdb {name} failed: {done.stderr.strip()}")
        return self.url(name)

    def crash(self) -> None:
        """Stop it as a crash would (``pg_ctl -m immediate``: connections cut, no shutdown checkpoint): fault
        injection (``harness.infrafaults``). ``start`` brings it back, with crash recovery."""
        subprocess.run(_as_postgres([str(pg_bin() / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"]),
                       capture_output=True, check=True)

    def stop(self) -> None:
        if self.data.exists():
            subprocess.run(_as_postgres([str(pg_bin() / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]),
                           capture_output=True)


@dataclass
class MlflowServer:
    """``mlflow server`` with proxied artifacts, in its own process group."""

    backend: str
    artifacts: Path
    port: int
    host: str = "127.0.0.1"
    log: Path | None = None
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 120.0) -> "MlflowServer":
        self.artifacts.mkdir(parents=True, exist_ok=True)
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL
        # the backend URI goes by environment, not argv: a password in it would show in `ps`
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--serve-artifacts",
             "--artifacts-destination", str(self.artifacts), "--host", self.host, "--port", str(self.port),
             "--workers", "1"], stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "MLFLOW_BACKEND_STORE_URI": self.backend})
        deadline = time.time() + timeout  # ~15 s here: imports, database migrations, uvicorn
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise ServiceError(f"mlflow server exited with {self.process.returncode}"
                                   + (f"; see {self.log}" if self.log else ""))
            if healthy(self.url):
                return self
            time.sleep(0.5)
        self.stop()
        raise ServiceError(f"mlflow server did not answer {self.url}/health within {timeout:.0f} s")

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds (0: kill at once, as a crash would)."""
        if self.process is not None:
            stop_group(self.process.pid, timeout)
            self.process.wait(timeout=30)


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def stop_group(pid: int, timeout: float = 20.0) -> None:
    """SIGTERM a process group, then SIGKILL what is left after ``timeout``
    (the MLflow server's parent can take ~15 s to follow its children)."""
    try:
        os.killpg(pid, signal.SIGTERM if timeout > 0 else signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _is_mlflow_server(pid: int) -> bool:
    """Whether ``pid`` is still an ``mlflow server`` (Linux: from /proc; elsewhere, trust the state file)."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not Path("/proc/self/cmdline").exists():
        return True
    try:
        return b"mlflow" in cmdline.read_bytes()
    except OSError:
        return False


def _check(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise ServiceError(f"{what} failed: {(done.stderr or done.stdout).strip()[-500:]}")


# -- `python -m harness.services up|down|status` -------------------------------------------
def _state_file() -> Path:
    return paths.state_dir() / "services" / "services.json"


def up(host: str, pg_port: int, mlflow_port: int, pg_dir: Path | None = None) -> dict:
    root = paths.state_dir() / "services"
    state = _state_file()
    if state.exists():
        raise ServiceError(f"services already recorded in {state}: `python -m harness.services down` first")
    root.mkdir(parents=True, exist_ok=True)
    pg = Postgres(pg_dir or root / "postgres", pg_port, host).start()
    storage = pg.create_database("optuna")
    backend = pg.create_database("mlflow")
    try:
        server = MlflowServer(backend, root / "artifacts", mlflow_port, host, log=root / "mlflow.log").start()
    except Exception:
        pg.stop()
        raise
    info = {"host": host, "pg_root": str(pg.root), "pg_port": pg_port, "mlflow_pid": server.process.pid,
            "storage": storage, "tracking_uri": server.url}
    state.write_text(json.dumps(info, indent=2))
    return info


def down() -> bool:
    state = _state_file()
    if not state.exists():
        return False
    info = json.loads(state.read_text())
    pid = int(info["mlflow_pid"])
    if _is_mlflow_server(pid):  # a stale state file (after a reboot) may name a pid some other program now has
        stop_group(pid)
    Postgres(Path(info["pg_root"]), int(info["pg_port"]), info["host"]).stop()
    state.unlink()
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.services", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("up", "down", "status"))
    parser.add_argument("--host", default="127.0.0.1",
                        help="address both servers listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--pg-port", type=int, default=55432)
    parser.add_argument("--mlflow-port", type=int, default=5001)
    parser.add_argument("--pg-dir", type=Path, help="where the cluster lives (default .harness/services/postgres)")
    args = parser.parse_args(argv)
    try:
        if args.action == "up":
            info = up(args.host, args.pg_port, args.mlflow_port, args.pg_dir)
            print(f"PostgreSQL on {args.host}:{args.pg_port}, MLflow server on {info['tracking_uri']}\n"
                  f"  harness run STUDY --storage {info['storage']} --tracking-uri {info['tracking_uri']}\n"
                  f"  harness worker STUDY --storage {info['storage']} --tracking-uri {info['tracking_uri']}\n"
                  f"stop them with: python -m harness.services down")
        elif args.action == "down":
            print("stopped" if down() else "no services recorded")
        else:
            state = _state_file()
            print(state.read_text() if state.exists() else "no services recorded")
    except ServiceError as exc:
        print(f"harness.services: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
