"""Checks of the values clients send to the messaging service, each naming the field it rejects."""

import uuid

from torget_messaging.errors import InvalidRequest, NotFound
from torget_messaging.texts import PersonalIdentityNumberInText, check_no_personal_identity_number


def text(value, field: str, max_length: int) -> str:
    """Return the trimmed text; raise InvalidRequest naming ``field`` when it is empty, too long or contains a NUL or a personal identity number."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest("field_required", {"field": field})
    value = value.strip()
    if "\x00" in value:
        # PostgreSQL cannot store U+0000 in a text column.
        raise InvalidRequest("nul_character", {"field": field})
    if len(value) > max_length:
        raise InvalidRequest("field_too_long", {"field": field, "max_length": max_length})
    try:
        check_no_personal_identity_number(value)
    except PersonalIdentityNumberInText:
        raise InvalidRequest("personal_identity_number_in_text", {"field": field}) from None
    return value


def check_id(value, field: str) -> str:
    """Return ``value`` as a canonical UUID string, or raise InvalidRequest naming ``field``."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise InvalidRequest("invalid_id", {"field": field}) from None


def existing_id(value, not_found: NotFound) -> str:
    """Return ``value`` as a canonical UUID string; raise ``not_found`` for anything else, as for an unknown id."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise not_found from None
