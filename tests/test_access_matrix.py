"""End to end: every gateway endpoint that reads or changes a child's data refuses the wrong callers.

The endpoints are taken from the gateway's OpenAPI document: every operation
with a child, lesson, group, document or unit in its path, and the ones that
name a child in their body. For each one, four callers are refused: an
anonymous caller, a guardian of another family, staff of another unit, and a
guardian who logged in with a password (for documents). The refusal must
not tell whether the object exists, so each call is repeated with made-up
ids and must get the same status and error code.
"""

import base64
import re
import uuid
from dataclasses import dataclass
from datetime import datetime

import pytest

from torget_tools.journey import (
    STOCKHOLM,
    Endpoints,
    Gateway,
    Municipality,
    Session,
    check,
    create_lessons,
    lesson_times,
    next_school_day,
)
from torget_tools.stack import run_tool, running_stack

# Unit settings are not a child's data; staff of other units may read them.
NOT_CHILD_DATA = {
    ("GET", "/attendance/units/{unit_id}/rules"),
    ("PATCH", "/attendance/units/{unit_id}/rules"),
    ("GET", "/directory/units/{unit_id}/features"),
    ("PUT", "/directory/units/{unit_id}/features"),
}
# Paths without an id in them whose request body names a child or a lesson.
BODY_ENDPOINTS = {
    ("POST", "/attendance/absence-reports"),
    ("POST", "/attendance/check-ins"),
    ("POST", "/attendance/check-outs"),
    ("PUT", "/attendance/lesson-plans"),
    ("POST", "/documents"),
    ("POST", "/messaging/conversations"),
}
ID_PARAMETERS = {"child_person_id", "child_id", "lesson_id", "group_id", "document_id", "attachment_id", "unit_id"}
# Endpoints that must be in the matrix; a renamed route must not drop out of it unnoticed.
REQUIRED = {
    ("GET", "/attendance/lessons/{lesson_id}"),
    ("PUT", "/attendance/lessons/{lesson_id}/registration"),
    ("GET", "/attendance/children/{child_person_id}/lessons"),
    ("GET", "/attendance/children/{child_person_id}/absence-reports"),
    ("POST", "/attendance/absence-reports"),
    ("GET", "/documents/{document_id}"),
    ("GET", "/documents/children/{child_person_id}"),
    ("GET", "/documents/children/{child_person_id}/access-log"),
    ("POST", "/documents"),
    ("POST", "/messaging/conversations"),
    ("GET", "/messaging/children/{child_person_id}/conversation-contacts"),
    ("POST", "/messaging/units/{unit_id}/feedback"),
    ("GET", "/messaging/units/{unit_id}/feedback"),
    ("POST", "/messaging/units/{unit_id}/announcements"),
}
# Endpoints addressed by a lesson id; attendance refuses an outsider with the
# same 404 lesson_not_found for a real lesson as for a made-up one.
LESSON_OPERATIONS = {
    ("GET", "/attendance/lessons/{lesson_id}"),
    ("PATCH", "/attendance/lessons/{lesson_id}"),
    ("POST", "/attendance/lessons/{lesson_id}/cancel"),
    ("PUT", "/attendance/lessons/{lesson_id}/registration"),
    ("GET", "/attendance/lessons/{lesson_id}/history"),
    ("PUT", "/attendance/lesson-plans"),
}
PNG_1X1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@dataclass
class Target:
    """The ids of one family's data, and of made-up objects of the same kinds."""

    ids: dict
    made_up: dict


@pytest.fixture(scope="module")
def stack(rabbit, rabbit_admin, tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("access")
    with running_stack(rabbit.amqp_uri, rabbit.api_uri, var_dir) as running:
        yield running


@pytest.fixture(scope="module")
def world(stack, tmp_path_factory):
    """The family whose data is asked for, and the four callers who must be refused."""
    dump_dir = tmp_path_factory.mktemp("dump")
    run_tool(["torget-directory-generate", dump_dir], stack.env)
    run_tool(["torget-directory-import", "--dump", dump_dir], stack.env)
    municipality = Municipality(dump_dir)
    gateway = Gateway(Endpoints.from_env(stack.env))

    family = municipality.families()[0]
    other = municipality.family_at_another_unit(family)

    def bankid(person) -> Session:
        return Session(gateway, gateway.bankid_login(person.personal_number, person.given_name, person.family_name, apply=True), person.name)

    teacher = bankid(family.teacher)
    guardian = bankid(family.guardians[0])
    other_guardian = bankid(other.guardians[0])
    other_staff = bankid(other.teacher)
    password_guardian = password_session(gateway, other_staff, other, other.guardians[1])
    own_password_guardian = password_session(gateway, teacher, family, family.guardians[1])

    today = datetime.now(STOCKHOLM).date()
    lesson = create_lessons(teacher, family, today, ("Svenska",))[0]
    teacher.put(f"/attendance/lessons/{lesson['id']}/registration", {"marks": [{"child_person_id": family.child.person_id, "status": "absent"}]})
    guardian.post(
        "/attendance/absence-reports",
        {"child_person_id": family.child.person_id, "first_date": next_school_day(today).isoformat(), "reason": "illness"},
        201,
    )
    iup = teacher.post("/documents", iup_body(family.child.person_id, today), 201)
    teacher.post(f"/documents/{iup['id']}/versions/{iup['version']}/finalize", {}, 200)
    logbook = teacher.post(
        "/documents",
        {"kind": "logbook", "document_date": today.isoformat(), "child_person_id": family.child.person_id, "body": {"text": "Vi byggde en koja."}},
        201,
    )
    attachment = check(
        teacher.request("POST", f"/documents/{logbook['id']}/attachments", files={"file": ("koja.png", PNG_1X1, "image/png")}), 201
    )

    ids = {
        "child_person_id": family.child.person_id,
        "child_id": family.child.person_id,
        "lesson_id": lesson["id"],
        "group_id": family.group_id,
        "unit_id": family.unit_id,
        "document_id": iup["id"],
        "logbook_id": logbook["id"],
        "attachment_id": attachment["id"],
        "version": "1",
    }
    made_up = {name: str(uuid.uuid4()) for name in ids}
    made_up["version"] = "1"
    return {
        "gateway": gateway,
        "family": family,
        "today": today,
        "target": Target(ids, made_up),
        "guardian": guardian,
        "own_password_guardian": own_password_guardian,
        "callers": {
            "anonymous": None,
            "guardian of another family": other_guardian,
            "staff of another unit": other_staff,
            "password-login guardian": password_guardian,
        },
    }


def password_session(gateway: Gateway, staff: Session, family, guardian_person) -> Session:
    """Have staff create a password account for the guardian, activate it, and log in with the password."""
    account = staff.post(
        "/identity/guardian-accounts",
        {
            "guardian_person_id": guardian_person.person_id,
            "child_person_id": family.child.person_id,
            "unit_id": family.unit_id,
            "given_name": guardian_person.given_name,
            "family_name": guardian_person.family_name,
        },
        201,
    )
    password = "ett-långt-lösenord-" + uuid.uuid4().hex[:8]
    check(
        gateway.anonymous(
            "POST", "/identity/activation", json={"username": account["username"], "code": account["activation_code"], "password": password}
        ),
        200,
    )
    tokens = gateway.password_login(account["username"], password)
    assert tokens["assurance"] == "password"
    return Session(gateway, tokens, guardian_person.name)


def iup_body(child_person_id: str, day) -> dict:
    return {
        "kind": "iup",
        "document_date": day.isoformat(),
        "child_person_id": child_person_id,
        "body": {"subjects": [{"subject": "Matematik", "goals": "Tiotalsövergångar", "assessment": "På god väg"}], "summary": "Bra"},
    }


@pytest.fixture(scope="module")
def openapi(world):
    return check(world["gateway"].anonymous("GET", "/api/openapi.json"), 200)


def child_data_operations(openapi: dict) -> list[tuple[str, str, dict]]:
    """Return (method, path, operation) of every operation that reads or changes a child's data."""
    operations = []
    for path, item in openapi["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        for method, operation in item.items():
            if method == "parameters":
                continue
            key = (method.upper(), path)
            if key in NOT_CHILD_DATA:
                continue
            if names & ID_PARAMETERS or key in BODY_ENDPOINTS:
                operations.append((method.upper(), path, operation))
    return operations


def request_for(method: str, path: str, operation: dict, ids: dict, today) -> dict:
    """Build the request of one operation for the objects in ``ids``, with a valid body and query."""
    document_key = "logbook_id" if "attachment" in path else "document_id"
    url = re.sub(r"{(\w+)}", lambda match: ids[document_key if match.group(1) == "document_id" else match.group(1)], path)
    query = {
        parameter["name"]: today.isoformat()
        for parameter in operation.get("parameters", [])
        if parameter.get("in") == "query" and parameter["name"] in ("first_date", "last_date")
    }
    if "attachment_id" in path or path == "/documents/{document_id}" and method == "GET":
        query["child_person_id"] = ids["child_person_id"]

    starts_at, ends_at = lesson_times(today, 5)
    bodies = {
        ("PATCH", "/attendance/lessons/{lesson_id}"): {"starts_at": starts_at, "ends_at": ends_at},
        ("PUT", "/attendance/lessons/{lesson_id}/registration"): {"marks": [{"child_person_id": ids["child_person_id"], "status": "present"}]},
        ("POST", "/attendance/absence-reports"): {
            "child_person_id": ids["child_person_id"],
            "first_date": today.isoformat(),
            "reason": "illness",
        },
        ("POST", "/attendance/check-ins"): {"child_person_id": ids["child_person_id"]},
        ("POST", "/attendance/check-outs"): {"child_person_id": ids["child_person_id"]},
        ("PUT", "/attendance/lesson-plans"): {"lesson_id": ids["lesson_id"], "title": "Bråk"},
        ("POST", "/documents"): iup_body(ids["child_person_id"], today),
        ("PUT", "/documents/{document_id}"): {"body": {"summary": "Ändrad"}, "base_version": 1},
        ("POST", "/messaging/conversations"): {
            "child_person_id": ids["child_person_id"],
            "unit_id": ids["unit_id"],
            "subject": "Fråga",
            "body": "Hej!",
            "recipient_person_ids": [ids["child_person_id"]],
        },
        ("POST", "/messaging/units/{unit_id}/feedback"): {"kind": "complaint", "subject": "Fråga", "body": "Hej!"},
        ("POST", "/messaging/units/{unit_id}/announcements"): {"audience": "unit", "title": "Fråga", "body": "Hej!"},
    }
    request = {"method": method, "url": url, "params": query}
    if path == "/documents/{document_id}/attachments" and method == "POST":
        request["files"] = {"file": ("koja.png", PNG_1X1, "image/png")}
    elif method in ("POST", "PUT", "PATCH"):
        request["json"] = bodies.get((method, path), {})
    return request


def call(world, caller: Session | None, request: dict):
    request = dict(request)
    method, url = request.pop("method"), request.pop("url")
    if caller is None:
        return world["gateway"].anonymous(method, url, **request)
    return caller.request(method, url, **request)


def refusal_shape(response) -> tuple:
    """Return what a refusal shows: its status, its error code and the keys of its error object."""
    try:
        error = response.json().get("error", {})
    except ValueError:
        return response.status_code, None, None
    return response.status_code, error.get("code"), tuple(sorted(error))


def test_matrix_covers_the_known_endpoints(openapi):
    found = {(method, path) for method, path, _ in child_data_operations(openapi)}
    missing = REQUIRED - found
    assert not missing


def refusals(world, openapi, caller_name: str, operations) -> tuple[list[str], list[str]]:
    """Call each operation with the real and with made-up ids; return the calls not refused and those refused unlike."""
    caller = world["callers"][caller_name]
    target = world["target"]
    not_refused, unlike = [], []
    for method, path, operation in operations:
        real = call(world, caller, request_for(method, path, operation, target.ids, world["today"]))
        made_up = call(world, caller, request_for(method, path, operation, target.made_up, world["today"]))

        if real.status_code < 400 or real.status_code >= 500:
            not_refused.append(f"{method} {path}: {real.status_code} {real.text[:300]}")
        elif refusal_shape(real) != refusal_shape(made_up):
            unlike.append(f"{method} {path}: real {refusal_shape(real)} {real.text[:200]} / made-up {refusal_shape(made_up)}")
    return not_refused, unlike


CALLERS = ["anonymous", "guardian of another family", "staff of another unit", "password-login guardian"]


@pytest.mark.parametrize("caller_name", CALLERS)
def test_wrong_caller_is_refused(world, openapi, caller_name):
    operations = child_data_operations(openapi)
    if caller_name == "password-login guardian":
        operations = [operation for operation in operations if operation[1].startswith("/documents")]
    not_refused, _ = refusals(world, openapi, caller_name, operations)
    assert not not_refused, "\n".join(not_refused)


@pytest.mark.parametrize("caller_name", CALLERS)
def test_refusal_hides_existence(world, openapi, caller_name):
    operations = [
        operation
        for operation in child_data_operations(openapi)
        if operation[:2] not in LESSON_OPERATIONS
        and (caller_name != "password-login guardian" or operation[1].startswith("/documents"))
    ]
    _, unlike = refusals(world, openapi, caller_name, operations)
    assert not unlike, "\n".join(unlike)


@pytest.mark.parametrize("caller_name", ["guardian of another family", "staff of another unit"])
def test_lesson_refusals_hide_existence(world, openapi, caller_name):
    operations = [operation for operation in child_data_operations(openapi) if operation[:2] in LESSON_OPERATIONS]
    assert len(operations) == len(LESSON_OPERATIONS)
    _, unlike = refusals(world, openapi, caller_name, operations)
    assert not unlike, "\n".join(unlike)


def test_password_guardian_is_sent_to_bankid(world):
    """A guardian with a password session gets the IUP of their own child only after logging in with BankID."""
    session = world["own_password_guardian"]
    iup_id = world["target"].ids["document_id"]
    response = session.request("GET", f"/documents/{iup_id}")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "bankid_required"
    assert "summary" not in response.text

    response = world["guardian"].request("GET", f"/documents/{iup_id}")
    assert response.status_code == 200
