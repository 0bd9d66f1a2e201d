"""Typed configuration: schema, YAML presets, `key=value` overrides and one-line errors."""

from alignlab.config.errors import ConfigError
from alignlab.config.loader import dump_config, load_config
from alignlab.config.schema import Config

__all__ = ["Config", "ConfigError", "dump_config", "load_config"]
