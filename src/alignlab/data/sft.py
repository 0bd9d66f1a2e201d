"""Turn rows into SFT examples: chat templates, completion-only label masks, truncation with accounting.

An example is {"input_ids": [...], "labels": [...]} with label -100 on every token that is not trained
(prompt, system and user turns, template scaffolding). Nothing is dropped silently: `SFTStats` counts
every truncated and dropped row, and the trainer logs it.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

from alignlab.config.data import DataConfig
from alignlab.data.sources import ROW_INDEX, DataError

IGNORE = -100


@dataclass
class SFTStats:
    rows: int = 0
    kept: int = 0
    truncated: int = 0
    dropped_no_target: int = 0
    tokens: int = 0
    target_tokens: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def detect_format(cfg: DataConfig, columns: list[str]) -> str:
    if cfg.format != "auto":
        return cfg.format
    if cfg.messages_field in columns:
        return "messages"
    if cfg.prompt_field in columns and cfg.response_field in columns:
        return "prompt_response"
    if cfg.text_field in columns:
        return "text"
    raise DataError(f"cannot tell the data format from columns {columns}; set data.format and the field names "
                    f"(data.prompt_field/response_field, data.messages_field or data.text_field)")


def load_template(chat_template: str | None, tokenizer) -> str | None:
    """The Jinja chat template in force, or None for plain prompt+response concatenation."""
    if chat_template is None:
        return None
    if chat_template == "tokenizer":
        if not tokenizer.chat_template:
            raise DataError("data.chat_template=tokenizer, but this tokenizer has no chat template")
        return tokenizer.chat_template
    path = Path(chat_template)
    if not path.is_file():
        raise DataError(f"data.chat_template: template file '{path}' does not exist")
    return path.read_text()


def chat_template_for(data: DataConfig, tokenizer, messages: bool = False) -> str | None:
    """The Jinja template (`data.chat_template`, else the tokenizer's) where chat is on (`data.chat`; unresolved:
    a set template) or the rows are message lists; None: plain prompt + response text."""
    on = messages or data.chat or (data.chat is None and data.chat_template is not None)
    return load_template(data.chat_template or "tokenizer", tokenizer) if on else None


def sampling_chat(data: DataConfig) -> bool | str:
    """How sampling stages render a prompt (`generation.sample.format_prompts`): False (raw text) when chat is off,
    True for the tokenizer's template, or the text of the Jinja file `data.chat_template` names."""
    if not data.chat:
        return False
    if data.chat_template in (None, "tokenizer"):
        return True
    path = Path(data.chat_template)
    if not path.is_file():
        raise DataError(f"data.chat_template: template file '{path}' does not exist")
    return path.read_text()


def tokenize_rows(rows, tokenizer, cfg: DataConfig) -> tuple[list[dict], SFTStats]:
    """Tokenise every row; a malformed row raises DataError naming its index and field."""
    fmt = detect_format(cfg, [c for c in rows.column_names if c != ROW_INDEX])
    # Messages need a template: the tokenizer's unless the config names one.
    template = chat_template_for(cfg, tokenizer, messages=fmt == "messages")
    stats, examples = SFTStats(), []
    for i, row in enumerate(rows):
        ids, mask = _encode(fmt, row, row.get(ROW_INDEX, i), tokenizer, cfg, template)
        stats.rows += 1
        ex = _truncate(ids, mask, cfg.max_length, stats)
        if ex is not None:
            examples.append(ex)
    return examples, stats


def _encode(fmt, row, i, tokenizer, cfg, template) -> tuple[list[int], list[bool]]:
    if fmt == "text":
        ids = tokenizer(string_field(row, cfg.text_field, i), add_special_tokens=False)["input_ids"]
        ids = ids + [tokenizer.eos_token_id]
        return ids, [True] * len(ids)
    if fmt == "messages":
        return encode_messages(message_list(row, cfg.messages_field, i), tokenizer, template, cfg.completion_only, i)
    prompt, response = string_field(row, cfg.prompt_field, i), string_field(row, cfg.response_field, i)
    return encode_prompt_response(prompt, response, tokenizer, template, cfg.completion_only, i)


def encode_prompt_response(prompt: str, response: str, tokenizer, template, completion_only: bool, row_index: int
                           ) -> tuple[list[int], list[bool]]:
    """One (prompt, response) turn: through the chat template when one is set, else prompt + response + EOS."""
    if template is not None:
        msgs = [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]
        return encode_messages(msgs, tokenizer, template, completion_only, row_index)
    p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    r = tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return p + r, [not completion_only] * len(p) + [True] * len(r)


def encode_messages(messages, tokenizer, template, completion_only, row_index, last_turn_only: bool = False
                    ) -> tuple[list[int], list[bool]]:
    """Render with the template; train on assistant turns only (found by rendering each prefix), or only on the
    final assistant turn when `last_turn_only` (preference data: earlier turns are part of the prompt)."""
    def render(msgs, gen_prompt=False):
        return tokenizer.apply_chat_template(msgs, chat_template=template, tokenize=False,
                                             add_generation_prompt=gen_prompt)

    full = render(messages)
    spans = []
    for k, msg in enumerate(messages):
        if msg["role"] != "assistant":
            continue
        through = render(messages[: k + 1])
        # A conversation that opens with the assistant has no prefix to render (transformers refuses an empty one).
        start, end = len(render(messages[:k], gen_prompt=True)) if k else 0, len(through)
        if not full.startswith(through):
            raise DataError(f"row {row_index}: the chat template does not render prefixes consistently; "
                            "completion-only masking needs a template whose turns append")
        spans.append((start, end))
    spans = spans[-1:] if last_turn_only else spans
    enc = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    mask = [(not completion_only) or any(s <= a < e for s, e in spans) for a, _ in enc["offset_mapping"]]
    return enc["input_ids"], mask


def _truncate(ids, mask, max_length, stats: SFTStats) -> dict | None:
    if len(ids) > max_length:
        stats.truncated += 1
        ids, mask = ids[:max_length], mask[:max_length]
    # The first token is never predicted, so a target only at position 0 trains nothing.
    if not any(mask[1:]):
        stats.dropped_no_target += 1
        return None
    stats.kept += 1
    stats.tokens += len(ids)
    stats.target_tokens += sum(mask[1:])
    return {"input_ids": ids, "labels": [t if m else IGNORE for t, m in zip(ids, mask, strict=True)]}


def string_field(row: dict, name: str, i: int) -> str:
    if name not in row or row[name] is None:
        raise DataError(f"row {i}: field '{name}' is missing")
    if not isinstance(row[name], str):
        raise DataError(f"row {i}: field '{name}' must be a string, got {type(row[name]).__name__}")
    return row[name]


def message_list(row: dict, name: str, i: int) -> list[dict]:
    msgs = row.get(name)
    if not isinstance(msgs, list) or not msgs:
        got = "an empty list" if isinstance(msgs, list) else type(msgs).__name__
        raise DataError(f"row {i}: field '{name}' must be a non-empty list of messages, got {got}")
    for j, m in enumerate(msgs):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise DataError(f"row {i}: field '{name}[{j}]' must have string 'role' and 'content'")
    return [{"role": m["role"], "content": m["content"]} for m in msgs]


def fingerprint(examples: list[dict]) -> str:
    """A content hash of tokenised examples (every field, in key order): the data identity in the manifest."""
    h = hashlib.sha256()
    for ex in examples:
        for key in sorted(ex):
            h.update(f"{key}={ex[key]};".encode())
    return h.hexdigest()[:16]
