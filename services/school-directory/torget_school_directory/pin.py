"""Personal identity numbers: validation, encryption at rest and the keyed lookup hash.

A personal identity number (personnummer) or coordination number
(samordningsnummer, day of birth + 60) is checked with the ``personnummer``
library and kept in its 12-digit form. The directory stores it encrypted with
AES-256-GCM and, for lookups, as HMAC-SHA256 under a second key, so the table
alone reveals neither the number nor whether a guessed number is in it.
"""

import base64
import hashlib
import hmac
import logging
import os
import re
from dataclasses import dataclass
from datetime import date

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from personnummer import personnummer

log = logging.getLogger(__name__)

PIN_KEY_VARIABLE = "DIRECTORY_PIN_KEY"
PIN_HASH_KEY_VARIABLE = "DIRECTORY_PIN_HASH_KEY"

# Development keys, used only when the environment sets none. Anyone with the
# source can decrypt data stored under them.
_DEVELOPMENT_PIN_KEY = hashlib.sha256(b"torget development personal identity number key").digest()
_DEVELOPMENT_PIN_HASH_KEY = hashlib.sha256(b"torget development personal identity number hash key").digest()

_NONCE_BYTES = 12
_TWELVE_DIGITS = re.compile(r"^(\d{8})-?(\d{4})$")


class InvalidPersonalIdentityNumber(ValueError):
    """The value is not a valid Swedish personal identity or coordination number."""


@dataclass(frozen=True)
class PersonalIdentityNumber:
    """A checked personal identity or coordination number in 12-digit form."""

    value: str
    birth_date: date
    is_coordination_number: bool


def parse_pin(raw: str) -> PersonalIdentityNumber:
    """Check ``raw`` (YYYYMMDDNNNC, a hyphen before NNNC allowed) and return it normalised.

    Raises InvalidPersonalIdentityNumber without repeating the value, because
    the message may reach a log or an import report.
    """
    match = _TWELVE_DIGITS.match(raw.strip()) if isinstance(raw, str) else None
    if match is None:
        raise InvalidPersonalIdentityNumber("not 12 digits in the form YYYYMMDDNNNC")

    digits = match.group(1) + match.group(2)
    try:
        parsed = personnummer.parse(digits)
    except personnummer.PersonnummerException:
        raise InvalidPersonalIdentityNumber("invalid date or check digit") from None

    return PersonalIdentityNumber(
        value=digits,
        birth_date=parsed.get_date(),
        is_coordination_number=parsed.is_coordination_number(),
    )


class PinProtector:
    """Encrypts personal identity numbers and computes their lookup hash."""

    def __init__(self, encryption_key: bytes, hash_key: bytes):
        if len(encryption_key) != 32:
            raise ValueError(f"{PIN_KEY_VARIABLE} must decode to 32 bytes (AES-256), got {len(encryption_key)}")
        if len(hash_key) < 32:
            raise ValueError(f"{PIN_HASH_KEY_VARIABLE} must decode to at least 32 bytes, got {len(hash_key)}")
        self._aead = AESGCM(encryption_key)
        self._hash_key = hash_key

    def lookup_hash(self, pin: str) -> str:
        return hmac.new(self._hash_key, pin.encode("ascii"), hashlib.sha256).hexdigest()

    def encrypt(self, pin: str, person_id: str) -> bytes:
        """Return nonce + ciphertext; the person id is bound as associated data."""
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, pin.encode("ascii"), person_id.encode("utf-8"))

    def decrypt(self, sealed: bytes, person_id: str) -> str:
        nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        return self._aead.decrypt(nonce, ciphertext, person_id.encode("utf-8")).decode("ascii")


def _decode_key(environ, name: str, development_default: bytes) -> bytes:
    raw = environ.get(name)
    if not raw:
        log.warning("%s is not set; using the development key, which must never protect real data", name)
        return development_default
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError as exc:
        raise ValueError(f"{name} must be base64 (for example from: openssl rand -base64 32)") from exc


def protector_from_env(environ=None) -> PinProtector:
    """Build the PinProtector from DIRECTORY_PIN_KEY and DIRECTORY_PIN_HASH_KEY (base64)."""
    environ = os.environ if environ is None else environ
    return PinProtector(
        _decode_key(environ, PIN_KEY_VARIABLE, _DEVELOPMENT_PIN_KEY),
        _decode_key(environ, PIN_HASH_KEY_VARIABLE, _DEVELOPMENT_PIN_HASH_KEY),
    )
