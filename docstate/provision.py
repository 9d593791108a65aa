"""Preparing a deployment once per release: the projection's schema and the search
attributes DocState's workflows publish (``docstate setup``).

Both steps are idempotent, so a one-shot ``migrate`` job can run them on every deploy.
"""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client as TemporalClient
from temporalio.service import RPCError

from docstate.errors import TemporalUnavailable
from docstate.protocol import SEARCH_ATTRIBUTES


async def register_search_attributes(temporal: TemporalClient, namespace: str) -> list[str]:
    """Add DocState's search attributes (``DocType``, ``DocState``, ``DocStatus``, all
    Keyword) to ``namespace`` where they are missing.

    Returns:
        The names it added (empty when all were there).

    Raises:
        TemporalUnavailable: when the server refuses (e.g. no operator permission).
    """
    operator = temporal.operator_service
    try:
        listed = await operator.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        missing = {
            key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
            for key in SEARCH_ATTRIBUTES
            if key.name not in listed.custom_attributes
        }
        if missing:
            await operator.add_search_attributes(
                AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
            )
    except RPCError as err:
        raise TemporalUnavailable(
            f"cannot register search attributes in namespace {namespace!r}: {err.message}"
        ) from None
    return sorted(missing)
