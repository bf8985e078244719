"""Accounts that staff create, their activation codes and password logins."""

import pytest
from nameko.exceptions import RemoteError

from identity_testing import (
    CHILD_PERSON,
    GUARDIAN_NUMBER,
    OTHER_UNIT,
    PASSWORD_GUARDIAN_PERSON,
    STAFF_NUMBER,
    UNIT,
    account_caller,
    bankid_login,
    identity_error,
)

PASSWORD = "korrekt häst batteri"


@pytest.fixture
def staff(identity, bankid_server, as_caller, directory):
    directory.GUARDIANSHIPS.add((PASSWORD_GUARDIAN_PERSON, CHILD_PERSON))
    tokens = bankid_login(identity, bankid_server, STAFF_NUMBER)
    return as_caller(account_caller(tokens))


def create_account(staff, unit_id=UNIT) -> dict:
    return staff.create_guardian_account(PASSWORD_GUARDIAN_PERSON, CHILD_PERSON, unit_id, "Amal", "Hassan", "ar")


def test_staff_created_guardian_logs_in(identity, staff, as_caller):
    created = create_account(staff)

    with pytest.raises(RemoteError) as before:
        identity.password_login(created["username"], PASSWORD)
    assert identity_error(before)["code"] == "invalid_credentials"

    code = created["activation_code"].lower()
    assert identity.activate_account(created["username"], code, PASSWORD)["status"] == "active"
    tokens = identity.password_login(created["username"], PASSWORD)

    assert tokens["assurance"] == "password"
    assert tokens["roles"] == ["guardian"]
    me = as_caller(account_caller(tokens)).me()
    assert me["login_method"] == "password"
    assert me["language"] == "ar"
    assert me["person_id"] == PASSWORD_GUARDIAN_PERSON
    with pytest.raises(RemoteError) as again:
        identity.activate_account(created["username"], created["activation_code"], "another long password")
    assert identity_error(again)["code"] == "account_already_activated"


def test_bankid_finds_staff_created_account(identity, staff, bankid_server, directory):
    created = create_account(staff)
    directory.add_person("198204045551", PASSWORD_GUARDIAN_PERSON, guardian_of=[CHILD_PERSON])

    tokens = bankid_login(identity, bankid_server, "198204045551")

    assert tokens["account_id"] == created["account_id"]
    assert tokens["account_created"] is False
    assert tokens["assurance"] == "bankid"


def test_activation_locks_after_wrong_codes(identity, staff):
    created = create_account(staff)

    remaining = []
    for _ in range(4):
        with pytest.raises(RemoteError) as wrong:
            identity.activate_account(created["username"], "WRONGCODE2", PASSWORD)
        assert identity_error(wrong)["code"] == "activation_code_invalid"
        remaining.append(identity_error(wrong)["params"]["remaining_attempts"])
    with pytest.raises(RemoteError) as fifth:
        identity.activate_account(created["username"], "WRONGCODE2", PASSWORD)
    with pytest.raises(RemoteError) as right_but_late:
        identity.activate_account(created["username"], created["activation_code"], PASSWORD)

    assert remaining == [4, 3, 2, 1]
    assert identity_error(fifth)["code"] == "activation_locked"
    assert identity_error(right_but_late)["code"] == "activation_locked"
    assert identity_error(right_but_late)["status"] == 403


def test_reissued_code_unlocks_activation(identity, staff):
    created = create_account(staff)
    for _ in range(5):
        with pytest.raises(RemoteError):
            identity.activate_account(created["username"], "WRONGCODE2", PASSWORD)

    reissued = staff.reissue_activation_code(created["account_id"])

    assert identity.activate_account(created["username"], reissued["activation_code"], PASSWORD)["status"] == "active"


def test_expired_activation_code_rejected(start_identity, bankid_server, as_caller, directory):
    identity = start_identity(IDENTITY_ACTIVATION_CODE_TTL=0.2)
    directory.GUARDIANSHIPS.add((PASSWORD_GUARDIAN_PERSON, CHILD_PERSON))
    staff = as_caller(account_caller(bankid_login(identity, bankid_server, STAFF_NUMBER)))
    created = create_account(staff)
    import time

    time.sleep(0.3)
    with pytest.raises(RemoteError) as expired:
        identity.activate_account(created["username"], created["activation_code"], PASSWORD)

    assert identity_error(expired)["code"] == "activation_code_expired"
    assert identity_error(expired)["status"] == 410


def test_short_password_costs_no_attempt(identity, staff):
    created = create_account(staff)

    with pytest.raises(RemoteError) as short:
        identity.activate_account(created["username"], created["activation_code"], "kort")

    assert identity_error(short)["code"] == "password_too_short"
    assert identity_error(short)["params"] == {"min_length": 12}
    assert identity.activate_account(created["username"], created["activation_code"], PASSWORD)["status"] == "active"


def test_account_creation_checks_directory(identity, bankid_server, staff, as_caller, directory):
    guardian = as_caller(account_caller(bankid_login(identity, bankid_server, GUARDIAN_NUMBER)))
    staff_tokens = bankid_login(identity, bankid_server, STAFF_NUMBER)
    password_caller = as_caller(account_caller(staff_tokens, assurance="password"))

    with pytest.raises(RemoteError) as other_unit:
        create_account(staff, unit_id=OTHER_UNIT)
    with pytest.raises(RemoteError) as by_guardian:
        create_account(guardian)
    with pytest.raises(RemoteError) as without_bankid:
        create_account(password_caller)
    with pytest.raises(RemoteError) as not_guardian:
        staff.create_guardian_account("person-nobody", CHILD_PERSON, UNIT, "No", "Body")
    directory.PLACEMENTS["person-child-elsewhere"] = [OTHER_UNIT]
    directory.GUARDIANSHIPS.add((PASSWORD_GUARDIAN_PERSON, "person-child-elsewhere"))
    with pytest.raises(RemoteError) as child_elsewhere:
        staff.create_guardian_account(PASSWORD_GUARDIAN_PERSON, "person-child-elsewhere", UNIT, "Amal", "Hassan")
    with pytest.raises(RemoteError) as unknown_child:
        staff.create_guardian_account(PASSWORD_GUARDIAN_PERSON, "person-unknown-child", UNIT, "Amal", "Hassan")

    assert identity_error(other_unit)["code"] == "not_staff_of_unit"
    assert identity_error(other_unit)["status"] == 403
    assert identity_error(by_guardian)["code"] == "staff_bankid_required"
    assert identity_error(without_bankid)["code"] == "staff_bankid_required"
    assert identity_error(not_guardian)["code"] == "not_guardian_of_child"
    assert identity_error(not_guardian)["status"] == 422
    assert identity_error(child_elsewhere)["code"] == "child_not_at_unit"
    assert identity_error(unknown_child)["code"] == "child_not_at_unit"


def test_wrong_passwords_lock_login(start_identity, bankid_server, as_caller, directory):
    identity = start_identity(IDENTITY_PASSWORD_MAX_ATTEMPTS=3)
    directory.GUARDIANSHIPS.add((PASSWORD_GUARDIAN_PERSON, CHILD_PERSON))
    staff = as_caller(account_caller(bankid_login(identity, bankid_server, STAFF_NUMBER)))
    created = create_account(staff)
    identity.activate_account(created["username"], created["activation_code"], PASSWORD)

    codes = []
    for _ in range(3):
        with pytest.raises(RemoteError) as wrong:
            identity.password_login(created["username"], "wrong password here")
        codes.append(identity_error(wrong)["code"])
    with pytest.raises(RemoteError) as locked:
        identity.password_login(created["username"], PASSWORD)

    assert codes == ["invalid_credentials"] * 3
    assert identity_error(locked)["code"] == "password_locked"
