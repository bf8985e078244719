"""A guardian's view of who has read and written their child's documents."""

from sqlalchemy.orm import Session

from torget_documents import audit
from torget_documents.access import GUARDIAN, Decision, child_scope
from torget_documents.context import RequestContext, refusal


def child_access_history(session: Session, ctx: RequestContext, child_person_id: str) -> list[dict]:
    """Return the staff's accesses to a child's documents, for a guardian with custody in a BankID session."""
    ctx.begin("read_access_log", child_person_id=child_person_id)
    scope = child_scope(ctx.directory.child(child_person_id))
    caller = ctx.caller

    if scope is None or caller.person_id is None or caller.person_id not in scope.child.custodian_person_ids:
        ctx.decision = Decision(False, reason="not_found")
    elif not caller.has_bankid:
        ctx.decision = Decision(False, role=GUARDIAN, reason="bankid_required")
    else:
        ctx.decision = Decision(True, role=GUARDIAN)
    if not ctx.decision.allowed:
        raise refusal(ctx.decision.reason, ctx.target)

    entries = audit.child_history(session, child_person_id)
    ctx.record(session)
    return entries
