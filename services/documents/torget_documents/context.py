"""One request to the documents service: the caller, the facts to decide access, and what to log.

The service-layer functions record the action, its target and the access
decision here as they go, so that when a request fails the service can
still append a complete refused entry to the access log.
"""

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from torget_documents import audit
from torget_documents.access import Actor, Decision, Scope, child_scope, decide, group_scope
from torget_documents.filestore import FileStore
from torget_documents.crypto import Keyring
from torget_documents.directory import DirectoryView
from torget_documents.errors import BankIdRequired, DocumentNotFound, FeatureDisabled, WriteNotAllowed
from torget_shared.caller import Caller


@dataclass
class RequestContext:
    caller: Caller
    directory: DirectoryView
    keyring: Keyring | None
    file_store: FileStore
    max_attachment_bytes: int
    action: str = ""
    target: dict = field(default_factory=dict)
    decision: Decision | None = None
    _actor: Actor | None = None

    @property
    def actor(self) -> Actor:
        """The caller with their duties, fetched from the directory on first use."""
        if self._actor is None:
            self._actor = self.directory.actor(self.caller)
        return self._actor

    def known_actor(self) -> Actor:
        """Return the actor as far as known without calling the directory, for logging a failure."""
        return self._actor if self._actor is not None else Actor(caller=self.caller)

    def begin(self, action: str, **target) -> None:
        self.action = action
        self.target.update({key: value for key, value in target.items() if value is not None})

    def authorize(self, kind: str, scope: Scope | None, action: str) -> Decision:
        """Decide the access and return the decision, or raise the refusal the caller may see."""
        features = self.directory.features(scope.unit_ids) if scope is not None else {}
        self.decision = decide(self.actor, kind, scope, features, action)
        if not self.decision.allowed:
            raise refusal(self.decision.reason, self.target)
        return self.decision

    def record(self, session: Session, **target) -> None:
        """Append the granted access to the log, in the request's transaction."""
        self.target.update({key: value for key, value in target.items() if value is not None})
        audit.append(session, audit.new_entry(self.actor, self.action, self.decision, **self.target))

    def failure_entry(self, decision: str, reason: str) -> dict:
        entry = audit.new_entry(self.known_actor(), self.action or "unknown", self.decision, **self.target)
        entry.update(decision=decision, reason=reason)
        return entry


def refusal(reason: str | None, target: dict):
    """Return the error a caller sees for a refused access."""
    if reason == "bankid_required":
        return BankIdRequired(
            "documents open only to a session that logged in with BankID: log in with BankID, "
            "or ask the school for help"
        )
    if reason == "write_not_allowed":
        return WriteNotAllowed("your duty lets you read this document but not change it")
    if reason == "feature_disabled":
        return FeatureDisabled("the unit has this kind of document turned off")
    if "document_id" in target:
        return DocumentNotFound(f"document {target['document_id']} not found", document_id=target["document_id"])
    return DocumentNotFound(f"child {target.get('child_person_id')} not found", child_person_id=target.get("child_person_id"))


def document_scope(ctx: RequestContext, document: dict, via_child_person_id: str | None = None) -> Scope | None:
    """Return where a stored document belongs now.

    A child's document follows the child's current unit and groups. A group
    entry stays with its unit and group; a guardian or pupil reads it
    through a child of the group, named by ``via_child_person_id``.
    """
    if document["child_person_id"] is not None:
        if via_child_person_id is not None and via_child_person_id != document["child_person_id"]:
            return None
        return child_scope(ctx.directory.child(document["child_person_id"]))

    via_child = ctx.directory.child(via_child_person_id) if via_child_person_id else None
    return group_scope(document["unit_id"], document["group_id"], via_child)
