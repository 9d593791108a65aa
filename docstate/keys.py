"""Encryption keys from settings: ``id:base64`` pairs, the first one current.

Key material is never part of an error message, a log line or a ``repr``; key ids are
(they travel beside every ciphertext anyway).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from docstate.config import Settings
from docstate.errors import ConfigurationError, EncryptionKeyError

KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # GCM's standard nonce; random per message


@dataclass(frozen=True)
class KeyRing:
    """Named AES-256-GCM keys; :attr:`current_id` encrypts, every key decrypts.

    Attributes:
        current_id: The id of the key new data is encrypted with.
        ids: Every key id, current first.
    """

    current_id: str
    ids: tuple[str, ...]
    _ciphers: dict[str, AESGCM] = field(repr=False, compare=False)

    @classmethod
    def parse(cls, text: str, setting: str) -> KeyRing:
        """Keys from ``"k2:<base64>,k1:<base64>"`` (commas or new lines between pairs).

        Raises:
            ConfigurationError: naming ``setting`` and the entry that is malformed
                (never its key material).
        """
        ciphers: dict[str, AESGCM] = {}
        entries = [e.strip() for e in re.split(r"[,\n]", text) if e.strip()]
        if not entries:
            raise ConfigurationError(f"{setting} holds no key; expected id:base64-key,...")
        for number, entry in enumerate(entries, 1):
            key_id, sep, encoded = entry.partition(":")
            key_id = key_id.strip()
            if not sep or not KEY_ID.match(key_id):
                raise ConfigurationError(
                    f"{setting}: entry {number} is not id:base64-key "
                    "(an id of letters, digits, '.', '_' or '-', then ':')"
                )
            if key_id in ciphers:
                raise ConfigurationError(f"{setting}: key id {key_id!r} appears twice")
            raw = _decode(encoded.strip())
            if raw is None or len(raw) != KEY_BYTES:
                raise ConfigurationError(
                    f"{setting}: key {key_id!r} is not base64 of {KEY_BYTES} random bytes "
                    "(make one with: python -c 'import os,base64;"
                    "print(base64.b64encode(os.urandom(32)).decode())')"
                )
            ciphers[key_id] = AESGCM(raw)
        return cls(entries[0].partition(":")[0].strip(), tuple(ciphers), ciphers)

    def cipher(self, key_id: str, what: str) -> AESGCM:
        """The key named ``key_id``.

        Raises:
            EncryptionKeyError: naming ``what`` was encrypted and the keys this process has.
        """
        try:
            return self._ciphers[key_id]
        except KeyError:
            raise EncryptionKeyError(
                f"{what} is encrypted with key {key_id!r}, which this process does not have "
                f"(its keys: {', '.join(self.ids)}); add that key to DOCSTATE_ENCRYPTION_KEYS"
            ) from None

    def seal(self, plaintext: bytes, context: bytes) -> tuple[str, bytes]:
        """``plaintext`` encrypted with the current key: (key id, nonce + ciphertext).

        ``context`` and the key id are bound in as associated data: the ciphertext only
        decrypts for the same context and key id.
        """
        nonce = os.urandom(NONCE_BYTES)
        aad = context + self.current_id.encode()
        sealed = self._ciphers[self.current_id].encrypt(nonce, plaintext, aad)
        return self.current_id, nonce + sealed

    def unseal(self, key_id: str, sealed: bytes, context: bytes, what: str) -> bytes:
        """The plaintext of :meth:`seal`'s output.

        Raises:
            EncryptionKeyError: when the key is missing, or the data does not decrypt
                with it (another key under the same id, or altered data).
        """
        cipher = self.cipher(key_id, what)
        try:
            aad = context + key_id.encode()
            return cipher.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
        except InvalidTag:
            raise EncryptionKeyError(
                f"{what} does not decrypt with key {key_id!r}: this process has another "
                "key under that id, or the data was altered"
            ) from None


def _decode(encoded: str) -> bytes | None:
    try:
        if "-" in encoded or "_" in encoded:
            return base64.urlsafe_b64decode(encoded)
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None


def load_keys(settings: Settings) -> KeyRing | None:
    """The key ring the settings name, or None when encryption is off.

    Raises:
        ConfigurationError: when both settings are given, the file cannot be read, or a
            key is malformed.
    """
    if settings.encryption_keys is not None and settings.encryption_keys_file is not None:
        raise ConfigurationError(
            "set DOCSTATE_ENCRYPTION_KEYS or DOCSTATE_ENCRYPTION_KEYS_FILE, not both"
        )
    if settings.encryption_keys is not None:
        text = settings.encryption_keys.get_secret_value()
        return KeyRing.parse(text, "DOCSTATE_ENCRYPTION_KEYS")
    if settings.encryption_keys_file is not None:
        path = settings.encryption_keys_file
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as err:
            reason = err.strerror if isinstance(err, OSError) else "not text"
            raise ConfigurationError(
                f"DOCSTATE_ENCRYPTION_KEYS_FILE: cannot read {path}: {reason}"
            ) from None
        return KeyRing.parse(text, f"DOCSTATE_ENCRYPTION_KEYS_FILE ({path})")
    return None
