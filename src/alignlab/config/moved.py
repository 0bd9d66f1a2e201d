"""Config keys that moved, and where to.

A user's YAML file or `key=value` override that still spells an old key fails with one line naming the new key
(`check_moved`). A config written by an earlier version (a run's config.yaml, a sweep folder's sweep.yaml) is
moved to the new keys when it is read back (`migrate_tree`, `migrate_override`), so old runs still resume, report
and evaluate.
"""

from __future__ import annotations

from alignlab.config.errors import ConfigError

MOVED: dict[str, str] = {
    "loss.chunk_tokens": "model.chunk_tokens",
    "loss.disable_dropout": "model.disable_dropout",
    "rl.eval_prompts": "eval.in_training_prompts",
    "rl.eval_k": "eval.in_training_k",
    "eval.samples_per_prompt": "eval.k",
    "pairs.samples_per_prompt": "pairs.k",
    "warp.eval_prompts": "eval.prompts",
    "warp.eval_k": "eval.k",
    "rl.gold_scorer": "eval.gold",
    "rl.chat": "data.chat",
    "pairs.chat": "data.chat",
}
"""Old dotted key → its new key (same meaning, same values). Moved in this order: where two old keys of a saved
config meet in one new key (eval.samples_per_prompt and warp.eval_k), the later one wins, so a WARP run that
resumes keeps evaluating as it did."""

REMOVED: dict[str, str] = {
    "generation.num_return_sequences": "replies per prompt belong to the verb: `alignlab generate -k N`, rl.k, "
                                       "pairs.k, eval.k, eval.in_training_k",
}
"""Old dotted key → what replaces it, for keys with no one new place (dropped when an old config is read)."""


def _pop(tree: dict, key: str) -> tuple[bool, object]:
    section, name = key.split(".")
    node = tree.get(section)
    if isinstance(node, dict) and name in node:
        return True, node.pop(name)
    return False, None


def _has(tree: dict, key: str) -> bool:
    section, name = key.split(".")
    node = tree.get(section)
    return isinstance(node, dict) and name in node


def check_moved(tree: dict) -> None:
    """Raise a one-line ConfigError for the first old key in a config mapping."""
    for old, new in MOVED.items():
        if _has(tree, old):
            raise ConfigError(f"config key '{old}' has moved: use {new}")
    for old, why in REMOVED.items():
        if _has(tree, old):
            raise ConfigError(f"config key '{old}' was removed: {why}")


def migrate_tree(tree: dict) -> dict:
    """A config mapping written by an earlier version, with every old key moved to its new place (in place)."""
    for old, new in MOVED.items():
        found, value = _pop(tree, old)
        if found:
            section, name = new.split(".")
            tree.setdefault(section, {})[name] = value
    for old in REMOVED:
        _pop(tree, old)
    return tree


def migrate_override(text: str) -> str:
    """`[STAGE:]old.key=value` → `[STAGE:]new.key=value`; any other text unchanged."""
    head, eq, value = text.partition("=")
    stage, sep, key = head.rpartition(":")
    new = MOVED.get(key.strip())
    return f"{stage}{sep}{new}{eq}{value}" if eq and new else text


def migrate_record(node):
    """Every override string and every dotted-key mapping key of a saved sweep record, migrated."""
    if isinstance(node, str):
        return migrate_override(node)
    if isinstance(node, list):
        return [migrate_record(v) for v in node]
    if isinstance(node, dict):
        return {MOVED.get(k, k) if isinstance(k, str) else k: migrate_record(v) for k, v in node.items()}
    return node
