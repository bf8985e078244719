"""Encryption at rest: AES-256-GCM under the administration's keyring.

Each administration runs its own copy of the services, so the keyring in the
service's configuration is the administration's. ``DOCUMENTS_KEYS`` lists the
keys as ``key-id=<base64 of 32 bytes>`` separated by commas, and
``DOCUMENTS_ACTIVE_KEY`` names the one new ciphertext is written with; the
others stay until key rotation has re-encrypted every row that uses them.

A sealed value is the 12-byte random nonce followed by the ciphertext and
tag. The associated data names the administration, the key id and the row
the value belongs to, so a ciphertext copied to another row, document or
child fails to decrypt instead of showing the wrong content.
"""

import base64
import binascii
import os
import re
import secrets
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from torget_documents.errors import DecryptionFailed, EncryptionKeyUnavailable

KEY_BYTES = 32
NONCE_BYTES = 12
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
AAD_PREFIX = "torget-documents/v1"


class KeyringConfigError(ValueError):
    """The keyring configuration is malformed; the message names the bad part."""


def parse_keys(spec: str) -> dict[str, bytes]:
    """Parse ``id=base64,id=base64`` into a mapping of key id to 32-byte key."""
    keys: dict[str, bytes] = {}
    for part in (item.strip() for item in spec.split(",")):
        if not part:
            continue
        key_id, separator, encoded = part.partition("=")
        key_id = key_id.strip()
        if not separator or not KEY_ID_PATTERN.match(key_id):
            raise KeyringConfigError(
                f"DOCUMENTS_KEYS entry {key_id[:40]!r} is invalid: write key-id=<base64 key>, "
                "with a key id of 1 to 32 letters, digits, '-' or '_'"
            )
        # Both the standard and the URL-safe alphabet are accepted, padded or not.
        encoded = encoded.strip().replace("-", "+").replace("_", "/")
        try:
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise KeyringConfigError(f"DOCUMENTS_KEYS key {key_id!r} is not valid base64") from exc
        if len(key) != KEY_BYTES:
            raise KeyringConfigError(f"DOCUMENTS_KEYS key {key_id!r} has {len(key)} bytes; AES-256 needs {KEY_BYTES}")
        if key_id in keys:
            raise KeyringConfigError(f"DOCUMENTS_KEYS names the key id {key_id!r} twice")
        keys[key_id] = key
    return keys


def new_key_line(key_id: str) -> str:
    """Return a ``key-id=<base64>`` entry with a fresh random key, for DOCUMENTS_KEYS."""
    if not KEY_ID_PATTERN.match(key_id):
        raise KeyringConfigError(f"key id {key_id!r} is invalid: use 1 to 32 letters, digits, '-' or '_'")
    return f"{key_id}={base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}"


@dataclass(frozen=True)
class Keyring:
    """The administration's keys, and the one that encrypts new values."""

    administration_id: str
    active_key_id: str
    keys: dict[str, bytes] = field(repr=False)

    @classmethod
    def from_config(cls, keys_spec: str | None, active_key_id: str | None, administration_id: str) -> "Keyring | None":
        """Build the keyring from configuration; return None when no key is configured.

        The service starts without a keyring so that the rest of the stack
        runs, but every document operation then fails with
        EncryptionKeyUnavailable.
        """
        keys = parse_keys(keys_spec or "")
        if not keys:
            return None

        if not active_key_id:
            if len(keys) > 1:
                raise KeyringConfigError("DOCUMENTS_ACTIVE_KEY must name one of the keys when DOCUMENTS_KEYS has several")
            active_key_id = next(iter(keys))
        if active_key_id not in keys:
            raise KeyringConfigError(
                f"DOCUMENTS_ACTIVE_KEY {active_key_id!r} is not in DOCUMENTS_KEYS (key ids: {', '.join(sorted(keys))})"
            )
        return cls(administration_id=administration_id, active_key_id=active_key_id, keys=keys)

    def _aad(self, key_id: str, context: str) -> bytes:
        return f"{AAD_PREFIX}|{self.administration_id}|{key_id}|{context}".encode()

    def encrypt(self, plaintext: bytes, context: str) -> tuple[str, bytes]:
        """Encrypt under the active key; return ``(key_id, nonce + ciphertext)``."""
        nonce = os.urandom(NONCE_BYTES)
        aead = AESGCM(self.keys[self.active_key_id])
        sealed = nonce + aead.encrypt(nonce, plaintext, self._aad(self.active_key_id, context))
        return self.active_key_id, sealed

    def decrypt(self, key_id: str, sealed: bytes, context: str) -> bytes:
        """Decrypt a value sealed under ``key_id`` for ``context``.

        Raises EncryptionKeyUnavailable when the key id is not in the keyring
        and DecryptionFailed when the key is wrong or the data was changed.
        """
        key = self.keys.get(key_id)
        if key is None:
            raise EncryptionKeyUnavailable(
                f"the encryption key {key_id!r} is not in the keyring; add it to DOCUMENTS_KEYS",
                key_id=key_id,
            )
        if len(sealed) < NONCE_BYTES + 16:
            raise DecryptionFailed(f"the value sealed under key {key_id!r} is truncated", key_id=key_id)

        nonce, ciphertext = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
        try:
            return AESGCM(key).decrypt(nonce, ciphertext, self._aad(key_id, context))
        except InvalidTag:
            raise DecryptionFailed(
                f"decryption with key {key_id!r} failed: the key is wrong, or the data or its row was changed",
                key_id=key_id,
            ) from None


def require(keyring: Keyring | None) -> Keyring:
    """Return the keyring, or raise EncryptionKeyUnavailable when none is configured."""
    if keyring is None:
        raise EncryptionKeyUnavailable(
            "no encryption key is configured: set DOCUMENTS_KEYS (and DOCUMENTS_ACTIVE_KEY when it lists several)"
        )
    return keyring


def main(argv=None) -> int:
    """Print a new DOCUMENTS_KEYS entry with a random key (``torget-documents-new-key KEY_ID``)."""
    import argparse

    parser = argparse.ArgumentParser(description="Print a new DOCUMENTS_KEYS entry with a random 256-bit key.")
    parser.add_argument("key_id", help="the new key's id, e.g. 2027-01 (letters, digits, '-' or '_')")
    args = parser.parse_args(argv)
    try:
        print(new_key_line(args.key_id))
    except KeyringConfigError as exc:
        parser.error(str(exc))
    return 0
