"""EMA of the weights: closed forms of the decay schedule and of the average itself."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ncse_cli.training.ema import build_ema, ema_decay_at


class Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(3))
        self.register_buffer("running", torch.zeros(2))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))


def test_decay_schedule_is_the_torch_ema_rule():
    assert ema_decay_at(0.999, 0) == pytest.approx(1 / 10)
    assert ema_decay_at(0.999, 1) == pytest.approx(2 / 11)
    assert ema_decay_at(0.999, 10**6) == 0.999  # capped at the configured decay
    assert ema_decay_at(0.999, 0, warmup=False) == 0.999


def test_first_update_copies_then_average_follows_the_closed_form():
    model = Toy()
    ema = build_ema(model, decay=0.9, warmup=False)
    values = [1.0, 2.0, 4.0, 8.0]
    expected = None
    for v in values:
        model.w.data.fill_(v)
        model.running.fill_(-v)
        model.count.fill_(int(v))
        ema.update_parameters(model)
        expected = v if expected is None else 0.9 * expected + 0.1 * v
    assert torch.allclose(ema.module.w, torch.full((3,), expected))
    assert torch.allclose(ema.module.running, torch.full((2,), -expected))  # float buffers are averaged
    assert int(ema.module.count) == 8  # integer buffers are copied
    assert int(ema.n_averaged) == len(values)


def test_warmup_tracks_fast_early():
    model = Toy()
    ema = build_ema(model, decay=0.999, warmup=True)
    model.w.data.fill_(0.0)
    ema.update_parameters(model)
    model.w.data.fill_(1.0)
    ema.update_parameters(model)  # decay min(0.999, 2/11)
    assert torch.allclose(ema.module.w, torch.full((3,), 9 / 11))


def test_ema_is_a_frozen_copy():
    model = Toy()
    ema = build_ema(model, 0.999)
    assert not any(p.requires_grad for p in ema.parameters())
    assert ema.module.w is not model.w and not ema.training


def test_updates_never_read_a_tensor_back_to_the_host(monkeypatch):
    # on a GPU each read waits for the device: the training step would stall once per step
    model = Toy()
    ema, restored = build_ema(model, 0.999), build_ema(model, 0.999)
    ema.update_parameters(model)
    restored.load_state_dict(ema.state_dict())
    ema.update_parameters(model)
    restored.update_parameters(model)  # the one read: the restored count

    def read(*args, **kwargs):
        raise AssertionError("tensor read on the host")

    with monkeypatch.context() as patch:
        for name in ("__bool__", "__int__", "__float__", "__index__", "item", "tolist"):
            patch.setattr(torch.Tensor, name, read)
        for _ in range(2):
            model.w.data.add_(1.0)
            ema.update_parameters(model)
            restored.update_parameters(model)
    assert int(ema.n_averaged) == int(restored.n_averaged) == 4
    assert torch.equal(ema.module.w, restored.module.w) and float(ema.module.w[0]) > 0


def test_parameters_that_do_not_train_are_shared_never_averaged_and_left_out_of_the_averaged_state():
    model = Toy()
    model.fixed = nn.Parameter(torch.ones(4), requires_grad=False)  # a frozen tower's weight
    ema = build_ema(model, decay=0.5, warmup=False)
    assert ema.module.fixed is model.fixed and ema.module.w is not model.w
    assert ema.shared == {"module.fixed"}
    assert set(ema.averaged_state()) == set(ema.state_dict()) - {"module.fixed"}
    for value in (2.0, 4.0):
        model.w.data.fill_(value)
        ema.update_parameters(model)
    assert torch.equal(ema.module.w, torch.full((3,), 3.0)) and torch.equal(ema.module.fixed, torch.ones(4))

    restored = build_ema(model, decay=0.5, warmup=False)
    restored.load_averaged_state(ema.averaged_state())
    assert torch.equal(restored.module.w, ema.module.w) and int(restored.n_averaged) == 2
    restored.load_averaged_state(ema.state_dict())  # a whole state dict, as checkpoints before the sharing hold
    with pytest.raises(RuntimeError, match=r"missing \['module.w'\]"):
        restored.load_averaged_state({k: v for k, v in ema.averaged_state().items() if k != "module.w"})
