"""Settings, read from ``DOCSTATE_*`` environment variables (or passed explicitly).

Build one :class:`Settings` in ``main()``; nothing here reads the environment at import.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


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
        pipelines: Modules whose ``DocumentType`` objects the worker runs (comma-separated
            in the environment).
        inline_threshold: Content up to this many bytes travels inside Temporal payloads;
            larger content travels only as a blob-store reference.
        max_concurrent_activities: Worker slots for transitions: as many task-queue
            activities, and as many local activities, may run at once.
        shutdown_grace: How long a stopping worker lets running transitions finish.
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
    pipelines: Annotated[list[str], NoDecode] = [
        "workflows.pipelines.files",
        "workflows.pipelines.pages",
        "workflows.pipelines.objects",
    ]
    inline_threshold: int = Field(default=64 * 1024, ge=0, le=1024 * 1024)
    max_concurrent_activities: int = Field(default=100, ge=1)
    shutdown_grace: timedelta = timedelta(seconds=30)

    @field_validator("pipelines", mode="before")
    @classmethod
    def _split_modules(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [m.strip() for m in value.split(",") if m.strip()]
        return value
