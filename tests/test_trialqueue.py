"""Who is a dead worker: the queue fails a RUNNING trial only when its worker
is certainly gone from this host and pid namespace (fast; the end-to-end
orphan tests are in test_sweep.py and test_workers.py)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys

from harness.trialqueue import worker_gone, worker_id


def test_this_process_is_not_gone():
    assert not worker_gone(worker_id())


def test_a_dead_pid_on_this_host_is_gone_in_either_format():
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host, _, rest = worker_id().partition(":")
    _, _, namespace_and_start = rest.partition(":")
    assert worker_gone(f"{host}:{dead.pid}:{namespace_and_start}")
    assert worker_gone(f"{host}:{dead.pid}")          # written before namespaces were recorded


def test_a_reused_pid_is_told_apart_by_its_start_time():
    host, pid, namespace, started = worker_id().split(":")
    assert worker_gone(f"{host}:{pid}:{namespace}:{int(started) + 1}")


def test_another_host_or_pid_namespace_is_not_ours_to_judge():
    host, pid, namespace, started = worker_id().split(":")
    assert not worker_gone(f"not-{socket.gethostname()}:1:{namespace}:{started}")
    assert not worker_gone(f"{host}:{os.getpid() + 10_000_000}:{namespace}1:{started}")  # another container
