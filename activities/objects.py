"""Operations of the ``object`` pipeline (``workflows/objects.py``): JSON objects
validated, transformed, enriched, analysed and exported."""

from __future__ import annotations

import json
import re
from typing import Any

from activities.text import text_of
from docstate import Document, PermanentError


def _load(doc: Document) -> dict[str, Any]:
    try:
        data = json.loads(text_of(doc))
    except json.JSONDecodeError as err:
        raise PermanentError(f"not JSON: {err}") from err
    if not isinstance(data, dict):
        raise PermanentError(f"not a JSON object but a {type(data).__name__}")
    return data


def _save(doc: Document, data: dict[str, Any], **metadata: Any) -> Document:
    return doc.with_content(json.dumps(data, sort_keys=True), **metadata)


def validate(doc: Document) -> Document:
    """A JSON object with an `id`."""
    data = _load(doc)
    if "id" not in data:
        raise PermanentError("the object has no 'id'")
    return doc.model_copy(update={"metadata": {**doc.metadata, "valid": True}})


def transform(doc: Document) -> Document:
    """Keys in snake_case."""
    snake = {re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): v for k, v in _load(doc).items()}
    return _save(doc, snake)


def enrich(doc: Document) -> Document:
    """Derived fields: how many fields, which are numbers."""
    data = _load(doc)
    numbers = sorted(k for k, v in data.items() if isinstance(v, int | float))
    return _save(doc, {**data, "field_count": len(data), "numeric_fields": numbers})


def analyze(doc: Document) -> Document:
    """Sum and mean of the numeric fields, into metadata."""
    data = _load(doc)
    values = [data[k] for k in data.get("numeric_fields", [])]
    total = sum(values)
    return doc.model_copy(
        update={
            "metadata": {
                **doc.metadata,
                "total": total,
                "mean": total / len(values) if values else None,
            }
        }
    )


def export(doc: Document) -> Document:
    """One `key=value` line per field: the format the downstream system reads."""
    lines = [f"{k}={json.dumps(v)}" for k, v in sorted(_load(doc).items())]
    return doc.with_content("\n".join(lines) + "\n", exported=True)
