"""Summed log-probs of reply tokens under a causal LM: the one function every preference and RL method uses.

- Position ids come from the attention mask, so left- and right-padded batches give the same numbers.
- Where the model allows it, the backbone's final hidden states are taken instead of logits and the lm_head
  runs only at reply positions (chunked, see `losses.logprobs`): prompt and pad positions get no vocabulary
  projection. Models that post-process logits (soft-capping, logit scaling) or whose parameters are sharded
  (FSDP, DeepSpeed) use their full logits, still with the chunked log-sum-exp.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch

from alignlab.data.batching import forward_groups, regroup
from alignlab.losses.logprobs import (
    hidden_token_logps,
    logits_token_logps,
    token_logps_and_entropy,
    token_logps_and_mean_logp,
)

LOGIT_POSTPROCESSING = ("final_logit_softcapping", "logit_scale", "output_multiplier_scale", "logits_scaling")
SHARDED_WRAPPERS = ("FullyShardedDataParallel", "DeepSpeedEngine")


@dataclass
class TokenStats:
    """Per-token outputs at the selected positions, as [N, T-1] tensors (0 elsewhere); column t is token t+1."""

    logps: torch.Tensor
    """log p(token t+1 | tokens ≤ t), fp32."""
    mask: torch.Tensor
    """bool: the positions that were computed."""
    entropy: torch.Tensor | None = None
    """Entropy of the next-token distribution (only when asked for)."""
    values: torch.Tensor | None = None
    """value_head(final hidden state at t) (only with a value head)."""
    mean_logp: torch.Tensor | None = None
    """(1/V) Σ_v log p(v) of the next-token distribution, for label smoothing (only when asked for)."""


def token_stats(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, loss_mask: torch.Tensor,
                chunk: int = 1024, entropy: bool = False, value_head: torch.nn.Module | None = None,
                mean_logp: bool = False) -> TokenStats:
    """Log-probs (and optionally entropies, mean log-probs and value-head outputs) of the tokens marked by
    `loss_mask`."""
    # input_ids, attention_mask, loss_mask: [N, T]
    position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)  # [N, T]
    select = loss_mask[:, 1:].bool() & attention_mask[:, 1:].bool()  # [N, T-1]
    targets = input_ids[:, 1:][select]  # [M]
    head = _output_head(model)
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "position_ids": position_ids,
              "use_cache": False}
    hidden = None
    if head is not None:
        with _hidden_states_as_logits(model, head):
            hidden = model(**inputs).logits[:, :-1][select]  # [M, H]
        rows = hidden
    else:
        out = model(**inputs, output_hidden_states=value_head is not None)
        rows = out.logits[:, :-1][select]  # [M, V]
        if value_head is not None:
            hidden = out.hidden_states[-1][:, :-1][select]  # [M, H]
    mean = None
    if entropy:
        logps, ent = token_logps_and_entropy(rows, targets, head, chunk)  # [M], [M]
    elif mean_logp:
        (logps, mean), ent = token_logps_and_mean_logp(rows, targets, head, chunk), None  # [M], [M]
    else:
        logps, ent = (hidden_token_logps(rows, head, targets, chunk) if head is not None
                      else logits_token_logps(rows, targets, chunk)), None
    stats = TokenStats(_scatter(select, logps), select)
    if ent is not None:
        stats.entropy = _scatter(select, ent)
    if mean is not None:
        stats.mean_logp = _scatter(select, mean)
    if value_head is not None:
        stats.values = _scatter(select, value_head(hidden).squeeze(-1).float())
    return stats


def token_logps(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, loss_mask: torch.Tensor,
                chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token log-probs [N, T-1] (0 outside the mask) and the mask itself [N, T-1] (bool).

    Column t holds log p(token t+1 | tokens ≤ t); loss_mask[:, t] = 1 marks token t as counted.
    """
    stats = token_stats(model, input_ids, attention_mask, loss_mask, chunk)
    return stats.logps, stats.mask


def _scatter(select: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    out = torch.zeros(select.shape, dtype=torch.float32, device=values.device)  # [N, T-1]
    return out.masked_scatter(select, values.float())


def sequence_logps(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, loss_mask: torch.Tensor,
                   chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """(Σ log p of masked tokens [N] fp32, masked token count [N]); loss_mask[:, t] = 1 marks token t."""
    per_token, select = token_logps(model, input_ids, attention_mask, loss_mask, chunk)  # [N, T-1]
    return per_token.sum(-1), select.sum(-1)


def batch_sequence_logps(model, batch: dict, chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """`sequence_logps` of a pair batch ([2B] each, in the batch's row order), one forward per forward group."""
    parts = [sequence_logps(model, g["input_ids"], g["attention_mask"], g["loss_mask"], chunk)
             for g in forward_groups(batch)]
    return regroup([p[0] for p in parts], batch), regroup([p[1] for p in parts], batch)


def unwrap(model):
    while hasattr(model, "module") and isinstance(model.module, torch.nn.Module):
        model = model.module  # DDP (and accelerate's wrappers) keep the model as .module
    return model


def _output_head(model) -> torch.nn.Module | None:
    """The lm_head to call at reply positions only, or None where the full-logits path is required."""
    if type(model).__name__ in SHARDED_WRAPPERS:
        return None
    inner = unwrap(model)
    config = getattr(inner, "config", None)
    if config is None or any(getattr(config, k, None) not in (None, 1, 1.0) for k in LOGIT_POSTPROCESSING):
        return None
    try:
        head = inner.get_output_embeddings()
    except (AttributeError, NotImplementedError):
        return None
    return head if isinstance(head, torch.nn.Module) and hasattr(inner, "set_output_embeddings") else None


@contextmanager
def _hidden_states_as_logits(model, head: torch.nn.Module):
    """Swap the lm_head for an identity during one forward, so `.logits` holds the final hidden states.

    This keeps the forward going through the (possibly DDP-wrapped) model, as distributed training needs,
    while no [N, T, V] projection is made; the real head is then applied to reply positions only.
    """
    inner = unwrap(model)
    inner.set_output_embeddings(torch.nn.Identity())
    try:
        yield
    finally:
        inner.set_output_embeddings(head)
