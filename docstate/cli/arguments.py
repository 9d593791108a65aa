"""Argument parsing that answers bad input in one line naming what is wrong."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import NoReturn, TypeVar

T = TypeVar("T")


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, then exit code 2 (argparse's usual
    answer is the whole usage block first, which buries the one line that matters)."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")
        sys.exit(2)


def _parsed(text: str, parse: Callable[[str], T], what: str) -> T:
    try:
        return parse(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def positive_seconds(text: str) -> float:
    """``--timeout`` and ``--interval``: seconds, more than zero."""
    value = _parsed(text, float, "a number of seconds")
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, not {text}")
    return value


def positive_count(text: str) -> int:
    """``--concurrency``, ``--limit``, ``--count``: a whole number, at least 1."""
    value = _parsed(text, int, "a whole number")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return value


def port_number(text: str) -> int:
    """A TCP port, 1 to 65535."""
    value = _parsed(text, int, "a port number")
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 1 to 65535, not {text}")
    return value


def key_value(text: str) -> str:
    """``--meta``: ``key=value`` (the value is parsed later, as JSON when it is)."""
    key, sep, _ = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not key=value")
    return text
