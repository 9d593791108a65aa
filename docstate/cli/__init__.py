"""The ``docstate`` command line."""

from docstate.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
