"""Preference data: rows in the usual Hub layouts → (prompt, chosen, rejected) pairs → reward-model inputs.

Accepted layouts (field names from `data.prompt_field/chosen_field/rejected_field`):
- strings: `prompt`, `chosen`, `rejected` (what `alignlab pairs` writes);
- message lists: `chosen` and `rejected` are conversations ending in the assistant reply and sharing the
  turns before it, as in `ultrafeedback_binarized` (a `prompt` column is then optional);
- labelled texts (study B): a label column; pairs are positive × negative texts (`rm.label_field`).
A malformed row raises DataError naming its index and field.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

from alignlab.config.data import DataConfig
from alignlab.config.offline import RMConfig
from alignlab.data.sft import (
    chat_template_for,
    detect_format,
    encode_messages,
    encode_prompt_response,
    message_list,
    string_field,
)
from alignlab.data.sources import ROW_INDEX, DataError

SCORE_FIELDS = (("chosen_score", "rejected_score"), ("score_chosen", "score_rejected"))


@dataclass
class Pair:
    """One comparison. Each side is (prompt, reply); prompts are strings or message lists."""

    chosen_prompt: str | list[dict]
    chosen: str
    rejected_prompt: str | list[dict]
    rejected: str
    score_gap: float | None = None


@dataclass
class PairStats:
    pairs: int = 0
    truncated: int = 0
    dropped_identical: int = 0
    kept: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def read_pairs(rows, cfg: DataConfig) -> list[Pair]:
    """Preference rows → pairs (validated)."""
    return [_row_pair(row, row.get(ROW_INDEX, i), cfg) for i, row in enumerate(rows)]


def _row_pair(row: dict, i: int, cfg: DataConfig) -> Pair:
    chosen, rejected = _side(row, cfg.chosen_field, i), _side(row, cfg.rejected_field, i)
    if isinstance(chosen, list) != isinstance(rejected, list):
        raise DataError(f"row {i}: fields '{cfg.chosen_field}' and '{cfg.rejected_field}' must both be strings "
                        "or both be message lists")
    gap = _score_gap(row)
    if isinstance(chosen, str):
        prompt = string_field(row, cfg.prompt_field, i)
        return Pair(prompt, chosen, prompt, rejected, gap)
    if chosen[:-1] != rejected[:-1]:
        raise DataError(f"row {i}: '{cfg.chosen_field}' and '{cfg.rejected_field}' must share the turns before "
                        "the final reply")
    prompt = chosen[:-1] or [{"role": "user", "content": string_field(row, cfg.prompt_field, i)}]
    return Pair(prompt, chosen[-1]["content"], prompt, rejected[-1]["content"], gap)


def _side(row: dict, name: str, i: int) -> str | list[dict]:
    """One response: a string, or a validated message list ending in the assistant reply."""
    if isinstance(row.get(name), str):
        return row[name]
    if row.get(name) is None:
        raise DataError(f"row {i}: field '{name}' is missing")
    if not isinstance(row[name], list):
        raise DataError(f"row {i}: field '{name}' must be a string or a list of messages, got "
                        f"{type(row[name]).__name__}")
    messages = message_list(row, name, i)
    if messages[-1]["role"] != "assistant":
        raise DataError(f"row {i}: field '{name}' must end with an assistant message")
    return messages


def _score_gap(row: dict) -> float | None:
    for c, r in SCORE_FIELDS:
        if isinstance(row.get(c), int | float) and isinstance(row.get(r), int | float):
            return float(row[c]) - float(row[r])
    return None


def labelled_pairs(rows, data: DataConfig, rm: RMConfig, seed: int) -> list[Pair]:
    """Study B: every positive text against every negative text, sampled down to `rm.max_pairs`."""
    fmt = detect_format(data, [c for c in rows.column_names if c not in (ROW_INDEX, rm.label_field)])
    pos, neg = [], []
    for i, row in enumerate(rows):
        idx = row.get(ROW_INDEX, i)
        if row.get(rm.label_field) is None:
            raise DataError(f"row {idx}: field '{rm.label_field}' is missing")
        side = (("", string_field(row, data.text_field, idx)) if fmt == "text"
                else (string_field(row, data.prompt_field, idx), string_field(row, data.response_field, idx)))
        label = str(row[rm.label_field])
        if label == str(rm.positive_label):
            pos.append(side)
        elif label == str(rm.negative_label):
            neg.append(side)
    if not pos or not neg:
        raise DataError(f"labelled texts: found {len(pos)} with {rm.label_field}={rm.positive_label!r} and "
                        f"{len(neg)} with {rm.label_field}={rm.negative_label!r}; both must be non-empty")
    total = len(pos) * len(neg)
    picks = random.Random(seed).sample(range(total), min(rm.max_pairs, total))
    return [Pair(*pos[k // len(neg)], *neg[k % len(neg)]) for k in picks]


def _with_reply(prompt: str | list[dict], reply: str, tokenizer, template: str | None) -> list[dict]:
    """The prompt (a string becomes a user turn) followed by the reply as the assistant turn."""
    if template is None and not tokenizer.chat_template:
        raise DataError("chat-formatted preference data needs a chat template: the tokenizer has none, "
                        "so set data.chat_template to a Jinja file")
    msgs = prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}]
    return msgs + [{"role": "assistant", "content": reply}]


def render_for_reward(prompt: str | list[dict], reply: str, tokenizer, template: str | None,
                      chat: bool = False) -> tuple[str, bool]:
    """The text a reward model reads, and whether special tokens still need adding.

    Message prompts (or any prompt in chat mode or with a template set) are rendered with the template
    (None: the tokenizer's), which holds its own special tokens; plain prompts are joined with the reply.
    """
    if isinstance(prompt, list) or chat or template is not None:
        text = tokenizer.apply_chat_template(_with_reply(prompt, reply, tokenizer, template), chat_template=template,
                                             tokenize=False)
        return text, False
    return prompt + reply, True


def encode_for_reward(texts: list[tuple[str, bool]], tokenizer, max_length: int) -> tuple[list[list[int]], int]:
    """Token ids of each text, cut from the left past `max_length` (the reply is what is judged); truncated count."""
    side = tokenizer.truncation_side
    tokenizer.truncation_side = "left"
    try:
        out, truncated = [], 0
        for text, special in texts:
            full = tokenizer(text, add_special_tokens=special)["input_ids"]
            if len(full) > max_length:
                truncated += 1
                full = tokenizer(text, add_special_tokens=special, truncation=True, max_length=max_length)["input_ids"]
            out.append(full)
        return out, truncated
    finally:
        tokenizer.truncation_side = side


def reward_examples(pairs: list[Pair], tokenizer, data: DataConfig) -> tuple[list[dict], PairStats]:
    """Pairs → {"chosen_ids", "rejected_ids", "score_gap"}; pairs identical after truncation are dropped."""
    template = chat_template_for(data, tokenizer)
    texts = []
    for p in pairs:
        texts += [render_for_reward(p.chosen_prompt, p.chosen, tokenizer, template),
                  render_for_reward(p.rejected_prompt, p.rejected, tokenizer, template)]
    ids, truncated = encode_for_reward(texts, tokenizer, data.max_length)
    stats, examples = PairStats(pairs=len(pairs), truncated=truncated), []
    for k, p in enumerate(pairs):
        chosen, rejected = ids[2 * k], ids[2 * k + 1]
        if chosen == rejected:
            stats.dropped_identical += 1
            continue
        examples.append({"chosen_ids": chosen, "rejected_ids": rejected,
                         "score_gap": p.score_gap if p.score_gap is not None else 0.0})
    stats.kept = len(examples)
    return examples, stats


@dataclass
class PolicyPairStats:
    pairs: int = 0
    prompt_truncated: int = 0
    response_truncated: int = 0
    dropped_no_response: int = 0
    dropped_identical: int = 0
    kept: int = 0
    response_tokens: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def encode_reply(prompt: str | list[dict], reply: str, tokenizer, template: str | None, row: int
                 ) -> tuple[list[int], list[bool]]:
    """(token ids, reply mask) of prompt + reply, rendered as SFT renders them; for message prompts only the
    final (assistant) turn is the reply."""
    if isinstance(prompt, list):
        return encode_messages(_with_reply(prompt, reply, tokenizer, template), tokenizer, template, True, row,
                               last_turn_only=True)
    return encode_prompt_response(prompt, reply, tokenizer, template, True, row)


def _fit(ids: list[int], mask: list[bool], data: DataConfig, stats: PolicyPairStats) -> tuple[list[int], list[bool]]:
    """Cut the prompt from the left to max_prompt_length, then the whole from the right to max_length."""
    prompt_len = mask.index(True) if True in mask else len(mask)
    if data.max_prompt_length and prompt_len > data.max_prompt_length:
        cut = prompt_len - data.max_prompt_length
        ids, mask = ids[cut:], mask[cut:]
        stats.prompt_truncated += 1
    if len(ids) > data.max_length:
        ids, mask = ids[:data.max_length], mask[:data.max_length]
        stats.response_truncated += 1
    return ids, mask


def policy_examples(pairs: list[Pair], tokenizer, data: DataConfig) -> tuple[list[dict], PolicyPairStats]:
    """Pairs → {"chosen_ids", "chosen_mask", "rejected_ids", "rejected_mask"} for preference optimisation.

    A mask marks reply tokens (the only ones whose log-probs count). Pairs left with an empty reply after
    truncation, or with identical sides, are dropped and counted.
    """
    template = chat_template_for(data, tokenizer)
    stats, examples = PolicyPairStats(pairs=len(pairs)), []
    for k, p in enumerate(pairs):
        chosen = _fit(*encode_reply(p.chosen_prompt, p.chosen, tokenizer, template, k), data, stats)
        rejected = _fit(*encode_reply(p.rejected_prompt, p.rejected, tokenizer, template, k), data, stats)
        # Position 0 is never predicted, so a reply must have a token after it.
        if not any(chosen[1][1:]) or not any(rejected[1][1:]):
            stats.dropped_no_response += 1
            continue
        if chosen[0] == rejected[0]:
            stats.dropped_identical += 1
            continue
        examples.append({"chosen_ids": chosen[0], "chosen_mask": [int(m) for m in chosen[1]],
                         "rejected_ids": rejected[0], "rejected_mask": [int(m) for m in rejected[1]]})
        stats.response_tokens += sum(chosen[1][1:]) + sum(rejected[1][1:])
    stats.kept = len(examples)
    return examples, stats
