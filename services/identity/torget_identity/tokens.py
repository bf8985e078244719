"""Signing keys, access tokens and the JWKS that the gateway verifies them with.

Access tokens are ES256 JWTs. The newest signing key signs; when it is older
than ``signing_key_max_age`` a new key takes over and the old one is retired.
A retired key stays in the JWKS until every token it signed has expired.
Private keys are stored encrypted with the data key, so every instance of the
service signs with the same key.
"""

import json
import logging
import uuid
from datetime import datetime, timedelta

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from sqlalchemy import insert, or_, select, update
from sqlalchemy.orm import Session

from torget_identity.models import signing_keys
from torget_identity.protection import Protector
from torget_identity.settings import IdentitySettings
from torget_shared.db import utcnow

log = logging.getLogger(__name__)

ALGORITHM = "ES256"
# Seconds a retired key stays published beyond the access token lifetime,
# for clocks that differ a little.
PUBLISH_LEEWAY = 60

_private_keys: dict[str, ec.EllipticCurvePrivateKey] = {}


def _private_key(protector: Protector, row) -> ec.EllipticCurvePrivateKey:
    key = _private_keys.get(row.kid)
    if key is None:
        pem = protector.decrypt("signing_key", row.private_key_encrypted)
        key = serialization.load_pem_private_key(pem, password=None)
        _private_keys[row.kid] = key
    return key


def create_signing_key(session: Session, protector: Protector, now: datetime | None = None) -> str:
    """Add a new signing key, retire the others, and return the new key id."""
    now = now or utcnow()
    private_key = ec.generate_private_key(ec.SECP256R1())
    kid = uuid.uuid4().hex
    public_jwk = json.loads(ECAlgorithm.to_jwk(private_key.public_key()))
    public_jwk.update({"kid": kid, "use": "sig", "alg": ALGORITHM})
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )

    session.execute(
        update(signing_keys).where(signing_keys.c.retired_at.is_(None)).values(retired_at=now)
    )
    session.execute(
        insert(signing_keys).values(
            kid=kid,
            algorithm=ALGORITHM,
            private_key_encrypted=protector.encrypt("signing_key", pem),
            public_jwk=public_jwk,
            created_at=now,
        )
    )
    log.info("signing key created", extra={"kid": kid})
    return kid


def current_signing_key(session: Session, protector: Protector, settings: IdentitySettings):
    """Return the row of the key that signs now, making a new one when there is none or it is too old."""
    now = utcnow()
    row = session.execute(
        select(signing_keys).where(signing_keys.c.retired_at.is_(None)).order_by(signing_keys.c.created_at.desc())
    ).first()
    if row is None or now - row.created_at > timedelta(seconds=settings.signing_key_max_age):
        kid = create_signing_key(session, protector, now)
        row = session.execute(select(signing_keys).where(signing_keys.c.kid == kid)).one()
    return row


def published_keys(session: Session, settings: IdentitySettings) -> dict:
    """Return the JWKS: the signing key and every retired key whose tokens may still be valid."""
    oldest_valid = utcnow() - timedelta(seconds=settings.access_token_ttl + PUBLISH_LEEWAY)
    rows = session.execute(
        select(signing_keys.c.public_jwk)
        .where(or_(signing_keys.c.retired_at.is_(None), signing_keys.c.retired_at > oldest_valid))
        .order_by(signing_keys.c.created_at.desc())
    ).all()
    return {"keys": [row.public_jwk for row in rows]}


def issue_access_token(
    session: Session,
    protector: Protector,
    settings: IdentitySettings,
    *,
    account_id: str,
    person_id: str | None,
    roles: list[str],
    assurance: str,
    session_id: str,
    authenticated_at: datetime,
) -> tuple[str, int]:
    """Return a signed access token and its lifetime in seconds."""
    key_row = current_signing_key(session, protector, settings)
    now = utcnow()
    lifetime = int(settings.access_token_ttl)
    claims = {
        "iss": settings.token_issuer,
        "aud": settings.token_audience,
        "sub": account_id,
        "person_id": person_id,
        "roles": list(roles),
        "assurance": assurance,
        "sid": session_id,
        "auth_time": int(authenticated_at.timestamp()),
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + lifetime,
        "jti": uuid.uuid4().hex,
    }
    token = jwt.encode(claims, _private_key(protector, key_row), algorithm=ALGORITHM, headers={"kid": key_row.kid})
    return token, lifetime
