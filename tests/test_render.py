"""The command line's tables line up as a terminal shows them."""

from __future__ import annotations

from docstate.cli.render import table, width


def test_wide_and_combining_characters_take_their_columns() -> None:
    assert width("日本語.txt") == 10 and width("résumé.txt") == 10
    assert width("e\u0301") == 1  # e and a combining acute accent: one column
    lines = table(
        ("ID", "FILE", "STATE"),
        [("a", "日本語.txt", "s1"), ("bb", "plain.txt", "s2"), ("c", "e\u0301.md", "s3")],
    ).splitlines()
    # the third column starts at the same terminal column on every line
    thirds = ["STATE", "s1", "s2", "s3"]
    starts = {width(line[: line.index(third)]) for line, third in zip(lines, thirds, strict=True)}
    assert len(starts) == 1, lines
