"""Config errors that name the field, the value and what is allowed, in one line."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from pydantic_core import PydanticCustomError


class ConfigError(ValueError):
    """A bad config: the message is one readable line meant for the terminal."""


def did_you_mean(value: object, choices: Sequence[str]) -> str:
    """A ` (did you mean 'x'?)` suffix when `value` is a close misspelling of one of `choices`."""
    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def allowed_value_error(value: object, allowed: Sequence[str]) -> PydanticCustomError:
    """A validation error listing the allowed values, for validators with a dynamic choice set."""
    shown = ", ".join(allowed[:12]) + (", …" if len(allowed) > 12 else "")
    return PydanticCustomError(
        "not_allowed", "must be one of: {allowed}{hint}", {"allowed": shown, "hint": did_you_mean(value, allowed)}
    )
