"""The S3 blob store (aioboto3): AWS, MinIO, or any S3-compatible endpoint."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aioboto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from docstate.blobs.base import CHUNK_SIZE, BlobStore, verified
from docstate.document import ContentRef
from docstate.errors import BlobStoreError, ContentError

PART_SIZE = 8 * 1024 * 1024  # S3 multipart parts must be at least 5 MiB
# Fail fast: the activity around a blob operation is retried by Temporal with backoff,
# so botocore's own long retry loop would only hide an outage from the document's status.
CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 2})


class S3BlobStore(BlobStore):
    """Blobs as objects ``<prefix><sha[:2]>/<sha>`` in one bucket.

    Credentials come from the usual AWS sources (environment, profile, instance role).
    Large content is uploaded in parts while it is hashed, under a temporary key, then
    copied to its content address (or dropped, when those bytes are already stored).
    """

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "docstate/",
        endpoint_url: str | None = None,
        region: str | None = None,
        sse: str | None = None,
        sse_kms_key_id: str | None = None,
    ) -> None:
        self.bucket = bucket
        # Asked of every write, so S3 encrypts each object at rest with its own keys.
        self.encryption: dict[str, str] = {}
        if sse:
            self.encryption["ServerSideEncryption"] = sse
        if sse_kms_key_id:
            self.encryption["SSEKMSKeyId"] = sse_kms_key_id
        self.prefix = prefix
        self.endpoint_url = endpoint_url
        self.region = region
        self._session = aioboto3.Session()

    def key(self, sha256: str) -> str:
        return f"{self.prefix}{sha256[:2]}/{sha256}"

    @asynccontextmanager
    async def _s3(self) -> AsyncIterator[Any]:
        where = self.endpoint_url or "AWS S3"
        try:
            async with self._session.client(
                "s3", endpoint_url=self.endpoint_url, region_name=self.region, config=CLIENT_CONFIG
            ) as s3:
                yield s3
        except EndpointConnectionError as err:
            raise BlobStoreError(
                f"S3 endpoint {where} is unreachable: {err}; check DOCSTATE_S3_ENDPOINT_URL"
            ) from err
        except (BotoCoreError, ClientError) as err:
            if isinstance(err, ClientError) and _missing(err):
                raise
            raise BlobStoreError(
                f"S3 ({where}, bucket {self.bucket!r}): {err}; check DOCSTATE_S3_BUCKET "
                "and the AWS credentials"
            ) from err

    async def _exists(self, s3: Any, key: str) -> bool:
        try:
            await s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as err:
            if _missing(err):
                return False
            raise
        return True

    async def delete(self, sha256: str) -> None:
        async with self._s3() as s3:
            await s3.delete_object(Bucket=self.bucket, Key=self.key(sha256))

    async def put_bytes(self, data: bytes) -> ContentRef:
        ref = ContentRef(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
        async with self._s3() as s3:
            if not await self._exists(s3, self.key(ref.sha256)):
                await s3.put_object(
                    Bucket=self.bucket, Key=self.key(ref.sha256), Body=data, **self.encryption
                )
        return ref

    async def put(self, chunks: AsyncIterable[bytes]) -> ContentRef:
        digest = hashlib.sha256()
        size = 0
        buffer = bytearray()
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        incoming = f"{self.prefix}incoming/{uuid.uuid4().hex}"
        async with self._s3() as s3:
            try:
                async for chunk in chunks:
                    digest.update(chunk)
                    size += len(chunk)
                    buffer += chunk
                    if len(buffer) >= PART_SIZE:
                        if upload_id is None:
                            started = await s3.create_multipart_upload(
                                Bucket=self.bucket, Key=incoming, **self.encryption
                            )
                            upload_id = started["UploadId"]
                        parts.append(await self._part(s3, incoming, upload_id, parts, buffer))
                        buffer = bytearray()
                ref = ContentRef(sha256=digest.hexdigest(), size=size)
                final = self.key(ref.sha256)
                if upload_id is None:  # small: one request, straight to its address
                    if not await self._exists(s3, final):
                        await s3.put_object(
                            Bucket=self.bucket, Key=final, Body=bytes(buffer), **self.encryption
                        )
                    return ref
                if buffer:
                    parts.append(await self._part(s3, incoming, upload_id, parts, buffer))
                await s3.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=incoming,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )
                upload_id = None
                if not await self._exists(s3, final):
                    source = {"Bucket": self.bucket, "Key": incoming}
                    await s3.copy_object(
                        Bucket=self.bucket, Key=final, CopySource=source, **self.encryption
                    )
                await s3.delete_object(Bucket=self.bucket, Key=incoming)
                return ref
            finally:
                if upload_id is not None:  # failed midway: leave no parts behind
                    await s3.abort_multipart_upload(
                        Bucket=self.bucket, Key=incoming, UploadId=upload_id
                    )

    async def _part(
        self, s3: Any, key: str, upload_id: str, parts: list[dict[str, Any]], data: bytearray
    ) -> dict[str, Any]:
        number = len(parts) + 1
        answer = await s3.upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=bytes(data)
        )
        return {"ETag": answer["ETag"], "PartNumber": number}

    async def open(self, ref: ContentRef) -> AsyncIterator[bytes]:
        async with self._s3() as s3:
            try:
                answer = await s3.get_object(Bucket=self.bucket, Key=self.key(ref.sha256))
            except ClientError as err:
                if _missing(err):
                    raise ContentError(
                        f"blob {ref.sha256} is missing from s3://{self.bucket}/{self.prefix}"
                    ) from None
                raise
            body = answer["Body"]
            try:
                async for chunk in verified(ref, body.iter_chunks(CHUNK_SIZE)):
                    yield chunk
            finally:
                body.close()


def _missing(err: ClientError) -> bool:
    return err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")
