"""Everything the client can run into, as :class:`~docstate.errors.DocStateError`.

Applications catch one type: pydantic's ``ValidationError`` (bad input), temporalio's
``RPCError`` (Temporal), botocore's ``ClientError`` (S3), database errors and plain
``TimeoutError`` all come out as DocState errors that say what to do.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError
from pydantic_core import PydanticSerializationError
from sqlalchemy.exc import SQLAlchemyError
from temporalio.service import RPCError, RPCStatusCode

from docstate.errors import (
    BlobStoreError,
    DocStateError,
    InvalidInput,
    TemporalUnavailable,
    WaitTimeout,
)
from docstate.projection.failures import describe


def validation_line(err: ValidationError) -> str:
    """A pydantic error as one line: each field, what is wrong with it."""
    parts = []
    for error in err.errors():
        field = ".".join(str(p) for p in error["loc"]) or err.title
        parts.append(f"{field}: {error['msg']}")
    return "; ".join(parts)


def translate(err: BaseException, *, database_url: str, temporal_address: str) -> BaseException:
    """The DocState error ``err`` stands for (``err`` itself when there is none)."""
    if isinstance(err, DocStateError):
        return err
    if isinstance(err, ValidationError):
        return InvalidInput(f"invalid input: {validation_line(err)}")
    if isinstance(err, PydanticSerializationError):
        return InvalidInput(f"a value cannot travel as JSON: {err}")
    if isinstance(err, RPCError):
        if err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            return TemporalUnavailable(
                f"Temporal at {temporal_address} did not answer ({err.message}); is it "
                "running? Check DOCSTATE_TEMPORAL_ADDRESS"
            )
        if "no mapping defined for search attribute" in err.message:
            # A server DocState did not start (a plain `temporal server start-dev`, a
            # new namespace): its search attributes were never registered. Unavailable
            # (the API's 503), not the caller's mistake.
            return TemporalUnavailable(
                f"Temporal at {temporal_address} refused: {err.message}; run `docstate "
                "setup` once for this namespace (it registers DocType, DocState, DocStatus)"
            )
        return TemporalUnavailable(f"Temporal at {temporal_address} refused: {err.message}")
    if isinstance(err, ClientError | BotoCoreError):
        return BlobStoreError(f"the blob store refused: {err}")
    if isinstance(err, SQLAlchemyError | OSError):
        return describe(err, database_url) or err
    if isinstance(err, TimeoutError):
        return WaitTimeout(str(err) or "timed out")
    return err


class ErrorBoundary:
    """``async with boundary:`` re-raises what escapes the block as a DocState error."""

    def __init__(self, database_url: str, temporal_address: str) -> None:
        self.database_url = database_url
        self.temporal_address = temporal_address

    @contextlib.asynccontextmanager
    async def __call__(self) -> AsyncIterator[None]:
        try:
            yield
        except Exception as err:
            mapped = translate(
                err, database_url=self.database_url, temporal_address=self.temporal_address
            )
            if mapped is err:
                raise
            raise mapped from err
