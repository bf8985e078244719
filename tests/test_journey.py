"""End to end: a guardian's journey over HTTP against the gateway of a real local-process stack.

One stack (`make run` on a RabbitMQ vhost of its own, SQLite files in a
temporary folder, every server on a free port) serves the whole module. The
journey runs once, as `make demo` runs it, and each test checks one step of
what it recorded: the BankID applications, the notices each guardian's phone
and mailbox received, the reported absence, and the IUP read.
"""

import re
from datetime import datetime

import pytest

from torget_shared.config import database_url
from torget_tools.journey import STOCKHOLM, Endpoints, Gateway, Journey, Municipality, next_school_day, wait_for_outboxes_drained
from torget_tools.stack import run_tool, running_stack

ENGLISH_SMS = re.compile(r"^Torget: .+ was absent from .+ on .+\. Log in to Torget to acknowledge\.$")
SWEDISH_SMS = re.compile(r"^Torget: .+ var frånvarande från .+\. Logga in i Torget och ta del av meddelandet\.$")


@pytest.fixture(scope="module")
def stack(rabbit, rabbit_admin, tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("journey")
    with running_stack(rabbit.amqp_uri, rabbit.api_uri, var_dir) as running:
        yield running


@pytest.fixture(scope="module")
def municipality(stack, tmp_path_factory):
    dump_dir = tmp_path_factory.mktemp("dump")
    run_tool(["torget-directory-generate", dump_dir], stack.env)
    run_tool(["torget-directory-import", "--dump", dump_dir], stack.env)
    return Municipality(dump_dir)


@pytest.fixture(scope="module")
def journey(stack, municipality):
    gateway = Gateway(Endpoints.from_env(stack.env))
    wait_for_outboxes_drained(gateway)
    journey = Journey(gateway, municipality, say=lambda line: None, audit_database_url=database_url("documents", stack.env))
    journey.run()
    return journey


def test_municipality_has_every_school_form(municipality):
    school_types = municipality.school_types()
    for school_type in ("FS", "FKLASS", "FTH", "GR", "GRS", "GY", "GYS", "VUX", "SFI"):
        assert school_type in school_types
    assert municipality.protected_child().protected
    assert municipality.entities["groups"]
    assert municipality.entities["activities"]


def test_guardians_apply_with_bankid(journey):
    for guardian in journey.guardians:
        assert guardian.session.tokens["roles"] == ["guardian"]
        assert guardian.session.tokens["assurance"] == "bankid"
        assert guardian.session.tokens["account_created"] is True

        me = guardian.session.get("/identity/me")
        assert me["person_id"] == guardian.person.person_id
        assert me["roles"] == ["guardian"]


def test_contact_details_are_verified(journey):
    contacts = journey.record["contacts"]
    for guardian in journey.guardians:
        contact = contacts[guardian.email]
        assert contact["email"] == guardian.email
        assert contact["mobile"] == guardian.mobile
        assert contact["language"] == guardian.language
        assert contact["preferences"] == {"sms": True, "email": True}
        # The guardian chose the language before giving the address, so the verification mail is in it.
        assert journey.record["verification_mails"][guardian.email]["content_language"] == guardian.language

        me = guardian.session.get("/identity/me")
        assert me["email"] == guardian.email
        assert me["pending_email"] is None


def test_each_guardian_gets_one_notice_per_channel(journey):
    english, swedish = journey.guardians
    notices = journey.record["notices"]

    sms, mails = notices[english.email]
    assert len(sms) == 1, sms
    assert len(mails) == 1, mails
    assert ENGLISH_SMS.match(sms[0]["message"]), sms[0]["message"]
    assert mails[0]["content_language"] == "en"
    assert mails[0]["subject"] == "Absence registered"
    assert journey.family.child.name in mails[0]["text"]

    sms, mails = notices[swedish.email]
    assert len(sms) == 1, sms
    assert len(mails) == 1, mails
    assert SWEDISH_SMS.match(sms[0]["message"]), sms[0]["message"]
    assert mails[0]["content_language"] == "sv"
    assert mails[0]["subject"] == "Frånvaro registrerad"
    assert journey.family.child.name in mails[0]["text"]


def test_notices_arrive_the_same_minute(journey):
    assert journey.record["notice_seconds"] < 60


def test_reported_absence_covers_tomorrow(journey):
    report = journey.record["absence_report"]
    tomorrow = next_school_day(datetime.now(STOCKHOLM).date())
    assert report["first_local_date"] == tomorrow.isoformat()
    assert report["last_local_date"] == tomorrow.isoformat()
    assert report["reason"] == "illness"

    pupil = journey.record["tomorrow_pupil"]
    assert pupil["reported_absence_id"] == report["id"]
    assert pupil["mark"]["status"] == "absent"
    assert pupil["mark"]["valid_absence"] is True


def test_reported_absence_sends_no_notice(journey):
    """After tomorrow's lesson, the next notice each guardian gets is that of today's second lesson."""
    second_lesson = journey.record.get("second_lesson_name", "Matematik")
    for guardian in journey.guardians:
        sms, mails = journey.record["notices_after_report"][guardian.email]
        assert len(sms) == 2, [message["message"] for message in sms]
        assert len(mails) == 2, [mail["subject"] for mail in mails]
        assert "Svenska" in sms[0]["message"]
        assert second_lesson in sms[1]["message"]


def test_guardian_reads_finalized_iup(journey):
    iup = journey.record["iup"]
    assert iup["kind"] == "iup"
    assert iup["state"] == "finalized"
    assert iup["child_person_id"] == journey.family.child.person_id
    assert iup["body"]["summary"] == "Fin utveckling under terminen."


def test_iup_accesses_are_logged(journey):
    iup = journey.record["iup"]
    staff_actions = [(entry["action"], entry["actor_role"]) for entry in journey.record["access_log"] if entry["document_id"] == iup["id"]]
    assert ("create", "staff") in staff_actions
    assert ("finalize", "staff") in staff_actions

    reads = journey.record["guardian_reads"]
    assert [(entry["action"], entry["assurance"], entry["decision"]) for entry in reads] == [("read", "bankid", "granted")]


def test_guardian_and_teacher_converse(journey):
    conversation = journey.record["conversation"]
    guardian = journey.guardians[0]

    assert [message["author"]["role"] for message in conversation["messages"]] == ["guardian", "staff"]
    assert conversation["unread_count"] == 1
    [mail] = journey.record["conversation_mails"]
    # The guardian chose English; the e-mail links to the conversation but carries neither its subject nor the answer.
    assert mail["content_language"] == guardian.language
    assert mail["subject"] == "New message in Torget"
    assert "handduk" not in mail["text"]
    assert "Idrottskläder" not in mail["text"]
    assert conversation["conversation_id"] in mail["text"]
