"""Verifying access tokens against the identity service's JWKS and token policy.

The gateway fetches the JWKS and the token policy from identity over RPC and
caches both: the JWKS for ``GATEWAY_JWKS_TTL`` seconds (fetched again at once
for an unknown key id, at most every ``JWKS_REFETCH_INTERVAL`` seconds), the
policy for ``GATEWAY_TOKEN_POLICY_TTL`` seconds. The algorithm is pinned to
the one identity signs with, so a token cannot choose its own (``alg: none``
or an HMAC keyed with the public key).
"""

import logging
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import jwt

log = logging.getLogger(__name__)

ALGORITHMS = ("ES256",)
REQUIRED_CLAIMS = ("exp", "iat", "sub", "sid", "aud", "iss")
# A token with an unknown key id makes the gateway fetch the JWKS again at most
# this often (seconds), so a rotated key is learnt quickly but random key ids
# cannot flood identity with calls.
JWKS_REFETCH_INTERVAL = 2.0
# Seconds of clock difference between identity and the gateway that a token's times may have.
LEEWAY = 30
STOCKHOLM = ZoneInfo("Europe/Stockholm")


class TokenRejected(Exception):
    """The token is not accepted; ``code`` is invalid_token, token_expired, session_ended or access_ended."""

    def __init__(self, code: str, **params):
        super().__init__(code)
        self.code = code
        self.params = params


@dataclass(frozen=True)
class VerifiedToken:
    account_id: str
    person_id: str | None
    roles: tuple[str, ...]
    assurance: str | None
    session_id: str


class TokenVerifier:
    """Verifies access tokens; ``fetch(method)`` calls an identity RPC and returns its result."""

    def __init__(self, fetch, *, jwks_ttl: float = 300.0, policy_ttl: float = 10.0, clock=time.monotonic):
        self._fetch = fetch
        self._jwks_ttl = jwks_ttl
        self._policy_ttl = policy_ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._jwks: dict | None = None
        self._jwks_fetched = float("-inf")
        self._policy: dict | None = None
        self._policy_fetched = float("-inf")

    def verify(self, token: str, today: date | None = None) -> VerifiedToken:
        """Return the token's verified claims, or raise TokenRejected (or the RPC error of a failed fetch)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise TokenRejected("invalid_token") from None
        if header.get("alg") not in ALGORITHMS:
            log.info("access token rejected: algorithm %r is not allowed", str(header.get("alg"))[:20])
            raise TokenRejected("invalid_token")

        jwks = self._jwks_with(header.get("kid"))
        key = _key(jwks, header.get("kid"))
        if key is None:
            log.info("access token rejected: unknown key id")
            raise TokenRejected("invalid_token")

        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=list(ALGORITHMS),
                audience=jwks["audience"],
                issuer=jwks["issuer"],
                leeway=LEEWAY,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRejected("token_expired") from None
        except jwt.InvalidTokenError as exc:
            log.info("access token rejected: %s", type(exc).__name__)
            raise TokenRejected("invalid_token") from None

        roles = tuple(claims.get("roles") or ())
        policy = self._current_policy()
        if claims["sid"] in policy.get("revoked_sessions", ()):
            raise TokenRejected("session_ended")
        roles = _roles_with_access(roles, policy.get("cutoffs") or {}, today or datetime.now(STOCKHOLM).date())

        return VerifiedToken(
            account_id=claims["sub"],
            person_id=claims.get("person_id"),
            roles=roles,
            assurance=claims.get("assurance"),
            session_id=claims["sid"],
        )

    def _jwks_with(self, kid) -> dict:
        with self._lock:
            age = self._clock() - self._jwks_fetched
            stale = self._jwks is None or age >= self._jwks_ttl
            unknown = self._jwks is not None and _key(self._jwks, kid) is None and age >= JWKS_REFETCH_INTERVAL
            if stale or unknown:
                self._jwks = self._refetch("jwks", self._jwks)
                self._jwks_fetched = self._clock()
            return self._jwks

    def _current_policy(self) -> dict:
        with self._lock:
            if self._policy is None or self._clock() - self._policy_fetched >= self._policy_ttl:
                self._policy = self._refetch("token_policy", self._policy)
                self._policy_fetched = self._clock()
            return self._policy

    def _refetch(self, method: str, cached):
        """Fetch again, or return the cached copy when the call to identity fails."""
        try:
            return self._fetch(method)
        except Exception as exc:
            if cached is None:
                raise
            log.warning("identity.%s failed, using the cached copy: %s", method, type(exc).__name__)
            return cached


def _key(jwks: dict, kid):
    for jwk in jwks.get("keys", ()):
        if jwk.get("kid") == kid and jwk.get("alg") in ALGORITHMS:
            return jwt.PyJWK(jwk).key
    return None


def _roles_with_access(roles: tuple[str, ...], cutoffs: dict, today: date) -> tuple[str, ...]:
    """Drop the roles whose cut-off date has come; reject the token when it had roles and none is left."""
    ended = {role: cutoffs[role] for role in roles if role in cutoffs and date.fromisoformat(cutoffs[role]) <= today}
    remaining = tuple(role for role in roles if role not in ended)
    if roles and not remaining:
        role = min(ended, key=ended.get)
        raise TokenRejected("access_ended", role=role, date=ended[role])
    return remaining
