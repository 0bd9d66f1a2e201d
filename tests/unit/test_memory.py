import pytest
import torch

from alignlab.config.common import OptimizerConfig
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


def test_the_invariant_counts_every_parameter_the_optimizer_steps():
    """PPO's optimizer also steps the critic: the report counts what the optimizer holds, not the policy alone."""
    torch.manual_seed(0)
    policy, critic = torch.nn.Linear(4, 3), torch.nn.Linear(4, 1)
    opt = torch.optim.AdamW([*policy.parameters(), *critic.parameters()])
    (policy(torch.randn(2, 4)).sum() + critic(torch.randn(2, 4)).sum()).backward()
    opt.step()
    rep = memory_report(policy, opt)
    assert rep["trainable_params"] == 4 * 3 + 3 + 4 + 1 and rep["model_trainable_params"] == 4 * 3 + 3
    assert rep["optimizer_state_bytes"] == rep["trainable_params"] * 4 * 2
    assert "model_trainable_params" not in memory_report(policy, torch.optim.AdamW(policy.parameters()))
