"""TrialContext.data_split: the replicate's data, recorded, and no test data while tuning."""
from __future__ import annotations

import numpy as np

from harness import datasets
from harness.context import TrialContext
from harness.seeding import trial_seeds
from harness.study import Arm, Budget


def make_ctx(tmp_path, replicate: int, phase: str = "replicate", arm: str = "a") -> TrialContext:
    return TrialContext(study="s", arm=Arm(arm), replicate=replicate, budget_name="smoke", budget=Budget(replicates=1),
                        seeds=trial_seeds(0, "s", replicate), device="cpu", threads=1, artifact_dir=tmp_path,
                        phase=phase, show_progress=False)


def test_split_is_shared_by_arms_of_a_replicate_and_records_its_data(tmp_path):
    full = datasets.load("synthetic")
    a = make_ctx(tmp_path, 0, arm="a").data_split("synthetic", 100, n_test=50)
    b = make_ctx(tmp_path, 0, arm="b").data_split("synthetic", 100, n_test=50)
    other = make_ctx(tmp_path, 1).data_split("synthetic", 100, n_test=50)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], other[0])
    assert a[0].shape == (100, 16) and np.array_equal(a[2], full.x_test[:50]) and np.array_equal(a[3], full.y_test[:50])
    ctx = make_ctx(tmp_path, 0)
    x_train, _, x_test, _ = ctx.data_split("synthetic", 100)
    assert len(x_test) == full.x_test.shape[0]  # n_test=None: the whole test set
    assert [r.context for r in ctx.datasets] == ["train", "test"]


def test_tuning_split_uses_training_images_only(tmp_path):
    ctx = make_ctx(tmp_path, 0, phase="tune")
    x_train, y_train, x_val, y_val = ctx.data_split("synthetic", 100, n_val=40)
    full = datasets.load("synthetic")
    assert x_train.shape[0] == 100 and x_val.shape[0] == 40 and y_val.shape == (40,)
    train_rows = {row.tobytes() for row in full.x_train}
    assert all(row.tobytes() in train_rows for row in x_val)
    assert not ({row.tobytes() for row in x_val} & {row.tobytes() for row in x_train})
    assert [r.context for r in ctx.datasets] == ["train+validation"]


def test_validation_split_is_carved_from_training_data_and_the_test_set_stays_apart(tmp_path):
    full = datasets.load("synthetic")
    ctx = make_ctx(tmp_path, 0)
    x_train, y_train, x_val, y_val, x_test, y_test = ctx.data_split_with_validation("synthetic", 100, 40, n_test=30)
    train_rows = {row.tobytes() for row in full.x_train}
    assert x_train.shape[0] == 100 and x_val.shape[0] == 40 and y_val.shape == (40,)
    assert all(row.tobytes() in train_rows for row in x_val)
    assert not ({row.tobytes() for row in x_val} & {row.tobytes() for row in x_train})
    assert np.array_equal(x_test, full.x_test[:30]) and np.array_equal(y_test, full.y_test[:30])
    assert [r.context for r in ctx.datasets] == ["train+validation", "test"]
    other_arm = make_ctx(tmp_path, 0, arm="b").data_split_with_validation("synthetic", 100, 40, n_test=30)
    assert np.array_equal(other_arm[0], x_train) and np.array_equal(other_arm[2], x_val)  # paired by replicate
    tuning = make_ctx(tmp_path, 0, phase="tune").data_split_with_validation("synthetic", 100, 40)
    assert np.array_equal(tuning[4], tuning[2])  # while tuning the test slot is the validation split
