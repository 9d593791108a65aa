"""The command line's tables line up as a terminal shows them; a line stays one line."""

from __future__ import annotations

from datetime import UTC, datetime

from docstate.cli.render import as_json, document_details, printable, table, width
from docstate.document import Status
from docstate.projection.records import DocumentRecord


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


def test_a_name_with_a_newline_stays_on_one_line_and_keeps_its_spaces() -> None:
    assert printable("odd/line\nbreak\t.txt") == "odd/line\\nbreak\\t.txt"
    assert printable("two  spaces, 日本語 é.txt") == "two  spaces, 日本語 é.txt"


def test_metadata_is_shown_as_written() -> None:
    now = datetime.now(UTC)
    record = DocumentRecord(
        id="größe-1",
        type="file",
        state="s1",
        status=Status.RUNNING,
        parent_id=None,
        root_id="größe-1",
        workflow_id=None,
        run_id=None,
        attempt=1,
        error=None,
        content_ref=None,
        metadata={"title": "Größe 日本語", "line": "a\nb"},
        created_at=now,
        updated_at=now,
        version=1,
    )
    details = document_details(record)
    # non-ASCII as it is; a newline inside a value still escaped, so one line each
    assert 'metadata:  {"line": "a\\nb", "title": "Größe 日本語"}' in details.splitlines()
    assert '"title": "Größe 日本語"' in as_json([record])
