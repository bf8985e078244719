"""The identity endpoints and bearer-token verification, through the gateway to the real identity service.

The school directory is the identity tests' double, and BankID is the
BankID test server on 127.0.0.1.
"""

import base64
import hashlib
import hmac
import importlib.util
import json
import threading
import time
import uuid
from datetime import date
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from kombu import Connection, Exchange, Queue

from torget_gateway.tokens import TokenRejected, TokenVerifier
from torget_identity.bankid_test_server import make_server
from torget_identity.service import IdentityService

IDENTITY_TESTS = Path(__file__).resolve().parents[2] / "services" / "identity" / "tests"


def _load_directory_double():
    spec = importlib.util.spec_from_file_location("gateway_identity_directory_double", IDENTITY_TESTS / "identity_directory_double.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


directory_double = _load_directory_double()

GUARDIAN_NUMBER = "198507099805"
GUARDIAN_PERSON = "person-guardian-1"
CHILD_PERSON = "person-child-1"
STAFF_NUMBER = "197802022389"
ADMIN_NUMBER = "196903035551"
STRANGER_NUMBER = "199001019802"
UNIT = "unit-ekbacken"
SWEDISH = {"Accept-Language": "sv"}
ENGLISH = {"Accept-Language": "en"}


# -- token verification without a broker --------------------------------------------


class Keys:
    """A signing key and its JWKS, as identity publishes them."""

    def __init__(self):
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.kid = uuid.uuid4().hex
        jwk = json.loads(ECAlgorithm.to_jwk(self.private_key.public_key()))
        self.jwks = {
            "keys": [{**jwk, "kid": self.kid, "alg": "ES256", "use": "sig"}],
            "issuer": "torget-identity",
            "audience": "torget",
            "algorithms": ["ES256"],
        }

    def token(self, **overrides) -> str:
        now = int(time.time())
        claims = {
            "iss": "torget-identity",
            "aud": "torget",
            "sub": "account-1",
            "person_id": "person-1",
            "roles": ["guardian"],
            "assurance": "bankid",
            "sid": "session-1",
            "iat": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
            **overrides,
        }
        return jwt.encode(claims, self.private_key, algorithm="ES256", headers={"kid": self.kid})


def hmac_with_public_key(keys: Keys) -> str:
    """Return a token signed with HS256 keyed by the public key, the algorithm-confusion attack."""
    public_pem = keys.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())
    header = {"alg": "HS256", "typ": "JWT", "kid": keys.kid}
    claims = {"iss": "torget-identity", "aud": "torget", "sub": "account-1", "sid": "s", "iat": now, "exp": now + 60}
    signing_input = b".".join(_b64(json.dumps(part).encode()) for part in (header, claims))
    signature = hmac.new(public_pem, signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + _b64(signature)).decode()


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def verifier_for(keys: Keys, policy=None) -> TokenVerifier:
    answers = {"jwks": keys.jwks, "token_policy": policy or {"cutoffs": {}, "revoked_sessions": []}}
    return TokenVerifier(lambda method: answers[method])


def rejection(verifier: TokenVerifier, token: str, **kwargs) -> TokenRejected:
    with pytest.raises(TokenRejected) as excinfo:
        verifier.verify(token, **kwargs)
    return excinfo.value


def test_verifier_accepts_valid_token():
    keys = Keys()

    verified = verifier_for(keys).verify(keys.token())

    assert verified.account_id == "account-1"
    assert verified.roles == ("guardian",)
    assert verified.assurance == "bankid"
    assert verified.session_id == "session-1"


def test_verifier_rejects_bad_tokens():
    keys = Keys()
    verifier = verifier_for(keys)
    forger = Keys()
    forger.kid = keys.kid
    unsigned = jwt.encode({"sub": "account-1", "aud": "torget"}, key=None, algorithm="none", headers={"kid": keys.kid})

    cases = {
        "alg none": unsigned,
        "HMAC keyed with the public key": hmac_with_public_key(keys),
        "forged signature": forger.token(),
        "expired": keys.token(iat=int(time.time()) - 900, exp=int(time.time()) - 600),
        "wrong audience": keys.token(aud="another-service"),
        "wrong issuer": keys.token(iss="someone-else"),
        "missing session": jwt.encode(
            {"iss": "torget-identity", "aud": "torget", "sub": "a", "iat": int(time.time()), "exp": int(time.time()) + 60},
            keys.private_key,
            algorithm="ES256",
            headers={"kid": keys.kid},
        ),
        "unknown key": Keys().token(),
        "garbage": "not.a.token",
    }
    codes = {name: rejection(verifier, token).code for name, token in cases.items()}

    assert codes == {name: ("token_expired" if name == "expired" else "invalid_token") for name in cases}


def test_verifier_applies_policy():
    keys = Keys()
    today = date(2027, 6, 15)
    policy = {"cutoffs": {"guardian": "2027-06-15", "staff": "2027-07-01"}, "revoked_sessions": ["session-revoked"]}
    verifier = verifier_for(keys, policy)

    ended = rejection(verifier, keys.token(), today=today)
    revoked = rejection(verifier, keys.token(sid="session-revoked"), today=today)
    mixed = verifier.verify(keys.token(roles=["guardian", "staff"]), today=today)

    assert ended.code == "access_ended"
    assert ended.params == {"role": "guardian", "date": "2027-06-15"}
    assert revoked.code == "session_ended"
    assert mixed.roles == ("staff",)


# -- through the gateway to identity ---------------------------------------------------


class BankIdServer:
    def __init__(self):
        self.server = make_server("127.0.0.1", 0)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_port}"

    def complete(self, order_ref: str, personal_number: str) -> None:
        import requests

        response = requests.post(
            f"{self.base}/control/v1/orders/{order_ref}/complete",
            json={"personalNumber": personal_number, "givenName": "Anna", "surname": "Andersson"},
            timeout=5,
        )
        assert response.status_code == 200, response.text

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def bankid():
    server = BankIdServer()
    yield server
    server.stop()


@pytest.fixture
def identity_stack(start_service, container_factory, rabbit_config, bankid):
    """Start identity (on the BankID test server) and the directory double."""
    directory_double.reset()
    directory_double.add_person(GUARDIAN_NUMBER, GUARDIAN_PERSON, guardian_of=[CHILD_PERSON])
    directory_double.add_person(STAFF_NUMBER, "person-staff-1", duties=[{"unit_id": UNIT, "duty_role": "Lärare"}])
    directory_double.add_person(ADMIN_NUMBER, "person-admin-1", duties=[{"unit_id": UNIT, "duty_role": "Skoladministratör"}])
    directory_double.GUARDIANSHIPS.add(("person-guardian-2", CHILD_PERSON))
    directory_double.PLACEMENTS[CHILD_PERSON] = [UNIT]
    container_factory(directory_double.DirectoryDouble, {"AMQP_URI": rabbit_config["AMQP_URI"]}).start()
    start_service(
        IdentityService,
        BANKID_URL=f"{bankid.base}/rp/v6.0",
        BANKID_COLLECT_INTERVAL=0.05,
        IDENTITY_DATA_KEY=base64.b64encode(b"d" * 32).decode(),
        IDENTITY_LOOKUP_KEY=base64.b64encode(b"l" * 32).decode(),
        TORGET_PUBLIC_URL="https://torget.example.se",
    )
    yield
    directory_double.reset()


@pytest.fixture
def gateway(make_app, identity_stack):
    app = make_app(TOKEN_POLICY_TTL=0.0, RATE_LIMIT_KEY_PREFIX=uuid.uuid4().hex, ACTIVATION_RATE_LIMIT="4 per minute")
    return app.test_client()


def login(client, bankid, personal_number: str, path: str = "/identity/applications") -> dict:
    started = client.post("/identity/bankid/orders", headers=SWEDISH)
    assert started.status_code == 201, started.json
    order_ref = started.json["order_ref"]
    assert started.json["qr_data"].startswith("bankid.")

    bankid.complete(order_ref, personal_number)
    polled = client.get(f"/identity/bankid/orders/{order_ref}")
    assert polled.status_code == 200, polled.json
    assert polled.json["status"] == "complete"

    if path == "/identity/applications":
        return client.post(path, json={"order_ref": order_ref}, headers=SWEDISH)
    return client.post(f"/identity/bankid/orders/{order_ref}/session", headers=SWEDISH)


def bearer(tokens: dict, language: dict = SWEDISH) -> dict:
    return {"Authorization": f"Bearer {tokens['access_token']}", **language}


def error(response) -> dict:
    return response.json["error"]


def test_guardian_journey_through_gateway(gateway, bankid, rabbit_config):
    events = Connection(rabbit_config["AMQP_URI"])
    exchange = Exchange("identity.events", type="topic", durable=True)
    exchange(events.default_channel).declare()
    queue = Queue("test-gateway-identity-events", exchange=exchange, routing_key="email_verification_requested", exclusive=True)
    bound = queue(events.default_channel)
    bound.declare()

    applied = login(gateway, bankid, GUARDIAN_NUMBER)
    assert applied.status_code == 201, applied.json
    tokens = applied.json
    assert tokens["assurance"] == "bankid"

    me = gateway.get("/identity/me", headers=bearer(tokens))
    assert me.status_code == 200, me.json
    assert me.json["roles"] == ["guardian"]
    assert me.json["assurance"] == "bankid"

    requested = gateway.post("/identity/me/email", json={"email": "anna@example.se"}, headers=bearer(tokens))
    assert requested.status_code == 202, requested.json
    deadline = time.monotonic() + 10
    message = None
    while message is None and time.monotonic() < deadline:
        message = bound.get(no_ack=True)
        time.sleep(0.05)
    events.release()
    assert message is not None
    token = message.payload["payload"]["verification_url"].split("token=", 1)[1]

    verified = gateway.post("/identity/email-verification", json={"token": token})
    again_sv = gateway.post("/identity/email-verification", json={"token": token}, headers=SWEDISH)
    again_en = gateway.post("/identity/email-verification", json={"token": token}, headers=ENGLISH)
    assert verified.status_code == 200
    assert verified.json["email"] == "anna@example.se"
    assert again_sv.status_code == 409
    assert error(again_sv)["code"] == "verification_token_used"
    assert error(again_sv)["message"] == "Verifieringslänken har redan använts."
    assert error(again_en)["message"] == "The verification link has already been used."

    mobile = gateway.put("/identity/me/mobile", json={"mobile": "+46 070 123 45 67"}, headers=bearer(tokens))
    foreign = gateway.put("/identity/me/mobile", json={"mobile": "+47 412 34 567"}, headers=bearer(tokens))
    invalid = gateway.put("/identity/me/mobile", json={"mobile": "12345"}, headers=bearer(tokens, ENGLISH))
    assert mobile.status_code == 200
    assert mobile.json["mobile"] == "+46701234567"
    assert foreign.status_code == 422
    assert error(foreign)["code"] == "mobile_region_not_accepted"
    assert "Sverige" in error(foreign)["message"]
    assert invalid.status_code == 422
    assert error(invalid)["message"] == "The mobile number is not a valid phone number."

    refreshed = gateway.post("/identity/token/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    reused = gateway.post("/identity/token/refresh", json={"refresh_token": tokens["refresh_token"]}, headers=SWEDISH)
    assert reused.status_code == 401
    assert error(reused)["code"] == "refresh_token_reused"
    # The reuse revoked the session, so its access tokens stop working at once.
    revoked = gateway.get("/identity/me", headers=bearer(refreshed.json))
    assert revoked.status_code == 401
    assert error(revoked)["code"] == "session_ended"

    again = login(gateway, bankid, GUARDIAN_NUMBER, path="session").json
    logged_out = gateway.post("/identity/logout", json={}, headers=bearer(again))
    after_logout = gateway.get("/identity/me", headers=bearer(again))
    assert logged_out.status_code == 200
    assert after_logout.status_code == 401


def test_bad_tokens_get_401(gateway):
    unsigned = jwt.encode({"sub": "account-1", "aud": "torget"}, key=None, algorithm="none")
    forged = Keys().token()

    responses = {
        "alg none": gateway.get("/identity/me", headers={"Authorization": f"Bearer {unsigned}", **ENGLISH}),
        "forged": gateway.get("/identity/me", headers={"Authorization": f"Bearer {forged}", **SWEDISH}),
        "no token": gateway.get("/identity/me", headers=SWEDISH),
    }

    assert responses["alg none"].status_code == 401
    assert error(responses["alg none"])["message"] == "The access token is not valid. Log in again."
    assert responses["alg none"].headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert responses["forged"].status_code == 401
    assert error(responses["forged"])["code"] == "invalid_token"
    assert responses["no token"].status_code == 401
    assert error(responses["no token"])["code"] == "login_required"


def test_stranger_cannot_apply(gateway, bankid):
    refused = login(gateway, bankid, STRANGER_NUMBER)

    assert refused.status_code == 403
    assert error(refused)["code"] == "not_eligible"
    assert "Kontakta" in error(refused)["message"]


def test_staff_created_guardian_and_cutoff(gateway, bankid):
    staff = login(gateway, bankid, STAFF_NUMBER).json
    created = gateway.post(
        "/identity/guardian-accounts",
        json={
            "guardian_person_id": "person-guardian-2",
            "child_person_id": CHILD_PERSON,
            "unit_id": UNIT,
            "given_name": "Amal",
            "family_name": "Hassan",
        },
        headers=bearer(staff),
    )
    assert created.status_code == 201, created.json
    username = created.json["username"]

    wrong = gateway.post(
        "/identity/activation", json={"username": username, "code": "WRONGCODE2", "password": "x" * 14}, headers=SWEDISH
    )
    assert wrong.status_code == 401
    assert error(wrong)["message"] == "Aktiveringskoden är fel. Försök kvar: 4."

    activated = gateway.post(
        "/identity/activation",
        json={"username": username, "code": created.json["activation_code"], "password": "ett långt lösenord"},
    )
    assert activated.status_code == 200, activated.json
    password_tokens = gateway.post("/identity/password-login", json={"username": username, "password": "ett långt lösenord"})
    assert password_tokens.status_code == 201
    assert password_tokens.json["assurance"] == "password"
    assert gateway.get("/identity/me", headers=bearer(password_tokens.json)).json["assurance"] == "password"

    # Brute force on activation meets the rate limit (4 per minute in this app).
    for _ in range(3):
        gateway.post("/identity/activation", json={"username": username, "code": "WRONGCODE3", "password": "x" * 14})
    limited = gateway.post("/identity/activation", json={"username": username, "code": "WRONGCODE3", "password": "x" * 14})
    assert limited.status_code == 429
    assert error(limited)["code"] == "too_many_requests"

    admin = login(gateway, bankid, ADMIN_NUMBER).json
    today = date.today().isoformat()
    cutoff = gateway.put("/identity/access-cutoffs/guardian", json={"date": today}, headers=bearer(admin))
    assert cutoff.status_code == 200, cutoff.json

    existing = gateway.get("/identity/me", headers=bearer(password_tokens.json))
    relogin = gateway.post("/identity/password-login", json={"username": username, "password": "ett långt lösenord"}, headers=ENGLISH)
    assert existing.status_code == 403
    assert error(existing)["code"] == "access_ended"
    assert relogin.status_code == 403
    assert error(relogin)["message"].startswith("Access to Torget for guardians ended on")
    staff_still = gateway.get("/identity/me", headers=bearer(staff))
    assert staff_still.status_code == 200
