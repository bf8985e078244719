"""Settings of the identity service, read from the nameko config and the environment.

A key in the nameko config (the service's config.yaml, or the config a test
passes) wins over the environment variable of the same name.
"""

import base64
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

DEFAULT_NOTICE_LANGUAGES = ("sv", "en", "ar")


def _read(config, name: str, default=None):
    value = config.get(name) if config else None
    if value in (None, ""):
        value = os.environ.get(name)
    return default if value in (None, "") else value


def _seconds(config, name: str, default: float) -> float:
    raw = _read(config, name, default)
    try:
        value = float(raw)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a number of seconds, got {raw!r}") from exc
    if value <= 0:
        raise ValueError(f"{name} must be greater than zero, got {raw!r}")
    return value


def _count(config, name: str, default: int) -> int:
    raw = _read(config, name, default)
    try:
        value = int(raw)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from exc
    if value <= 0:
        raise ValueError(f"{name} must be greater than zero, got {raw!r}")
    return value


def _list(config, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = _read(config, name)
    if raw is None:
        return default
    if isinstance(raw, (list, tuple)):
        return tuple(str(item).strip() for item in raw if str(item).strip())
    return tuple(part.strip() for part in str(raw).split(",") if part.strip())


def _key(raw: str, name: str) -> bytes:
    try:
        key = base64.b64decode(raw, validate=True)
    except ValueError as exc:
        raise ValueError(f"{name} must be 32 bytes in base64") from exc
    if len(key) != 32:
        raise ValueError(f"{name} must be 32 bytes in base64, got {len(key)} bytes")
    return key


def _development_keys(var_dir: str) -> dict[str, str]:
    """Return the keys of a local trial stack, made once and kept in ``var_dir``.

    Production sets IDENTITY_DATA_KEY and IDENTITY_LOOKUP_KEY instead, so the
    keys live outside the database host.
    """
    path = os.path.join(var_dir, "identity-keys.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as key_file:
            return json.load(key_file)

    os.makedirs(var_dir, exist_ok=True)
    keys = {
        "IDENTITY_DATA_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "IDENTITY_LOOKUP_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
    }
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # Another process of the stack made the keys first.
        time.sleep(0.1)
        with open(path, encoding="utf-8") as key_file:
            return json.load(key_file)
    with os.fdopen(descriptor, "w", encoding="utf-8") as key_file:
        json.dump(keys, key_file)
    log.warning("IDENTITY_DATA_KEY and IDENTITY_LOOKUP_KEY are not set: made development keys in %s", path)
    return keys


@dataclass(frozen=True)
class IdentitySettings:
    """Configuration of the identity service; times are in seconds."""

    # 32-byte keys: AES-256-GCM for personal identity numbers and private
    # signing keys, HMAC-SHA256 for lookups of identity numbers and codes.
    data_key: bytes
    lookup_key: bytes

    bankid_url: str = "http://127.0.0.1:5055/rp/v6.0"
    # Client certificate and key (PEM) for mutual TLS, and the CA bundle
    # that signs BankID's server certificate. Empty: no client certificate
    # and the system's CA bundle.
    bankid_client_cert: str | None = None
    bankid_client_key: str | None = None
    bankid_ca: str | None = None
    bankid_timeout: float = 10.0
    bankid_collect_interval: float = 2.0

    token_issuer: str = "torget-identity"
    token_audience: str = "torget"
    access_token_ttl: float = 300.0
    refresh_idle_ttl: float = 8 * 3600.0
    refresh_absolute_ttl: float = 7 * 24 * 3600.0
    signing_key_max_age: float = 30 * 24 * 3600.0

    public_base_url: str = "http://127.0.0.1:8000"
    email_verification_ttl: float = 24 * 3600.0
    recent_login: float = 900.0
    notice_languages: tuple[str, ...] = DEFAULT_NOTICE_LANGUAGES
    # Regions (ISO 3166 codes) whose mobile numbers may receive SMS.
    sms_regions: tuple[str, ...] = ("SE",)

    activation_code_ttl: float = 14 * 24 * 3600.0
    activation_max_attempts: int = 5
    password_min_length: int = 12
    password_max_attempts: int = 10
    password_lock: float = 900.0

    administrator_duty_roles: tuple[str, ...] = ("Skoladministratör",)
    cutoff_roles: tuple[str, ...] = field(default=("guardian", "pupil", "staff"))

    @classmethod
    def from_config(cls, config=None) -> "IdentitySettings":
        config = config or {}
        data_key = _read(config, "IDENTITY_DATA_KEY")
        lookup_key = _read(config, "IDENTITY_LOOKUP_KEY")
        if data_key is None or lookup_key is None:
            keys = _development_keys(_read(config, "TORGET_VAR_DIR", "var"))
            data_key = data_key or keys["IDENTITY_DATA_KEY"]
            lookup_key = lookup_key or keys["IDENTITY_LOOKUP_KEY"]

        return cls(
            data_key=_key(data_key, "IDENTITY_DATA_KEY"),
            lookup_key=_key(lookup_key, "IDENTITY_LOOKUP_KEY"),
            bankid_url=str(_read(config, "BANKID_URL", cls.bankid_url)).rstrip("/"),
            bankid_client_cert=_read(config, "BANKID_CLIENT_CERT"),
            bankid_client_key=_read(config, "BANKID_CLIENT_KEY"),
            bankid_ca=_read(config, "BANKID_CA"),
            bankid_timeout=_seconds(config, "BANKID_TIMEOUT", cls.bankid_timeout),
            bankid_collect_interval=_seconds(config, "BANKID_COLLECT_INTERVAL", cls.bankid_collect_interval),
            token_issuer=_read(config, "IDENTITY_TOKEN_ISSUER", cls.token_issuer),
            token_audience=_read(config, "IDENTITY_TOKEN_AUDIENCE", cls.token_audience),
            access_token_ttl=_seconds(config, "IDENTITY_ACCESS_TOKEN_TTL", cls.access_token_ttl),
            refresh_idle_ttl=_seconds(config, "IDENTITY_REFRESH_IDLE_TTL", cls.refresh_idle_ttl),
            refresh_absolute_ttl=_seconds(config, "IDENTITY_REFRESH_ABSOLUTE_TTL", cls.refresh_absolute_ttl),
            signing_key_max_age=_seconds(config, "IDENTITY_SIGNING_KEY_MAX_AGE", cls.signing_key_max_age),
            public_base_url=str(_read(config, "TORGET_PUBLIC_URL", cls.public_base_url)).rstrip("/"),
            email_verification_ttl=_seconds(config, "IDENTITY_EMAIL_VERIFICATION_TTL", cls.email_verification_ttl),
            recent_login=_seconds(config, "IDENTITY_RECENT_LOGIN", cls.recent_login),
            notice_languages=_list(config, "IDENTITY_NOTICE_LANGUAGES", cls.notice_languages),
            sms_regions=tuple(region.upper() for region in _list(config, "IDENTITY_SMS_REGIONS", cls.sms_regions)),
            activation_code_ttl=_seconds(config, "IDENTITY_ACTIVATION_CODE_TTL", cls.activation_code_ttl),
            activation_max_attempts=_count(config, "IDENTITY_ACTIVATION_MAX_ATTEMPTS", cls.activation_max_attempts),
            password_min_length=_count(config, "IDENTITY_PASSWORD_MIN_LENGTH", cls.password_min_length),
            password_max_attempts=_count(config, "IDENTITY_PASSWORD_MAX_ATTEMPTS", cls.password_max_attempts),
            password_lock=_seconds(config, "IDENTITY_PASSWORD_LOCK", cls.password_lock),
            administrator_duty_roles=_list(config, "IDENTITY_ADMINISTRATOR_DUTY_ROLES", cls.administrator_duty_roles),
        )
