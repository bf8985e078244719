"""Announcements: staff post, guardians read in their language, read receipts and e-mail notices.

Real RabbitMQ, PostgreSQL and SMTP server; the school directory is the
stand-in of torget_messaging.testing, filled per test.
"""

import time
import uuid

import pytest
import sqlalchemy as sa
from nameko.exceptions import RemoteError

from torget_messaging.testing import (
    GuardianSpec,
    account,
    call_as,
    deliveries,
    publish,
    rejection,
    set_up_household,
    smtp_recipients,
)
from torget_shared.caller import Caller
from torget_shared.db import make_engine
from torget_shared.testing.probe import wait_for


class School:
    """A unit with one class (group) of two children and a teacher, and a second unit elsewhere."""

    def __init__(self, rabbit_config, database_url, directory_data):
        amqp_uri = rabbit_config["AMQP_URI"]
        self.karin = GuardianSpec("Karin", language="sv", email="karin@example.se")
        self.omar = GuardianSpec("Omar", language="ar", email="omar@example.se")
        self.anna = GuardianSpec("Anna", language="en", email="anna@example.se", email_enabled=False)
        self.dolda = GuardianSpec("Dolda", language="sv", email=None, protected=True)
        self.erik = GuardianSpec("Erik", language="sv", email="erik@example.se")

        # Karin has custody of both children of the class.
        first = set_up_household(amqp_uri, database_url, [self.karin, self.omar])
        second = set_up_household(amqp_uri, database_url, [self.karin, self.anna, self.dolda])
        elsewhere = set_up_household(amqp_uri, database_url, [self.erik])

        self.unit_id = first.unit_id
        self.other_unit_id = elsewhere.unit_id
        self.group_id = str(uuid.uuid4())
        self.other_group_id = str(uuid.uuid4())
        self.teacher = account(str(uuid.uuid4()), "staff")
        self.teacher_elsewhere = account(str(uuid.uuid4()), "staff")

        directory_data.add_duty(self.teacher.person_id, self.unit_id)
        directory_data.add_duty(self.teacher_elsewhere.person_id, self.other_unit_id)
        directory_data.add_group(self.group_id, self.unit_id, [first.child_person_id, second.child_person_id])
        directory_data.add_group(self.other_group_id, self.other_unit_id, [elsewhere.child_person_id])
        directory_data.add_child(first.child_person_id, self.unit_id, [self.karin.person_id, self.omar.person_id])
        directory_data.add_child(
            second.child_person_id, self.unit_id, [self.karin.person_id, self.anna.person_id, self.dolda.person_id]
        )
        directory_data.add_child(elsewhere.child_person_id, self.other_unit_id, [self.erik.person_id])

    def guardian(self, spec: GuardianSpec) -> Caller:
        return account(spec.person_id, "guardian")


@pytest.fixture
def school(start_messaging, rabbit_config, directory_data):
    service = start_messaging()
    built = School(rabbit_config, service.database_url, directory_data)
    built.database_url = service.database_url
    return built


ARABIC = {"ar": {"title": "رحلة إلى الغابة", "body": "نذهب إلى الغابة يوم الجمعة."}}


def post_to_group(rabbit_config, school, **overrides):
    arguments = {
        "unit_id": school.unit_id,
        "audience": "group_guardians",
        "group_id": school.group_id,
        "title": "Utflykt till skogen",
        "body": "Vi går till skogen på fredag.\nTa med matsäck.",
        "translations": ARABIC,
    }
    arguments.update(overrides)
    return call_as(rabbit_config, school.teacher, "post_announcement", **arguments)


def announcement_emails(database_url) -> list[dict]:
    return [row for row in deliveries(database_url) if row["kind"] == "announcement_notice"]


def settled_announcement_emails(database_url) -> list[dict] | None:
    """Return the announcement e-mail rows once every one is sent or skipped, else None."""
    rows = announcement_emails(database_url)
    if not rows or any(row["state"] not in ("sent", "skipped") for row in rows):
        return None
    return rows


def test_group_announcement_emails_each_guardian_once(school, rabbit_config, smtp_server):
    posted = post_to_group(rabbit_config, school)

    wait_for(lambda: len(smtp_server.messages) == 2)
    time.sleep(1.0)
    assert smtp_recipients(smtp_server) == ["karin@example.se", "omar@example.se"]
    emails = {message["to"][0]: message["message"] for message in smtp_server.messages}
    assert emails["karin@example.se"]["Subject"] == "Nytt meddelande i Torget: Utflykt till skogen"
    assert "Ta med matsäck." in emails["karin@example.se"].get_body(("plain",)).get_content()
    arabic = emails["omar@example.se"]
    assert arabic["Subject"] == "إعلان جديد في Torget: رحلة إلى الغابة"
    assert 'dir="rtl"' in arabic.get_body(("html",)).get_content()

    rows = wait_for(lambda: settled_announcement_emails(school.database_url))
    by_recipient = {row["recipient"]: row for row in rows}
    assert len(rows) == 4
    assert by_recipient[school.karin.person_id]["state"] == "sent"
    assert by_recipient[school.omar.person_id]["state"] == "sent"
    assert by_recipient[school.anna.person_id]["last_error"] == "the guardian turned e-mail notices off"
    assert by_recipient[school.dolda.person_id]["last_error"] == "the guardian has no verified e-mail address"
    assert {row["event_id"] for row in rows} == {posted["announcement_id"]}


def test_repeated_post_sends_no_second_email(school, rabbit_config, smtp_server):
    announcement_id = str(uuid.uuid4())
    first = post_to_group(rabbit_config, school, announcement_id=announcement_id)
    wait_for(lambda: len(smtp_server.messages) == 2)

    again = post_to_group(rabbit_config, school, announcement_id=announcement_id)
    time.sleep(1.5)

    assert again["announcement_id"] == first["announcement_id"]
    assert again["published_at"] == first["published_at"]
    assert len(smtp_server.messages) == 2
    assert len(announcement_emails(school.database_url)) == 4
    in_use = rejection(rabbit_config, school.teacher_elsewhere, "post_announcement", school.other_unit_id, "unit", "Titel", "Text", announcement_id=announcement_id)
    assert in_use.exc_type == "Conflict"


def test_guardian_reads_in_own_language(school, rabbit_config, smtp_server):
    posted = post_to_group(rabbit_config, school)

    [for_omar] = call_as(rabbit_config, school.guardian(school.omar), "list_my_announcements")
    [for_karin] = call_as(rabbit_config, school.guardian(school.karin), "list_my_announcements")
    [for_anna] = call_as(rabbit_config, school.guardian(school.anna), "list_my_announcements")

    assert for_omar["announcement_id"] == posted["announcement_id"]
    assert (for_omar["title"], for_omar["language"]) == ("رحلة إلى الغابة", "ar")
    assert (for_karin["title"], for_karin["language"]) == ("Utflykt till skogen", "sv")
    # No English translation: Anna reads the Swedish original.
    assert (for_anna["title"], for_anna["language"]) == ("Utflykt till skogen", "sv")
    assert for_karin["read_at"] is None


def test_read_receipts_for_staff(school, rabbit_config, smtp_server):
    posted = post_to_group(rabbit_config, school)
    announcement_id = posted["announcement_id"]

    first = call_as(rabbit_config, school.guardian(school.karin), "mark_announcement_read", announcement_id)
    again = call_as(rabbit_config, school.guardian(school.karin), "mark_announcement_read", announcement_id)
    call_as(rabbit_config, school.guardian(school.dolda), "mark_announcement_read", announcement_id)
    reads = call_as(rabbit_config, school.teacher, "list_announcement_reads", announcement_id)
    [listed] = call_as(rabbit_config, school.teacher, "list_unit_announcements", school.unit_id)
    [for_karin] = call_as(rabbit_config, school.guardian(school.karin), "list_my_announcements")

    assert again["read_at"] == first["read_at"]
    assert for_karin["read_at"] == first["read_at"]
    assert reads["read_count"] == 2
    assert listed["read_count"] == 2
    assert listed["translations"] == ARABIC
    names = {reader["guardian_person_id"]: reader["name"] for reader in reads["readers"]}
    assert names[school.karin.person_id] == "Karin Lind"
    assert names[school.dolda.person_id] is None
    assert "Dolda" not in str(reads)


def test_other_unit_guardian_sees_nothing(school, rabbit_config, smtp_server):
    posted = post_to_group(rabbit_config, school)
    unit_wide = post_to_group(rabbit_config, school, audience="unit", group_id=None, translations=None)
    erik = school.guardian(school.erik)

    assert call_as(rabbit_config, erik, "list_my_announcements") == []
    for announcement_id in (posted["announcement_id"], unit_wide["announcement_id"], str(uuid.uuid4())):
        error = rejection(rabbit_config, erik, "mark_announcement_read", announcement_id)
        assert error.exc_type == "NotFound"
        assert "announcement_not_found" in error.value
    wait_for(lambda: len(smtp_server.messages) == 4)
    time.sleep(1.0)
    assert "erik@example.se" not in smtp_recipients(smtp_server)


def test_unit_announcement_reaches_every_guardian_there(school, rabbit_config, smtp_server):
    post_to_group(rabbit_config, school, audience="unit", group_id=None, translations=None)

    wait_for(lambda: len(smtp_server.messages) == 2)
    listed = call_as(rabbit_config, school.guardian(school.anna), "list_my_announcements")
    assert [entry["audience"] for entry in listed] == ["unit"]
    assert smtp_recipients(smtp_server) == ["karin@example.se", "omar@example.se"]


def test_staff_without_duty_rejected(school, rabbit_config, smtp_server):
    no_duty = rejection(rabbit_config, school.teacher_elsewhere, "post_announcement", school.unit_id, "unit", "Titel", "Text")
    foreign_group = rejection(
        rabbit_config, school.teacher, "post_announcement", school.unit_id, "group", "Titel", "Text", group_id=school.other_group_id
    )
    guardian = rejection(rabbit_config, school.guardian(school.karin), "post_announcement", school.unit_id, "unit", "Titel", "Text")
    posted = post_to_group(rabbit_config, school)
    reads = rejection(rabbit_config, school.teacher_elsewhere, "list_announcement_reads", posted["announcement_id"])
    anonymous = rejection(rabbit_config, Caller(), "list_announcement_reads", posted["announcement_id"])

    assert no_duty.exc_type == "Forbidden"
    assert "no_duty_at_unit" in no_duty.value
    assert foreign_group.exc_type == "NotFound"
    assert "group_not_found" in foreign_group.value
    assert guardian.exc_type == "Forbidden"
    assert "staff_role_required" in guardian.value
    assert reads.exc_type == "NotFound"
    assert "announcement_not_found" in reads.value
    assert anonymous.exc_type == "Unauthenticated"
    assert call_as(rabbit_config, school.teacher_elsewhere, "list_unit_announcements", school.other_unit_id) == []


@pytest.mark.parametrize(
    "overrides, code",
    [
        ({"audience": "everyone"}, "invalid_audience"),
        ({"title": "  "}, "field_required"),
        ({"title": "x" * 201}, "field_too_long"),
        ({"body": "Eleven 20121212-1212 har fått ett nytt schema."}, "personal_identity_number_in_text"),
        ({"translations": {"en": {"title": "Trip"}}}, "field_required"),
        ({"translations": {"sv": {"title": "Titel", "body": "Text"}}}, "swedish_translation"),
        ({"translations": {"not a language": {"title": "Titel", "body": "Text"}}}, "invalid_language"),
        ({"announcement_id": "not-a-uuid"}, "invalid_announcement_id"),
    ],
)
def test_invalid_announcement_rejected(school, rabbit_config, smtp_server, overrides, code):
    with pytest.raises(RemoteError) as raised:
        post_to_group(rabbit_config, school, **overrides)

    assert raised.value.exc_type == "InvalidRequest"
    assert code in raised.value.value
    assert announcement_emails(school.database_url) == []



def test_no_announcement_where_the_unit_turned_them_off(school, rabbit_config, smtp_server):
    publish(
        rabbit_config["AMQP_URI"],
        "school_directory",
        "unit_features_changed",
        {"unit_id": school.unit_id, "features": {"announcements": False, "conversations": True}, "changed": ["announcements"]},
    )
    engine = make_engine(school.database_url)
    try:
        query = sa.text("SELECT announcements FROM unit_feature WHERE unit_id = :unit_id")

        def switched_off() -> bool:
            with engine.connect() as connection:
                return connection.execute(query, {"unit_id": school.unit_id}).scalar() is False

        wait_for(switched_off, timeout=15)
    finally:
        engine.dispose()

    error = rejection(rabbit_config, school.teacher, "post_announcement", school.unit_id, "unit", "Titel", "Text")

    assert error.exc_type == "Forbidden"
    assert "feature_disabled" in error.value
    assert call_as(rabbit_config, school.teacher, "list_unit_announcements", school.unit_id) == []
