"""Batched sampling with left padding.

Left padding keeps every prompt flush against its continuation. Right padding (a bug of study A's code)
puts pad/EOS tokens between prompt and continuation and silently changes what the model conditions on.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import GenerationConfig as HFGenerationConfig

from alignlab.config.common import GenerationConfig
from alignlab.runs.progress import progress_bar


def hf_generation_config(cfg: GenerationConfig, tokenizer, k: int = 1) -> HFGenerationConfig:
    """transformers' settings for `k` samples per prompt."""
    # top_k=0 must be passed as 0: transformers replaces an unset (None) top_k with its default of 50 at generate
    # time, which silently truncated "untruncated" sampling (and biased every KL estimate on those samples).
    sampling = {"temperature": cfg.temperature, "top_k": cfg.top_k, "top_p": cfg.top_p} if cfg.do_sample else {}
    return HFGenerationConfig(
        max_new_tokens=cfg.max_new_tokens, min_new_tokens=cfg.min_new_tokens, do_sample=cfg.do_sample,
        repetition_penalty=cfg.repetition_penalty, no_repeat_ngram_size=cfg.no_repeat_ngram_size,
        num_return_sequences=k, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, **sampling,
        **({"cache_implementation": "static"} if cfg.cache == "static" else {}),
    )


def format_prompts(prompts: list[str], tokenizer, chat: bool | str) -> list[str]:
    """Raw prompts (chat False), or each wrapped as a user turn of a chat template: the tokenizer's (True) or the
    Jinja template given as text (what `data.chat_template` names; `data.sft.sampling_chat`)."""
    if not chat:
        return prompts
    template = chat if isinstance(chat, str) else None
    return [tokenizer.apply_chat_template([{"role": "user", "content": p}], chat_template=template, tokenize=False,
                                          add_generation_prompt=True) for p in prompts]


@dataclass(frozen=True)
class Completion:
    text: str
    """The completion, special tokens removed."""
    tokens: int
    """Tokens generated before the first EOS / pad (the EOS itself not counted)."""


def _lengths(new: torch.Tensor, stop_ids: set[int]) -> list[int]:
    """Per row of generated ids [N, T]: the position of the first stop token, or T."""
    stops = torch.zeros_like(new, dtype=torch.bool)
    for t in stop_ids:
        stops |= new == t
    first = torch.where(stops.any(1), stops.int().argmax(1), torch.full_like(new[:, 0], new.shape[1]))
    return first.tolist()


@torch.no_grad()
def sample_completions(model, tokenizer, prompts: list[str], cfg: GenerationConfig, seed: int = 0,
                       chat: bool | str = False, progress: bool = True, k: int = 1) -> list[list[Completion]]:
    """`k` completions per prompt, each with its generated-token count."""
    torch.manual_seed(seed)
    model.eval()
    device = next(model.parameters()).device
    texts = format_prompts(prompts, tokenizer, chat)
    gen_cfg = hf_generation_config(cfg, tokenizer, k)
    stop_ids = {i for i in (tokenizer.eos_token_id, tokenizer.pad_token_id) if i is not None}
    out: list[list[Completion]] = []
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        with progress_bar("generating", len(texts), enabled=progress) as bar:
            for start in range(0, len(texts), cfg.batch_size):
                batch = tokenizer(texts[start:start + cfg.batch_size], return_tensors="pt", padding=True,
                                  add_special_tokens=False).to(device)
                new = model.generate(**batch, generation_config=gen_cfg)[:, batch["input_ids"].shape[1]:]
                done = [Completion(t, n) for t, n in zip(tokenizer.batch_decode(new, skip_special_tokens=True),
                                                         _lengths(new, stop_ids), strict=True)]
                out += [done[i:i + k] for i in range(0, len(done), k)]
                bar.update(min(start + cfg.batch_size, len(texts)))
    finally:
        tokenizer.padding_side = side
    return out


def generate(model, tokenizer, prompts: list[str], cfg: GenerationConfig, seed: int = 0, chat: bool | str = False,
             progress: bool = True, k: int = 1) -> list[list[str]]:
    """`k` completion texts per prompt."""
    return [[c.text for c in cs] for cs in sample_completions(model, tokenizer, prompts, cfg, seed, chat, progress, k)]
