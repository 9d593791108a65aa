"""The API's JSON errors, raised again as the embedded client's exceptions."""

from __future__ import annotations

from typing import Any

import httpx

from docstate.errors import (
    ApiError,
    ContentError,
    DocStateError,
    DocumentNotFound,
    DocumentNotStarted,
    DuplicateDocument,
    InvalidTransition,
    NoWorker,
    TemporalUnavailable,
    UnknownDocumentType,
    UnknownOperation,
)


def error_of(status: int, code: str, message: str, details: dict[str, Any]) -> DocStateError:
    """The exception the embedded client raises for the same refusal."""
    try:
        match code:
            case "not_found" if "task_queue" in details:
                return DocumentNotStarted(str(details["document_id"]), str(details["task_queue"]))
            case "not_found" if "document_id" in details:
                return DocumentNotFound(str(details["document_id"]))
            case "unknown_type":
                return UnknownDocumentType(str(details["type"]), list(details["known"]))
            case "unknown_operation":
                return UnknownOperation(
                    str(details["pipeline"]), list(details["unknown"]), list(details["known"])
                )
            case "duplicate":
                return DuplicateDocument(str(details["document_id"]))
            case "invalid_state":
                status_now = details.get("status")
                return InvalidTransition(message, str(status_now) if status_now else None)
            case "content":
                return ContentError(message)
            case "unavailable":
                return TemporalUnavailable(message)
            case "no_worker":
                queue = details.get("task_queue")
                return NoWorker(
                    message,
                    task_queue=str(queue) if queue else None,
                    sent=details.get("sent") is True,
                )
    except (KeyError, TypeError):
        pass  # details not as expected: the generic error below still says it all
    return ApiError(status, code, message, details)


async def raise_for_error(response: httpx.Response) -> None:
    """Raise the DocState exception of an error response (nothing for a success)."""
    if response.status_code < 400:
        return
    await response.aread()
    try:
        error = response.json()["error"]
        code, message = str(error["code"]), str(error["message"])
        details = dict(error.get("details") or {})
    except (ValueError, KeyError, TypeError):
        code, message, details = "http_error", response.text[:500], {}
    raise error_of(response.status_code, code, message, details)
