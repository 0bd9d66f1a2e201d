"""The rollout engine of online RL: k sampled replies per prompt, as tensors the loop can train on.

`RolloutEngine` is the interface the algorithms see; `HFRolloutEngine` implements it with transformers
`generate` (KV cache, left padding, the `generation` config, EOS stops). The behaviour log-probs and entropies
come from generation's own unprocessed logits (`output_logits`: the policy's distribution before temperature,
top-k, penalties), so a rollout costs no forward pass beyond generation; `generation.logps_from_generation=false`
recomputes them with one full forward instead. Another engine (e.g. vLLM on GPUs) only
has to return the same `Rollout`. Sampling must stay on: greedy rollouts make the k samples of a prompt identical
and every group-relative advantage zero (a bug of study B's code), so the engine refuses `do_sample=false`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

from alignlab.algorithms.logprobs import token_stats
from alignlab.algorithms.reference import frozen_eval
from alignlab.config.common import GenerationConfig
from alignlab.generation.sample import format_prompts, hf_generation_config
from alignlab.losses.logprobs import token_logps_and_entropy


@dataclass
class Rollout:
    """N = P·k samples, the k samples of prompt p in rows p·k … p·k+k−1."""

    prompts: list[str]
    """The P prompts (as given, before any chat template)."""
    input_ids: torch.Tensor
    """[N, T] left-padded prompt, then the reply, then right padding."""
    attention_mask: torch.Tensor
    """[N, T] 1 on prompt and reply tokens (the EOS that ended a reply included)."""
    response_mask: torch.Tensor
    """[N, T] 1 on reply tokens only."""
    logps: torch.Tensor
    """[N, T-1] behaviour log-probs of the policy that sampled (column t: token t+1), 0 outside replies."""
    entropy: torch.Tensor
    """[N, T-1] entropy of the sampling policy's next-token distribution at each reply token, 0 elsewhere."""
    finished: torch.Tensor
    """[N] bool: the reply ended with EOS (False: cut at max_new_tokens)."""
    texts: list[str]
    """[N] decoded replies, special tokens removed."""
    k: int

    @property
    def lengths(self) -> torch.Tensor:
        return self.response_mask.sum(-1)  # [N]

    @property
    def token_mask(self) -> torch.Tensor:
        """[N, T-1] bool, aligned with `logps`: column t is True where token t+1 is a reply token."""
        return self.response_mask[:, 1:].bool() & self.attention_mask[:, 1:].bool()


@runtime_checkable
class RolloutEngine(Protocol):
    """What the online loop needs from a sampler. An engine with its own copy of the weights (e.g. vLLM) loads
    the policy's new weights in `update_weights`, which the loop calls after every update."""

    def generate(self, prompts: list[str], k: int, seed: int, progress=None) -> Rollout: ...

    def update_weights(self, model) -> None: ...


class HFRolloutEngine:
    def __init__(self, model, tokenizer, cfg: GenerationConfig, chat: bool | str = False, chunk_tokens: int = 1024):
        if not cfg.do_sample:
            raise ValueError("generation.do_sample=false: RL rollouts must sample, or the k samples of a prompt "
                             "are identical and group advantages are all 0")
        self.model, self.tok, self.cfg, self.chat, self.chunk = model, tokenizer, cfg, chat, chunk_tokens

    def update_weights(self, model) -> None:
        """Nothing to do: this engine samples from the training model itself."""

    @torch.no_grad()
    def generate(self, prompts: list[str], k: int, seed: int, progress=None) -> Rollout:
        """k replies per prompt; `progress(prompts done)` is called after each generation batch when given."""
        torch.manual_seed(seed)
        device = next(self.model.parameters()).device
        gen = hf_generation_config(self.cfg, self.tok, k)
        side, self.tok.padding_side = self.tok.padding_side, "left"
        try:
            enc = self.tok(format_prompts(prompts, self.tok, self.chat), return_tensors="pt", padding=True,
                           add_special_tokens=False)
        finally:
            self.tok.padding_side = side
        width = enc["input_ids"].shape[1]
        replies, scored = [], []
        own = self.cfg.logps_from_generation
        with frozen_eval(self.model):
            for s in range(0, len(prompts), self.cfg.batch_size):
                ids = enc["input_ids"][s:s + self.cfg.batch_size].to(device)
                mask = enc["attention_mask"][s:s + self.cfg.batch_size].to(device)
                out = self.model.generate(input_ids=ids, attention_mask=mask, generation_config=gen,
                                          output_logits=own, return_dict_in_generate=True)
                new = out.sequences[:, width:]  # [n, R]
                replies += list(new)
                if own:  # log p and entropy of each generated token under the unprocessed logits
                    logits = torch.stack(out.logits, 1)  # [n, R, V]
                    lp, ent = token_logps_and_entropy(logits.reshape(-1, logits.shape[-1]), new.reshape(-1),
                                                      chunk=self.chunk)
                    scored += list(zip(lp.view(new.shape), ent.view(new.shape), strict=True))
                    del logits, out
                if progress is not None:
                    progress(min(s + self.cfg.batch_size, len(prompts)))
        return self._assemble(prompts, enc["input_ids"].to(device), enc["attention_mask"].to(device), replies, k,
                              scored or None)

    def _assemble(self, prompts, prompt_ids, prompt_mask, replies: list[torch.Tensor], k: int,
                  scored: list[tuple[torch.Tensor, torch.Tensor]] | None = None) -> Rollout:
        # prompt_ids, prompt_mask: [P, W] left-padded; replies: N = P·k tensors of generated ids; scored: per
        # reply (log p [R_i], entropy [R_i]) of its tokens from generation, or None to compute them here
        reply = torch.nn.utils.rnn.pad_sequence(replies, batch_first=True, padding_value=self.tok.pad_token_id)
        keep = _until_first_stop(reply, self.tok.eos_token_id)  # [N, R]
        reply = torch.where(keep, reply, torch.full_like(reply, self.tok.pad_token_id))
        ids, pmask = prompt_ids.repeat_interleave(k, 0), prompt_mask.repeat_interleave(k, 0)  # [N, W]
        input_ids = torch.cat([ids, reply], 1)  # [N, T]
        response_mask = torch.cat([torch.zeros_like(pmask), keep.long()], 1)
        attention_mask = torch.cat([pmask, keep.long()], 1)
        if scored is None:
            logps, entropy = self._behaviour(input_ids, attention_mask, response_mask)
        else:  # reply token i sits at column W+i, so its log-prob goes to column W+i−1 of the [N, T-1] layout
            lp = torch.nn.utils.rnn.pad_sequence([s[0] for s in scored], batch_first=True)  # [N, R]
            ent = torch.nn.utils.rnn.pad_sequence([s[1] for s in scored], batch_first=True)
            lead = torch.zeros(lp.shape[0], ids.shape[1] - 1, dtype=torch.float32, device=lp.device)
            logps = torch.cat([lead, torch.where(keep, lp, 0.0)], 1)  # [N, T-1]
            entropy = torch.cat([lead, torch.where(keep, ent, 0.0)], 1)
        finished = (keep & (reply == self.tok.eos_token_id)).any(-1)  # [N]
        texts = self.tok.batch_decode(reply, skip_special_tokens=True)
        return Rollout(list(prompts), input_ids, attention_mask, response_mask, logps, entropy, finished, texts, k)

    def _behaviour(self, input_ids, attention_mask, response_mask) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probs and entropies of the sampled tokens, `batch_size` rows per forward pass."""
        logps, entropy = [], []
        with frozen_eval(self.model):
            for s in range(0, input_ids.shape[0], self.cfg.batch_size):
                rows = slice(s, s + self.cfg.batch_size)
                st = token_stats(self.model, input_ids[rows], attention_mask[rows], response_mask[rows], self.chunk,
                                 entropy=True)
                logps.append(st.logps)
                entropy.append(st.entropy)
        return torch.cat(logps), torch.cat(entropy)


def _until_first_stop(reply: torch.Tensor, eos_id: int) -> torch.Tensor:
    """[N, R] bool: reply tokens up to and including the first EOS (everything after it is padding)."""
    is_eos = reply == eos_id
    before = is_eos.long().cumsum(-1) - is_eos.long()  # EOS tokens strictly before each position
    return before == 0
