"""Durations as people write them in settings: ``30``, ``30s``, ``5m``, ``1h``, ``PT30S``."""

from __future__ import annotations

import re
from datetime import timedelta

from pydantic import TypeAdapter, ValidationError

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_SHORT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$", re.IGNORECASE)
_ISO = TypeAdapter(timedelta)

DURATION_FORMS = "seconds (30), a number with a unit (30s, 5m, 1h) or ISO-8601 (PT30S)"


def parse_duration(value: object) -> timedelta:
    """A :class:`timedelta` from seconds, ``<number><unit>`` or ISO-8601.

    Raises:
        ValueError: naming the accepted forms, when ``value`` is none of them.
    """
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        short = _SHORT.match(value)
        if short:
            number, unit = short.groups()
            return timedelta(seconds=float(number) * _UNITS[(unit or "s").lower()])
        if value.strip().upper().startswith("P"):
            try:
                return _ISO.validate_python(value.strip())
            except ValidationError:
                pass
    raise ValueError(f"{value!r} is not a duration: use {DURATION_FORMS}")


def shown_seconds(seconds: float | None) -> str:
    """A wait's limit as a message shows it: ``7.5s``, not ``7.500000001``."""
    return "no limit" if seconds is None else f"{round(seconds, 2):g}s"
