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

from torget_messaging import announcements, conversations, feedback, ledger, notices, read_model, validation, views
from torget_messaging.directory import Directory, child_unit_ids
from torget_messaging.dispatcher import Dispatcher, Providers
from torget_messaging.errors import Forbidden, InvalidRequest, MessagingError, NotFound, Unauthenticated
from torget_messaging.settings import MessagingSettings
from torget_messaging.texts import NoticeTexts
from torget_shared import contracts  # noqa: F401  (registers the event schemas)
from torget_shared.caller import ACCOUNT
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

    @rpc(expected_exceptions=MessagingError)
    def list_my_notices(self, limit: int = 50) -> list[dict]:
        """Return the caller's absence notices, newest first, with whether each was acknowledged."""
        guardian_person_id = views.require_guardian(self.caller)
        with self.db.transaction() as session:
            return views.notices_of_guardian(session, guardian_person_id, limit)

    @rpc(expected_exceptions=MessagingError)
    def acknowledge_notice(self, notice_id: str) -> dict:
        """Record that the calling guardian has taken note of an absence notice ("ta del av")."""
        guardian_person_id = views.require_guardian(self.caller)
        with self.db.transaction() as session:
            return views.acknowledge(session, notice_id, guardian_person_id)

    @rpc(expected_exceptions=MessagingError)
    def list_unit_notices(self, unit_id: str, local_date: str | None = None) -> list[dict]:
        """Return a unit's absence notices with each guardian's delivery states and acknowledgement."""
        views.require_staff_of_unit(self.caller, unit_id, self._staff_assignments)
        with self.db.transaction() as session:
            return views.notices_of_unit(session, unit_id, local_date)

    @rpc(expected_exceptions=MessagingError)
    def list_failed_notifications(self, unit_id: str) -> list[dict]:
        """Return a unit's notifications that failed for good, newest first, with the reason."""
        views.require_staff_of_unit(self.caller, unit_id, self._staff_assignments)
        with self.db.transaction() as session:
            return views.failed_of_unit(session, unit_id)

    # Announcements

    @rpc(expected_exceptions=MessagingError)
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
            if not read_model.feature_enabled(session, draft.unit_id, "announcements"):
                raise Forbidden("feature_disabled", {"feature": "announcements", "unit_id": draft.unit_id})

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

    @rpc(expected_exceptions=MessagingError)
    def list_my_announcements(self, limit: int = 50) -> list[dict]:
        """Return the announcements that reach the calling guardian, newest first, in their language."""
        guardian_person_id = views.require_guardian(self.caller)
        unit_ids, group_ids = self._directory.guardian_reach(guardian_person_id)
        with self.db.transaction() as session:
            language = read_model.language_of(session, guardian_person_id)
            return announcements.announcements_for_guardian(session, guardian_person_id, unit_ids, group_ids, language, limit)

    @rpc(expected_exceptions=MessagingError)
    def mark_announcement_read(self, announcement_id: str) -> dict:
        """Record that the calling guardian read an announcement; a repeated call keeps the first time."""
        guardian_person_id = views.require_guardian(self.caller)
        unit_ids, group_ids = self._directory.guardian_reach(guardian_person_id)
        with self.db.transaction() as session:
            return announcements.mark_read(session, announcement_id, guardian_person_id, unit_ids, group_ids)

    @rpc(expected_exceptions=MessagingError)
    def list_unit_announcements(self, unit_id: str) -> list[dict]:
        """Return a unit's announcements with their translations and read counts; for staff of the unit."""
        views.require_staff_of_unit(self.caller, unit_id, self._staff_assignments)
        with self.db.transaction() as session:
            return announcements.announcements_of_unit(session, unit_id)

    @rpc(expected_exceptions=MessagingError)
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

    # Conversations

    @rpc(expected_exceptions=MessagingError)
    def list_conversation_contacts(self, child_person_id: str) -> dict:
        """Return whom the caller may write to about a child: staff of the child's units and, for staff, its guardians.

        A guardian gets the staff of each unit where the child is placed and
        conversations are on, without staff who have protected identity.
        Staff get their own units of the child, their colleagues there and
        the child's guardians with custody (protected ones without a name).
        """
        person_id, context, role, unit_ids = self._child_relation(child_person_id)
        units = []
        with self.db.transaction() as session:
            open_unit_ids = [unit_id for unit_id in sorted(unit_ids) if read_model.feature_enabled(session, unit_id, "conversations")]
        for unit_id in open_unit_ids:
            staff = [
                {
                    "person_id": str(member["person_id"]),
                    "name": " ".join(part for part in (member.get("given_name"), member.get("family_name")) if part) or None,
                    "duty_roles": list(member.get("duty_roles") or []),
                }
                for member in self._directory.unit_staff(unit_id)
                if not member.get("protected_identity") and str(member["person_id"]) != person_id
            ]
            units.append({"unit_id": unit_id, "staff": staff})
        guardians = []
        if role == conversations.STAFF:
            guardians = [
                {
                    "person_id": str(guardian["person_id"]),
                    "name": None
                    if guardian.get("protected_identity")
                    else " ".join(part for part in (guardian.get("given_name"), guardian.get("family_name")) if part) or None,
                    "protected_identity": bool(guardian.get("protected_identity")),
                }
                for guardian in context.get("guardians") or []
            ]
        return {"child_person_id": child_person_id, "units": units, "guardians": guardians}

    @rpc(expected_exceptions=MessagingError)
    def start_conversation(
        self,
        child_person_id: str,
        unit_id: str,
        subject: str,
        body: str,
        recipient_person_ids: list,
        conversation_id: str | None = None,
    ) -> dict:
        """Start a conversation about a child with staff of one of its units (for guardians) or its guardians (for staff).

        A client that repeats a start sends the same ``conversation_id`` and
        gets the first conversation back.
        """
        opening = conversations.validate_opening(child_person_id, unit_id, subject, body, recipient_person_ids)
        conversation_id = validation.check_id(conversation_id or uuid.uuid4(), "conversation_id")
        person_id, context, role, unit_ids = self._child_relation(opening.child_person_id)
        if opening.unit_id not in unit_ids:
            if role == conversations.GUARDIAN:
                raise InvalidRequest("unit_not_of_child", {"field": "unit_id", "unit_id": opening.unit_id})
            raise NotFound("child_not_found", {"child_person_id": opening.child_person_id})

        with self.db.transaction() as session:
            if conversations.find_started(session, conversation_id, person_id, opening) is not None:
                return conversations.conversation_view(session, conversation_id, person_id, self._scope())
            if not read_model.feature_enabled(session, opening.unit_id, "conversations"):
                raise Forbidden("feature_disabled", {"feature": "conversations", "unit_id": opening.unit_id})

        participants = {person_id: role, **self._recipients(opening, context, role, person_id)}
        with self.db.transaction() as session:
            message_id = conversations.start(session, conversation_id, opening, person_id, participants)
            to_send = conversations.notify_guardians(
                session, conversation_id, message_id, person_id, self.delivery.texts, self.delivery.settings.public_url
            )
            view = conversations.conversation_view(session, conversation_id, person_id, self._scope())
        self.delivery.dispatcher(self.db).deliver_all(to_send)
        return view

    def _recipients(self, opening, context: dict, role: str, person_id: str) -> dict[str, str]:
        """Return {person id: role} of the recipients; raise InvalidRequest naming a recipient the caller may not add."""
        staff_ids = {str(member["person_id"]) for member in self._directory.unit_staff(opening.unit_id)}
        guardian_ids = {str(guardian["person_id"]) for guardian in context.get("guardians") or []}
        recipients: dict[str, str] = {}
        for index, recipient in enumerate(opening.recipient_person_ids):
            if recipient in staff_ids and recipient != person_id:
                recipients[recipient] = conversations.STAFF
            elif role == conversations.STAFF and recipient in guardian_ids:
                recipients[recipient] = conversations.GUARDIAN
            else:
                raise InvalidRequest("recipient_not_allowed", {"field": f"recipient_person_ids.{index}"})
        if not recipients:
            raise InvalidRequest("field_required", {"field": "recipient_person_ids"})
        if role == conversations.STAFF and conversations.GUARDIAN not in recipients.values():
            raise InvalidRequest("guardian_recipient_required", {"field": "recipient_person_ids"})
        return recipients

    def _child_relation(self, child_person_id: str) -> tuple[str, dict, str, set[str]]:
        """Return (caller's person id, child context, role, unit ids) for a guardian with custody or staff of the child's unit.

        Anyone else gets the same NotFound as for a child that does not exist.
        """
        person_id = self._account_person_id()
        not_found = NotFound("child_not_found", {"child_person_id": child_person_id})
        context = self._directory.child_context(child_person_id)
        if context is None:
            raise not_found
        child_units = child_unit_ids(context)
        guardian_ids = {str(guardian["person_id"]) for guardian in context.get("guardians") or []}
        if self.caller.has_role(views.GUARDIAN_ROLE) and person_id in guardian_ids:
            return person_id, context, conversations.GUARDIAN, child_units
        if self.caller.has_role(views.STAFF_ROLE):
            duty_units = self._duty_unit_ids(person_id)
            if duty_units & child_units:
                return person_id, context, conversations.STAFF, duty_units & child_units
        raise not_found

    def _account_person_id(self) -> str:
        if self.caller.kind != ACCOUNT or not self.caller.person_id:
            raise Unauthenticated("login_required")
        return self.caller.person_id

    def _duty_unit_ids(self, person_id: str) -> set[str]:
        assignments = self._directory.staff_assignments(person_id)
        return {str(duty["unit_id"]) for duty in (assignments or {}).get("units") or []}

    def _scope(self) -> conversations.Scope:
        """Return the children in the caller's custody and the units of their duties, from the school directory."""
        person_id = self._account_person_id()
        child_ids: set[str] = set()
        unit_ids: set[str] = set()
        if self.caller.has_role(views.GUARDIAN_ROLE):
            child_ids = self._directory.custody_child_ids(person_id)
        if self.caller.has_role(views.STAFF_ROLE):
            unit_ids = self._duty_unit_ids(person_id)
        return conversations.Scope(frozenset(child_ids), frozenset(unit_ids))

    @staticmethod
    def _conversation_uuid(conversation_id) -> str:
        return validation.existing_id(conversation_id, NotFound("conversation_not_found", {"conversation_id": str(conversation_id)}))

    @rpc(expected_exceptions=MessagingError)
    def list_my_conversations(self, limit: int = 50) -> dict:
        """Return the caller's conversations, the most recently active first, with unread counts and totals."""
        person_id = self._account_person_id()
        scope = self._scope()
        with self.db.transaction() as session:
            return {
                **conversations.unread_summary(session, person_id, scope),
                "conversations": conversations.conversations_of(session, person_id, scope, limit),
            }

    @rpc(expected_exceptions=MessagingError)
    def get_conversation(self, conversation_id: str) -> dict:
        """Return a conversation with its messages to a participant; it does not mark them read."""
        conversation_id = self._conversation_uuid(conversation_id)
        person_id = self._account_person_id()
        scope = self._scope()
        with self.db.transaction() as session:
            return conversations.conversation_view(session, conversation_id, person_id, scope)

    @rpc(expected_exceptions=MessagingError)
    def reply_to_conversation(self, conversation_id: str, body: str, message_id: str | None = None) -> dict:
        """Add the caller's message to a conversation; a repeated ``message_id`` adds nothing."""
        conversation_id = self._conversation_uuid(conversation_id)
        body = validation.text(body, "body", conversations.BODY_MAX_LENGTH)
        message_id = validation.check_id(message_id or uuid.uuid4(), "message_id")
        person_id = self._account_person_id()
        scope = self._scope()
        to_send: list[str] = []
        with self.db.transaction() as session:
            message, new = conversations.reply(session, conversation_id, person_id, scope, body, message_id)
            if new:
                to_send = conversations.notify_guardians(
                    session, conversation_id, message_id, person_id, self.delivery.texts, self.delivery.settings.public_url
                )
        self.delivery.dispatcher(self.db).deliver_all(to_send)
        return message

    @rpc(expected_exceptions=MessagingError)
    def mark_conversation_read(self, conversation_id: str) -> dict:
        """Mark every message of a conversation read by the calling participant."""
        conversation_id = self._conversation_uuid(conversation_id)
        person_id = self._account_person_id()
        scope = self._scope()
        with self.db.transaction() as session:
            return conversations.mark_read(session, conversation_id, person_id, scope)

    # Feedback

    @rpc(expected_exceptions=MessagingError)
    def send_feedback(
        self, unit_id: str, kind: str, subject: str, body: str, anonymous: bool = False, feedback_id: str | None = None
    ) -> dict:
        """Send a suggestion or complaint to the administration of a unit of the caller's own."""
        checked = feedback.validate(kind, subject, body, anonymous)
        feedback_id = validation.check_id(feedback_id or uuid.uuid4(), "feedback_id")
        person_id = self._account_person_id()
        role = self._role_at_unit(person_id, unit_id)
        with self.db.transaction() as session:
            if feedback.find_sent(session, feedback_id, person_id, unit_id, checked) is None:
                feedback.send(session, feedback_id, unit_id, person_id, role, checked)
            return feedback.sender_view(session, feedback_id)

    def _role_at_unit(self, person_id: str, unit_id: str) -> str:
        """Return guardian or staff: how the caller belongs to the unit; raise Forbidden when they do not."""
        if self.caller.has_role(views.STAFF_ROLE) and unit_id in self._duty_unit_ids(person_id):
            return conversations.STAFF
        if self.caller.has_role(views.GUARDIAN_ROLE):
            unit_ids, _ = self._directory.guardian_reach(person_id)
            if unit_id in unit_ids:
                return conversations.GUARDIAN
        raise Forbidden("not_member_of_unit", {"unit_id": unit_id})

    @rpc(expected_exceptions=MessagingError)
    def list_my_feedback(self, limit: int = 50) -> list[dict]:
        """Return the feedback the caller sent, newest first, with the answers."""
        person_id = self._account_person_id()
        with self.db.transaction() as session:
            return feedback.feedback_of_author(session, person_id, limit)

    @rpc(expected_exceptions=MessagingError)
    def list_unit_feedback(self, unit_id: str, state: str | None = None) -> list[dict]:
        """Return a unit's feedback to its administration, newest first; ``state`` received or answered."""
        self._require_administration(unit_id)
        with self.db.transaction() as session:
            return feedback.feedback_of_unit(session, unit_id, state)

    @rpc(expected_exceptions=MessagingError)
    def answer_feedback(self, feedback_id: str, body: str, answer_id: str | None = None) -> dict:
        """Answer feedback sent to a unit where the caller is in the administration; the sender gets an e-mail."""
        body = validation.text(body, "body", conversations.BODY_MAX_LENGTH)
        answer_id = validation.check_id(answer_id or uuid.uuid4(), "answer_id")
        feedback_id = validation.existing_id(feedback_id, NotFound("feedback_not_found", {"feedback_id": str(feedback_id)}))
        person_id = self._account_person_id()
        with self.db.transaction() as session:
            unit_id = feedback.unit_of(session, feedback_id)
        try:
            if unit_id is None:
                raise Forbidden("administration_duty_required", {})
            self._require_administration(unit_id)
        except Forbidden:
            # Others learn neither the unit nor that the feedback exists.
            raise NotFound("feedback_not_found", {"feedback_id": feedback_id}) from None
        with self.db.transaction() as session:
            view, delivery_id = feedback.answer(
                session, feedback_id, person_id, body, answer_id, self.delivery.texts, self.delivery.settings.public_url
            )
        self.delivery.dispatcher(self.db).deliver_all([delivery_id] if delivery_id else [])
        return view

    def _require_administration(self, unit_id: str) -> None:
        person_id = self._account_person_id()
        views.require_staff_role(self.caller)
        if unit_id not in feedback.administration_unit_ids(self._directory.staff_assignments(person_id)):
            raise Forbidden("administration_duty_required", {"unit_id": unit_id})

    @property
    def _directory(self) -> Directory:
        return Directory(self.directory, DIRECTORY_TIMEOUT)

    def _staff_assignments(self, person_id: str) -> dict:
        """Return the directory's ``staff_assignments`` reply: ``{"units": [{"unit_id", "duty_role", ...}], ...}``."""
        with eventlet.Timeout(DIRECTORY_TIMEOUT):
            return self.directory.staff_assignments(person_id)
