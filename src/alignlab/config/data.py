"""Settings of the data: the dataset and its layout, and the preference pairs `alignlab pairs` builds.

Each section is a pydantic model that rejects unknown keys; each field's docstring is its documentation (shown by
`alignlab config show --explain`). The root `Config` (`schema.py`) holds one of each.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from alignlab.config.common import MAX_TOKENS, Section


class DataConfig(Section):
    dataset: str = "builtin:reviews"
    """`builtin:reviews` (prompt/response), `builtin:reviews-chat` (messages), a Hub dataset name, a
    `save_to_disk` folder, or a local .json/.jsonl/.parquet/.csv file or folder."""
    config_name: str | None = None
    """Hub dataset configuration name."""
    train_split: str = "train"
    """Split used for training."""
    eval_split: str | None = "validation"
    """Held-out split for evaluation; None disables it. Missing in a file dataset: `eval_fraction` is held out."""
    eval_fraction: float = Field(0.05, ge=0.0, lt=1.0)
    """Fraction held out from the training split when the dataset has no `eval_split`."""
    format: Literal["auto", "prompt_response", "messages", "text"] = "auto"
    """Row layout; `auto` uses `messages` when that field exists, else prompt/response, else text."""
    prompt_field: str = "prompt"
    """Column holding the prompt."""
    response_field: str = "response"
    """Column holding the response."""
    messages_field: str = "messages"
    """Column holding a list of {role, content} messages."""
    text_field: str = "text"
    """Column holding raw text (format `text`, trained on every token)."""
    chat: bool | None = None
    """The one chat setting of every stage (SFT, RM, DPO, pairs, RL, eval, generate): render prompts as a user
    turn of the chat template (`chat_template`, else the tokenizer's). None: inherited from the run the model
    starts from (its recorded data.chat), else true for message-list data or when `chat_template` is set, else
    false. The resolved value is recorded in the run's config.yaml."""
    chat_template: str | None = None
    """The template where chat is on (and for message-list rows, always). None: the tokenizer's; `tokenizer`: the
    same; otherwise a path to a Jinja file. Setting it turns chat on unless `data.chat=false` says otherwise."""
    completion_only: bool = True
    """Train only on response (assistant) tokens; prompt tokens are masked out of the loss."""
    max_length: int = Field(256, gt=8, le=MAX_TOKENS)
    """Tokens per example; longer examples are truncated (counted), examples with no response left are dropped."""
    max_prompt_length: int | None = Field(None, gt=0, le=MAX_TOKENS)
    """Preference training: prompts longer than this lose tokens from the left (the end of the prompt is kept);
    None: only max_length applies."""
    drop_heldout_overlap: bool = False
    """Remove held-out rows that are also training rows (same content in every field); they are counted and
    reported either way."""
    max_train_samples: int | None = Field(None, gt=0)
    """Cap on training rows (after shuffling with the seed)."""
    max_eval_samples: int | None = Field(256, gt=0)
    """Cap on held-out rows."""
    chosen_field: str = "chosen"
    """Preference data: column of the preferred response (a string, or a message list ending in the reply)."""
    rejected_field: str = "rejected"
    """Preference data: column of the dispreferred response (same form as `chosen_field`)."""


class PairsConfig(Section):
    splits: list[str] = Field(default_factory=lambda: ["train", "validation"])
    """Dataset splits whose prompts are sampled; each becomes a split of the output dataset."""
    max_prompts: int | None = Field(None, gt=0)
    """Cap on prompts per split (after de-duplication, in dataset order)."""
    k: int = Field(8, ge=2)
    """Replies sampled per prompt (n)."""
    strategy: Literal["all", "best_worst", "best_random"] = "all"
    """all: every C(n,2) pair, higher score chosen (ties dropped); best_worst; best_random."""
    min_tokens: int = Field(1, ge=0)
    """Drop completions shorter than this many tokens."""
    require_sentence_end: bool = False
    """Drop completions that do not end with . ! or ? (cut-off replies)."""
    drop_duplicates: bool = True
    """Drop repeated completions of the same prompt."""
    min_gap: float = Field(0.0, ge=0)
    """Keep only pairs whose score gap (chosen - rejected) is at least this; ties (gap 0) are always dropped."""
    min_best_score: float | None = None
    """A prompt whose best kept completion scores below this yields no pairs."""
    max_rounds: int = Field(1, ge=1)
    """Sampling rounds: prompts with no valid pair are re-sampled until this many rounds, then dropped."""
