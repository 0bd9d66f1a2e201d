"""Whole tensors from sharded parameters.

Under FSDP 2 (`accelerate launch --config_file configs/accelerate/fsdp.yaml`, or torch's `fully_shard`) each
parameter is a DTensor holding this process's shard. Code that needs the whole tensor (the EMA anchor's update,
anything compared or saved whole) asks `full_tensor`, which gathers it from every process: a collective, so every
process must call it, in the same order. DeepSpeed ZeRO-3's partitioned parameters are not handled here.
"""

from __future__ import annotations

import torch


def full_tensor(t: torch.Tensor) -> torch.Tensor:
    """The whole tensor of a sharded parameter (gathered from every process); any other tensor as it is."""
    from torch.distributed.tensor import DTensor

    if isinstance(t, DTensor):
        return t.full_tensor()
    return t
