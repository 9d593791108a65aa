"""Payload encryption: an AES-256-GCM payload codec on every DocState Temporal client.

Each encrypted payload is ``nonce + ciphertext`` of the whole original payload (its
metadata included, so even the encoding is hidden), with metadata naming the cipher and
the key id. Payloads that are not encrypted pass through decoding untouched, so histories
written before encryption was turned on still read.

A workflow whose payloads cannot be decrypted (its key is missing here) fails its
workflow task; Temporal retries that task forever, and the SDK logs a stack trace at
every attempt (likewise for an activity, within its retry policy).
:class:`UndecryptableWorkflowLog` turns those into one line per workflow, naming it and
the missing key.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import Self

from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    DefaultFailureConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
    PayloadConverter,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)

from docstate.errors import EncryptionKeyError
from docstate.keys import KeyRing

ENCODING = b"binary/encrypted"
CIPHER = b"AES256-GCM"
KEY_ID = "encryption-key-id"
AAD = b"docstate-payload-v1:"
"""Bound into each payload's ciphertext (with its key id): a blob's cannot pass as one."""


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    """Encrypts with the key ring's current key; decrypts with whichever key a payload names.

    With no key ring it encrypts nothing, but an encrypted payload still gets a clear
    :class:`EncryptionKeyError` instead of "unknown encoding".
    """

    def __init__(self, keys: KeyRing | None, workflow_id: str | None = None) -> None:
        self.keys = keys
        self.workflow_id = workflow_id

    def with_context(self, context: SerializationContext) -> Self:
        """The same codec, naming the workflow its errors are about."""
        workflow_id = None
        if isinstance(context, WorkflowSerializationContext | ActivitySerializationContext):
            workflow_id = context.workflow_id
        return type(self)(self.keys, workflow_id)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Payloads encrypted with the current key (unchanged when encryption is off)."""
        if self.keys is None:
            return list(payloads)
        encoded = []
        for payload in payloads:
            key_id, sealed = self.keys.seal(payload.SerializeToString(), AAD)
            metadata = {"encoding": ENCODING, "encryption-cipher": CIPHER, KEY_ID: key_id.encode()}
            encoded.append(Payload(metadata=metadata, data=sealed))
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Payloads decrypted; unencrypted ones pass through.

        Raises:
            EncryptionKeyError: naming the workflow and the key, when a payload's key is
                missing here or it does not decrypt.
        """
        return [self.decrypt(p) for p in payloads]

    def decrypt(self, payload: Payload) -> Payload:
        """One payload, decrypted (or unchanged when it is not encrypted)."""
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        what = f"workflow {self.workflow_id!r}: a payload" if self.workflow_id else "a payload"
        if self.keys is None:
            raise EncryptionKeyError(
                f"{what} is encrypted with key {key_id!r}, but this process has no keys "
                "(set DOCSTATE_ENCRYPTION_KEYS or DOCSTATE_ENCRYPTION_KEYS_FILE)"
            )
        plain = self.keys.unseal(key_id, payload.data, AAD, what)
        decoded = Payload()
        decoded.ParseFromString(plain)
        return decoded


def data_converter(keys: KeyRing | None) -> DataConverter:
    """DocState's converter (pydantic models), encrypting payloads when ``keys`` are given.

    With encryption on, failure messages and stack traces (which often quote content)
    travel as encrypted payloads too, instead of in the clear beside them.
    """
    failures = EncryptedFailureConverter if keys else DefaultFailureConverter
    install_log_filter()
    return ContextConverter(
        payload_converter_class=pydantic_data_converter.payload_converter_class,
        payload_codec=EncryptionCodec(keys),
        failure_converter_class=failures,
    )


@dataclasses.dataclass(frozen=True)
class ContextConverter(DataConverter):
    """A data converter whose copy for a serialization context keeps its converters.

    The SDK asks for such a copy for every payload it converts. Its own copy is made
    with ``dataclasses.replace``, which runs ``__post_init__`` again and so builds a new
    pydantic payload converter, whose type-adapter cache starts empty: every payload
    then paid for building its pydantic validators again (measured: 17,034 converters
    built for 300 documents, a tenth of the worker process's profiled time). Our codec
    takes the context (to name the workflow in its errors), so every copy was such a
    rebuild. This copy is shallow and swaps only the components that changed.
    """

    def with_context(self, context: SerializationContext) -> Self:
        """See :meth:`DataConverter.with_context`: the same, without a rebuild."""
        changed: dict[str, object] = {}
        for name in ("payload_converter", "payload_codec", "failure_converter", "external_storage"):
            component = getattr(self, name, None)
            if isinstance(component, WithSerializationContext):
                in_context = component.with_context(context)
                if in_context is not component:
                    changed[name] = in_context
        if not changed:
            return self
        copied = copy.copy(self)  # no __post_init__
        for name, component in changed.items():
            object.__setattr__(copied, name, component)
        return copied


class EncryptedFailureConverter(DefaultFailureConverterWithEncodedAttributes):
    """Failure messages and stack traces travel encrypted, except DocState's own
    :class:`EncryptionKeyError`: it names only a workflow and key ids, and an operator
    must read it in the web UI (a workflow task failing for a missing key) without the
    key that is missing."""

    def to_failure(
        self, exception: BaseException, payload_converter: PayloadConverter, failure: Failure
    ) -> None:
        super().to_failure(exception, payload_converter, failure)
        if isinstance(exception, EncryptionKeyError):
            failure.ClearField("encoded_attributes")
            failure.message = str(exception)


class UndecryptableWorkflowLog(logging.Filter):
    """One line per workflow (and per key) whose payloads cannot be decrypted, instead of
    a stack trace at every retry of its workflow task or activity."""

    def __init__(self, remembered: int = 10_000) -> None:
        super().__init__()
        self._reported: OrderedDict[str, None] = OrderedDict()
        self._remembered = remembered

    def filter(self, record: logging.LogRecord) -> bool:
        err = key_error_in(record.exc_info[1] if record.exc_info else None)
        if err is None:
            return True
        # The message names the workflow and the key: the same one again is a retry.
        seen = f"{record.name}: {err}"
        if seen in self._reported:
            return False
        self._reported[seen] = None
        if len(self._reported) > self._remembered:
            self._reported.popitem(last=False)
        record.msg = "%s; Temporal retries it until a worker has the key"
        record.args = (str(err),)
        record.exc_info = None
        record.exc_text = None
        return True


def key_error_in(err: BaseException | None) -> EncryptionKeyError | None:
    """``err`` or the first error it was raised from that is an :class:`EncryptionKeyError`."""
    seen = 0
    while err is not None and seen < 20:
        if isinstance(err, EncryptionKeyError):
            return err
        err = err.__cause__ or err.__context__
        seen += 1
    return None


SDK_LOGGERS = ("temporalio.worker._workflow", "temporalio.activity")
"""Where the SDK logs a failed workflow task, and a failed activity, with its stack."""


def install_log_filter() -> None:
    """Put :class:`UndecryptableWorkflowLog` on the SDK's worker loggers, once."""
    for name in SDK_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, UndecryptableWorkflowLog) for f in logger.filters):
            logger.addFilter(UndecryptableWorkflowLog())
