"""Connecting to Temporal the way every DocState process does."""

from __future__ import annotations

from temporalio.client import Client as TemporalClient
from temporalio.contrib.pydantic import pydantic_data_converter

from docstate.config import Settings
from docstate.errors import TemporalUnavailable


async def connect_temporal(settings: Settings) -> TemporalClient:
    """A Temporal client that carries DocState's pydantic models.

    Raises:
        TemporalUnavailable: naming the address when the server does not answer.
    """
    try:
        return await TemporalClient.connect(
            settings.temporal_address,
            namespace=settings.namespace,
            data_converter=pydantic_data_converter,
        )
    except RuntimeError as err:
        raise TemporalUnavailable(
            f"cannot reach Temporal at {settings.temporal_address} "
            f"(namespace {settings.namespace!r}): {err}"
        ) from None
