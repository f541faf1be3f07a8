"""Tests for harness.engine: seeded, bit-reproducible training on CPU, fail-fast
on divergence, sparse logging, and the small helpers around it."""
from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from harness import datasets, engine
from harness.context import TrialContext
from harness.models import MODELS
from harness.seeding import trial_seeds
from harness.study import Arm, Budget

DIM, CLASSES = 8, 3


@pytest.fixture(scope="module")
def data():
    d = datasets.load("synthetic", n_train=256, n_test=64, dim=DIM, classes=CLASSES)
    return engine.as_tensor(d.x_train, "cpu"), engine.as_tensor(d.y_train, "cpu")


def make_ctx(tmp_path, seeds=None, replicate=0) -> TrialContext:
    return TrialContext(
        study="engine-test", arm=Arm("a"), replicate=replicate, budget_name="smoke",
        budget=Budget(replicates=1), seeds=seeds or trial_seeds(0, "engine-test", replicate),
        device="cpu", threads=1, artifact_dir=tmp_path / "artifacts", show_progress=False)


def small_mlp() -> nn.Module:
    return MODELS.get("mlp")(in_features=DIM, classes=CLASSES, hidden=(16,))


def train(ctx, data, cfg=None, factory=small_mlp, **kwargs):
    x, y = data
    model = engine.build_model(factory, ctx)
    cfg = cfg or engine.TrainConfig(epochs=3, batch_size=64, lr=0.1, optimizer="sgd")
    losses = engine.fit(model, x, y, F.cross_entropy, cfg, ctx, **kwargs)
    return model, losses


def assert_same_parameters(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def any_parameter_differs(a: nn.Module, b: nn.Module) -> bool:
    return any(not torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


# --------------------------------------------------------------------------- determinism


def test_fit_is_bit_identical_for_same_seeds(tmp_path, data):
    model_a, losses_a = train(make_ctx(tmp_path), data)
    model_b, losses_b = train(make_ctx(tmp_path), data)
    assert len(losses_a) == 3
    assert losses_a == losses_b  # exact float equality, not approximate
    assert_same_parameters(model_a, model_b)


def test_fit_trains(tmp_path, data):
    _, losses = train(make_ctx(tmp_path), data, engine.TrainConfig(epochs=5, batch_size=32, lr=0.1,
                                                                       optimizer="sgd"))
    assert losses[-1] < losses[0]


def test_different_data_order_gives_different_losses(tmp_path, data):
    seeds = trial_seeds(0, "engine-test", 0)
    other = dataclasses.replace(seeds, data_order=seeds.data_order + 1)
    model_a, losses_a = train(make_ctx(tmp_path, seeds), data)
    model_b, losses_b = train(make_ctx(tmp_path, other), data)
    assert losses_a != losses_b
    assert any_parameter_differs(model_a, model_b)


def test_different_replicates_give_different_results(tmp_path, data):
    _, losses_a = train(make_ctx(tmp_path, replicate=0), data)
    _, losses_b = train(make_ctx(tmp_path, replicate=1), data)
    assert losses_a != losses_b


def dropout_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(DIM, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, CLASSES))


def test_noise_seed_drives_dropout_and_init_seed_does_not(tmp_path, data):
    x, y = data
    seeds = trial_seeds(0, "engine-test", 0)
    cfg = engine.TrainConfig(epochs=2, batch_size=64, lr=0.1, optimizer="sgd")
    base = engine.build_model(dropout_mlp, make_ctx(tmp_path, seeds))

    def run(s):
        model = copy.deepcopy(base)  # the same initial weights in every run
        return engine.fit(model, x, y, F.cross_entropy, cfg, make_ctx(tmp_path, s))

    reference = run(seeds)
    assert run(seeds) == reference
    # fit re-seeds the global RNG with the noise seed: dropout masks follow it...
    assert run(dataclasses.replace(seeds, noise=seeds.noise + 1)) != reference
    # ...and not the init seed, nor whatever the global RNG held before
    torch.manual_seed(12345)
    assert run(dataclasses.replace(seeds, init=seeds.init + 1)) == reference


def test_first_full_batch_epoch_loss_is_initial_loss(tmp_path, data):
    x, y = data
    ctx = make_ctx(tmp_path)
    model = engine.build_model(small_mlp, ctx)
    with torch.no_grad():
        initial = float(F.cross_entropy(model(x), y))
    losses = engine.fit(model, x, y, F.cross_entropy,
                        engine.TrainConfig(epochs=1, batch_size=len(x), lr=0.1, optimizer="sgd"), ctx)
    assert losses[0] == pytest.approx(initial, rel=1e-5)


def test_epoch_loss_is_mean_over_steps(tmp_path):
    # a loss that ignores the model except for a zero-weight term: batch i's loss is known exactly
    x = torch.arange(6, dtype=torch.float32).reshape(6, 1)
    model = nn.Linear(1, 1)

    def loss_fn(out, target):
        return target.sum() + 0.0 * out.sum()

    ctx = make_ctx(tmp_path)
    losses = engine.fit(model, x, x, loss_fn, engine.TrainConfig(epochs=1, batch_size=4, lr=0.1), ctx)
    # two steps: a batch of 4 and a batch of 2, whatever the order; their sums add to 15
    assert losses[0] == pytest.approx(15 / 2)


# --------------------------------------------------------------------------- divergence


def test_huge_learning_rate_raises_trial_diverged(tmp_path, data):
    with pytest.raises(engine.TrialDiverged, match="epoch"):
        train(make_ctx(tmp_path), data, engine.TrainConfig(epochs=5, batch_size=64, lr=1e6, optimizer="sgd"))


def test_nan_inputs_raise_in_first_epoch(tmp_path, data):
    x, y = data
    x = x.clone()
    x[0, 0] = float("nan")
    ctx = make_ctx(tmp_path)
    with pytest.raises(engine.TrialDiverged, match="epoch 1"):
        engine.fit(engine.build_model(small_mlp, ctx), x, y, F.cross_entropy,
                   engine.TrainConfig(epochs=3, batch_size=64, lr=0.1, optimizer="sgd"), ctx)
    assert ctx.curve("train_loss") == []  # nothing logged for the diverged epoch


def test_trial_diverged_is_runtime_error():
    assert issubclass(engine.TrialDiverged, RuntimeError)


# --------------------------------------------------------------------------- logging


def test_fit_logs_train_loss_every_epoch(tmp_path, data):
    ctx = make_ctx(tmp_path)
    cfg = engine.TrainConfig(epochs=4, batch_size=64, lr=0.1, optimizer="sgd")
    _, losses = train(ctx, data, cfg)
    curve = ctx.curve("train_loss")
    assert [step for step, _ in curve] == [1, 2, 3, 4]
    assert [value for _, value in curve] == losses


@pytest.mark.parametrize("epochs,log_every,steps", [(5, 2, [2, 4, 5]), (7, 3, [3, 6, 7]), (6, 3, [3, 6]),
                                                    (2, 10, [2])])
def test_fit_log_every(tmp_path, data, epochs, log_every, steps):
    ctx = make_ctx(tmp_path)
    calls = []

    def evaluate(epoch):
        calls.append(epoch)
        return {"val_loss": 0.5}

    cfg = engine.TrainConfig(epochs=epochs, batch_size=256, lr=0.1, optimizer="sgd")
    _, losses = train(ctx, data, cfg, evaluate=evaluate, log_every=log_every)
    assert len(losses) == len(steps)  # every epoch is trained; the loss is read (a host sync) where logged
    assert [s for s, _ in ctx.curve("train_loss")] == steps
    assert [value for _, value in ctx.curve("train_loss")] == losses
    assert calls == steps
    assert [s for s, _ in ctx.curve("val_loss")] == steps


def test_evaluate_metrics_are_logged_in_eval_mode_without_grad(tmp_path, data):
    ctx = make_ctx(tmp_path)
    seen = []
    holder = {}

    def factory():
        holder["model"] = small_mlp()
        return holder["model"]

    def evaluate(epoch):
        seen.append((holder["model"].training, torch.is_grad_enabled()))
        return {"val_error": epoch / 10, "val_other": -epoch}

    train(ctx, data, engine.TrainConfig(epochs=3, batch_size=64, lr=0.1, optimizer="sgd"), factory=factory,
          evaluate=evaluate)
    assert ctx.curve("val_error") == [(1, 0.1), (2, 0.2), (3, pytest.approx(0.3))]
    assert ctx.curve("val_other") == [(1, -1.0), (2, -2.0), (3, -3.0)]
    assert seen == [(False, False)] * 3
    assert torch.is_grad_enabled()


def test_fit_returns_model_to_train_mode_after_evaluate(tmp_path, data):
    ctx = make_ctx(tmp_path)
    modes = []
    holder = {}

    def factory():
        holder["model"] = small_mlp()
        return holder["model"]

    def loss_fn(out, target):
        modes.append(holder["model"].training)
        return F.cross_entropy(out, target)

    x, y = data
    model = engine.build_model(factory, ctx)
    engine.fit(model, x, y, loss_fn, engine.TrainConfig(epochs=2, batch_size=128, lr=0.1, optimizer="sgd"), ctx,
               evaluate=lambda epoch: {})
    assert modes == [True] * 4


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize("kwargs", [
    {"epochs": 0}, {"epochs": -1}, {"batch_size": 0}, {"lr": 0.0}, {"lr": -1e-3}, {"lr": float("nan")},
    {"lr": float("inf")}, {"optimizer": "rmsprop"},
])
def test_train_config_rejects(kwargs):
    with pytest.raises(ValueError):
        engine.TrainConfig(**kwargs)


def test_train_config_accepts_valid():
    cfg = engine.TrainConfig(epochs=1, batch_size=1, lr=1e-5, optimizer="sgd", momentum=0.9)
    assert (cfg.epochs, cfg.optimizer) == (1, "sgd")
    assert engine.TrainConfig().optimizer == "adam"


def test_make_optimizer():
    model = nn.Linear(2, 1)
    adam = engine.make_optimizer(model, engine.TrainConfig(lr=0.01, weight_decay=0.1))
    assert isinstance(adam, torch.optim.Adam)
    assert adam.param_groups[0]["lr"] == 0.01 and adam.param_groups[0]["weight_decay"] == 0.1
    sgd = engine.make_optimizer(model, engine.TrainConfig(lr=0.2, optimizer="sgd", momentum=0.9))
    assert isinstance(sgd, torch.optim.SGD)
    assert sgd.param_groups[0]["lr"] == 0.2 and sgd.param_groups[0]["momentum"] == 0.9


@pytest.mark.parametrize("workers,cores,expected", [(2, 2, 1), (1, 2, 2), (4, 2, 1), (3, 16, 5), (0, 4, 4)])
def test_threads_per_worker(workers, cores, expected):
    assert engine.threads_per_worker(workers, cores=cores) == expected


def test_a_block_on_its_own_thread_count_gives_the_process_its_count_back():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError):
        with engine.torch_threads(1):
            assert torch.get_num_threads() == 1
            raise RuntimeError("a failed trial")
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads"):
        with engine.torch_threads(0):
            pass


# --------------------------------------------------------------------------- helpers


def test_sse_per_example_by_hand():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5000, 3)).astype(np.float32)  # more than one 4096-row slice
    expected = float(np.mean(np.sum((0.5 * x.astype(np.float64) - x) ** 2, axis=1)))
    got = engine.sse_per_example(lambda t: 0.5 * t, torch.tensor(x))
    assert got == pytest.approx(expected, rel=1e-5)


def test_sse_per_example_small_exact():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    recon = torch.tensor([[0.0, 0.0], [3.0, 2.0]])
    # rows: 1 + 4 = 5 and 0 + 4 = 4; mean 4.5
    assert engine.sse_per_example(lambda t: recon[: len(t)], x) == 4.5


def test_sse_per_example_flattens_images():
    x = torch.ones(2, 1, 2, 2)
    # reconstruction is flat (N, 4), like an autoencoder's; zero everywhere -> 4 per example
    assert engine.sse_per_example(lambda t: torch.zeros(t.shape[0], 4), x) == 4.0


def test_batched_covers_every_row():
    x = torch.arange(10.0).reshape(10, 1)
    out = engine.batched(lambda t: t * 2, x, batch=3)
    assert torch.equal(out, x * 2)


def test_pick_device(monkeypatch):
    monkeypatch.delenv("HARNESS_DEVICE", raising=False)
    assert engine.pick_device("cpu") == torch.device("cpu")
    assert engine.pick_device() == torch.device("cuda" if torch.cuda.is_available() else "cpu")


def test_pick_device_honours_env(monkeypatch):
    monkeypatch.setenv("HARNESS_DEVICE", "cpu")
    assert engine.pick_device() == torch.device("cpu")
    monkeypatch.setenv("HARNESS_DEVICE", "meta")  # any device name: proves the variable is read
    assert engine.pick_device() == torch.device("meta")
    assert engine.pick_device("cpu") == torch.device("cpu")  # an explicit choice wins


def test_as_tensor_copies_read_only_arrays():
    array = np.arange(4, dtype=np.float32)
    array.setflags(write=False)
    tensor = engine.as_tensor(array, "cpu")
    tensor += 1
    assert array.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert tensor.device == torch.device("cpu") and tensor.dtype == torch.float32


def test_build_model_init_seed(tmp_path):
    seeds = trial_seeds(0, "engine-test", 0)
    a = engine.build_model(small_mlp, make_ctx(tmp_path, seeds))
    torch.manual_seed(999)  # global RNG state before the call must not matter
    b = engine.build_model(small_mlp, make_ctx(tmp_path, seeds))
    assert_same_parameters(a, b)
    # only the init stream matters for building
    c = engine.build_model(small_mlp, make_ctx(tmp_path, dataclasses.replace(seeds, noise=1, data_order=2)))
    assert_same_parameters(a, c)
    d = engine.build_model(small_mlp, make_ctx(tmp_path, dataclasses.replace(seeds, init=seeds.init + 1)))
    assert any_parameter_differs(a, d)
    assert all(p.device == torch.device("cpu") for p in a.parameters())


# ----------------------------------------------------------------------- engine.train: schedules, hooks, early stopping

def sgd(model, lr=0.1):
    return torch.optim.SGD(model.parameters(), lr=lr)


@pytest.mark.parametrize("kwargs,match", [
    ({"batch_size": 8}, "exactly one of epochs or steps"),
    ({"batch_size": 8, "epochs": 2, "steps": 2}, "exactly one of epochs or steps"),
    ({"batch_size": 8, "steps": 0}, ">= 1"),
    ({"batch_size": 8, "epochs": 2, "eval_every": 0}, ">= 1"),
    ({"batch_size": 8, "steps": 5, "time_epochs": True}, "epoch schedule"),
])
def test_schedule_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        engine.Schedule(**kwargs)


def test_step_schedule_runs_full_batches_across_epochs_and_evaluates_every_k_steps(tmp_path, data):
    x, y = data  # 256 rows; batches of 100 with drop_last: 2 steps per pass, the 56 left over are skipped
    ctx = make_ctx(tmp_path)
    model = engine.build_model(small_mlp, ctx)
    sizes, points = [], []

    def loss_fn(out, target):
        sizes.append(out.shape[0])
        return F.cross_entropy(out, target)

    result = engine.train(model, x, y, loss_fn, sgd(model), engine.Schedule(batch_size=100, steps=7, drop_last=True,
                                                                             eval_every=3), ctx,
                          evaluate=lambda step: points.append(step) or {"seen": float(step)})
    assert sizes == [100] * 7
    assert result.points == points == [3, 6, 7]
    assert [s for s, _ in ctx.curve("train_loss")] == [3, 6, 7] and [s for s, _ in ctx.curve("seen")] == [3, 6, 7]
    assert result.curve("seen") == [3.0, 6.0, 7.0]


def test_step_schedule_train_loss_is_the_mean_since_the_last_point(tmp_path):
    x = torch.arange(8, dtype=torch.float32).reshape(8, 1)
    model = nn.Linear(1, 1)

    def loss_fn(out, target):  # batch i's loss is its rows' sum: known exactly, whatever the model does
        return target.sum() + 0.0 * out.sum()

    ctx = make_ctx(tmp_path)
    result = engine.train(model, x, x, loss_fn, sgd(model), engine.Schedule(batch_size=8, steps=4, shuffle=False,
                                                                             eval_every=2), ctx)
    assert result.train_loss == [28.0, 28.0]  # two full batches of rows 0..7 per point


def test_eval_at_start_looks_before_any_step_and_logs_no_loss_there(tmp_path, data):
    x, y = data
    ctx = make_ctx(tmp_path)
    model = engine.build_model(small_mlp, ctx)
    initial = [p.detach().clone() for p in model.parameters()]
    seen = []

    def probe(step):
        seen.append((step, all(torch.equal(p, q) for p, q in zip(model.parameters(), initial))))

    engine.train(model, x, y, F.cross_entropy, sgd(model), engine.Schedule(batch_size=len(x), steps=4, shuffle=False,
                                                                            eval_every=2, eval_at_start=True),
                 ctx, on_eval=probe)
    assert seen == [(0, True), (2, False), (4, False)]
    assert [s for s, _ in ctx.curve("train_loss")] == [2, 4]


def test_hooks_after_step_and_on_eval_run_in_training_mode(tmp_path, data):
    x, y = data
    ctx = make_ctx(tmp_path)
    model = engine.build_model(small_mlp, ctx)
    calls = {"after_step": 0, "modes": []}

    def after_step():
        calls["after_step"] += 1

    engine.train(model, x, y, F.cross_entropy, sgd(model), engine.Schedule(batch_size=64, epochs=2), ctx,
                 evaluate=lambda epoch: {"eval_mode": float(not model.training)},
                 on_eval=lambda epoch: calls["modes"].append(model.training), after_step=after_step)
    assert calls["after_step"] == 8                   # 256 rows / 64, two epochs
    assert calls["modes"] == [True, True]
    assert [v for _, v in ctx.curve("eval_mode")] == [1.0, 1.0]


def test_time_epochs_logs_epoch_seconds(tmp_path, data):
    x, y = data
    ctx = make_ctx(tmp_path)
    model = engine.build_model(small_mlp, ctx)
    result = engine.train(model, x, y, F.cross_entropy, sgd(model),
                          engine.Schedule(batch_size=64, epochs=3, time_epochs=True), ctx)
    assert len(result.epoch_seconds) == 3 and all(s > 0 for s in result.epoch_seconds)
    assert [s for s, _ in ctx.curve("epoch_seconds")] == [1, 2, 3]


def test_early_stopping_stops_on_patience_and_logs_stopped_early(tmp_path, data):
    x, y = data
    ctx = make_ctx(tmp_path)
    model = engine.build_model(small_mlp, ctx)
    val = iter([1.0, 0.5, 0.6, 0.55, 0.7, 0.1, 0.1])  # best at epoch 2, then three evaluations without a gain
    result = engine.train(model, x, y, F.cross_entropy, sgd(model), engine.Schedule(batch_size=64, epochs=7), ctx,
                          evaluate=lambda epoch: {"val": next(val)},
                          early_stopping=engine.EarlyStopping("val", patience=3))
    assert result.points == [1, 2, 3, 4, 5] and result.stopped_early and result.best_point == 2
    assert ctx.curve("stopped_early") == [(5, 1.0)]


def test_early_stopping_that_never_triggers_logs_zero(tmp_path, data):
    x, y = data
    ctx = make_ctx(tmp_path)
    model = engine.build_model(small_mlp, ctx)
    val = iter([3.0, 2.0, 1.0])
    result = engine.train(model, x, y, F.cross_entropy, sgd(model), engine.Schedule(batch_size=64, epochs=3), ctx,
                          evaluate=lambda epoch: {"acc": 4.0 - next(val)},
                          early_stopping=engine.EarlyStopping("acc", patience=1, lower_is_better=False))
    assert result.points == [1, 2, 3] and not result.stopped_early and result.best_point == 3
    assert ctx.curve("stopped_early") == [(3, 0.0)]


def test_step_schedule_divergence_names_the_step_it_was_seen_by(tmp_path, data):
    x, y = data
    ctx = make_ctx(tmp_path)
    model = engine.build_model(small_mlp, ctx)
    with pytest.raises(engine.TrialDiverged, match="by step 5"):
        engine.train(model, x, y, F.cross_entropy, sgd(model, lr=1e8),
                     engine.Schedule(batch_size=64, steps=10, eval_every=5), ctx)


def test_plateau_decays_the_learning_rate_before_it_stops(tmp_path, data):
    x, y = data
    ctx = make_ctx(tmp_path)
    model = engine.build_model(small_mlp, ctx)
    optimizer = sgd(model, lr=0.1)
    # best at 1; stale at 2, 3 -> decay (lr 0.01); a gain at 4; stale at 5, 6 -> second decay; stale 7, 8 -> stop
    val = iter([1.0, 1.0, 1.0, 0.5, 0.6, 0.6, 0.6, 0.6, 0.1])
    result = engine.train(model, x, y, F.cross_entropy, optimizer, engine.Schedule(batch_size=64, epochs=9), ctx,
                          evaluate=lambda epoch: {"val": next(val)},
                          early_stopping=engine.EarlyStopping("val", patience=2, decays=2, factor=0.1))
    assert result.points == list(range(1, 9)) and result.stopped_early and result.best_point == 4
    assert ctx.curve("lr") == [(3, pytest.approx(0.01)), (6, pytest.approx(0.001))]
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.001)


def test_relative_min_delta_counts_a_small_gain_as_a_plateau(tmp_path, data):
    x, y = data
    ctx = make_ctx(tmp_path)
    model = engine.build_model(small_mlp, ctx)
    val = iter([100.0, 99.95, 99.9, 50.0])  # gains of 0.05% are below a 0.1% relative margin
    result = engine.train(model, x, y, F.cross_entropy, sgd(model), engine.Schedule(batch_size=64, epochs=4), ctx,
                          evaluate=lambda epoch: {"val": next(val)},
                          early_stopping=engine.EarlyStopping("val", patience=2, min_delta=1e-3, relative=True))
    assert result.points == [1, 2, 3] and result.stopped_early and result.best_point == 1


def test_restore_best_puts_back_the_weights_validation_chose(tmp_path, data):
    x, y = data
    ctx = make_ctx(tmp_path)
    model = engine.build_model(small_mlp, ctx)
    snapshots = []

    def evaluate(epoch):
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        return {"val": [1.0, 0.2, 0.5, 0.6][epoch - 1]}

    result = engine.train(model, x, y, F.cross_entropy, sgd(model, lr=0.5), engine.Schedule(batch_size=64, epochs=4),
                          ctx, evaluate=evaluate,
                          early_stopping=engine.EarlyStopping("val", patience=2, restore_best=True))
    assert result.best_point == 2 and result.stopped_early
    assert not torch.equal(snapshots[1]["0.weight"] if "0.weight" in snapshots[1]
                           else next(iter(snapshots[1].values())),
                           next(iter(snapshots[3].values())))  # training moved the weights after the best epoch
    for key, value in model.state_dict().items():
        assert torch.equal(value, snapshots[1][key])
    assert ctx.curve("best_point") == [(4, 2.0)]


def test_early_stopping_rejects_a_bad_decay():
    with pytest.raises(ValueError, match="factor"):
        engine.EarlyStopping("val", patience=1, decays=1, factor=1.5)
