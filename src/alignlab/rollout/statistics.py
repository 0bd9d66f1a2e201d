"""Statistics of one rollout batch, shared by the online loop and the held-out evaluator: the per-token KL of the
replies to a reference under every estimator, reference log-probs of the rollout's own tokens, reward / entropy /
length / collapse summaries, and the flat prompt list that lines up with the replies."""

from __future__ import annotations

import torch

from alignlab.losses.kl import KL_ESTIMATORS
from alignlab.rollout.engine import Rollout


def sample_metrics(roll: Rollout, scores: torch.Tensor, mask: torch.Tensor, kl: dict[str, torch.Tensor]) -> dict:
    """Reward mean/std, sequence KL under each estimator, per-token entropy, length, truncation and collapse."""
    tokens = mask.sum().clamp(min=1)
    out = {"reward_mean": float(scores.mean()), "reward_std": float(scores.std()) if len(scores) > 1 else 0.0,
           "entropy": float((roll.entropy * mask).sum() / tokens),
           "response_length": float(mask.sum(-1).float().mean()),
           "truncated_fraction": float((~roll.finished).float().mean()),
           "identical_fraction": identical_fraction(roll.texts, roll.k)}
    return out | {f"kl_{name}": float(v.sum(-1).mean()) for name, v in kl.items()}


def kl_per_token(roll: Rollout, ref: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """{estimator: [N, T-1] KL on the rollout's own reply tokens}; empty without a reference."""
    if ref is None:
        return {}
    return {name: fn(roll.logps, ref) * roll.token_mask for name, fn in KL_ESTIMATORS.items()}


def identical_fraction(texts: list[str], k: int) -> float:
    """Collapse per prompt: (k − distinct replies) / (k − 1), averaged over prompts; 0 = all differ, 1 = all equal."""
    if k < 2:
        return 0.0
    groups = [texts[i:i + k] for i in range(0, len(texts), k)]
    return sum((k - len(set(g))) / (k - 1) for g in groups) / max(len(groups), 1)


def sample_prompts(roll: Rollout) -> list[str]:
    return [p for p in roll.prompts for _ in range(roll.k)]


def reference_logps(reference, policy, roll: Rollout, batch_size: int, chunk_tokens: int) -> torch.Tensor | None:
    """[N, T-1] reference log-probs of the rollout's own tokens, `batch_size` rows per pass; None without one."""
    if reference is None:
        return None
    out = []
    for s in range(0, roll.input_ids.shape[0], batch_size):
        rows = slice(s, s + batch_size)
        out.append(reference.token_logps(policy, roll.input_ids[rows], roll.attention_mask[rows],
                                         roll.response_mask[rows], chunk_tokens))
    return torch.cat(out)
