import pytest
import torch

from alignlab.config.schema import OptimizerConfig
from alignlab.training.memory import memory_report
from alignlab.training.optim import STATE_BUFFERS, build_optimizer


@pytest.mark.parametrize("name", ["sgd", "sgd_momentum", "sgd_nesterov", "adamw"])
def test_optimizer_state_bytes_invariant(name):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(7, 5), torch.nn.LayerNorm(5), torch.nn.Linear(5, 3))
    model[1].weight.requires_grad_(False)  # frozen parameters hold no optimizer state
    opt = build_optimizer(model, OptimizerConfig(name=name, weight_decay=0.1))
    model(torch.randn(4, 7)).sum().backward()
    opt.step()
    rep = memory_report(model, opt)
    trainable = 7 * 5 + 5 + 5 + 5 * 3 + 3  # the frozen LayerNorm weight (5) is excluded
    assert rep["trainable_params"] == trainable
    assert rep["optimizer_state_bytes"] == trainable * 4 * STATE_BUFFERS[name]
    assert STATE_BUFFERS == {"adamw": 2, "adam": 2, "sgd": 0, "sgd_momentum": 1, "sgd_nesterov": 1}
