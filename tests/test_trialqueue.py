"""Who is a dead worker: the queue fails a RUNNING trial only when its worker
is certainly gone from this host and pid namespace; and which draw a search
makes next when trials were cut off (fast; the end-to-end orphan and resume
tests are in test_sweep.py and test_workers.py)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys

import optuna
from optuna.trial import TrialState

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


def test_a_searchs_next_draw_skips_only_the_trials_cut_off_before_their_end():
    from harness.study import Arm
    from harness.sweep import ABANDONED_ATTR, draw_sampler, search_draw

    ostudy = optuna.create_study()
    ostudy.add_trial(optuna.trial.create_trial(state=TrialState.COMPLETE, value=1.0))
    ostudy.add_trial(optuna.trial.create_trial(state=TrialState.FAIL, user_attrs={"fail_reason": "RuntimeError: x"}))
    assert search_draw(ostudy) == 2  # a trial that failed on its own used its draw
    ostudy.add_trial(optuna.trial.create_trial(state=TrialState.FAIL, user_attrs={
        "fail_reason": "interrupted (Ctrl-C or SIGTERM)", ABANDONED_ATTR: True}))
    ostudy.add_trial(optuna.trial.create_trial(state=TrialState.FAIL))  # failed by Optuna's stale check: no reason
    assert search_draw(ostudy) == 2  # neither cut-off trial used one: the next trial repeats draw 2

    def first(sampler):
        study = optuna.create_study(sampler=sampler)
        return study.ask().suggest_float("lr", 1e-4, 1e-1, log=True)

    for config in ({}, {"sampler": "random"}):
        arm = Arm("a", config)
        assert first(draw_sampler("s", arm, 3)) == first(draw_sampler("s", arm, 3))  # a draw is a function of its index
        assert first(draw_sampler("s", arm, 3)) != first(draw_sampler("s", arm, 4))
