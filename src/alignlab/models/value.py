"""PPO critics: per-token values V(s_t) for the tokens of a sampled reply.

- `ValueHead`: a linear map of final hidden states to a scalar. As `rl.value_model=head` it sits on the
  policy's own hidden states (one forward gives log-probs and values; the backbone is shared).
- `ValueModel` (`rl.value_model=separate`): its own backbone (the policy's starting model, or `rl.value_init`,
  e.g. the reward model) plus a `ValueHead`, so the critic's updates never move the policy.
Both start with a zero head (V = 0 everywhere), so the first advantages are the plain rewards-to-go.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

HEAD_FILE = "value_head.safetensors"


def hidden_size(config) -> int:
    for name in ("hidden_size", "n_embd", "d_model"):
        if isinstance(getattr(config, name, None), int):
            return getattr(config, name)
    raise ValueError(f"cannot tell the hidden size of a {type(config).__name__}")


class ValueHead(torch.nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.summary = torch.nn.Linear(hidden, 1)
        torch.nn.init.zeros_(self.summary.weight)
        torch.nn.init.zeros_(self.summary.bias)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        # hidden_states: [..., H] → [..., 1] in the head's dtype
        return self.summary(hidden_states.to(self.summary.weight.dtype))

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}, str(folder / HEAD_FILE))

    def load(self, folder: Path) -> ValueHead:
        self.load_state_dict(load_file(str(folder / HEAD_FILE)))
        return self


class ValueModel(torch.nn.Module):
    """A backbone (transformers `AutoModel`) + `ValueHead`: values for every position, [N, T] fp32."""

    def __init__(self, backbone: torch.nn.Module):
        super().__init__()
        self.backbone = backbone
        self.head = ValueHead(hidden_size(backbone.config))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)  # left padding as in the policy
        out = self.backbone(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                            use_cache=False)
        return self.head(out.last_hidden_state).squeeze(-1).float()

    def save(self, folder: Path) -> None:
        """save_pretrained backbone + value_head.safetensors in `folder`."""
        self.backbone.save_pretrained(folder, safe_serialization=True)
        self.head.save(folder)
