"""Callers, sample data and helpers shared by the documents tests."""

import base64
import json

from nameko.exceptions import RemoteError

from torget_shared.caller import Caller

UNIT_A, UNIT_B, UNIT_C = "unit-a", "unit-b", "unit-c"
GROUP_A1, GROUP_A2, GROUP_B1 = "group-a1", "group-a2", "group-b1"
CHILD, OTHER_CHILD = "child-1", "child-2"


def bankid(person_id: str, role: str) -> Caller:
    return Caller(kind="account", account_id=f"acc-{person_id}", person_id=person_id, roles=(role,), assurance="bankid")


def password(person_id: str, role: str) -> Caller:
    return Caller(kind="account", account_id=f"acc-{person_id}", person_id=person_id, roles=(role,), assurance="password")


TEACHER_A = bankid("teacher-a", "staff")
TEACHER_B = bankid("teacher-b", "staff")
ASSISTANT_A = bankid("assistant-a", "staff")
PRINCIPAL_A = bankid("principal-a", "staff")
NURSE_A = bankid("nurse-a", "staff")
GUARDIAN = bankid("guardian-1", "guardian")
GUARDIAN_PASSWORD = password("guardian-1", "guardian")
OTHER_GUARDIAN = bankid("guardian-2", "guardian")
NO_CUSTODY_GUARDIAN = bankid("guardian-3", "guardian")
PUPIL = bankid(CHILD, "pupil")


def error_of(excinfo) -> dict:
    """Return the code, message and params of a documents error raised through RPC."""
    exc = excinfo.value
    assert isinstance(exc, RemoteError), exc
    body = json.loads(exc.value)
    body["exc_type"] = exc.exc_type
    return body


def iup_body(goal: str = "Läsa längre texter med flyt") -> dict:
    return {
        "subjects": [
            {"subject": "Svenska", "goals": goal, "assessment": "Utvecklas väl"},
            {"subject": "Matematik", "goals": "Räkna med bråk", "assessment": ""},
        ],
        "summary": "Ett bra läsår",
    }


def png_bytes(extra: int = 0) -> bytes:
    """Return a small valid PNG (1x1 pixel), padded with ``extra`` bytes after the IEND chunk."""
    one_pixel = (
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    )
    return base64.b64decode(one_pixel) + b"\0" * extra


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()

