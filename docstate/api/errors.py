"""One JSON shape for every error: ``{"error": {"code", "message", "details"}}``.

Each :class:`~docstate.DocStateError` maps to one status and code, and its details carry
what the HTTP client needs to raise the same exception again on its side.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from temporalio.service import RPCError

from docstate.errors import (
    ApiError,
    ConfigurationError,
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

log = logging.getLogger("docstate.api")


class ErrorBody(BaseModel):
    """What went wrong."""

    code: str = Field(examples=["not_found"])
    message: str = Field(examples=["document 'report-1' not found"])
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorResponse(BaseModel):
    """Every error the API returns."""

    error: ErrorBody


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> JSONResponse:
    body = ErrorResponse(error=ErrorBody(code=code, message=message, details=details or {}))
    return JSONResponse(body.model_dump(mode="json"), status_code=status)


def describe(err: DocStateError) -> tuple[int, str, dict[str, Any]]:
    """The status, code and details of ``err``."""
    match err:
        case ApiError():
            return err.status, err.code, err.details
        case DocumentNotStarted():  # still not_found: nothing to read yet
            return 404, "not_found", {"document_id": err.document_id, "task_queue": err.task_queue}
        case DocumentNotFound():
            return 404, "not_found", {"document_id": err.document_id}
        case UnknownDocumentType():
            return 422, "unknown_type", {"type": err.name, "known": err.known}
        case UnknownOperation():
            details = {"pipeline": err.pipeline, "unknown": err.unknown, "known": err.known}
            return 422, "unknown_operation", details
        case DuplicateDocument():
            return 409, "duplicate", {"document_id": err.document_id}
        case InvalidTransition():
            return 409, "invalid_state", {}
        case ContentError():
            return 422, "content", {}
        case ConfigurationError():
            return 422, "bad_request", {}
        case TemporalUnavailable():
            return 503, "unavailable", {}
        case NoWorker():
            return 503, "no_worker", {"task_queue": err.task_queue, "sent": err.sent}
    return 400, "bad_request", {}


RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in {
        401: "No valid X-Api-Key",
        404: "Unknown id",
        409: "Not possible in the document's current status",
        413: "Upload too large",
        422: "Malformed request, unknown type or operation",
        503: "Temporal or the database does not answer, or no worker runs to take an action",
    }.items()
}


def install(app: FastAPI) -> None:
    """Route every error through :func:`error_response`."""

    async def docstate_error(request: Request, err: Exception) -> JSONResponse:
        assert isinstance(err, DocStateError)
        status, code, details = describe(err)
        return error_response(status, code, str(err), details)

    async def validation_error(request: Request, err: Exception) -> JSONResponse:
        assert isinstance(err, RequestValidationError)
        problems = [
            {"loc": [str(p) for p in e["loc"]], "msg": e["msg"], "type": e["type"]}
            for e in err.errors()
        ]
        first = problems[0] if problems else {"loc": [], "msg": "invalid request"}
        where = ".".join(first["loc"]) or "request"
        return error_response(422, "validation", f"{where}: {first['msg']}", {"errors": problems})

    async def http_error(request: Request, err: Exception) -> JSONResponse:
        assert isinstance(err, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(err.status_code, "http_error")
        return error_response(err.status_code, code, str(err.detail))

    async def temporal_error(request: Request, err: Exception) -> JSONResponse:
        log.warning("Temporal refused a call: %s", err)
        return error_response(503, "unavailable", f"Temporal: {err}")

    async def unexpected(request: Request, err: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal", f"internal error: {type(err).__name__}")

    app.add_exception_handler(DocStateError, docstate_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RPCError, temporal_error)
    app.add_exception_handler(Exception, unexpected)
