"""How a DocState process reaches Temporal securely: TLS, mutual TLS and API keys."""

from __future__ import annotations

from pathlib import Path

from temporalio.service import TLSConfig

from docstate.config import Settings
from docstate.errors import ConfigurationError


def _read(path: Path | None, setting: str) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as err:
        raise ConfigurationError(f"{setting}: cannot read {path}: {err.strerror}") from None


def temporal_tls(settings: Settings) -> TLSConfig | bool | None:
    """The ``tls`` argument of ``Client.connect`` the settings ask for.

    ``None`` (no TLS setting at all) leaves the choice to temporalio: TLS exactly when an
    API key is set.

    Raises:
        ConfigurationError: naming the setting, when a file cannot be read, or a client
            certificate comes without its key (or the other way round).
    """
    s = settings
    if s.temporal_tls_cert_file is None and s.temporal_tls_key_file is not None:
        raise ConfigurationError(
            "DOCSTATE_TEMPORAL_TLS_KEY_FILE is set without DOCSTATE_TEMPORAL_TLS_CERT_FILE"
        )
    if s.temporal_tls_cert_file is not None and s.temporal_tls_key_file is None:
        raise ConfigurationError(
            "DOCSTATE_TEMPORAL_TLS_CERT_FILE is set without DOCSTATE_TEMPORAL_TLS_KEY_FILE"
        )
    configured = (
        s.temporal_tls_ca_file,
        s.temporal_tls_cert_file,
        s.temporal_tls_server_name,
    )
    if s.temporal_tls is False:
        if any(v is not None for v in configured):
            raise ConfigurationError(
                "DOCSTATE_TEMPORAL_TLS=false, but TLS files or a server name are set"
            )
        return False
    if all(v is None for v in configured):
        return True if s.temporal_tls else None
    return TLSConfig(
        server_root_ca_cert=_read(s.temporal_tls_ca_file, "DOCSTATE_TEMPORAL_TLS_CA_FILE"),
        client_cert=_read(s.temporal_tls_cert_file, "DOCSTATE_TEMPORAL_TLS_CERT_FILE"),
        client_private_key=_read(s.temporal_tls_key_file, "DOCSTATE_TEMPORAL_TLS_KEY_FILE"),
        domain=s.temporal_tls_server_name,
    )


def uses_tls(settings: Settings) -> bool:
    """Whether connections to Temporal are encrypted with these settings."""
    tls = temporal_tls(settings)
    return settings.temporal_api_key is not None if tls is None else bool(tls)


def tls_hint(settings: Settings, error: str) -> str:
    """What most likely went wrong, when a connection over TLS failed with ``error``
    (one refused is said plainly before: see :func:`docstate.temporal.plain_cause`)."""
    if "UnknownIssuer" in error:
        trusted = (
            "the CA in DOCSTATE_TEMPORAL_TLS_CA_FILE"
            if settings.temporal_tls_ca_file
            else "a CA this system trusts (set DOCSTATE_TEMPORAL_TLS_CA_FILE)"
        )
        return f"the server's certificate is not signed by {trusted}"
    if "NotValidForName" in error:
        return (
            "the server's certificate does not name this address; "
            "set DOCSTATE_TEMPORAL_TLS_SERVER_NAME to a name it does"
        )
    if settings.temporal_tls_cert_file is None:
        return (
            "the connection closed during or after the TLS handshake; if the server "
            "requires a client certificate, set DOCSTATE_TEMPORAL_TLS_CERT_FILE and "
            "DOCSTATE_TEMPORAL_TLS_KEY_FILE"
        )
    return "over TLS: check the CA, the server name and the client certificate"
