"""Reward-model loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from alignlab.losses.preference import pair_accuracy


def bradley_terry(chosen: torch.Tensor, rejected: torch.Tensor, margin: torch.Tensor | float = 0.0
                  ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Summed Bradley–Terry loss L = −Σ log σ(r_c − r_r − m) (Ouyang et al. 2022, "Training language models to
    follow instructions with human feedback", eq. 1; the margin m is Touvron et al. 2023, Llama 2, eq. 2).

    Returns the *sum* over pairs, so accumulation divides by the pair count of the whole window; the metrics are
    sums too: "correct" pairs (r_c > r_r, a tie ½: `pair_accuracy`) and the summed reward "margin" r_c − r_r.
    """
    # chosen, rejected: [B] scalar rewards; margin: [B] or a scalar
    diff = chosen.float() - rejected.float()  # [B]
    loss = -F.logsigmoid(diff - margin).sum()
    return loss, {"correct": pair_accuracy(diff).sum().detach(), "margin": diff.sum().detach()}
