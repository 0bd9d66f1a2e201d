"""Where reference log-probs come from (`ref.mode`), and the fingerprint of the weights behind them.

- `FrozenCopy` (copy): a second, frozen model.
- `AdapterOff` (adapter): the LoRA policy with its adapters disabled — the same weights, no second copy.
- `NamedAdapter` (adapter + ref.adapter, study D): a frozen second adapter on the same base (e.g. the SFT
  adapter loaded twice), switched in for the reference pass.
- `PolicyAtStart`: the policy itself before its first update; only used to precompute (ref.mode=precomputed).
- `EMAAnchor` (ema, WARP): a copy of the policy that follows it, anchor ← (1−μ)·anchor + μ·θ, after every
  optimizer step (`policy_updated`, called by the online loop; study B's anchor never moved).
Every strategy runs in eval mode (no dropout) without gradients, and `tensors()` yields exactly the weights
that define the reference, under names that do not depend on LoRA wrapping: the cache key of precomputed runs.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, runtime_checkable

import torch

from alignlab.algorithms.logprobs import batch_sequence_logps, token_logps, unwrap
from alignlab.models.merge import ema_update_
from alignlab.models.sharding import full_tensor

REFERENCE_ADAPTER = "reference"
ADAPTER_MARKERS = ("lora_", "modules_to_save.", "lora_magnitude_vector")
WRAPPER_PARTS = (".base_layer", ".original_module")


@contextmanager
def frozen_eval(model):
    """No dropout and no autograd graph for a reference pass; the previous train/eval mode is restored."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def _batch_logps(model, batch: dict, chunk: int) -> torch.Tensor:
    return batch_sequence_logps(model, batch, chunk)[0]


def _canonical(name: str) -> str:
    """peft's names of a base weight (base_model.model.….base_layer.weight) → the plain model's name."""
    name = name.removeprefix("base_model.model.")
    for part in WRAPPER_PARTS:
        name = name.replace(part, "")
    return name


def _base_tensors(model, keep_adapter: str | None = None) -> Iterator[tuple[str, torch.Tensor]]:
    """The base weights (adapters skipped, except `keep_adapter`'s), under canonical names."""
    for name, t in unwrap(model).state_dict().items():
        is_adapter = any(m in name for m in ADAPTER_MARKERS)
        if not is_adapter or (keep_adapter and f".{keep_adapter}." in name):
            yield _canonical(name), t


@runtime_checkable
class ReferenceStrategy(Protocol):
    """Where reference log-probs come from (`ref.mode`): what the DPO algorithm and the online loop call."""

    name: str
    moves: bool
    """True for a reference that follows the policy (the EMA anchor): its weights are checkpointed with the run."""

    def logps(self, policy: torch.nn.Module, batch: dict, chunk: int) -> torch.Tensor:
        """Summed reply log-probs [B] of a preference batch."""

    def token_logps(self, policy: torch.nn.Module, input_ids, attention_mask, loss_mask, chunk: int) -> torch.Tensor:
        """Per-token log-probs [N, T-1] of the given tokens, 0 outside `loss_mask`."""

    def policy_updated(self, policy: torch.nn.Module) -> None:
        """Called after every optimizer step."""


class _Reference:
    """`running(policy)` yields the model that computes reference log-probs, frozen and in eval mode."""

    moves = False

    def logps(self, policy, batch: dict, chunk: int) -> torch.Tensor:
        """Summed reply log-probs [B] of a preference batch."""
        with self.running(policy) as model:
            return _batch_logps(model, batch, chunk)

    def token_logps(self, policy, input_ids, attention_mask, loss_mask, chunk: int) -> torch.Tensor:
        """Per-token log-probs [N, T-1] of the given (policy-sampled) tokens, 0 outside `loss_mask`."""
        with self.running(policy) as model:
            return token_logps(model, input_ids, attention_mask, loss_mask, chunk)[0]

    def policy_updated(self, policy) -> None:
        """Called after every optimizer step; fixed references ignore it."""


class FrozenCopy(_Reference):
    name = "copy"

    def __init__(self, reference: torch.nn.Module):
        self.model = reference.eval().requires_grad_(False)

    @contextmanager
    def running(self, policy):
        with frozen_eval(self.model):
            yield self.model

    def tensors(self, policy):
        return _base_tensors(self.model)


class AdapterOff(_Reference):
    name = "adapter"

    @contextmanager
    def running(self, policy):
        with frozen_eval(policy), unwrap(policy).disable_adapter():
            yield policy

    def tensors(self, policy):
        return _base_tensors(policy)


class NamedAdapter(_Reference):
    name = "adapter"

    def __init__(self, adapter: str = REFERENCE_ADAPTER):
        self.adapter = adapter

    @contextmanager
    def running(self, policy):
        peft_model = unwrap(policy)
        active = peft_model.active_adapter
        # peft's set_adapter also flips requires_grad to the active adapter; switching back restores it.
        peft_model.set_adapter(self.adapter)
        try:
            with frozen_eval(policy):
                yield policy
        finally:
            peft_model.set_adapter(active)

    def tensors(self, policy):
        return _base_tensors(policy, keep_adapter=self.adapter)


class PolicyAtStart(_Reference):
    name = "policy"

    @contextmanager
    def running(self, policy):
        with frozen_eval(policy):
            yield policy

    def tensors(self, policy):
        return _base_tensors(policy)


class EMAAnchor(_Reference):
    """A frozen copy of the policy taken at the start, moved after every optimizer step by
    anchor ← (1−μ)·anchor + μ·θ (WARP §3.1, μ = 0.01). Only the policy's trainable tensors are averaged (the
    others are equal in both by construction), so under LoRA only the adapters move, and the copy is of the
    unwrapped model: DDP replicas are identical after a step, so every process moves its anchor the same way; under
    FSDP 2 the policy's shards are gathered whole for the update (on every process)."""

    name = "ema"
    moves = True

    def __init__(self, policy: torch.nn.Module, mu: float):
        self.mu = mu
        self.model = copy.deepcopy(unwrap(policy)).eval().requires_grad_(False)
        self.moving = [n for n, p in unwrap(policy).named_parameters() if p.requires_grad]

    @contextmanager
    def running(self, policy):
        with frozen_eval(self.model):
            yield self.model

    def anchor_tensors(self) -> dict[str, torch.Tensor]:
        """The moving tensors of the anchor (live views)."""
        params = dict(self.model.named_parameters())
        return {n: params[n].data for n in self.moving}

    def policy_updated(self, policy) -> None:
        live = dict(unwrap(policy).named_parameters())  # shards under FSDP: gathered whole, on every process
        ema_update_(self.anchor_tensors(), {n: full_tensor(live[n]) for n in self.moving}, self.mu)

    def checkpoint_state(self) -> dict[str, torch.Tensor]:
        return {n: t.detach().cpu().contiguous() for n, t in self.anchor_tensors().items()}

    def load_checkpoint_state(self, state: dict[str, torch.Tensor]) -> None:
        tensors = self.anchor_tensors()
        if set(state) != set(tensors):
            raise ValueError(f"EMA anchor checkpoint does not match the policy: {sorted(set(state) ^ set(tensors))[:3]}")
        with torch.no_grad():
            for n, t in tensors.items():
                t.copy_(state[n])

    def tensors(self, policy):
        return self.model.state_dict().items()


def weights_fingerprint(named: Iterator[tuple[str, torch.Tensor]]) -> str:
    """A content hash of (name, dtype, shape, bytes) of every tensor: any changed weight changes it."""
    h = hashlib.blake2b(digest_size=16)
    for name, t in sorted(named, key=lambda kv: kv[0]):
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)};".encode())
        h.update(t.detach().contiguous().reshape(-1).view(torch.uint8).cpu().numpy().tobytes())
    return h.hexdigest()
