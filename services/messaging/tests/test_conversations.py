"""Conversations about a child between guardians and staff: who may start, read and answer, unread counts.

Real RabbitMQ, PostgreSQL and SMTP server; the school directory is the
stand-in of torget_messaging.testing, filled per test.
"""

import threading
import uuid

import pytest

from torget_messaging.testing import (
    GuardianSpec,
    StaffSpec,
    account,
    call_as,
    deliveries,
    publish,
    rejection,
    set_up_household,
    set_up_staff,
    smtp_recipients,
)
from torget_shared.testing.probe import wait_for


class School:
    """A unit with a child of two guardians (one protected), a teacher and a principal; a second unit with its own family."""

    def __init__(self, rabbit_config, database_url, directory_data):
        amqp_uri = rabbit_config["AMQP_URI"]
        self.database_url = database_url
        self.directory_data = directory_data
        self.karin = GuardianSpec("Karin", language="sv", email="karin@example.se")
        self.dolda = GuardianSpec("Dolda", language="en", email="dolda@example.se", protected=True)
        self.erik = GuardianSpec("Erik", language="sv", email="erik@example.se")

        family = set_up_household(amqp_uri, database_url, [self.karin, self.dolda])
        elsewhere = set_up_household(amqp_uri, database_url, [self.erik])
        self.child_id = family.child_person_id
        self.unit_id = family.unit_id
        self.other_child_id = elsewhere.child_person_id
        self.other_unit_id = elsewhere.unit_id

        self.teacher, self.principal, self.hidden_teacher, self.teacher_elsewhere = set_up_staff(
            amqp_uri,
            database_url,
            directory_data,
            [
                StaffSpec(self.unit_id, "Lärare", ("Lena", "Berg")),
                StaffSpec(self.unit_id, "Rektor", ("Per", "Holm")),
                StaffSpec(self.unit_id, "Lärare", ("Hemlig", "Person"), protected=True),
                StaffSpec(self.other_unit_id, "Lärare", ("Olle", "Ek")),
            ],
        )
        directory_data.add_child(
            self.child_id,
            self.unit_id,
            [self.karin.person_id, self.dolda.person_id],
            protected_guardian_ids=(self.dolda.person_id,),
        )
        directory_data.add_child(self.other_child_id, self.other_unit_id, [self.erik.person_id])

    def guardian(self, spec: GuardianSpec):
        return account(spec.person_id, "guardian")


@pytest.fixture
def school(start_messaging, rabbit_config, directory_data):
    service = start_messaging()
    return School(rabbit_config, service.database_url, directory_data)


def start(rabbit_config, school, caller, recipients, **overrides):
    arguments = {
        "child_person_id": school.child_id,
        "unit_id": school.unit_id,
        "subject": "Utvecklingssamtal",
        "body": "Hej! Kan vi flytta samtalet till torsdag?",
        "recipient_person_ids": recipients,
    }
    arguments.update(overrides)
    return call_as(rabbit_config, caller, "start_conversation", **arguments)


def notice_rows(database_url) -> list[dict]:
    return [row for row in deliveries(database_url) if row["kind"] == "conversation_notice"]


def test_guardian_sees_the_staff_of_the_childs_unit(school, rabbit_config):
    contacts = call_as(rabbit_config, school.guardian(school.karin), "list_conversation_contacts", school.child_id)

    [unit] = contacts["units"]
    assert unit["unit_id"] == school.unit_id
    names = {member["person_id"]: member["name"] for member in unit["staff"]}
    # Staff with protected identity are not offered.
    assert names == {school.teacher.person_id: "Lena Berg", school.principal.person_id: "Per Holm"}
    # Guardians are offered staff only, never the other guardian.
    assert contacts["guardians"] == []


def test_staff_see_the_guardians_without_protected_names(school, rabbit_config):
    contacts = call_as(rabbit_config, school.teacher, "list_conversation_contacts", school.child_id)

    guardians = {guardian["person_id"]: guardian for guardian in contacts["guardians"]}
    assert set(guardians) == {school.karin.person_id, school.dolda.person_id}
    assert guardians[school.dolda.person_id]["name"] is None
    assert guardians[school.dolda.person_id]["protected_identity"] is True


@pytest.mark.parametrize("caller_name", ["erik", "teacher_elsewhere"])
def test_contacts_hidden_from_outsiders(school, rabbit_config, caller_name):
    caller = school.guardian(school.erik) if caller_name == "erik" else school.teacher_elsewhere

    real = rejection(rabbit_config, caller, "list_conversation_contacts", school.child_id)
    made_up = rejection(rabbit_config, caller, "list_conversation_contacts", str(uuid.uuid4()))

    assert real.exc_type == made_up.exc_type == "NotFound"
    assert "child_not_found" in real.value
    assert "child_not_found" in made_up.value


def test_guardian_writes_teacher_answers_and_unread_counts_follow(school, rabbit_config, smtp_server):
    karin = school.guardian(school.karin)
    started = start(rabbit_config, school, karin, [school.teacher.person_id])
    conversation_id = started["conversation_id"]
    assert started["unread_count"] == 0

    inbox = call_as(rabbit_config, school.teacher, "list_my_conversations")
    assert (inbox["unread_conversations"], inbox["unread_messages"]) == (1, 1)
    assert inbox["conversations"][0]["subject"] == "Utvecklingssamtal"

    call_as(rabbit_config, school.teacher, "reply_to_conversation", conversation_id, "Torsdag kl 15 passar bra.")
    wait_for(lambda: smtp_recipients(smtp_server) == ["karin@example.se"], timeout=15)

    karin_inbox = call_as(rabbit_config, karin, "list_my_conversations")
    assert karin_inbox["unread_messages"] == 1
    view = call_as(rabbit_config, karin, "get_conversation", conversation_id)
    assert [(message["seq"], message["author"]["name"], message["read"]) for message in view["messages"]] == [
        (1, "Karin Lind", True),
        (2, "Lena Berg", False),
    ]
    # The e-mail tells of the message and links to it, but carries neither it nor the subject.
    with smtp_server.lock:
        [mail] = smtp_server.messages
    text = mail["message"].get_body(("plain",)).get_content()
    assert "Torsdag kl 15" not in text
    assert "Utvecklingssamtal" not in text
    assert mail["message"]["Subject"] == "Nytt meddelande i Torget"
    assert f"/conversations/{conversation_id}" in text

    call_as(rabbit_config, karin, "mark_conversation_read", conversation_id)
    assert call_as(rabbit_config, karin, "list_my_conversations")["unread_messages"] == 0
    # The teacher wrote the last message, so nothing is unread for them.
    assert call_as(rabbit_config, school.teacher, "list_my_conversations")["unread_messages"] == 0


def test_protected_guardian_is_hidden_from_other_participants(school, rabbit_config):
    started = start(rabbit_config, school, school.teacher, [school.karin.person_id, school.dolda.person_id])
    conversation_id = started["conversation_id"]
    call_as(rabbit_config, school.guardian(school.dolda), "reply_to_conversation", conversation_id, "Det går bra.")

    seen_by_karin = call_as(rabbit_config, school.guardian(school.karin), "get_conversation", conversation_id)
    dolda_to_karin = [p for p in seen_by_karin["participants"] if p["protected_identity"]]
    assert dolda_to_karin == [{"person_id": None, "role": "guardian", "name": None, "protected_identity": True, "is_me": False}]
    assert seen_by_karin["messages"][1]["author"]["person_id"] is None
    assert seen_by_karin["messages"][1]["author"]["name"] is None

    seen_by_teacher = call_as(rabbit_config, school.teacher, "get_conversation", conversation_id)
    dolda_to_teacher = [p for p in seen_by_teacher["participants"] if p["protected_identity"]]
    assert dolda_to_teacher[0]["person_id"] == school.dolda.person_id
    assert dolda_to_teacher[0]["name"] is None

    # Dolda's own name is shown to her.
    seen_by_dolda = call_as(rabbit_config, school.guardian(school.dolda), "get_conversation", conversation_id)
    assert [p["name"] for p in seen_by_dolda["participants"] if p["is_me"]] == ["Dolda Lind"]


@pytest.mark.parametrize("method", ["get_conversation", "mark_conversation_read", "reply_to_conversation"])
def test_conversation_hidden_from_non_participants(school, rabbit_config, method):
    conversation_id = start(rabbit_config, school, school.guardian(school.karin), [school.teacher.person_id])["conversation_id"]
    extra = ("Hej",) if method == "reply_to_conversation" else ()

    # The principal works at the unit but is not a participant.
    for outsider in (school.guardian(school.erik), school.teacher_elsewhere, school.principal):
        real = rejection(rabbit_config, outsider, method, conversation_id, *extra)
        made_up = rejection(rabbit_config, outsider, method, str(uuid.uuid4()), *extra)
        assert real.exc_type == made_up.exc_type == "NotFound"
        assert "conversation_not_found" in real.value


def test_guardian_who_loses_custody_loses_the_conversation(school, rabbit_config):
    karin = school.guardian(school.karin)
    conversation_id = start(rabbit_config, school, karin, [school.teacher.person_id])["conversation_id"]

    school.directory_data.children[school.child_id]["guardian_person_ids"].remove(school.karin.person_id)

    assert call_as(rabbit_config, karin, "list_my_conversations")["conversations"] == []
    assert rejection(rabbit_config, karin, "get_conversation", conversation_id).exc_type == "NotFound"
    assert rejection(rabbit_config, karin, "reply_to_conversation", conversation_id, "Hallå?").exc_type == "NotFound"


@pytest.mark.parametrize(
    ("caller_name", "recipients", "code"),
    [
        # A guardian writes to staff, not to the other guardian.
        ("karin", ["dolda"], "recipient_not_allowed"),
        ("karin", ["teacher_elsewhere"], "recipient_not_allowed"),
        # Writing only to oneself is no conversation.
        ("teacher", ["teacher"], "recipient_not_allowed"),
        # Staff write to the child's guardians; colleagues alone are no conversation with a family.
        ("teacher", ["principal"], "guardian_recipient_required"),
        ("teacher", [], "field_required"),
    ],
)
def test_recipients_are_checked(school, rabbit_config, caller_name, recipients, code):
    people = {
        "karin": (school.guardian(school.karin), school.karin.person_id),
        "dolda": (None, school.dolda.person_id),
        "teacher": (school.teacher, school.teacher.person_id),
        "principal": (school.principal, school.principal.person_id),
        "teacher_elsewhere": (school.teacher_elsewhere, school.teacher_elsewhere.person_id),
    }
    caller = people[caller_name][0]
    error = rejection(
        rabbit_config,
        caller,
        "start_conversation",
        school.child_id,
        school.unit_id,
        "Ämne",
        "Text",
        [people[name][1] for name in recipients],
    )
    assert error.exc_type == "InvalidRequest"
    assert code in error.value
    assert call_as(rabbit_config, caller, "list_my_conversations")["conversations"] == []


def test_repeated_start_and_reply_store_once(school, rabbit_config, smtp_server):
    conversation_id = str(uuid.uuid4())
    message_id = str(uuid.uuid4())
    first = start(rabbit_config, school, school.teacher, [school.karin.person_id], conversation_id=conversation_id)
    again = start(rabbit_config, school, school.teacher, [school.karin.person_id], conversation_id=conversation_id)
    assert again["conversation_id"] == first["conversation_id"] == conversation_id

    for _ in range(2):
        call_as(rabbit_config, school.teacher, "reply_to_conversation", conversation_id, "Påminnelse", message_id=message_id)

    view = call_as(rabbit_config, school.teacher, "get_conversation", conversation_id)
    assert view["message_count"] == 2
    wait_for(lambda: len(smtp_recipients(smtp_server)) == 2, timeout=15)
    assert sorted(row["event_id"] for row in notice_rows(school.database_url)) == sorted({row["event_id"] for row in notice_rows(school.database_url)})

    # The same ids with other content would drop the new text without a word, so they conflict.
    changed_start = rejection(
        rabbit_config,
        school.teacher,
        "start_conversation",
        school.child_id,
        school.unit_id,
        "Ett annat ämne",
        "Hej! Kan vi flytta samtalet till torsdag?",
        [school.karin.person_id],
        conversation_id=conversation_id,
    )
    assert changed_start.exc_type == "Conflict"
    changed_reply = rejection(
        rabbit_config, school.teacher, "reply_to_conversation", conversation_id, "Annan text", message_id=message_id
    )
    assert changed_reply.exc_type == "Conflict"
    assert call_as(rabbit_config, school.teacher, "get_conversation", conversation_id)["message_count"] == 2

    # Another person may not take the id.
    error = rejection(rabbit_config, school.guardian(school.karin), "start_conversation", school.child_id, school.unit_id, "Ämne", "Text", [school.teacher.person_id], conversation_id=conversation_id)
    assert error.exc_type == "Conflict"


def test_simultaneous_replies_get_distinct_numbers(school, rabbit_config):
    conversation_id = start(rabbit_config, school, school.teacher, [school.karin.person_id])["conversation_id"]
    karin = school.guardian(school.karin)
    errors = []

    def reply(index: int, caller) -> None:
        try:
            call_as(rabbit_config, caller, "reply_to_conversation", conversation_id, f"Meddelande {index}")
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=reply, args=(index, karin if index % 2 else school.teacher)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    view = call_as(rabbit_config, school.teacher, "get_conversation", conversation_id)
    assert [message["seq"] for message in view["messages"]] == list(range(1, 10))
    assert sorted(message["body"] for message in view["messages"][1:]) == sorted(f"Meddelande {index}" for index in range(8))


def test_no_conversation_where_the_unit_turned_them_off(school, rabbit_config):
    publish(
        rabbit_config["AMQP_URI"],
        "school_directory",
        "unit_features_changed",
        {"unit_id": school.unit_id, "features": {"conversations": False, "announcements": True}, "changed": ["conversations"]},
    )

    def refused() -> bool:
        try:
            start(rabbit_config, school, school.guardian(school.karin), [school.teacher.person_id])
        except Exception as exc:
            return "feature_disabled" in str(exc)
        return False

    wait_for(refused, timeout=15)
    assert call_as(rabbit_config, school.guardian(school.karin), "list_conversation_contacts", school.child_id)["units"] == []


def test_body_with_personal_identity_number_is_refused(school, rabbit_config):
    error = rejection(
        rabbit_config,
        school.guardian(school.karin),
        "start_conversation",
        school.child_id,
        school.unit_id,
        "Fråga",
        "Mitt personnummer är 20121212-1212.",
        [school.teacher.person_id],
    )
    assert error.exc_type == "InvalidRequest"
    assert "personal_identity_number_in_text" in error.value
    assert "'body'" in error.value
