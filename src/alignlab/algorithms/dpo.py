"""The DPO family as a plug-in of the offline loop: pairs → one forward → per-pair loss (`loss.name`).

Chosen and rejected replies of a batch ([chosen_1..B, rejected_1..B]) run together, in as few forward passes as
keep padding under `data.batching.MAX_PADDING` (`batch_sequence_logps`); reference
log-probs come from the batch (precomputed) or from a reference strategy (see algorithms.reference). β follows
its schedule per optimizer step (`begin_step`), so gradient accumulation does not change it.
"""

from __future__ import annotations

import math

import torch

from alignlab.algorithms.logprobs import batch_sequence_logps
from alignlab.config.offline import BetaConfig, LossConfig
from alignlab.data.batching import batch_rows, preference_collate
from alignlab.losses.preference import LENGTH_NORMALIZED_BY_DEFAULT, PREFERENCE_LOSSES, pair_accuracy

PAIR_METRICS = ("reward_chosen", "reward_rejected", "margin", "accuracy", "logps_chosen", "logps_rejected")


def beta_at(step: int, total: int, cfg: BetaConfig) -> float:
    """β at optimizer step `step` (0-based) of `total`: constant, or start → end linearly or on a half cosine."""
    if cfg.schedule == "constant":
        return cfg.value
    p = step / max(total - 1, 1)
    if cfg.schedule == "linear":
        return cfg.start + (cfg.end - cfg.start) * p
    return cfg.end + (cfg.start - cfg.end) * (1 + math.cos(math.pi * p)) / 2


class PreferenceOptimisation:
    name = "dpo"

    def __init__(self, loss: LossConfig, beta: BetaConfig, reference=None, chunk_tokens: int = 1024):
        self.loss_cfg, self.beta_cfg, self.reference, self.chunk_tokens = loss, beta, reference, chunk_tokens
        self.loss_fn = PREFERENCE_LOSSES[loss.name]
        self.normalize = (loss.length_normalize if loss.length_normalize is not None
                          else loss.name in LENGTH_NORMALIZED_BY_DEFAULT)
        self.beta = beta_at(0, 1, beta)
        self.reference_passes = 0
        """Batches whose reference log-probs were computed on the fly (0 when precomputed)."""

    def begin_step(self, step: int, total: int) -> None:
        self.beta = beta_at(step, total, self.beta_cfg)

    @staticmethod
    def example_length(example: dict) -> int:
        return max(len(example["chosen_ids"]), len(example["rejected_ids"]))

    @staticmethod
    def collate(pad_id: int):
        return preference_collate(pad_id)

    def weight(self, batch: dict) -> int:
        return batch_rows(batch) // 2  # pairs

    def _reference_logps(self, model, batch: dict) -> torch.Tensor | None:
        if "ref_logps" in batch:
            return batch["ref_logps"]
        if self.reference is None:
            return None
        self.reference_passes += 1
        return self.reference.logps(model, batch, self.chunk_tokens).float()

    def pair_losses(self, model, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Per-pair loss [B] and per-pair metrics, each [B]."""
        ref = self._reference_logps(model, batch)  # [2B] or None; before the policy pass (no graph kept)
        logps, tokens = batch_sequence_logps(model, batch, self.chunk_tokens)  # [2B], [2B]
        tokens = tokens.clamp(min=1).float()
        scale = tokens if self.normalize else torch.ones_like(tokens)
        pc, pr = (logps / scale).chunk(2)  # [B] each
        rc, rr = (ref / scale).chunk(2) if ref is not None else (None, None)
        n_c, n_r = tokens.chunk(2)
        cfg = self.loss_cfg
        loss, m = self.loss_fn(pc, pr, rc, rr, beta=self.beta, label_smoothing=cfg.label_smoothing,
                               alpha=cfg.alpha, gamma=cfg.gamma, orpo_lambda=cfg.orpo_lambda,
                               chosen_tokens=n_c, rejected_tokens=n_r)  # [B]
        sum_c, sum_r = logps.chunk(2)
        if cfg.sft_weight:
            loss = loss + cfg.sft_weight * (-sum_c / n_c)  # per-token NLL of the chosen reply
        margin = m["reward_chosen"] - m["reward_rejected"]
        return loss, {"reward_chosen": m["reward_chosen"], "reward_rejected": m["reward_rejected"],
                      "margin": margin, "accuracy": pair_accuracy(margin),
                      "logps_chosen": sum_c.detach(), "logps_rejected": sum_r.detach()}

    def loss(self, model, batch: dict) -> tuple[torch.Tensor, dict]:
        loss, m = self.pair_losses(model, batch)
        sums = {k: v.sum() for k, v in m.items()}
        return loss.sum(), sums | {"beta": self.beta * loss.shape[0]}  # the loop logs sums / pairs

    @torch.no_grad()
    def evaluate(self, model, batches, accelerator) -> dict[str, float]:
        """Held-out loss, pair accuracy (implicit reward of chosen > rejected), margin, rewards and log-probs."""
        names = ("loss", *PAIR_METRICS)
        total = torch.zeros(len(names) + 1, dtype=torch.float64, device=accelerator.device)
        for batch in batches:
            loss, m = self.pair_losses(model, batch)
            total += torch.stack([loss.sum().double(), *(m[k].sum().double() for k in PAIR_METRICS),
                                  torch.tensor(float(loss.shape[0]), dtype=torch.float64, device=total.device)])
        total = accelerator.reduce(total, reduction="sum").tolist()
        n = max(total[-1], 1.0)
        return {k: v / n for k, v in zip(names, total[:-1], strict=True)} | {"beta": self.beta}
