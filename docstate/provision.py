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
from temporalio.service import RPCError, RPCStatusCode

from docstate.errors import ConfigurationError, TemporalUnavailable
from docstate.protocol import SEARCH_ATTRIBUTES


async def register_search_attributes(temporal: TemporalClient, namespace: str) -> list[str]:
    """Add DocState's search attributes (``DocType``, ``DocState``, ``DocStatus``, all
    Keyword) to ``namespace`` where they are missing.

    Returns:
        The names it added (empty when all were there).

    Raises:
        TemporalUnavailable: when the server refuses (e.g. no operator permission).
    """
    try:
        missing = await _unregistered(temporal, namespace)
        if missing:
            await temporal.operator_service.add_search_attributes(
                AddSearchAttributesRequest(
                    namespace=namespace,
                    search_attributes=dict.fromkeys(
                        missing, IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
                    ),
                )
            )
    except RPCError as err:
        raise TemporalUnavailable(
            f"cannot register search attributes in namespace {namespace!r}: {err.message}"
        ) from None
    return missing


async def check_search_attributes(temporal: TemporalClient, namespace: str) -> None:
    """Raise unless DocState's search attributes are registered in ``namespace``; a server
    that does not let this client list them is taken at its word.

    Raises:
        ConfigurationError: naming the missing ones and ``docstate setup``.
    """
    try:
        missing = await _unregistered(temporal, namespace)
    except RPCError as err:
        if err.status in (RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNIMPLEMENTED):
            return
        raise
    if missing:
        raise ConfigurationError(
            f"search attributes {', '.join(missing)} are not registered in namespace "
            f"{namespace!r}, so no document can start: run `docstate setup`"
        )


async def _unregistered(temporal: TemporalClient, namespace: str) -> list[str]:
    listed = await temporal.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    return sorted(k.name for k in SEARCH_ATTRIBUTES if k.name not in listed.custom_attributes)
