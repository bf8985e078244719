"""The nameko entrypoints of the messaging service.

Event handlers, one durable queue each:

- ``send_absence_sms`` and ``send_absence_email`` fan ``absence_registered``
  out to the two channels, so one can lag or fail without holding up the other;
- ``withdraw_absence_notices`` handles ``absence_registration_withdrawn``;
- ``send_email_verification`` handles identity's ``email_verification_requested``;
- the ``on_*`` handlers keep the read model of guardians, children and units.

RPC methods serve guardians' absence notices and staff's view of them, and
announcements: staff post them, guardians list and mark them read.

A timer runs the sweeper that retries, reconciles and brings back stuck
deliveries.
"""

import logging
import uuid

import eventlet
from nameko.extensions import DependencyProvider
from nameko.rpc import RpcProxy, rpc
from nameko.timer import Timer

from torget_messaging import announcements, ledger, notices, read_model, views
from torget_messaging.directory import Directory
from torget_messaging.dispatcher import Dispatcher, Providers
from torget_messaging.errors import Forbidden, NotFound
from torget_messaging.settings import MessagingSettings
from torget_messaging.texts import NoticeTexts
from torget_shared import contracts  # noqa: F401  (registers the event schemas)
from torget_shared.handlers import event_handler
from torget_shared.inbox import first_delivery
from torget_shared.service import ServiceBase

log = logging.getLogger(__name__)

# Seconds to wait for the school directory's reply about a caller's staff assignments.
DIRECTORY_TIMEOUT = 5.0


class Delivery(DependencyProvider):
    """Injects the service's settings, notice texts and a dispatcher bound to the worker's database."""

    def setup(self) -> None:
        self.settings = MessagingSettings.from_config(self.container.config)
        self.texts = NoticeTexts(self.settings.locale_dir or None)
        self.providers = Providers(self.settings)

    def get_dependency(self, worker_ctx):
        return DeliveryTools(self.settings, self.texts, self.providers)


class DeliveryTools:
    def __init__(self, settings: MessagingSettings, texts: NoticeTexts, providers: Providers):
        self.settings = settings
        self.texts = texts
        self.providers = providers

    def dispatcher(self, db) -> Dispatcher:
        return Dispatcher(db, self.providers, self.settings)


class SweepTimer(Timer):
    """A timer whose interval comes from ``DELIVERY_SWEEP_INTERVAL`` in the config."""

    def setup(self) -> None:
        self.interval = MessagingSettings.from_config(self.container.config).sweep_interval


sweep_timer = SweepTimer.decorator


class MessagingService(ServiceBase):
    name = "messaging"

    delivery = Delivery()
    directory = RpcProxy("school_directory")

    # Absence notices

    @event_handler("attendance", "absence_registered")
    def send_absence_sms(self, event: dict) -> None:
        self._register_absence(event, ledger.SMS, "send_absence_sms")

    @event_handler("attendance", "absence_registered")
    def send_absence_email(self, event: dict) -> None:
        self._register_absence(event, ledger.EMAIL, "send_absence_email")

    def _register_absence(self, event: dict, channel: str, method: str) -> None:
        dispatcher = self.delivery.dispatcher(self.db)
        with self.db.transaction() as session:
            if first_delivery(session, f"{self.name}.{method}", event):
                to_send = notices.register_absence(
                    session, event, channel, self.delivery.texts, self.delivery.settings.public_url
                )
            else:
                # A redelivery: send whatever of this event is still due,
                # e.g. after a crash between the commit and the ack.
                to_send = views.pending_of_event(session, str(event["event_id"]), channel)
        dispatcher.deliver_all(to_send)

    @event_handler("attendance", "absence_registration_withdrawn")
    def withdraw_absence_notices(self, event: dict) -> None:
        dispatcher = self.delivery.dispatcher(self.db)
        with self.db.transaction() as session:
            if first_delivery(session, f"{self.name}.withdraw_absence_notices", event):
                to_send = notices.withdraw_absence(session, event, self.delivery.texts, self.delivery.settings.public_url)
            else:
                to_send = views.pending_of_event(session, str(event["event_id"]))
        dispatcher.deliver_all(to_send)

    @event_handler("identity", "email_verification_requested")
    def send_email_verification(self, event: dict) -> None:
        dispatcher = self.delivery.dispatcher(self.db)
        with self.db.transaction() as session:
            if first_delivery(session, f"{self.name}.send_email_verification", event):
                to_send = notices.request_email_verification(session, event, self.delivery.texts)
            else:
                to_send = views.pending_of_event(session, str(event["event_id"]))
        dispatcher.deliver_all(to_send)

    @sweep_timer(interval=5.0)
    def sweep_deliveries(self) -> None:
        counts = self.delivery.dispatcher(self.db).sweep()
        if any(counts.values()):
            log.info("delivery sweep: %s", counts)

    # The read model

    @event_handler("identity", "contact_details_changed")
    def on_contact_details_changed(self, event: dict) -> None:
        self._apply(event, "on_contact_details_changed", read_model.apply_contact_details)

    @event_handler("school_directory", "person_changed")
    def on_person_changed(self, event: dict) -> None:
        self._apply(event, "on_person_changed", read_model.apply_person)

    @event_handler("school_directory", "guardianship_established")
    def on_guardianship_established(self, event: dict) -> None:
        self._apply(event, "on_guardianship_established", lambda s, p, t: read_model.apply_guardianship(s, p, t, True))

    @event_handler("school_directory", "guardianship_ended")
    def on_guardianship_ended(self, event: dict) -> None:
        self._apply(event, "on_guardianship_ended", lambda s, p, t: read_model.apply_guardianship(s, p, t, False))

    @event_handler("school_directory", "unit_features_changed")
    def on_unit_features_changed(self, event: dict) -> None:
        self._apply(event, "on_unit_features_changed", read_model.apply_unit_features)

    def _apply(self, event: dict, method: str, apply) -> None:
        with self.db.transaction() as session:
            if first_delivery(session, f"{self.name}.{method}", event):
                apply(session, event["payload"], event["occurred_at"])

    # Guardians and staff

    @rpc
    def list_my_notices(self, limit: int = 50) -> list[dict]:
        """Return the caller's absence notices, newest first, with whether each was acknowledged."""
        guardian_person_id = views.require_guardian(self.caller)
        with self.db.transaction() as session:
            return views.notices_of_guardian(session, guardian_person_id, limit)

    @rpc
    def acknowledge_notice(self, notice_id: str) -> dict:
        """Record that the calling guardian has taken note of an absence notice ("ta del av")."""
        guardian_person_id = views.require_guardian(self.caller)
        with self.db.transaction() as session:
            return views.acknowledge(session, notice_id, guardian_person_id)

    @rpc
    def list_unit_notices(self, unit_id: str, local_date: str | None = None) -> list[dict]:
        """Return a unit's absence notices with each guardian's delivery states and acknowledgement."""
        views.require_staff_of_unit(self.caller, unit_id, self._staff_assignments)
        with self.db.transaction() as session:
            return views.notices_of_unit(session, unit_id, local_date)

    @rpc
    def list_failed_notifications(self, unit_id: str) -> list[dict]:
        """Return a unit's notifications that failed for good, newest first, with the reason."""
        views.require_staff_of_unit(self.caller, unit_id, self._staff_assignments)
        with self.db.transaction() as session:
            return views.failed_of_unit(session, unit_id)

    # Announcements

    @rpc
    def post_announcement(
        self,
        unit_id: str,
        audience: str,
        title: str,
        body: str,
        group_id: str | None = None,
        translations: dict | None = None,
        announcement_id: str | None = None,
    ) -> dict:
        """Post an announcement to a unit, a group or a group's guardians; for staff with a duty at the unit.

        ``translations`` maps a language code to ``{"title", "body"}``. A
        client that repeats a post sends the same ``announcement_id`` and gets
        the first announcement back, without sending its e-mails again.
        """
        author_person_id = self.caller.person_id
        assignments = views.require_staff_of_unit(self.caller, unit_id, self._staff_assignments)
        if assignments is None or not author_person_id:
            raise Forbidden("staff_role_required")
        draft = announcements.validate_draft(unit_id, audience, group_id, title, body, translations)
        announcement_id = announcements.check_announcement_id(announcement_id or uuid.uuid4())

        with self.db.transaction() as session:
            if announcements.find_posted(session, announcement_id, author_person_id) is not None:
                return announcements.staff_view(session, announcement_id)

        member_ids = self._audience_members(draft, assignments)
        with self.db.transaction() as session:
            guardians = read_model.guardians_of_children(session, member_ids)
            announcements.post(
                session,
                draft,
                announcement_id,
                author_person_id,
                guardians,
                self.delivery.texts,
                self.delivery.settings.public_url,
            )
            # The sweeper sends the e-mails, so the reply does not wait for the SMTP server.
            return announcements.staff_view(session, announcement_id)

    def _audience_members(self, draft: announcements.Draft, assignments: dict) -> list[str]:
        """Return the person ids of the children the announcement reaches, from the school directory."""
        unit_groups = {
            str(group["group_id"]) for group in assignments.get("groups") or [] if str(group.get("unit_id")) == draft.unit_id
        }
        if draft.audience != announcements.UNIT and draft.group_id not in unit_groups:
            raise NotFound("group_not_found", {"group_id": draft.group_id})

        # NOTE: a unit-wide announcement finds its children through the unit's
        # groups, so a child placed at the unit but in no group gets no e-mail;
        # the guardian still sees the announcement in the list.
        group_ids = sorted(unit_groups) if draft.audience == announcements.UNIT else [draft.group_id]
        member_ids: list[str] = []
        for group_id in group_ids:
            member_ids.extend(self._directory.group_member_ids(group_id))
        return sorted(set(member_ids))

    @rpc
    def list_my_announcements(self, limit: int = 50) -> list[dict]:
        """Return the announcements that reach the calling guardian, newest first, in their language."""
        guardian_person_id = views.require_guardian(self.caller)
        unit_ids, group_ids = self._directory.guardian_reach(guardian_person_id)
        with self.db.transaction() as session:
            language = read_model.language_of(session, guardian_person_id)
            return announcements.announcements_for_guardian(session, guardian_person_id, unit_ids, group_ids, language, limit)

    @rpc
    def mark_announcement_read(self, announcement_id: str) -> dict:
        """Record that the calling guardian read an announcement; a repeated call keeps the first time."""
        guardian_person_id = views.require_guardian(self.caller)
        unit_ids, group_ids = self._directory.guardian_reach(guardian_person_id)
        with self.db.transaction() as session:
            return announcements.mark_read(session, announcement_id, guardian_person_id, unit_ids, group_ids)

    @rpc
    def list_unit_announcements(self, unit_id: str) -> list[dict]:
        """Return a unit's announcements with their translations and read counts; for staff of the unit."""
        views.require_staff_of_unit(self.caller, unit_id, self._staff_assignments)
        with self.db.transaction() as session:
            return announcements.announcements_of_unit(session, unit_id)

    @rpc
    def list_announcement_reads(self, announcement_id: str) -> dict:
        """Return which guardians read an announcement and when; for staff with a duty at its unit."""
        views.require_staff_role(self.caller)
        with self.db.transaction() as session:
            unit_id = announcements.unit_of(session, announcement_id)
        try:
            views.require_staff_of_unit(self.caller, unit_id, self._staff_assignments)
        except Forbidden:
            # Staff of another unit learn neither the announcement's unit nor that it exists.
            raise NotFound("announcement_not_found", {"announcement_id": announcement_id}) from None
        with self.db.transaction() as session:
            return announcements.reads_of(session, announcement_id)

    @property
    def _directory(self) -> Directory:
        return Directory(self.directory, DIRECTORY_TIMEOUT)

    def _staff_assignments(self, person_id: str) -> dict:
        """Return the directory's ``staff_assignments`` reply: ``{"units": [{"unit_id", "duty_role", ...}], ...}``."""
        with eventlet.Timeout(DIRECTORY_TIMEOUT):
            return self.directory.staff_assignments(person_id)
