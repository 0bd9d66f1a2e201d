"""The one scorer interface: `scorer.score(prompts, completions) -> tensor[batch]` (float32).

A scorer is a name plus a function over one chunk of (prompt, completion) pairs. `BatchedScorer.score` cuts the
input into chunks of `batch_size`, shows a progress bar when there is more than one chunk, and checks
the output length, so every scorer is batched the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

from alignlab.runs.progress import progress_bar


def resolve_device(name: str) -> torch.device:
    """`auto`: CUDA when available, else CPU; otherwise the named device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


ScoreFn = Callable[[list[str], list[str]], Sequence[float] | torch.Tensor]


@runtime_checkable
class Scorer(Protocol):
    """What scores replies, everywhere a reward is needed (pairs, RL, evaluation, composites)."""

    name: str

    def score(self, prompts: Sequence[str], completions: Sequence[str]) -> torch.Tensor:
        """[N] float32 scores on the CPU, one per (prompt, completion)."""


@dataclass
class BatchedScorer:
    """A `Scorer` from a name and a function over one chunk of pairs, called in batches with a progress bar."""

    name: str
    fn: ScoreFn
    batch_size: int = 256
    progress: bool = True

    def score(self, prompts: Sequence[str], completions: Sequence[str]) -> torch.Tensor:
        if len(prompts) != len(completions):
            raise ValueError(f"scorer {self.name}: {len(prompts)} prompts but {len(completions)} completions")
        out: list[torch.Tensor] = []
        n = len(completions)
        with progress_bar(f"scoring ({self.name})", n, enabled=self.progress and n > self.batch_size) as bar:
            for start in range(0, n, self.batch_size):
                p, c = list(prompts[start:start + self.batch_size]), list(completions[start:start + self.batch_size])
                values = torch.as_tensor(self.fn(p, c), dtype=torch.float32).reshape(-1).cpu()
                if len(values) != len(c):
                    raise RuntimeError(f"scorer {self.name} returned {len(values)} scores for {len(c)} texts")
                out.append(values)
                bar.update(min(start + self.batch_size, n))
        return torch.cat(out) if out else torch.zeros(0)

    __call__ = score
