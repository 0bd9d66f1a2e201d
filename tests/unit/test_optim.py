import math

import pytest
import torch

from alignlab.config.common import OptimizerConfig, SchedulerConfig
from alignlab.training.optim import build_optimizer, build_scheduler


def _lrs(name, warmup, total, floor=0.0):
    p = torch.nn.Parameter(torch.zeros(2, 2))
    opt = torch.optim.SGD([p], lr=1.0)
    sched = build_scheduler(opt, SchedulerConfig(name=name, warmup_steps=warmup, min_lr_ratio=floor), total)
    out = []
    for _ in range(total):
        out.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    return out


def test_schedules_by_hand():
    assert _lrs("constant", 0, 4) == [1.0] * 4
    assert _lrs("linear", 0, 4) == [1.0, 0.75, 0.5, 0.25]
    cos = _lrs("cosine", 1, 5)
    assert cos[0] == pytest.approx(0.5)  # warm-up: (0+1)/(1+1)
    assert cos[1] == pytest.approx(1.0)
    assert cos[3] == pytest.approx(0.5 * (1 + math.cos(math.pi * 2 / 4)))
    assert _lrs("linear", 0, 2, floor=0.1)[1] == pytest.approx(0.1 + 0.9 * 0.5)


def test_weight_decay_skips_biases_and_norms():
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.LayerNorm(3))
    opt = build_optimizer(model, OptimizerConfig(name="adamw", weight_decay=0.1))
    decays = {len(g["params"]): g["weight_decay"] for g in opt.param_groups}
    assert decays == {1: 0.1, 3: 0.0}
    assert isinstance(build_optimizer(model, OptimizerConfig(name="RMSprop")), torch.optim.RMSprop)
    nesterov = build_optimizer(model, OptimizerConfig(name="sgd_nesterov"))
    assert nesterov.param_groups[0]["nesterov"] and nesterov.param_groups[0]["momentum"] == 0.9
