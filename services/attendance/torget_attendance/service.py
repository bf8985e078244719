"""The nameko entrypoints of the attendance service.

Each RPC method checks that a person is calling, opens one transaction and
hands over to a domain function. Rejections are AttendanceError subclasses,
which the gateway turns into 4xx responses.

Event handlers of the school directory's events, one durable queue each:

- ``on_activities_imported`` and ``on_calendar_events_imported`` turn the
  directory's SS 12000 import into lessons;
- ``on_unit_features_changed`` replaces the stored reply about the unit's
  feature switches, so a switch counts at once instead of when the stored
  reply expires.
"""

import logging

from nameko.dependency_providers import Config
from nameko.rpc import RpcProxy, rpc

from torget_attendance import (
    lesson_plans,
    preschool,
    registration,
    reports,
    rules,
    schedule,
    ss12000_import,
    statistics,
    views,
)
from torget_attendance.access import person_of
from torget_attendance.directory import (
    DEFAULT_MAX_AGE,
    DEFAULT_TIMEOUT,
    DIRECTORY_SERVICE,
    DirectoryReader,
    store_features_event,
)
from torget_attendance.errors import AttendanceError
from torget_shared import contracts  # noqa: F401  (registers the event schemas)
from torget_shared.db import utcnow
from torget_shared.handlers import event_handler
from torget_shared.inbox import first_delivery
from torget_shared.service import ServiceBase

log = logging.getLogger(__name__)


class AttendanceService(ServiceBase):
    name = "attendance"

    config = Config()
    school_directory = RpcProxy(DIRECTORY_SERVICE)

    def _directory(self, session) -> DirectoryReader:
        return DirectoryReader(
            session,
            self.school_directory,
            max_age=float(self.config.get("DIRECTORY_MAX_AGE", DEFAULT_MAX_AGE)),
            timeout=float(self.config.get("DIRECTORY_TIMEOUT", DEFAULT_TIMEOUT)),
        )

    def _publisher(self, session):
        def publish(event_type: str, payload: dict) -> dict:
            return self.events(session, event_type, payload)

        return publish

    # Schedule

    @rpc(expected_exceptions=AttendanceError)
    def create_lesson(self, lesson: dict) -> dict:
        person_id = person_of(self.caller)
        with self.db.transaction() as session:
            return schedule.create_lesson(session, self._directory(session), person_id, lesson, utcnow())

    @rpc(expected_exceptions=AttendanceError)
    def move_lesson(self, lesson_id: str, change: dict) -> dict:
        person_id = person_of(self.caller)
        with self.db.transaction() as session:
            return schedule.move_lesson(session, self._directory(session), person_id, lesson_id, change, utcnow())

    @rpc(expected_exceptions=AttendanceError)
    def cancel_lesson(self, lesson_id: str) -> dict:
        person_id = person_of(self.caller)
        with self.db.transaction() as session:
            return schedule.cancel_lesson(session, self._directory(session), person_id, lesson_id, utcnow())

    @rpc(expected_exceptions=AttendanceError)
    def group_schedule(self, group_id: str, first_date: str, last_date: str) -> list[dict]:
        person_id = person_of(self.caller)
        with self.db.transaction() as session:
            return views.group_schedule(session, self._directory(session), person_id, group_id, first_date, last_date)

    @rpc(expected_exceptions=AttendanceError)
    def child_schedule(self, child_person_id: str, first_date: str, last_date: str) -> list[dict]:
        person_id = person_of(self.caller)
        with self.db.transaction() as session:
            directory = self._directory(session)
            return views.child_schedule(session, directory, person_id, child_person_id, first_date, last_date)

    # The school directory's events

    @event_handler(DIRECTORY_SERVICE, "ss12000_activities_imported")
    def on_activities_imported(self, event: dict) -> None:
        self._apply(event, "on_activities_imported", ss12000_import.apply_activities)

    @event_handler(DIRECTORY_SERVICE, "ss12000_calendar_events_imported")
    def on_calendar_events_imported(self, event: dict) -> None:
        self._apply(event, "on_calendar_events_imported", ss12000_import.apply_calendar_events)

    @event_handler(DIRECTORY_SERVICE, "unit_features_changed")
    def on_unit_features_changed(self, event: dict) -> None:
        self._apply(event, "on_unit_features_changed", store_features_event)

    def _apply(self, event: dict, method: str, apply) -> None:
        """Apply an event once: the inbox row and the effect commit together."""
        with self.db.transaction() as session:
            if first_delivery(session, f"{self.name}.{method}", event):
                apply(session, event["payload"], event["occurred_at"], utcnow())
            else:
                log.info("event %s was already handled by %s", event["event_id"], method)

    # Attendance registration

    @rpc(expected_exceptions=AttendanceError)
    def lesson_attendance(self, lesson_id: str) -> dict:
        person_id = person_of(self.caller)
        with self.db.transaction() as session:
            return views.lesson_attendance(session, self._directory(session), person_id, lesson_id)

    @rpc(expected_exceptions=AttendanceError)
    def register_lesson(self, lesson_id: str, marks: list[dict]) -> dict:
        person_id = person_of(self.caller)
        with self.db.transaction() as session:
            directory = self._directory(session)
            publish = self._publisher(session)
            return registration.register_lesson(session, directory, publish, person_id, lesson_id, marks, utcnow())

    @rpc(expected_exceptions=AttendanceError)
    def lesson_history(self, lesson_id: str) -> dict:
        person_id = person_of(self.caller)
        with self.db.transaction() as session:
            return registration.mark_history(session, self._directory(session), person_id, lesson_id)

    @rpc(expected_exceptions=AttendanceError)
    def check_in(self, visit: dict) -> dict:
        person_id = person_of(self.caller)
        with self.db.transaction() as session:
            return preschool.check_in(session, self._directory(session), person_id, visit, utcnow())

    @rpc(expected_exceptions=AttendanceError)
    def check_out(self, visit: dict) -> dict:
        person_id = person_of(self.caller)
        with self.db.transaction() as session:
            return preschool.check_out(session, self._directory(session), person_id, visit, utcnow())

    @rpc(expected_exceptions=AttendanceError)
    def child_visits(self, child_person_id: str, first_date: str, last_date: str) -> list[dict]:
        person_id = person_of(self.caller)
        with self.db.transaction() as session:
            directory = self._directory(session)
            return preschool.visits_for_child(session, directory, person_id, child_person_id, first_date, last_date)

    # Guardian absence reports

    @rpc(expected_exceptions=AttendanceError)
    def report_absence(self, report: dict) -> dict:
        person_id = person_of(self.caller)
        with self.db.transaction() as session:
            directory = self._directory(session)
            publish = self._publisher(session)
            return reports.report_absence(session, directory, publish, person_id, report, utcnow())

    @rpc(expected_exceptions=AttendanceError)
    def child_absence_reports(self, child_person_id: str, first_date: str, last_date: str) -> list[dict]:
        person_id = person_of(self.caller)
        with self.db.transaction() as session:
            directory = self._directory(session)
            return reports.reports_for_child(session, directory, person_id, child_person_id, first_date, last_date)

    @rpc(expected_exceptions=AttendanceError)
    def group_absence_reports(self, group_id: str, first_date: str, last_date: str) -> list[dict]:
        person_id = person_of(self.caller)
        with self.db.transaction() as session:
            directory = self._directory(session)
            return reports.reports_for_group(session, directory, person_id, group_id, first_date, last_date)

    # Statistics and rules

    @rpc(expected_exceptions=AttendanceError)
    def group_statistics(self, group_id: str, first_date: str, last_date: str) -> dict:
        person_id = person_of(self.caller)
        with self.db.transaction() as session:
            directory = self._directory(session)
            return statistics.group_statistics(session, directory, person_id, group_id, first_date, last_date)

    @rpc(expected_exceptions=AttendanceError)
    def pupil_statistics(self, child_person_id: str, first_date: str, last_date: str) -> dict:
        person_id = person_of(self.caller)
        with self.db.transaction() as session:
            directory = self._directory(session)
            return statistics.pupil_statistics(
                session, directory, person_id, child_person_id, first_date, last_date
            )

    @rpc(expected_exceptions=AttendanceError)
    def mentor_flags(self, first_date: str, last_date: str) -> list[dict]:
        person_id = person_of(self.caller)
        with self.db.transaction() as session:
            return statistics.mentor_flags(session, self._directory(session), person_id, first_date, last_date)

    @rpc(expected_exceptions=AttendanceError)
    def unit_rules(self, unit_id: str) -> dict:
        person_of(self.caller)
        with self.db.transaction() as session:
            return rules.rules_of(session, unit_id).to_dict()

    @rpc(expected_exceptions=AttendanceError)
    def set_unit_rules(self, unit_id: str, change: dict) -> dict:
        person_id = person_of(self.caller)
        with self.db.transaction() as session:
            return rules.set_rules(session, self._directory(session), person_id, unit_id, change, utcnow())

    # Lesson plans

    @rpc(expected_exceptions=AttendanceError)
    def attach_lesson_plan(self, plan: dict) -> dict:
        person_id = person_of(self.caller)
        with self.db.transaction() as session:
            return lesson_plans.attach_plan(session, self._directory(session), person_id, plan, utcnow())

    @rpc(expected_exceptions=AttendanceError)
    def child_lesson_plans(self, child_person_id: str, first_date: str, last_date: str) -> list[dict]:
        person_id = person_of(self.caller)
        with self.db.transaction() as session:
            directory = self._directory(session)
            return lesson_plans.plans_for_child(
                session, directory, person_id, child_person_id, first_date, last_date
            )

    @rpc(expected_exceptions=AttendanceError)
    def group_lesson_plans(self, group_id: str, first_date: str, last_date: str) -> list[dict]:
        person_id = person_of(self.caller)
        with self.db.transaction() as session:
            directory = self._directory(session)
            return lesson_plans.plans_for_group(session, directory, person_id, group_id, first_date, last_date)
