"""Load a config: YAML preset, then `a.b=value` overrides, then validation into `Config`."""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from alignlab.config.errors import ConfigError, did_you_mean
from alignlab.config.moved import check_moved, migrate_tree
from alignlab.config.presets import resolve_preset
from alignlab.config.schema import Config


def parse_override(text: str) -> tuple[list[str], Any]:
    """`optimizer.lr=1e-4` → (['optimizer', 'lr'], 0.0001). Values are parsed as YAML scalars/lists."""
    if "=" not in text:
        raise ConfigError(f"override '{text}' must look like key.path=value")
    key, raw = text.split("=", 1)
    path = [p for p in key.strip().split(".") if p]
    if not path:
        raise ConfigError(f"override '{text}' has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return path, value


def apply_override(tree: dict, path: list[str], value: Any) -> None:
    """Set `tree[path[0]][path[1]]... = value`, creating sections; unknown keys are left to validation."""
    node = tree
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[path[-1]] = value


def read_yaml(path: str | Path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file '{p}' does not exist")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file '{p}' is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file '{p}' must hold a mapping at the top level")
    return data


def read_preset(path: str | Path, seen: tuple[str, ...] = ()) -> dict:
    """A YAML config; `extends: OTHER` (a file or packaged preset) is read first and this file merged over it."""
    data = read_yaml(resolve_preset(path))
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if str(parent) in seen or str(parent) == str(path):
        raise ConfigError(f"config '{path}': `extends` forms a cycle through '{parent}'")
    return _deep_merge(read_preset(parent, (*seen, str(path))), data)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None,
                base: dict | None = None, saved: bool = False) -> Config:
    """Resolve a config from an optional YAML file, an optional base mapping and CLI overrides.

    `saved`: the file is a config an earlier run wrote (its config.yaml): keys that have moved since are moved
    (`config/moved.py`). Otherwise an old key is an error that names the new one.
    """
    tree: dict = dict(base or {})
    if path is not None:
        tree = _deep_merge(tree, migrate_tree(read_preset(path)) if saved else read_preset(path))
    for item in overrides or []:
        apply_override(tree, *parse_override(item))
    check_moved(tree)
    try:
        return Config.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None


def _deep_merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def format_validation_error(exc: ValidationError, model: type[BaseModel] = Config) -> str:
    """One line: the first bad field, its value and what is allowed (+ a count of further errors); `model` is the
    schema that was validated (its fields are listed for an unknown key)."""
    errors = exc.errors(include_url=False)
    err = errors[0]
    loc = [str(p) for p in err["loc"]]
    field = ".".join(loc) or "config"
    more = f" (+{len(errors) - 1} more error{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    if err["type"] == "extra_forbidden":
        known = _known_fields(model, loc[:-1])
        return f"unknown config field '{field}'{did_you_mean(loc[-1], known)}; known here: {', '.join(known)}{more}"
    value = err.get("input")
    msg = err["msg"]
    if err["type"] == "literal_error":
        allowed = [a.strip(" '") for a in err["ctx"]["expected"].replace(" or ", ", ").split(",")]
        msg += did_you_mean(value, allowed)
    return f"invalid value for {field}: {value!r}: {msg}{more}"


def _known_fields(model: type[BaseModel], path: list[str]) -> list[str]:
    for part in path:
        field = model.model_fields.get(part)
        ann = field.annotation if field else None
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return []
        model = ann
    return list(model.model_fields)


def dump_config(cfg: Config) -> str:
    """The resolved config as YAML, in schema order."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)


def explain_config(model: type[BaseModel] = Config, prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(dotted key, type, default, description) for every leaf field: the reference shown by
    `config show --explain` (the default as it would be written in YAML)."""
    rows: list[tuple[str, str, str, str]] = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            rows += explain_config(ann, f"{prefix}{name}.")
        else:
            default = field.get_default(call_default_factory=True)
            rows.append((f"{prefix}{name}", _type_name(ann), yaml_value(default),
                         " ".join((field.description or "").split())))
    return rows


def yaml_value(value) -> str:
    """A value as one line of YAML flow style (`null`, `true`, `[a, b]`, `1.0e-05`)."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, tuple):
        value = list(value)
    return yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix("...").strip()


def _type_name(ann) -> str:
    """`int | None`, `list[str]`, `all | best_worst`: short enough for one line of the reference."""
    args = typing.get_args(ann)
    if typing.get_origin(ann) is typing.Literal:
        return " | ".join(str(a) for a in args)
    if ann is type(None):
        return "None"
    if isinstance(ann, type) and not args:
        return ann.__name__
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if args:
        return f"{typing.get_origin(ann).__name__}[{', '.join(_type_name(a) for a in args)}]"
    return str(ann).replace("typing.", "")


RESUME_OVERRIDABLE = ("train.max_steps", "train.epochs", "rl.iterations", "train.log_every", "train.eval_every",
                      "train.save_every", "train.keep_checkpoints", "train.eval_each_epoch", "train.eval_train_samples",
                      "logging.", "eval.", "run_dir", "output_dir", "name")
"""Fields a resumed run may change: its length, its place and name, and its evaluation, logging and checkpoint
settings. None of them changes a step already taken (a longer run re-spreads the rest of the learning-rate
schedule). Any other change needs `--accept-config-change` and is recorded in the manifest."""


def flat_config(cfg: Config) -> dict[str, str | int | float | bool]:
    """The config as flat `section.field` → scalar (lists and mappings as JSON text, None as "null"): the form
    TensorBoard's hparams, wandb's config and mlflow's params all take, and what a checkpoint records."""
    flat: dict[str, str | int | float | bool] = {}

    def walk(prefix: str, node) -> None:
        if isinstance(node, dict) and node:
            for k, v in node.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(node, (bool, int, float, str)):
            flat[prefix] = node
        else:
            flat[prefix] = "null" if node is None else json.dumps(node, default=str)

    walk("", cfg.model_dump(mode="json"))
    return flat
