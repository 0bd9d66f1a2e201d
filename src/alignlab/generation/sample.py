"""Batched sampling with left padding.

Left padding keeps every prompt flush against its continuation. Right padding (a bug of study A's code)
puts pad/EOS tokens between prompt and continuation and silently changes what the model conditions on.
"""

from __future__ import annotations

import torch
from transformers import GenerationConfig as HFGenerationConfig

from alignlab.config.schema import GenerationConfig
from alignlab.training.progress import progress_bar


def hf_generation_config(cfg: GenerationConfig, tokenizer) -> HFGenerationConfig:
    sampling = {"temperature": cfg.temperature, "top_k": cfg.top_k or None, "top_p": cfg.top_p} if cfg.do_sample else {}
    return HFGenerationConfig(
        max_new_tokens=cfg.max_new_tokens, min_new_tokens=cfg.min_new_tokens, do_sample=cfg.do_sample,
        repetition_penalty=cfg.repetition_penalty, no_repeat_ngram_size=cfg.no_repeat_ngram_size,
        num_return_sequences=cfg.num_return_sequences, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, **sampling,
    )


def format_prompts(prompts: list[str], tokenizer, chat: bool) -> list[str]:
    """Raw prompts, or each wrapped as a user turn with the tokenizer's chat template."""
    if not chat:
        return prompts
    return [tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                          add_generation_prompt=True) for p in prompts]


@torch.no_grad()
def generate(model, tokenizer, prompts: list[str], cfg: GenerationConfig, seed: int = 0, chat: bool = False,
             progress: bool = True) -> list[list[str]]:
    """`cfg.num_return_sequences` completions per prompt (completion text only, special tokens removed)."""
    torch.manual_seed(seed)
    model.eval()
    device = next(model.parameters()).device
    texts = format_prompts(prompts, tokenizer, chat)
    gen_cfg = hf_generation_config(cfg, tokenizer)
    out: list[list[str]] = []
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        with progress_bar("generating", len(texts), enabled=progress) as bar:
            for start in range(0, len(texts), cfg.batch_size):
                batch = tokenizer(texts[start:start + cfg.batch_size], return_tensors="pt", padding=True,
                                  add_special_tokens=False).to(device)
                seqs = model.generate(**batch, generation_config=gen_cfg)
                new = seqs[:, batch["input_ids"].shape[1]:]
                decoded = tokenizer.batch_decode(new, skip_special_tokens=True)
                k = cfg.num_return_sequences
                out += [decoded[i:i + k] for i in range(0, len(decoded), k)]
                bar.update(min(start + cfg.batch_size, len(texts)))
    finally:
        tokenizer.padding_side = side
    return out
