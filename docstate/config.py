"""Settings, read from ``DOCSTATE_*`` environment variables (or passed explicitly).

Build one :class:`Settings` in ``main()``; nothing here reads the environment at import.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from docstate.durations import parse_duration
from docstate.errors import ConfigurationError
from docstate.model import KeyLimits, SlotCount


class Settings(BaseSettings):
    """Everything a DocState process needs to know about its surroundings.

    Attributes:
        temporal_address: host:port of the Temporal frontend.
        namespace: Temporal namespace.
        task_queue: Task queue shared by the workflows and transition activities.
        database_url: SQLAlchemy URL of the projection (``sqlite+aiosqlite:///...`` or
            ``postgresql+asyncpg://...``).
        blob_store: Where content lives: ``local`` (``blob_dir``) or ``s3``.
        blob_dir: Directory of the local blob store.
        s3_bucket: Bucket of the S3 blob store (credentials: the usual AWS sources).
        s3_prefix: Key prefix in that bucket.
        s3_endpoint_url: Endpoint of an S3-compatible store (MinIO...); AWS when unset.
        s3_region: Region of the bucket.
        pipelines: Modules or packages whose ``DocumentType`` objects the worker runs
            (comma-separated in the environment); by default the ``workflows`` package
            of the working directory.
        inline_threshold: Content up to this many bytes travels inside the workflow's
            input (once); larger content travels only as a blob-store reference. 1 KiB
            by default: measured, a document's history holds 7.8 KB besides its content
            and inline content costs 1.35 bytes of history per byte, so a document
            with 1 KiB inline stays under 10 KB, while a blob read saves ~0.35 ms.
        max_concurrent_activities: Worker slots for transitions: as many task-queue
            activities, and as many local activities, may run at once.
        max_concurrent_workflow_tasks: Worker slots for documents' workflow code (and the
            short transitions that run inside it); beyond them documents wait in the task
            queue, where fairness keys take turns.
        shutdown_grace: How long a stopping worker lets running transitions finish:
            seconds (``30``), ``30s``, ``5m`` or ISO-8601 (``PT30S``).
        metrics_port: Port of the worker's Prometheus ``/metrics`` (off when unset).
        metrics_host: Address that endpoint listens on.
        metrics_interval: How often the worker reads document counts for its metrics.
        tracing: OpenTelemetry traces through every client and worker (exporter from the
            standard ``OTEL_*`` variables).
        log_format: ``text`` or ``json`` (one object per line, with document ids).
        encryption_keys: ``id:base64-key`` pairs, comma-separated, the first one current;
            payloads (and local blobs) are AES-256-GCM encrypted when set.
        encryption_keys_file: A file holding the same, instead of the variable.
        s3_sse: Server-side encryption asked of S3: ``AES256`` (SSE-S3) or ``aws:kms``.
        s3_sse_kms_key_id: The KMS key for ``aws:kms`` (the bucket's default when unset).
        temporal_tls: TLS to Temporal; unset means on when any TLS file, a server name or
            an API key is set.
        temporal_tls_ca_file: PEM file of the CA that signed the server's certificate.
        temporal_tls_cert_file: PEM client certificate, for mutual TLS.
        temporal_tls_key_file: PEM private key of that certificate.
        temporal_tls_server_name: Name to verify the server's certificate against.
        temporal_api_key: API key sent to Temporal (Temporal Cloud and the like).
        codec_tokens: Bearer tokens the codec server accepts, comma-separated.
        codec_cors_origins: Web origins (the Temporal web UI) allowed to call the codec
            server from a browser, comma-separated.
        api_host: Address ``docstate api`` listens on.
        api_port: Port ``docstate api`` listens on.
        api_workers: Server processes of ``docstate api``.
        api_keys: Keys the API accepts in ``X-Api-Key`` (comma-separated in the
            environment); empty: no key needed.
        api_max_upload: Largest request body ``POST /submit`` accepts, in bytes.
        api_default_type: Document type of a job's files when the request names none.
        api_keepalive: Seconds between keep-alive comments on an idle SSE stream.
        api_metrics_public: Serve the API's ``/metrics`` without a key even when
            ``api_keys`` are set (for a scraper that can send no header; keep the port
            private then).
        api_public_url: Base URL put in links the API returns (content URLs); by
            default the address the request came to.
        fetch_allow_private: Let content URLs name loopback, link-local and private
            addresses (off: no server-side request forgery through DocState).
        fetch_max_bytes: Largest content fetched from a URL, in bytes.
        fetch_timeout: Seconds a URL fetch may take in all.
        webhook_secret: Key of the HMAC-SHA256 signature of webhook deliveries; a worker
            without one does not deliver.
        webhook_retry_for: How long a failing webhook delivery is retried (with backoff).
        webhook_allow_private: Let callback URLs name loopback, link-local and private
            addresses.
        retention: Delete ended documents (and blobs nobody else uses) this long after
            their last change; None (the default): keep them.
        retention_interval: How often the retention schedule sweeps.
        watch_interval: Seconds between a client's reads of what changed for the
            documents it waits on or follows, when nothing pushes (SQLite, or PostgreSQL
            while its LISTEN connection is down).
        key_concurrency: Transitions of one fairness key that may run at once, across
            all workers (unset: no limit). Documents keep the limits of the worker that
            started them.
        key_concurrency_per_key: Limits of particular keys, ``key=N`` pairs
            (comma-separated in the environment), whether or not ``key_concurrency`` is set.
    """

    model_config = SettingsConfigDict(env_prefix="DOCSTATE_", extra="ignore")

    temporal_address: str = "127.0.0.1:7233"
    namespace: str = "default"
    task_queue: str = "docstate"
    database_url: str = "sqlite+aiosqlite:///.docstate/docstate.db"
    blob_store: Literal["local", "s3"] = "local"
    blob_dir: Path = Path(".docstate/blobs")
    s3_bucket: str | None = None
    s3_prefix: str = "docstate/"
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    pipelines: Annotated[list[str], NoDecode] = ["workflows"]
    inline_threshold: int = Field(default=1024, ge=0, le=1024 * 1024)
    max_concurrent_activities: int = Field(default=100, ge=1)
    max_concurrent_workflow_tasks: int = Field(default=100, ge=2)
    shutdown_grace: timedelta = timedelta(seconds=30)
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"
    metrics_interval: timedelta = timedelta(seconds=15)
    tracing: bool = False
    log_format: Literal["text", "json"] = "text"
    encryption_keys: SecretStr | None = None
    encryption_keys_file: Path | None = None
    s3_sse: Literal["AES256", "aws:kms"] | None = None
    s3_sse_kms_key_id: str | None = None
    temporal_tls: bool | None = None
    temporal_tls_ca_file: Path | None = None
    temporal_tls_cert_file: Path | None = None
    temporal_tls_key_file: Path | None = None
    temporal_tls_server_name: str | None = None
    temporal_api_key: SecretStr | None = None
    codec_tokens: SecretStr | None = None
    codec_cors_origins: Annotated[list[str], NoDecode] = []
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=0, le=65535)
    api_workers: int = Field(default=1, ge=1)
    api_keys: Annotated[list[SecretStr], NoDecode] = []
    api_max_upload: int = Field(default=512 * 1024 * 1024, ge=1)
    api_default_type: str = "file"
    api_keepalive: float = Field(default=15.0, gt=0)
    api_public_url: str | None = None
    api_metrics_public: bool = False
    fetch_allow_private: bool = False
    fetch_max_bytes: int = Field(default=512 * 1024 * 1024, ge=1)
    fetch_timeout: float = Field(default=60.0, gt=0)
    webhook_secret: SecretStr | None = None
    webhook_retry_for: timedelta = timedelta(hours=1)
    webhook_allow_private: bool = False
    retention: timedelta | None = None
    retention_interval: timedelta = timedelta(hours=1)
    watch_interval: float = Field(default=0.2, gt=0)
    key_concurrency: int | None = Field(default=None, ge=1)
    key_concurrency_per_key: Annotated[dict[str, SlotCount], NoDecode] = {}

    @property
    def encryption_on(self) -> bool:
        """Whether payloads and local blobs are encrypted (keys are set)."""
        return self.encryption_keys is not None or self.encryption_keys_file is not None

    @property
    def key_limits(self) -> KeyLimits:
        """The per-key concurrency limits these settings name."""
        return KeyLimits(default=self.key_concurrency, per_key=self.key_concurrency_per_key)

    @field_validator("key_concurrency_per_key", mode="before")
    @classmethod
    def _key_limits(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        limits: dict[str, int] = {}
        for pair in filter(None, (p.strip() for p in value.split(","))):
            key, sep, limit = pair.rpartition("=")
            if not sep or not key.strip() or not limit.strip().isdigit():
                raise ValueError(f"{pair!r} is not key=N (N a whole number)")
            if int(limit) < 1:
                raise ValueError(f"{pair!r}: a key's limit is at least 1")
            if key.strip() in limits:
                raise ValueError(f"key {key.strip()!r} is given twice")
            limits[key.strip()] = int(limit)
        return limits

    @field_validator("temporal_address")
    @classmethod
    def _host_port(cls, value: str) -> str:
        example = "e.g. 127.0.0.1:7233 or temporal.internal:7233"
        if "://" in value:
            raise ValueError(f"host:port without a scheme ({example})")
        host, sep, port = value.rpartition(":")
        if not sep or not host.strip() or not port:
            raise ValueError(f"not host:port ({example})")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"port {port!r} is not a number from 1 to 65535")
        return value

    @field_validator("pipelines", "codec_cors_origins", "api_keys", mode="before")
    @classmethod
    def _split_modules(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [m.strip() for m in value.split(",") if m.strip()]
        return value

    @field_validator(
        "shutdown_grace",
        "metrics_interval",
        "webhook_retry_for",
        "retention",
        "retention_interval",
        mode="before",
    )
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else parse_duration(value)


def load_settings(**overrides: Any) -> Settings:
    """:class:`Settings` from ``DOCSTATE_*`` variables and ``overrides`` (flags).

    Raises:
        ConfigurationError: one line naming each bad variable and what it must be.
    """
    try:
        return Settings(**overrides)
    except ValidationError as err:
        problems = []
        for error in err.errors():
            name = str(error["loc"][0]) if error["loc"] else "?"
            given = error.get("input")
            where = (
                f"--{name.replace('_', '-')}" if name in overrides else f"DOCSTATE_{name.upper()}"
            )
            message = str(error["msg"]).removeprefix("Value error, ")
            # A secret (a key, a token, a URL that may hold a password) is never printed.
            shown = "" if _is_secret(name) else f"={given!s}"
            problems.append(f"{where}{shown} is invalid: {message}")
        raise ConfigurationError("; ".join(problems)) from None


def _is_secret(name: str) -> bool:
    field = Settings.model_fields.get(name)
    return name == "database_url" or (field is not None and "SecretStr" in str(field.annotation))
