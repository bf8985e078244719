"""The nameko entrypoints of the messaging service.

Event handlers, one durable queue each:

- ``send_absence_sms`` and ``send_absence_email`` fan ``absence_registered``
  out to the two channels, so one can lag or fail without holding up the other;
- ``withdraw_absence_notices`` handles ``absence_registration_withdrawn``;
- ``send_email_verification`` handles identity's ``email_verification_requested``;
- the ``on_*`` handlers keep the read model of guardians, children and units.

A timer runs the sweeper that retries, reconciles and brings back stuck
deliveries.
"""

import logging

import eventlet
from nameko.extensions import DependencyProvider
from nameko.rpc import RpcProxy, rpc
from nameko.timer import Timer

from torget_messaging import ledger, notices, read_model, views
from torget_messaging.dispatcher import Dispatcher, Providers
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

    def _staff_assignments(self, person_id: str) -> dict:
        """Return the directory's ``staff_assignments`` reply: ``{"units": [{"unit_id", "duty_role", ...}], ...}``."""
        with eventlet.Timeout(DIRECTORY_TIMEOUT):
            return self.directory.staff_assignments(person_id)
