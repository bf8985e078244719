"""Refresh token rotation and reuse, tokens and JWKS, account disabling and access cut-offs."""

import time
from datetime import date, timedelta

import jwt
import pytest
from nameko.exceptions import RemoteError

from identity_testing import (
    ADMIN_NUMBER,
    GUARDIAN_NUMBER,
    GUARDIAN_PERSON,
    STAFF_NUMBER,
    account_caller,
    bankid_login,
    identity_error,
)


def verify(token: str, jwks: dict) -> dict:
    header = jwt.get_unverified_header(token)
    key = next(key for key in jwks["keys"] if key["kid"] == header["kid"])
    return jwt.decode(
        token,
        jwt.PyJWK(key).key,
        algorithms=jwks["algorithms"],
        audience=jwks["audience"],
        issuer=jwks["issuer"],
    )


def test_access_token_carries_claims(identity, bankid_server):
    tokens = bankid_login(identity, bankid_server, GUARDIAN_NUMBER)

    claims = verify(tokens["access_token"], identity.jwks())

    assert claims["sub"] == tokens["account_id"]
    assert claims["person_id"] == GUARDIAN_PERSON
    assert claims["roles"] == ["guardian"]
    assert claims["assurance"] == "bankid"
    assert claims["sid"] == tokens["session_id"]
    assert claims["exp"] - claims["iat"] == 300
    assert claims["jti"]
    assert GUARDIAN_NUMBER not in tokens["access_token"]


def test_rotated_key_stays_published(identity, bankid_server, as_caller):
    admin_tokens = bankid_login(identity, bankid_server, ADMIN_NUMBER)
    admin = as_caller(account_caller(admin_tokens))
    old_kid = jwt.get_unverified_header(admin_tokens["access_token"])["kid"]

    new_kid = admin.rotate_signing_key()["kid"]
    tokens = identity.refresh(admin_tokens["refresh_token"])
    jwks = identity.jwks()

    assert jwt.get_unverified_header(tokens["access_token"])["kid"] == new_kid
    assert {key["kid"] for key in jwks["keys"]} == {old_kid, new_kid}
    assert verify(admin_tokens["access_token"], jwks)["sub"] == admin_tokens["account_id"]


def test_reused_refresh_token_revokes_session(identity, bankid_server):
    tokens = bankid_login(identity, bankid_server, GUARDIAN_NUMBER)
    rotated = identity.refresh(tokens["refresh_token"])

    with pytest.raises(RemoteError) as reused:
        identity.refresh(tokens["refresh_token"])
    assert identity_error(reused)["code"] == "refresh_token_reused"
    assert identity_error(reused)["status"] == 401

    # The thief's use revoked the session, so the newest token is dead too.
    with pytest.raises(RemoteError) as after:
        identity.refresh(rotated["refresh_token"])
    assert identity_error(after)["code"] == "session_ended"
    assert tokens["session_id"] in identity.token_policy()["revoked_sessions"]
    with pytest.raises(RemoteError) as unknown:
        identity.refresh("not-a-token")
    assert identity_error(unknown)["code"] == "refresh_token_invalid"


def test_idle_session_expires(start_identity, bankid_server):
    identity = start_identity(IDENTITY_REFRESH_IDLE_TTL=0.5)
    tokens = bankid_login(identity, bankid_server, GUARDIAN_NUMBER)
    time.sleep(0.6)

    with pytest.raises(RemoteError) as expired:
        identity.refresh(tokens["refresh_token"])

    assert identity_error(expired)["code"] == "session_expired"


def test_disabled_account_loses_sessions(identity, bankid_server, as_caller, event_tap):
    guardian = bankid_login(identity, bankid_server, GUARDIAN_NUMBER)
    admin = as_caller(account_caller(bankid_login(identity, bankid_server, ADMIN_NUMBER)))

    result = admin.disable_account(guardian["account_id"], "moved away")

    assert result["sessions_ended"] == 1
    disabled = event_tap.wait_for("account_disabled")[0]["payload"]
    assert disabled["account_id"] == guardian["account_id"]
    assert disabled["person_id"] == GUARDIAN_PERSON
    assert guardian["session_id"] in identity.token_policy()["revoked_sessions"]
    with pytest.raises(RemoteError) as refresh:
        identity.refresh(guardian["refresh_token"])
    assert identity_error(refresh)["code"] == "session_ended"
    with pytest.raises(RemoteError) as login:
        bankid_login(identity, bankid_server, GUARDIAN_NUMBER)
    assert identity_error(login)["code"] == "account_disabled"


def test_cutoff_ends_role_access(identity, bankid_server, as_caller):
    guardian = bankid_login(identity, bankid_server, GUARDIAN_NUMBER)
    admin = as_caller(account_caller(bankid_login(identity, bankid_server, ADMIN_NUMBER)))
    today = date.today().isoformat()

    assert admin.set_access_cutoff("guardian", today) == {"role": "guardian", "date": today}

    with pytest.raises(RemoteError) as login:
        bankid_login(identity, bankid_server, GUARDIAN_NUMBER)
    error = identity_error(login)
    assert error["code"] == "access_ended"
    assert error["status"] == 403
    assert error["params"] == {"role": "guardian", "date": today}

    with pytest.raises(RemoteError) as refresh:
        identity.refresh(guardian["refresh_token"])
    assert identity_error(refresh)["code"] == "access_ended"

    assert identity.token_policy()["cutoffs"] == {"guardian": today}
    # Staff keep their access.
    assert bankid_login(identity, bankid_server, STAFF_NUMBER)["roles"] == ["staff"]


def test_future_cutoff_keeps_access(identity, bankid_server, as_caller):
    admin = as_caller(account_caller(bankid_login(identity, bankid_server, ADMIN_NUMBER)))
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    admin.set_access_cutoff("guardian", tomorrow)

    tokens = bankid_login(identity, bankid_server, GUARDIAN_NUMBER)

    assert tokens["roles"] == ["guardian"]


def test_administration_needs_administrator(identity, bankid_server, as_caller):
    staff = as_caller(account_caller(bankid_login(identity, bankid_server, STAFF_NUMBER)))
    admin = as_caller(account_caller(bankid_login(identity, bankid_server, ADMIN_NUMBER)))
    today = date.today().isoformat()

    for call in (
        lambda: staff.set_access_cutoff("guardian", today),
        lambda: staff.rotate_signing_key(),
        lambda: staff.disable_account(admin.me()["account_id"]),
    ):
        with pytest.raises(RemoteError) as refused:
            call()
        assert identity_error(refused)["code"] == "administrator_required"
        assert identity_error(refused)["status"] == 403

    with pytest.raises(RemoteError) as unknown_role:
        admin.set_access_cutoff("wizard", today)
    assert identity_error(unknown_role)["code"] == "role_unknown"
    with pytest.raises(RemoteError) as bad_date:
        admin.set_access_cutoff("guardian", "31/12/2026")
    assert identity_error(bad_date)["code"] == "date_invalid"
