"""Encryption keys, the payload codec and encrypted blobs, without a server."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import boto3
import pytest
from temporalio.api.common.v1 import Payload
from temporalio.converter import WorkflowSerializationContext

from docstate import ConfigurationError, ContentError, EncryptionKeyError, Settings
from docstate.blobcrypt import MAGIC
from docstate.blobs import LocalBlobStore, make_blob_store
from docstate.blobs.s3 import S3BlobStore
from docstate.codec import EncryptionCodec, data_converter
from docstate.keys import KeyRing, load_keys


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


A, B, C = new_key(), new_key(), new_key()


def ring(text: str) -> KeyRing:
    keys = load_keys(Settings(encryption_keys=text))
    assert keys is not None
    return keys


def test_keys_parse_first_is_current_and_file_works(tmp_path: Path) -> None:
    keys = ring(f"k2:{B}, k1:{A}")
    assert (keys.current_id, keys.ids) == ("k2", ("k2", "k1"))
    keyfile = tmp_path / "keys"
    keyfile.write_text(f"k1:{A}\n")
    from_file = load_keys(Settings(encryption_keys_file=keyfile))
    assert from_file is not None and from_file.ids == ("k1",)
    assert load_keys(Settings()) is None
    assert A not in repr(keys) and A not in repr(Settings(encryption_keys=f"k1:{A}"))


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("", "holds no key"),
        (f"{A}", "entry 1 is not id:base64-key"),
        (f"k1:{A},k1:{B}", "'k1' appears twice"),
        ("k1:c2hvcnQ=", "'k1' is not base64 of 32"),
        ("k1:%%%notbase64%%%", "'k1' is not base64 of 32"),
        (f"bad id:{A}", "entry 1 is not id:base64-key"),
    ],
)
def test_malformed_keys_name_the_setting_not_the_key(text: str, named: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_keys(Settings(encryption_keys=text))
    message = str(caught.value)
    assert message.startswith("DOCSTATE_ENCRYPTION_KEYS") and named in message
    assert A not in message and B not in message


def test_key_file_problems_are_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="DOCSTATE_ENCRYPTION_KEYS_FILE: cannot read"):
        load_keys(Settings(encryption_keys_file=tmp_path / "absent"))
    with pytest.raises(ConfigurationError, match="not both"):
        load_keys(Settings(encryption_keys=f"k1:{A}", encryption_keys_file=tmp_path / "x"))


async def test_codec_encrypts_rotates_and_refuses_clearly() -> None:
    original = Payload(metadata={"encoding": b"json/plain"}, data=b'{"secret": "marker-123"}')
    old = EncryptionCodec(ring(f"k1:{A}"))
    [sealed] = await old.encode([original])
    assert sealed.metadata["encoding"] == b"binary/encrypted"
    assert sealed.metadata["encryption-key-id"] == b"k1"
    assert b"marker-123" not in sealed.SerializeToString()
    assert b"json/plain" not in sealed.SerializeToString()  # even the encoding is hidden
    rotated = EncryptionCodec(ring(f"k2:{B},k1:{A}"))
    assert await rotated.decode([sealed]) == [original]  # old payloads still decrypt
    [new] = await rotated.encode([original])
    assert new.metadata["encryption-key-id"] == b"k2"
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b"1")
    assert await rotated.decode([plain]) == [plain]  # written before encryption: unchanged
    with pytest.raises(EncryptionKeyError, match="key 'k1', which this process does not have"):
        await EncryptionCodec(ring(f"k3:{C}")).decode([sealed])
    with pytest.raises(EncryptionKeyError, match="this process has no keys"):
        await EncryptionCodec(None).decode([sealed])
    with pytest.raises(EncryptionKeyError, match="does not decrypt with key 'k1'"):
        await EncryptionCodec(ring(f"k1:{B}")).decode([sealed])  # another key, same id
    assert await EncryptionCodec(None).encode([original]) == [original]  # off: unchanged


async def test_a_converter_in_context_keeps_its_payload_converter() -> None:
    """The SDK asks for a converter per payload and context: ours must not build a new
    pydantic payload converter (with an empty validator cache) each time, and its codec
    still names the workflow in its errors."""
    converter = data_converter(None)
    context = WorkflowSerializationContext(namespace="default", workflow_id="doc:x")
    in_context = converter.with_context(context)
    assert in_context.payload_converter is converter.payload_converter
    assert in_context.failure_converter is converter.failure_converter
    assert in_context.payload_codec is not converter.payload_codec
    [sealed] = await EncryptionCodec(ring(f"k1:{A}")).encode(
        [Payload(metadata={"encoding": b"json/plain"}, data=b"1")]
    )
    with pytest.raises(EncryptionKeyError, match="workflow 'doc:x': a payload is encrypted"):
        await in_context.decode([sealed])


async def pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_local_blobs_encrypted_at_rest_streamed_and_private(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    old = LocalBlobStore(root, keys=ring(f"k1:{A}"))
    data = os.urandom(1024 * 1024 * 2 + 12345)  # more than two records
    marker = b"marker-at-rest-" + uuid.uuid4().hex.encode()
    data = marker + data + marker
    ref = await old.put(pieces(data, 300_000))
    assert ref.sha256 == hashlib.sha256(data).hexdigest() and ref.size == len(data)
    stored = old.path(ref.sha256).read_bytes()
    assert stored.startswith(MAGIC + b"\x02k1") and marker not in stored
    assert not old.path(ref.sha256, sealed=False).exists()
    chunks = [c async for c in old.open(ref)]
    assert b"".join(chunks) == data and max(map(len, chunks)) <= 1024 * 1024
    # Rotation: the new current key writes, the old blob still reads.
    rotated = LocalBlobStore(root, keys=ring(f"k2:{B},k1:{A}"))
    assert await rotated.get_bytes(ref) == data
    fresh = await rotated.put_bytes(b"fresh " + marker)
    assert rotated.path(fresh.sha256).read_bytes()[len(MAGIC) :].startswith(b"\x02k2")
    with pytest.raises(EncryptionKeyError, match=r"blob .* key 'k1', which this process"):
        await LocalBlobStore(root, keys=ring(f"k3:{C}")).get_bytes(ref)
    with pytest.raises(EncryptionKeyError, match="no keys"):
        await LocalBlobStore(root).get_bytes(ref)
    # Private to the user: folders 0700, files 0600.
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


async def test_tampered_or_truncated_blob_is_refused(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs", keys=ring(f"k1:{A}"))
    data = os.urandom(3 * 1024 * 1024)
    ref = await store.put_bytes(data)
    path = store.path(ref.sha256)
    sealed = path.read_bytes()
    record = 4 + 12 + 1024 * 1024 + 16
    path.write_bytes(sealed[: len(sealed) - record])  # the last record cut off
    with pytest.raises(EncryptionKeyError, match="altered"):
        await store.get_bytes(ref)
    flipped = bytearray(sealed)
    flipped[100] ^= 1
    path.write_bytes(bytes(flipped))
    with pytest.raises(EncryptionKeyError, match="altered"):
        await store.get_bytes(ref)
    path.write_bytes(b"not sealed at all")
    with pytest.raises(ContentError, match="not a DocState encrypted blob"):
        await store.get_bytes(ref)


async def test_blobs_from_before_encryption_still_read(tmp_path: Path) -> None:
    plain = LocalBlobStore(tmp_path / "blobs")
    ref = await plain.put_bytes(b"written in the clear")
    assert await LocalBlobStore(tmp_path / "blobs", keys=ring(f"k1:{A}")).get_bytes(ref) == (
        b"written in the clear"
    )


async def test_s3_server_side_encryption_is_asked_for_every_object(s3_endpoint: str) -> None:
    prefix = f"sse-{uuid.uuid4().hex}/"
    settings = Settings(
        blob_store="s3",
        s3_bucket="docstate",
        s3_prefix=prefix,
        s3_endpoint_url=s3_endpoint,
        s3_sse="AES256",
    )
    store = make_blob_store(settings)
    assert isinstance(store, S3BlobStore)
    small = await store.put_bytes(b"small object")

    async def large() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield os.urandom(1024 * 1024)  # multipart, then copied to its address

    big = await store.put(large())
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    for ref in (small, big):
        head = s3.head_object(Bucket="docstate", Key=store.key(ref.sha256))
        assert head["ServerSideEncryption"] == "AES256"
    kms = make_blob_store(settings.model_copy(update={"s3_sse": "aws:kms"}))
    assert isinstance(kms, S3BlobStore) and kms.encryption == {"ServerSideEncryption": "aws:kms"}
    with pytest.raises(ConfigurationError, match="DOCSTATE_S3_SSE_KMS_KEY_ID needs"):
        make_blob_store(settings.model_copy(update={"s3_sse_kms_key_id": "alias/docs"}))


def test_an_undecryptable_activity_logs_one_line_not_a_stack_per_attempt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    from temporalio.exceptions import ApplicationError

    from docstate.codec import install_log_filter

    install_log_filter()
    logger = logging.getLogger("temporalio.activity")
    missing = EncryptionKeyError("workflow 'doc:x': a payload is encrypted with key 'k9'")
    for _attempt in range(3):
        try:
            raise ApplicationError("Failed decoding arguments") from missing
        except ApplicationError:
            logger.warning("Completing activity as failed", exc_info=True)
    try:
        raise ValueError("an ordinary failure keeps its stack")
    except ValueError:
        logger.warning("Completing activity as failed", exc_info=True)
    lines = [r for r in caplog.records if r.name == "temporalio.activity"]
    assert len(lines) == 2
    assert "key 'k9'" in lines[0].getMessage() and lines[0].exc_info is None
    assert lines[1].exc_info is not None
