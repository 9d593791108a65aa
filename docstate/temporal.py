"""Connecting to Temporal the way every DocState process does."""

from __future__ import annotations

from temporalio.client import Client as TemporalClient
from temporalio.runtime import Runtime

from docstate.codec import data_converter
from docstate.config import Settings
from docstate.errors import TemporalUnavailable
from docstate.keys import load_keys
from docstate.observability.tracing import tracing_interceptors
from docstate.tls import temporal_tls, tls_hint, uses_tls


async def connect_temporal(settings: Settings, *, runtime: Runtime | None = None) -> TemporalClient:
    """A Temporal client that carries DocState's pydantic models, encrypted when the
    settings hold keys, over TLS when they ask for it (and, when tracing is on, with the
    tracing interceptor, which a worker built on it uses too).

    Args:
        settings: Address, namespace, keys, TLS, API key, tracing.
        runtime: The SDK runtime (one exporting metrics, for a worker); the default one
            when None.

    Raises:
        ConfigurationError: naming the setting, when keys or TLS files are malformed.
        TemporalUnavailable: naming the address when the server does not answer.
    """
    converter = data_converter(load_keys(settings))
    api_key = settings.temporal_api_key
    try:
        return await TemporalClient.connect(
            settings.temporal_address,
            namespace=settings.namespace,
            data_converter=converter,
            interceptors=tracing_interceptors(settings),
            runtime=runtime,
            tls=temporal_tls(settings),
            api_key=api_key.get_secret_value() if api_key else None,
        )
    except RuntimeError as err:
        address, namespace = settings.temporal_address, settings.namespace
        where = f"cannot reach Temporal at {address} (namespace {namespace!r})"
        if cause := plain_cause(str(err), tls=uses_tls(settings)):
            raise TemporalUnavailable(f"{where}: {cause}") from None
        hint = f" ({tls_hint(settings, str(err))})" if uses_tls(settings) else ""
        raise TemporalUnavailable(f"{where}{hint}: {err}") from None


def plain_cause(error: str, *, tls: bool = False) -> str | None:
    """The SDK core's connection error in plain words, when it is a usual one (its own
    text is a Rust debug print: ``tonic::transport::Error(Transport, ConnectError(...``).

    Over ``tls`` a connection that fails after it was made is the handshake's doing more
    likely than another protocol's (a server that wants a client certificate closes it):
    :func:`docstate.tls.tls_hint` says that better."""
    lowered = error.lower()
    if "connection refused" in lowered:
        return (
            "connection refused, nothing listens there (`docstate dev` starts a server; "
            "DOCSTATE_TEMPORAL_ADDRESS or --temporal-address names another)"
        )
    if "dns error" in lowered or "failed to lookup address" in lowered:
        return "its host name does not resolve (check DOCSTATE_TEMPORAL_ADDRESS)"
    if (
        not tls
        and "call error after connection" in lowered
        and any(f"code: {code}" in lowered for code in NOT_GRPC_CODES)
    ):
        return (
            "something answers there, but not Temporal's gRPC frontend (a web UI or HTTP "
            "port, another service? the frontend's usual port is 7233)"
        )
    return None


NOT_GRPC_CODES = ("unknown", "cancelled", "internal", "unimplemented")
"""The codes the core gives the first call over a connection to a server that does not
speak gRPC (seen here: an HTTP/1 server, the dev server's HTTP API, PostgreSQL, Redis).
A refusal by a real frontend (no API key, no permission) has codes of its own."""
