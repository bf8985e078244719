"""Feedback to a unit's administration: who may send, who lists and answers, anonymity and the answer e-mail.

Real RabbitMQ, PostgreSQL and SMTP server; the school directory is the
stand-in of torget_messaging.testing, filled per test.
"""

import uuid

import pytest

from torget_messaging.testing import (
    GuardianSpec,
    StaffSpec,
    account,
    call_as,
    deliveries,
    rejection,
    set_up_household,
    set_up_staff,
    smtp_recipients,
)
from torget_shared.testing.probe import wait_for


class School:
    """A unit with a principal, a school administrator and a teacher, a family there and a family elsewhere."""

    def __init__(self, rabbit_config, database_url, directory_data):
        amqp_uri = rabbit_config["AMQP_URI"]
        self.database_url = database_url
        self.karin = GuardianSpec("Karin", language="sv", email="karin@example.se")
        self.erik = GuardianSpec("Erik", language="sv", email="erik@example.se")
        family = set_up_household(amqp_uri, database_url, [self.karin])
        elsewhere = set_up_household(amqp_uri, database_url, [self.erik])
        self.unit_id = family.unit_id
        self.other_unit_id = elsewhere.unit_id

        self.principal, self.administrator, self.teacher, self.principal_elsewhere = set_up_staff(
            amqp_uri,
            database_url,
            directory_data,
            [
                StaffSpec(self.unit_id, "Rektor", ("Per", "Holm")),
                StaffSpec(self.unit_id, "Skoladministratör", ("Ada", "Lund")),
                StaffSpec(self.unit_id, "Lärare", ("Lena", "Berg")),
                StaffSpec(self.other_unit_id, "Rektor", ("Olle", "Ek")),
            ],
        )
        directory_data.add_child(family.child_person_id, self.unit_id, [self.karin.person_id])
        directory_data.add_child(elsewhere.child_person_id, self.other_unit_id, [self.erik.person_id])

    def guardian(self, spec: GuardianSpec):
        return account(spec.person_id, "guardian")


@pytest.fixture
def school(start_messaging, rabbit_config, directory_data):
    service = start_messaging()
    return School(rabbit_config, service.database_url, directory_data)


def send(rabbit_config, school, caller, **overrides):
    arguments = {
        "unit_id": school.unit_id,
        "kind": "complaint",
        "subject": "Skolgården",
        "body": "Det finns för få vuxna ute på rasterna.",
    }
    arguments.update(overrides)
    return call_as(rabbit_config, caller, "send_feedback", **arguments)


def test_guardian_complains_and_the_principal_answers(school, rabbit_config, smtp_server):
    karin = school.guardian(school.karin)
    sent = send(rabbit_config, school, karin)
    assert sent["state"] == "received"
    assert "author" not in sent

    [listed] = call_as(rabbit_config, school.principal, "list_unit_feedback", school.unit_id)
    assert listed["feedback_id"] == sent["feedback_id"]
    assert listed["author"] == {"person_id": school.karin.person_id, "role": "guardian", "name": "Karin Lind"}

    answered = call_as(
        rabbit_config, school.principal, "answer_feedback", sent["feedback_id"], "Vi sätter in en rastvakt till."
    )
    assert answered["state"] == "answered"

    [mine] = call_as(rabbit_config, karin, "list_my_feedback")
    assert mine["state"] == "answered"
    assert [(answer["body"], answer["author_name"]) for answer in mine["answers"]] == [
        ("Vi sätter in en rastvakt till.", "Per Holm")
    ]
    wait_for(lambda: smtp_recipients(smtp_server) == ["karin@example.se"], timeout=15)
    with smtp_server.lock:
        [mail] = smtp_server.messages
    # The e-mail links to the answer; neither the subject nor the answer leaves Torget.
    assert mail["message"]["Subject"] == "Du har fått svar på dina synpunkter"
    text = mail["message"].get_body(("plain",)).get_content()
    assert "Skolgården" not in text
    assert "rastvakt" not in text
    assert call_as(rabbit_config, school.administrator, "list_unit_feedback", school.unit_id, "received") == []


def test_anonymous_feedback_shows_no_sender(school, rabbit_config):
    send(rabbit_config, school, school.teacher, kind="suggestion", anonymous=True)

    [listed] = call_as(rabbit_config, school.administrator, "list_unit_feedback", school.unit_id)
    assert listed["anonymous"] is True
    assert listed["author"] == {"person_id": None, "role": None, "name": None}
    # The sender still finds it among their own.
    assert [item["kind"] for item in call_as(rabbit_config, school.teacher, "list_my_feedback")] == ["suggestion"]


def test_only_members_of_the_unit_send_to_it(school, rabbit_config):
    for outsider in (school.guardian(school.erik), school.principal_elsewhere):
        error = rejection(rabbit_config, outsider, "send_feedback", school.unit_id, "complaint", "Ämne", "Text")
        assert error.exc_type == "Forbidden"
        assert "not_member_of_unit" in error.value
    assert call_as(rabbit_config, school.principal, "list_unit_feedback", school.unit_id) == []


def test_only_the_administration_lists_and_answers(school, rabbit_config):
    sent = send(rabbit_config, school, school.guardian(school.karin))

    for caller in (school.teacher, school.principal_elsewhere):
        error = rejection(rabbit_config, caller, "list_unit_feedback", school.unit_id)
        assert error.exc_type == "Forbidden"
        real = rejection(rabbit_config, caller, "answer_feedback", sent["feedback_id"], "Svar")
        made_up = rejection(rabbit_config, caller, "answer_feedback", str(uuid.uuid4()), "Svar")
        assert real.exc_type == made_up.exc_type == "NotFound"
    guardian_error = rejection(rabbit_config, school.guardian(school.karin), "list_unit_feedback", school.unit_id)
    assert guardian_error.exc_type == "Forbidden"
    assert [item["state"] for item in call_as(rabbit_config, school.guardian(school.karin), "list_my_feedback")] == ["received"]


def test_repeated_answer_is_stored_and_mailed_once(school, rabbit_config, smtp_server):
    sent = send(rabbit_config, school, school.guardian(school.karin))
    answer_id = str(uuid.uuid4())
    for _ in range(2):
        call_as(rabbit_config, school.principal, "answer_feedback", sent["feedback_id"], "Tack!", answer_id=answer_id)

    changed = rejection(rabbit_config, school.principal, "answer_feedback", sent["feedback_id"], "Tack så mycket!", answer_id=answer_id)
    assert changed.exc_type == "Conflict"

    [mine] = call_as(rabbit_config, school.guardian(school.karin), "list_my_feedback")
    assert len(mine["answers"]) == 1
    wait_for(lambda: smtp_recipients(smtp_server) == ["karin@example.se"], timeout=15)
    assert [row["kind"] for row in deliveries(school.database_url)] == ["feedback_answer_notice"]


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"kind": "praise"}, "invalid_choice", "kind"),
        ({"subject": "  "}, "field_required", "subject"),
        ({"body": "x" * 10_001}, "field_too_long", "body"),
        ({"anonymous": "yes"}, "invalid_boolean", "anonymous"),
        ({"feedback_id": "not-an-id"}, "invalid_id", "feedback_id"),
    ],
)
def test_invalid_feedback_names_the_field(school, rabbit_config, overrides, code, field):
    error = rejection(rabbit_config, school.guardian(school.karin), "send_feedback", **{
        "unit_id": school.unit_id, "kind": "complaint", "subject": "Ämne", "body": "Text", **overrides
    })
    assert error.exc_type == "InvalidRequest"
    assert code in error.value
    assert f"'{field}'" in error.value
    assert call_as(rabbit_config, school.guardian(school.karin), "list_my_feedback") == []


def test_repeated_send_with_other_content_conflicts(school, rabbit_config):
    karin = school.guardian(school.karin)
    feedback_id = str(uuid.uuid4())
    first = send(rabbit_config, school, karin, feedback_id=feedback_id)
    assert send(rabbit_config, school, karin, feedback_id=feedback_id) == first

    changed = rejection(
        rabbit_config, karin, "send_feedback", school.unit_id, "complaint", "Skolgården", "Annan text", feedback_id=feedback_id
    )
    assert changed.exc_type == "Conflict"
    assert [item["body"] for item in call_as(rabbit_config, karin, "list_my_feedback")] == [first["body"]]
