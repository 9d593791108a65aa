"""Blob stores: document content addressed by sha256, on local disk or in S3."""

from __future__ import annotations

from docstate.blobs.base import CHUNK_SIZE, BlobStore, Head, read_file, verified
from docstate.blobs.local import LocalBlobStore
from docstate.config import Settings
from docstate.errors import ConfigurationError
from docstate.keys import load_keys

__all__ = [
    "CHUNK_SIZE",
    "BlobStore",
    "Head",
    "LocalBlobStore",
    "make_blob_store",
    "read_file",
    "verified",
]


def make_blob_store(settings: Settings) -> BlobStore:
    """The blob store the settings name.

    Raises:
        ConfigurationError: when S3 is chosen without a bucket.
    """
    if settings.blob_store == "local":
        return LocalBlobStore(settings.blob_dir, keys=load_keys(settings))
    if not settings.s3_bucket:
        raise ConfigurationError("DOCSTATE_BLOB_STORE=s3 needs DOCSTATE_S3_BUCKET")
    # Imported here: aioboto3 is only needed by deployments that store content in S3.
    from docstate.blobs.s3 import S3BlobStore

    if settings.s3_sse_kms_key_id and settings.s3_sse != "aws:kms":
        raise ConfigurationError("DOCSTATE_S3_SSE_KMS_KEY_ID needs DOCSTATE_S3_SSE=aws:kms")
    return S3BlobStore(
        settings.s3_bucket,
        prefix=settings.s3_prefix,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        sse=settings.s3_sse,
        sse_kms_key_id=settings.s3_sse_kms_key_id,
    )
