"""The training paths on a CUDA device, where one is present (skipped elsewhere).

What holds on the GPU: the batched ensemble's member k equals its K = 1 run to
the ensemble's stated 1e-6 (MLP and grouped-convolution CNN), and the single-run
loop (``engine.train``) gives the CPU's losses to float32 rounding, with its
hooks (max-norm after each step, probes that need gradients) running on the
device. Run on a GPU machine with ``python -m pytest tests/test_cuda.py``.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from harness import datasets, engine
from harness.context import TrialContext
from harness.dropnets import apply_max_norm
from harness.ensemble import Member, Shape, train
from harness.models import MODELS
from harness.seeding import TrialSeeds
from harness.study import Arm, Budget

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")

@pytest.fixture(autouse=True)
def as_a_run_configures_torch():
    engine.configure_torch(threads=1)   # deterministic kernels, no TF32: what `harness run` sets


MEMBER_TOLERANCE = 1e-6   # as tests/test_ensemble.py states for every device
CPU_TOLERANCE = 1e-3      # the CPU and the GPU sum in different orders; three epochs of SGD stay this close


def ctx_for(tmp_path, device: str) -> TrialContext:
    return TrialContext("t", Arm("a"), 0, "smoke", Budget(1), TrialSeeds(3, 4, 5, 6), device, 1, tmp_path,
                        show_progress=False)


def test_ensemble_members_equal_their_single_runs_on_cuda():
    d = datasets.load("synthetic", n_train=300, n_test=200, dim=12, classes=4)
    x, y, xt, yt = (torch.tensor(a, device="cuda") for a in (d.x_train, d.y_train, d.x_test, d.y_test))
    shape = Shape(12, 4, (16, 16), retain_input=0.8, retain_hidden=0.8, epochs=3, batch_size=32)
    group = [Member(init=11 + i, data_order=101 + i, noise=1001 + i, lr=0.05 * (1 + 0.2 * i), momentum=0.9)
             for i in range(4)]
    together = train(shape, group, x, y, xt, yt)
    for member, result in zip(group, together):
        alone = train(shape, [member], x, y, xt, yt)[0]
        assert np.allclose(result.train_loss, alone.train_loss, rtol=0, atol=MEMBER_TOLERANCE)
        assert abs(result.test_loss - alone.test_loss) <= MEMBER_TOLERANCE


def test_cnn_ensemble_members_equal_their_single_runs_on_cuda():
    d = datasets.load("digits")
    x, y, xt, yt = (torch.tensor(a, device="cuda") for a in (d.x_train[:256], d.y_train[:256],
                                                            d.x_test[:128], d.y_test[:128]))
    shape = Shape(64, 10, (), channels=(4, 8), in_shape=(1, 8, 8), epochs=2, batch_size=32)
    group = [Member(init=11 + i, data_order=101 + i, noise=1001 + i, lr=0.02) for i in range(3)]
    together = train(shape, group, x, y, xt, yt)
    for member, result in zip(group, together):
        alone = train(shape, [member], x, y, xt, yt)[0]
        assert np.allclose(result.train_loss, alone.train_loss, rtol=0, atol=MEMBER_TOLERANCE)


def test_the_training_loop_on_cuda_follows_the_cpu(tmp_path):
    d = datasets.load("synthetic", n_train=512, n_test=128, dim=12, classes=4)
    curves = {}
    for device in ("cpu", "cuda"):
        ctx = ctx_for(tmp_path / device, device)
        x, y = engine.as_tensor(d.x_train, device), engine.as_tensor(d.y_train, device)
        model = engine.build_model(lambda: MODELS.get("dropout-mlp")(in_features=12, classes=4, hidden=(32, 32),
                                                                     p_input=1.0, p_hidden=1.0), ctx)
        probed = []

        def probe(epoch, model=model, x=x, y=y, probed=probed):  # gradients inside a probe, as batchnorm's do
            loss = torch.nn.functional.cross_entropy(model(x[:64]), y[:64])
            probed.append(float(torch.autograd.grad(loss, next(model.parameters()))[0].norm()))

        result = engine.train(model, x, y, torch.nn.functional.cross_entropy,
                              torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9),
                              engine.Schedule(batch_size=64, epochs=3, time_epochs=True), ctx,
                              evaluate=lambda epoch, model=model, x=x, y=y: {
                                  "train_error": float((model(x).argmax(1) != y).float().mean())},
                              on_eval=probe, after_step=lambda model=model: apply_max_norm(model, 3.0))
        assert all(p.device.type == device for p in model.parameters())
        assert len(result.epoch_seconds) == 3 and len(probed) == 3
        curves[device] = result.train_loss
    assert np.allclose(curves["cpu"], curves["cuda"], rtol=CPU_TOLERANCE, atol=0)
