"""Blob stores, local and S3 (a real S3 endpoint on loopback): streaming, dedup, integrity."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import boto3
import pytest

from docstate import ContentError, ContentRef, Settings
from docstate.blobs import BlobStore, Head, LocalBlobStore, make_blob_store
from docstate.blobs.s3 import PART_SIZE, S3BlobStore
from docstate.errors import BlobStoreError, ConfigurationError


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    endpoint = request.getfixturevalue("s3_endpoint")
    return S3BlobStore("docstate", prefix=f"t-{uuid.uuid4().hex}/", endpoint_url=endpoint)


def stored_objects(store: BlobStore) -> int:
    if isinstance(store, LocalBlobStore):
        return sum(1 for p in store.root.rglob("*") if p.is_file())
    assert isinstance(store, S3BlobStore)
    s3 = boto3.client("s3", endpoint_url=store.endpoint_url)
    listed: dict[str, int] = s3.list_objects_v2(Bucket=store.bucket, Prefix=store.prefix)
    return listed.get("KeyCount", 0)


def corrupt(store: BlobStore, ref: ContentRef, data: bytes) -> None:
    if isinstance(store, LocalBlobStore):
        store.path(ref.sha256).write_bytes(data)
        return
    assert isinstance(store, S3BlobStore)
    s3 = boto3.client("s3", endpoint_url=store.endpoint_url)
    s3.put_object(Bucket=store.bucket, Key=store.key(ref.sha256), Body=data)


async def chunks(count: int, size: int) -> AsyncIterator[bytes]:
    for i in range(count):
        yield bytes([i % 251]) * size


async def test_round_trip_and_dedup(store: BlobStore) -> None:
    ref = await store.put_bytes(b"hello blobs")
    assert ref == ContentRef(sha256=hashlib.sha256(b"hello blobs").hexdigest(), size=11)
    assert await store.get_bytes(ref) == b"hello blobs"
    again = await store.put(chunks(0, 0))  # empty content is content too
    assert again.size == 0 and await store.get_bytes(again) == b""
    assert await store.put_bytes(b"hello blobs") == ref
    assert stored_objects(store) == 2  # the same bytes are stored once


async def test_large_content_streams_in_chunks_both_ways(store: BlobStore) -> None:
    count, size = 20, 1024 * 1024  # 20 MiB: several S3 parts of 8 MiB
    expected = hashlib.sha256()
    async for chunk in chunks(count, size):
        expected.update(chunk)
    ref = await store.put(chunks(count, size))
    assert ref.size == count * size > 2 * PART_SIZE
    assert ref.sha256 == expected.hexdigest()
    seen = hashlib.sha256()
    largest = 0
    async for chunk in store.open(ref):
        seen.update(chunk)
        largest = max(largest, len(chunk))
    assert seen.hexdigest() == ref.sha256
    assert largest <= 1024 * 1024  # read back a chunk at a time, never whole
    assert await store.put(chunks(count, size)) == ref
    assert stored_objects(store) == 1  # no temporary objects or duplicates left


async def test_a_damaged_blob_is_reported_not_returned(store: BlobStore) -> None:
    ref = await store.put_bytes(b"original content")
    corrupt(store, ref, b"tampered content")
    with pytest.raises(ContentError, match=f"blob {ref.sha256} is corrupt"):
        await store.get_bytes(ref)


async def test_a_missing_blob_is_named(store: BlobStore) -> None:
    ref = ContentRef(sha256="0" * 64, size=3)
    with pytest.raises(ContentError, match=f"blob {'0' * 64} is missing"):
        await store.get_bytes(ref)


async def test_an_unreachable_endpoint_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    store = S3BlobStore("docstate", endpoint_url="http://127.0.0.1:9", region="us-east-1")
    unreachable = re.escape("S3 endpoint http://127.0.0.1:9 is unreachable")
    with pytest.raises(ContentError, match=unreachable):
        await store.put_bytes(b"x")


async def test_a_folder_that_cannot_hold_blobs_is_named(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    store = LocalBlobStore(tmp_path / "a-file" / "blobs")
    with pytest.raises(
        BlobStoreError, match=r"cannot store content under .*a-file/blobs.*BLOB_DIR"
    ):
        await store.put_bytes(b"some content")
    with pytest.raises(BlobStoreError, match="cannot store content under"):
        await store.put_bytes(b"x" * (3 * 1024 * 1024))  # the streaming path too


def test_settings_choose_the_store(tmp_path: Path) -> None:
    assert isinstance(make_blob_store(Settings(blob_dir=tmp_path)), LocalBlobStore)
    s3 = make_blob_store(Settings(blob_store="s3", s3_bucket="b", s3_endpoint_url="http://x"))
    assert isinstance(s3, S3BlobStore) and s3.bucket == "b"
    with pytest.raises(ConfigurationError, match="needs DOCSTATE_S3_BUCKET"):
        make_blob_store(Settings(blob_store="s3"))


async def test_head_keeps_small_content_on_its_way_to_the_store(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    small, large = Head(limit=10), Head(limit=10)
    ref = await store.put(small.through(chunks(2, 5)))  # exactly 10 bytes
    assert small.data == await store.get_bytes(ref) == bytes([0]) * 5 + bytes([1]) * 5
    await store.put(large.through(chunks(3, 5)))  # 15 bytes: too large to keep
    assert large.data is None
