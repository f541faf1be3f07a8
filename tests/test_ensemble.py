"""Ensemble mode: K seeds trained as one batched model.

Stated tolerance: member k of an ensemble reproduces the K=1 run with k's
seeds and hyperparameters to 1e-6 in every per-epoch training loss, the test
loss and the test accuracy (an autoencoder's: squared error), for every
family: MLPs, with dropout, DropConnect or batch norm; autoencoders; CNNs with
grouped convolutions, with or without batch norm. On this CPU the MLP families
are bit-identical (each member's slice of ``baddbmm`` is its own GEMM); the
autoencoder differs by ~1e-10 after 3 epochs and the grouped convolutions by
float rounding (run with MEMBER_TOLERANCE = 0 to see which). Against the plain ``nn.Module`` path
(``engine.fit`` with ``torch.optim``) the K=1 ensemble agrees to 1e-4 in the
loss over the first epochs; the two sum matmuls in different orders, so
rounding differences grow slowly with training, as between any two BLAS calls.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from harness import datasets, engine
from harness.ensemble import EnsembleNet, Member, Shape, train
from harness.nets import MLP

MEMBER_TOLERANCE = 1e-6
MODULE_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def data():
    d = datasets.load("synthetic", n_train=300, n_test=200, dim=12, classes=4)
    return tuple(torch.tensor(a) for a in (d.x_train, d.y_train, d.x_test, d.y_test))


def members(k: int, **hp) -> list[Member]:
    base = {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-4} | hp
    return [Member(init=11 + i, data_order=101 + i, noise=1001 + i, **{**base, "lr": base["lr"] * (1 + 0.2 * i)})
            for i in range(k)]


def module_run(member: Member, factory, x, targets, loss_fn, tmp_path, epochs: int, batch_size: int,
               optimizer: str = "sgd"):
    """The single-run path for ``member``'s seeds and hyperparameters: ``engine.fit``
    on ``factory()`` (an ``nn.Module`` with ``torch.optim``); the model and its losses."""
    from harness.context import TrialContext
    from harness.seeding import TrialSeeds
    from harness.study import Arm, Budget

    seeds = TrialSeeds(member.init, member.data_order, member.noise, 0)
    ctx = TrialContext("t", Arm("a"), 0, "smoke", Budget(1), seeds, "cpu", 1, tmp_path, show_progress=False)
    model = engine.build_model(factory, ctx)
    cfg = engine.TrainConfig(epochs=epochs, batch_size=batch_size, lr=member.lr, optimizer=optimizer,
                             momentum=member.momentum, weight_decay=member.weight_decay)
    return model, engine.fit(model, x, targets, loss_fn, cfg, ctx)


def assert_same(a, b, tolerance=MEMBER_TOLERANCE):
    assert a.diverged == b.diverged
    assert len(a.train_loss) == len(b.train_loss)
    assert np.allclose(a.train_loss, b.train_loss, rtol=0, atol=tolerance)
    assert abs(a.test_loss - b.test_loss) <= tolerance
    assert abs(a.test_accuracy - b.test_accuracy) <= tolerance


@pytest.mark.slow  # trains every member twice
@pytest.mark.parametrize("optimizer,retain,bootstrap", [("sgd", 1.0, False), ("adam", 1.0, False),
                                                         ("sgd", 0.8, False), ("sgd", 1.0, True)],
                         ids=["sgd", "adam", "dropout", "bootstrap"])
def test_member_equals_the_single_run_with_its_seeds(data, optimizer, retain, bootstrap):
    x, y, xt, yt = data
    shape = Shape(12, 4, (16, 16), retain_input=retain, retain_hidden=retain, epochs=3, batch_size=32,
                  optimizer=optimizer)
    group = members(4, lr=0.05 if optimizer == "sgd" else 0.003)
    if bootstrap:  # every member trains on its own resample of the training set
        group = [Member(m.init, m.data_order, m.noise, m.lr, m.momentum, m.weight_decay,
                        rows=np.random.default_rng(i).integers(0, len(y), len(y))) for i, m in enumerate(group)]
    together = train(shape, group, x, y, xt, yt)
    alone = [train(shape, [m], x, y, xt, yt)[0] for m in group]
    for a, b in zip(together, alone):
        assert_same(a, b)
    # and the members really differ from each other (independent seeds)
    assert len({round(r.test_loss, 6) for r in together}) == len(together)


def test_tracked_sets_are_measured_every_epoch_without_changing_training(data):
    x, y, xt, yt = data
    shape = Shape(12, 4, (16,), epochs=3, batch_size=32)
    group = members(3)
    plain = train(shape, group, x, y, xt, yt)
    measured = train(shape, group, x, y, xt, yt, tracked={"val": (x[:100], y[:100]), "test": (xt, yt)})
    for a, b in zip(plain, measured):
        assert a.train_loss == b.train_loss and a.test_accuracy == b.test_accuracy and not a.tracked
        assert len(b.tracked["val"]) == 3 and b.tracked["test"][-1] == pytest.approx(b.test_accuracy)
    # after one epoch the tracked accuracy is that of a one-epoch run
    one = train(dataclasses.replace(shape, epochs=1), group, x, y, xt, yt)
    assert [r.tracked["test"][0] for r in measured] == pytest.approx([r.test_accuracy for r in one])
    with pytest.raises(ValueError):
        train(Shape(12, 12, (4,), code=2), group, x, None, tracked={"val": (x, y)})



def test_a_stopping_rule_ends_training_as_if_the_budget_had_been_shorter(data):
    x, y, xt, yt = data
    shape = Shape(12, 4, (16,), epochs=6, batch_size=32)
    group = members(2)
    seen = []

    def stop(epoch, results):
        seen.append((epoch, [len(r.tracked["val"]) for r in results]))
        return epoch == 2

    stopped = train(shape, group, x, y, xt, yt, tracked={"val": (x[:100], y[:100])}, stop=stop)
    assert seen == [(1, [1, 1]), (2, [2, 2])]  # asked after each epoch's bookkeeping, then no more epochs
    two = train(dataclasses.replace(shape, epochs=2), group, x, y, xt, yt)
    for a, b in zip(stopped, two):
        assert a.train_loss == b.train_loss and a.test_accuracy == b.test_accuracy

def test_members_start_from_the_single_run_initialisation():
    shape = Shape(12, 4, (16, 8))
    model = EnsembleNet(shape, [5, 6])
    for k, seed in enumerate([5, 6]):
        torch.manual_seed(seed)
        reference = [m for m in MLP(12, 4, (16, 8)).modules() if isinstance(m, torch.nn.Linear)]
        for layer, w, b in zip(reference, model.weights, model.biases):
            assert torch.equal(w[k], layer.weight.t()) and torch.equal(b[k, 0], layer.bias)


@pytest.mark.slow  # trains every member twice
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_one_member_ensemble_matches_the_plain_module_path(data, optimizer, tmp_path):
    """The K=1 ensemble follows engine.fit (nn.Module + torch.optim) step for step."""
    from harness.context import TrialContext
    from harness.seeding import TrialSeeds
    from harness.study import Arm, Budget

    x, y, xt, yt = data
    member = Member(init=3, data_order=4, noise=5, lr=0.05 if optimizer == "sgd" else 0.003, momentum=0.9
                    if optimizer == "sgd" else 0.0, weight_decay=1e-4)
    shape = Shape(12, 4, (16,), epochs=3, batch_size=32, optimizer=optimizer)
    ours = train(shape, [member], x, y, xt, yt)[0]

    ctx = TrialContext("t", Arm("a"), 0, "smoke", Budget(1), TrialSeeds(3, 4, 5, 6), "cpu", 1, tmp_path,
                       show_progress=False)
    model = engine.build_model(lambda: MLP(12, 4, (16,)), ctx)
    cfg = engine.TrainConfig(epochs=3, batch_size=32, lr=member.lr, optimizer=optimizer, momentum=member.momentum,
                             weight_decay=member.weight_decay)
    losses = engine.fit(model, x, y, torch.nn.functional.cross_entropy, cfg, ctx)
    assert np.allclose(ours.train_loss, losses, rtol=0, atol=MODULE_TOLERANCE)
    with torch.no_grad():
        test_loss = float(torch.nn.functional.cross_entropy(model(xt), yt))
    assert abs(ours.test_loss - test_loss) <= MODULE_TOLERANCE


@pytest.fixture(scope="module")
def images():
    d = datasets.load("digits")  # 8x8 images: a CNN in seconds
    return tuple(torch.tensor(a) for a in (d.x_train[:256], d.y_train[:256], d.x_test[:128], d.y_test[:128]))


@pytest.mark.slow  # trains every member twice
def test_cnn_members_with_grouped_convolutions_equal_their_single_runs(images, tmp_path):
    """The small CNN: member k of a grouped-convolution ensemble against the
    K=1 ensemble, and the K=1 ensemble against engine.fit on SmallCNN."""
    from harness.normnets import SmallCNN

    x, y, xt, yt = images
    shape = Shape(64, 10, (), channels=(4, 8), in_shape=(1, 8, 8), epochs=2, batch_size=32)
    group = members(3, lr=0.02)
    together = train(shape, group, x, y, xt, yt)
    for member, result in zip(group, together):
        assert_same(result, train(shape, [member], x, y, xt, yt)[0])

    first = group[0]
    model, losses = module_run(first, lambda: SmallCNN((1, 8, 8), 10, (4, 8), norm="none"),
                               x, y, torch.nn.functional.cross_entropy, tmp_path, epochs=2, batch_size=32)
    assert np.allclose(together[0].train_loss, losses, rtol=0, atol=MODULE_TOLERANCE)


@pytest.mark.slow  # trains every member twice
def test_batch_norm_members_keep_their_own_statistics_and_equal_their_single_runs(data, tmp_path):
    """The batch-norm MLP family: member k against the K=1 ensemble (1e-6), and
    the K=1 ensemble against engine.fit on NormMLP(norm="bn") (1e-4), training
    loss and the test metrics, which use each member's running statistics."""
    from harness.normnets import NormMLP

    x, y, xt, yt = data
    shape = Shape(12, 4, (16, 16), epochs=3, batch_size=30, norm="bn")   # 300 rows: full batches of 30
    group = members(4, lr=0.05)
    together = train(shape, group, x, y, xt, yt)
    for member, result in zip(group, together):
        assert_same(result, train(shape, [member], x, y, xt, yt)[0])
    assert len({round(r.test_loss, 6) for r in together}) == len(together)

    first = group[0]
    model, losses = module_run(first, lambda: NormMLP(12, 4, (16, 16), norm="bn"),
                               x, y, torch.nn.functional.cross_entropy, tmp_path, epochs=3, batch_size=30)
    assert np.allclose(together[0].train_loss, losses, rtol=0, atol=MODULE_TOLERANCE)
    model.eval()
    with torch.no_grad():
        test_loss = float(torch.nn.functional.cross_entropy(model(xt), yt))
    assert abs(together[0].test_loss - test_loss) <= MODULE_TOLERANCE


@pytest.mark.slow  # trains every member twice
def test_dropconnect_members_equal_their_single_runs(data):
    """DropConnect (one weight mask per minibatch, drawn from the member's
    noise stream) with input dropout: member k against the K=1 ensemble; the
    masks really bite (the run differs from the same seeds without them)."""
    x, y, xt, yt = data
    shape = Shape(12, 4, (16, 16), retain_input=0.8, retain_hidden=0.5, dropconnect=True, epochs=3, batch_size=32)
    group = members(3, lr=0.05)
    together = train(shape, group, x, y, xt, yt)
    for member, result in zip(group, together):
        assert_same(result, train(shape, [member], x, y, xt, yt)[0])
    plain = train(Shape(12, 4, (16, 16), retain_input=0.8, retain_hidden=1.0, epochs=3, batch_size=32), group[:1],
                  x, y, xt, yt)[0]
    assert abs(plain.train_loss[0] - together[0].train_loss[0]) > 1e-3


def test_dropconnect_masks_keep_weights_at_the_retain_rate():
    from harness.ensemble import _dropconnect_mask

    generators = [torch.Generator().manual_seed(s) for s in (1, 2)]
    masks = _dropconnect_mask(generators, (200, 300), 0.5, torch.device("cpu"))
    assert masks.shape == (2, 200, 300)
    assert set(masks.unique().tolist()) == {0.0, 2.0}                 # dropped, or kept and scaled by 1/p
    assert abs(float((masks > 0).float().mean()) - 0.5) < 0.01
    assert not torch.equal(masks[0], masks[1])                       # each member its own draw


@pytest.mark.slow  # trains every member twice
def test_autoencoder_members_equal_their_single_runs(data, tmp_path):
    """The autoencoder family: member k against the K=1 ensemble (1e-6), and
    the K=1 ensemble against engine.fit on harness.nets.Autoencoder with
    squared error (1e-4), training loss and test reconstruction error."""
    from harness.nets import Autoencoder

    x, _, xt, _ = data
    x, xt = torch.sigmoid(x), torch.sigmoid(xt)  # pixels in (0, 1), for a sigmoid output
    shape = Shape(12, 12, (10,), code=3, epochs=3, batch_size=32, optimizer="adam")
    group = members(3, lr=0.003, momentum=0.0, weight_decay=0.0)
    together = train(shape, group, x, None, xt)
    for member, result in zip(group, together):
        alone = train(shape, [member], x, None, xt)[0]
        assert np.allclose(result.train_loss, alone.train_loss, rtol=0, atol=MEMBER_TOLERANCE)
        assert abs(result.test_sse - alone.test_sse) <= MEMBER_TOLERANCE
    assert len({round(r.test_sse, 6) for r in together}) == len(together)

    first = group[0]
    model, losses = module_run(first, lambda: Autoencoder(12, (10,), 3),
                               x, x, torch.nn.functional.mse_loss, tmp_path, epochs=3, batch_size=32, optimizer="adam")
    assert np.allclose(together[0].train_loss, losses, rtol=0, atol=MODULE_TOLERANCE)
    model.eval()
    assert abs(together[0].test_sse - engine.sse_per_example(model, xt)) <= MODULE_TOLERANCE
    assert abs(together[0].test_loss - engine.sse_per_example(model, xt) / 12) <= MODULE_TOLERANCE


@pytest.mark.slow  # trains every member twice
def test_batch_norm_cnn_members_keep_their_own_statistics_and_equal_their_single_runs(images, tmp_path):
    """The batch-norm CNN: grouped convolutions with each member's channels'
    statistics; member k against the K=1 ensemble (1e-6), the K=1 ensemble
    against engine.fit on SmallCNN(norm="bn") (1e-4), test metrics read with
    the running statistics."""
    from harness.normnets import SmallCNN

    x, y, xt, yt = images
    shape = Shape(64, 10, (), channels=(4, 8), in_shape=(1, 8, 8), epochs=2, batch_size=32, norm="bn")
    group = members(3, lr=0.02)
    together = train(shape, group, x, y, xt, yt)
    for member, result in zip(group, together):
        assert_same(result, train(shape, [member], x, y, xt, yt)[0])

    first = group[0]
    model, losses = module_run(first, lambda: SmallCNN((1, 8, 8), 10, (4, 8), norm="bn"),
                               x, y, torch.nn.functional.cross_entropy, tmp_path, epochs=2, batch_size=32)
    assert np.allclose(together[0].train_loss, losses, rtol=0, atol=MODULE_TOLERANCE)
    model.eval()
    with torch.no_grad():
        test_loss = float(torch.nn.functional.cross_entropy(model(xt), yt))
    assert abs(together[0].test_loss - test_loss) <= MODULE_TOLERANCE


def test_cnn_shape_is_checked():
    with pytest.raises(ValueError, match="in_shape"):
        Shape(64, 10, (), channels=(4,), in_shape=(1, 7, 7))
    with pytest.raises(ValueError, match="SmallCNN"):
        Shape(64, 10, (32,), channels=(4,), in_shape=(1, 8, 8))
    with pytest.raises(ValueError, match="NormMLP"):
        Shape(12, 4, (16,), norm="bn", retain_hidden=0.5)
    with pytest.raises(ValueError, match="Autoencoder"):
        Shape(12, 4, (16,), code=3)                                   # reconstructs 12 features, not 4 classes
    with pytest.raises(ValueError, match="DropConnect"):
        Shape(12, 4, (), dropconnect=True)
    with pytest.raises(ValueError, match="norm must be"):
        Shape(12, 4, (16,), norm="ln")


@pytest.mark.slow  # trains every member twice
def test_a_diverging_member_diverges_alone(data):
    x, y, xt, yt = data
    shape = Shape(12, 4, (16,), epochs=3, batch_size=32)
    group = members(3)
    group[1] = Member(group[1].init, group[1].data_order, group[1].noise, lr=1e6, momentum=0.9)
    together = train(shape, group, x, y, xt, yt)
    assert "training loss became nan" in together[1].diverged or "inf" in together[1].diverged
    assert np.isnan(together[1].test_accuracy)
    for k in (0, 2):  # the others are exactly what they would be without the diverging member
        assert_same(together[k], train(shape, [group[k]], x, y, xt, yt)[0])


def test_bad_input_fails_before_training(data):
    x, y, xt, yt = data
    with pytest.raises(ValueError, match="at least one member"):
        train(Shape(12, 4, (8,)), [], x, y)
    with pytest.raises(ValueError, match="same number of rows"):
        train(Shape(12, 4, (8,)), [Member(1, 1, 1, 0.1, rows=np.arange(10)), Member(2, 2, 2, 0.1)], x, y)
    with pytest.raises(ValueError, match="learning rate"):
        Member(1, 1, 1, lr=-1.0)
    with pytest.raises(ValueError, match="unknown activation"):
        Shape(12, 4, (8,), act="swish")
    with pytest.raises(ValueError, match="targets are its inputs"):
        train(Shape(12, 12, (8,), code=2), [Member(1, 1, 1, 0.1)], x, y)
