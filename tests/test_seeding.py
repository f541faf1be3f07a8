"""Tests for harness.seeding: per-trial seed streams must be reproducible
across processes and versions, independent per stream and paired across arms."""
from __future__ import annotations

import hashlib
import subprocess
import sys
from dataclasses import asdict, fields

import pytest

from harness.seeding import STREAMS, TrialSeeds, stable_int, trial_seeds


def test_stable_int_known_values():
    # Hard-coded: a change here changes every seed of every study (results must stay reproducible).
    assert stable_int("autoencoders") == 2588407586813829929
    assert stable_int("") == 8203414616412130826


def test_stable_int_is_sha256_prefix_and_63_bit():
    text = "some-study"
    expected = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1
    assert stable_int(text) == expected
    assert 0 <= stable_int(text) < 2**63


def test_stable_int_same_in_another_process():
    # Python's hash() is salted per process; stable_int must not be.
    code = "from harness.seeding import stable_int; print(stable_int('cross-process'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": ":".join(sys.path), "PYTHONHASHSEED": "123"})
    assert int(out.stdout) == stable_int("cross-process")


def test_trial_seeds_known_values():
    # Hard-coded to catch accidental changes to the derivation (stream order, key layout).
    assert trial_seeds(0, "autoencoders", 0) == TrialSeeds(
        init=175712455, data_order=3844878196, noise=1236764012, subsample=2837929666)
    assert trial_seeds(0, "autoencoders", 0, seed_group="g") == TrialSeeds(
        init=2135963226, data_order=3844878196, noise=751801102, subsample=2837929666)


def test_trial_seeds_deterministic_across_calls():
    assert trial_seeds(7, "study", 3) == trial_seeds(7, "study", 3)
    assert trial_seeds(7, "study", 3, "grp") == trial_seeds(7, "study", 3, "grp")


def test_streams_differ_from_each_other():
    seeds = asdict(trial_seeds(0, "study", 0))
    assert list(seeds) == list(STREAMS)
    assert len(set(seeds.values())) == len(STREAMS)
    assert all(isinstance(v, int) and 0 <= v < 2**32 for v in seeds.values())


def test_replicates_differ_on_every_stream():
    a, b = trial_seeds(0, "study", 0), trial_seeds(0, "study", 1)
    for stream in STREAMS:
        assert getattr(a, stream) != getattr(b, stream), stream


def test_studies_and_root_seeds_differ():
    base = trial_seeds(0, "study", 0)
    assert trial_seeds(0, "other-study", 0).init != base.init
    assert trial_seeds(1, "study", 0).init != base.init


def test_arms_without_seed_group_share_all_seeds():
    # trial_seeds has no arm argument: every arm without a seed group is paired on all streams
    assert trial_seeds(0, "study", 2, "") == trial_seeds(0, "study", 2)


def test_seed_group_changes_init_and_noise_only():
    paired = trial_seeds(0, "study", 2)
    grouped = trial_seeds(0, "study", 2, seed_group="wide")
    assert grouped.init != paired.init
    assert grouped.noise != paired.noise
    assert grouped.data_order == paired.data_order
    assert grouped.subsample == paired.subsample
    other = trial_seeds(0, "study", 2, seed_group="narrow")
    assert other.init != grouped.init
    assert other.noise != grouped.noise
    assert other.data_order == grouped.data_order


def test_negative_replicate_raises():
    with pytest.raises(ValueError, match="replicate"):
        trial_seeds(0, "study", -1)


def test_as_params_keys_and_values():
    seeds = trial_seeds(0, "study", 0)
    params = seeds.as_params()
    assert params == {f"seed.{f.name}": getattr(seeds, f.name) for f in fields(seeds)}
    assert set(params) == {"seed.init", "seed.data_order", "seed.noise", "seed.subsample"}
