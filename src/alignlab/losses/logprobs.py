"""Per-token log-probabilities without a full fp32 log-softmax over the vocabulary.

log p(t) = z_t − logsumexp(z): gather the target logit, take the log-sum-exp chunk by chunk. Only one chunk of
fp32 logits [chunk, V] exists at a time, in the forward pass and (through activation checkpointing of each
chunk) in the backward pass too, instead of [tokens, V] fp32 plus its log-softmax. When all the logits together
are small (≤ `RECOMPUTE_ABOVE` elements) they are kept for backward instead of projected twice.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.checkpoint import checkpoint


def _chunk_logps(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    # logits: [c, V] any dtype; targets: [c] → [c] fp32
    z = logits.float()
    return z.gather(-1, targets[:, None]).squeeze(-1) - torch.logsumexp(z, dim=-1)


def _chunk_logps_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    # logits: [c, V]; targets: [c] → [c, 2] fp32: log p(target) and the entropy −Σ p log p of the row
    logp = torch.log_softmax(logits.float(), dim=-1)  # one chunk only
    return torch.stack([logp.gather(-1, targets[:, None]).squeeze(-1), -(logp.exp() * logp).sum(-1)], -1)


def _chunk_logps_mean(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    # logits: [c, V]; targets: [c] → [c, 2] fp32: log p(target) and the mean log-probability (1/V) Σ_v log p(v)
    z = logits.float()
    lse = torch.logsumexp(z, dim=-1)  # [c]
    return torch.stack([z.gather(-1, targets[:, None]).squeeze(-1) - lse, z.mean(-1) - lse], -1)


RECOMPUTE_ABOVE = 2**24
"""fp32 logit elements (64 MiB) above which each chunk's logits are recomputed in backward instead of kept."""


def _chunked(project: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor, targets: torch.Tensor,
             chunk: int, stat: Callable = _chunk_logps) -> torch.Tensor:
    """Apply `project` (identity or the lm_head) and `stat` to `chunk` rows at a time."""
    def piece(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return stat(project(x), t)

    vocab = getattr(project, "out_features", None) or inputs.shape[-1]
    grad = torch.is_grad_enabled() and (inputs.requires_grad or any(
        p.requires_grad for p in getattr(project, "parameters", lambda: [])()))
    # Recompute each chunk's logits in backward rather than keep [c, V] fp32 per chunk alive until then, unless
    # all of them together are small (then keeping them is cheaper than projecting twice).
    recompute = grad and inputs.shape[0] * vocab > RECOMPUTE_ABOVE
    out = []
    for start in range(0, inputs.shape[0], chunk):
        x, t = inputs[start:start + chunk], targets[start:start + chunk]
        out.append(checkpoint(piece, x, t, use_reentrant=False) if recompute else piece(x, t))
    return torch.cat(out) if out else inputs.new_zeros(0, dtype=torch.float32)


def token_logps_and_entropy(inputs: torch.Tensor, targets: torch.Tensor, head: torch.nn.Module | None = None,
                            chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """log p(target) [M] and the entropy of each row's distribution [M] (fp32), from logits [M, V] (head None)
    or hidden states [M, H] and the output projection `head`; chunked like the functions below."""
    if inputs.shape[0] == 0:
        empty = inputs.new_zeros(0, dtype=torch.float32)
        return empty, empty
    both = _chunked(head if head is not None else (lambda x: x), inputs, targets, chunk, _chunk_logps_entropy)
    return both[:, 0], both[:, 1]


def token_logps_and_mean_logp(inputs: torch.Tensor, targets: torch.Tensor, head: torch.nn.Module | None = None,
                              chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """log p(target) [M] and (1/V) Σ_v log p(v) [M] (fp32), what label smoothing needs; inputs as above."""
    if inputs.shape[0] == 0:
        empty = inputs.new_zeros(0, dtype=torch.float32)
        return empty, empty
    both = _chunked(head if head is not None else (lambda x: x), inputs, targets, chunk, _chunk_logps_mean)
    return both[:, 0], both[:, 1]


def logits_token_logps(logits: torch.Tensor, targets: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """log p(target) for each row of `logits` [M, V] (any dtype) → [M] fp32, equal to
    `log_softmax(logits.float(), -1).gather(-1, targets[:, None])` without materialising it."""
    return _chunked(lambda x: x, logits, targets, chunk)


def hidden_token_logps(hidden: torch.Tensor, head: torch.nn.Module, targets: torch.Tensor,
                       chunk: int = 1024) -> torch.Tensor:
    """log p(target) from final hidden states [M, H] and the output projection `head` → [M] fp32.

    The vocabulary projection runs only on these M positions, `chunk` at a time.
    """
    return _chunked(head, hidden, targets, chunk)
