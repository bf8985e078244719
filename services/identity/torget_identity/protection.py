"""Keyed hashes, encryption and random secrets for what identity must keep safe.

Personal identity numbers are stored twice: an HMAC-SHA256 under the lookup
key finds the account, and AES-256-GCM under the data key keeps the number
itself for the calls to the school directory. Tokens and codes given to users
are stored only as keyed hashes, so a copy of the database cannot be replayed.
"""

import base64
import hashlib
import hmac
import secrets

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12

# Codes that a person reads and types: no 0/O, 1/I/L.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


class Protector:
    """Hashes and encrypts with the service's two keys."""

    def __init__(self, data_key: bytes, lookup_key: bytes):
        self._aead = AESGCM(data_key)
        self._lookup_key = lookup_key

    def lookup_hash(self, purpose: str, value: str) -> str:
        """Return the hex HMAC of ``value``; ``purpose`` keeps hashes of different kinds apart."""
        message = f"{purpose}:{value}".encode()
        return hmac.new(self._lookup_key, message, hashlib.sha256).hexdigest()

    def encrypt(self, purpose: str, plaintext: bytes) -> str:
        """Return nonce and ciphertext in base64; ``purpose`` is bound in as associated data."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        ciphertext = self._aead.encrypt(nonce, plaintext, purpose.encode())
        return base64.b64encode(nonce + ciphertext).decode()

    def decrypt(self, purpose: str, token: str) -> bytes:
        raw = base64.b64decode(token)
        return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], purpose.encode())

    def personal_number_hash(self, personal_number: str) -> str:
        return self.lookup_hash("personal_number", personal_number)

    def encrypt_personal_number(self, personal_number: str) -> str:
        return self.encrypt("personal_number", personal_number.encode())

    def decrypt_personal_number(self, token: str) -> str:
        return self.decrypt("personal_number", token).decode()


def new_token() -> str:
    """Return a URL-safe random token of 256 bits."""
    return secrets.token_urlsafe(32)


def new_code(length: int = 10) -> str:
    """Return a random activation code of ``length`` characters (about 5 bits each)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def normalize_code(code: str) -> str:
    """Return a typed code in upper case without spaces or dashes."""
    return "".join(code.split()).replace("-", "").upper()
