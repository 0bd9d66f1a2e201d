"""Run by tests/smoke/test_sharded_cpu.py under `torch.distributed.run --nproc_per_node 2`: a policy sharded with
torch's FSDP 2 (`fully_shard`) over 2 gloo processes on CPU, one optimizer step, then the EMA anchor's update,
which must gather the whole parameters. Prints `EMA OK rank R` when the anchor equals (1−μ)·θ₀ + μ·θ₁."""

import os

import torch
import torch.distributed as dist
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard
from transformers import GPT2Config, GPT2LMHeadModel

from alignlab.algorithms.reference import EMAAnchor
from alignlab.models.sharding import full_tensor

MU = 0.25

dist.init_process_group("gloo")
mesh = init_device_mesh("cpu", (dist.get_world_size(),))
torch.manual_seed(0)
policy = GPT2LMHeadModel(GPT2Config(vocab_size=97, n_positions=32, n_embd=32, n_layer=2, n_head=2))
start = {n: p.detach().clone() for n, p in policy.named_parameters()}
anchor = EMAAnchor(policy, mu=MU)  # made from the whole model, before sharding, as the pipelines do
for block in policy.transformer.h:
    fully_shard(block, mesh=mesh)
fully_shard(policy, mesh=mesh)
sharded = policy.transformer.h[0].mlp.c_fc.weight
assert sharded.to_local().shape[0] * dist.get_world_size() == sharded.shape[0]  # really sharded
optimizer = torch.optim.SGD(policy.parameters(), lr=0.5)
x = torch.randint(0, 97, (2, 8))
policy(input_ids=x, labels=x).loss.backward()
optimizer.step()
anchor.policy_updated(policy)
after = {n: full_tensor(p).detach() for n, p in policy.named_parameters()}
worst = max(float(((1 - MU) * start[n] + MU * after[n] - t).abs().max()) for n, t in anchor.anchor_tensors().items())
moved = max(float((after[n] - start[n]).abs().max()) for n in start)
assert moved > 1e-3 and worst < 1e-6, (moved, worst)
print(f"EMA OK rank {dist.get_rank()}", flush=True)
# One loaded CI run had a process abort ("terminate called without an active exception", gloo's threads) with no
# sign of where; both processes now meet at a barrier and leave without running C++ teardown.
dist.barrier()
os._exit(0)
