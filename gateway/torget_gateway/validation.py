"""Validation errors from webargs and marshmallow, shaped and translated for clients.

marshmallow formats its messages in English before the gateway gets them. The
fixed ones are looked up in the gettext catalog as they are. Those formatted
from a template (Length, Range, OneOf, Equal) are matched against the
template, and the values found are put into the translated template.
"""

import re
from collections.abc import Mapping

from flask_babel import gettext, ngettext

# The webargs locations that key the messages of flask-smorest's 422 errors.
LOCATIONS = ("json", "query", "querystring", "form", "headers", "cookies", "files", "path", "view_args")

SCHEMA_KEY = "_schema"


def N_(message: str) -> str:
    """Mark ``message`` for the catalog without translating it."""
    return message


# marshmallow 4's default messages, word for word.
MARSHMALLOW_MESSAGES = (
    N_("Missing data for required field."),
    N_("Field may not be null."),
    N_("Invalid value."),
    N_("Invalid type."),
    N_("Invalid input type."),
    N_("Unknown field."),
    N_("Not a valid string."),
    N_("Not a valid utf-8 string."),
    N_("Not a valid integer."),
    N_("Not a valid number."),
    N_("Number too large."),
    N_("Special numeric values (nan or infinity) are not permitted."),
    N_("Not a valid boolean."),
    N_("Not a valid datetime."),
    N_("Not a valid aware datetime."),
    N_("Not a valid naive datetime."),
    N_("Not a valid date."),
    N_("Not a valid time."),
    N_("Not a valid period of time."),
    N_("Not a valid UUID."),
    N_("Not a valid email address."),
    N_("Not a valid URL."),
    N_("Not a valid list."),
    N_("Not a valid tuple."),
    N_("Not a valid mapping type."),
)

# marshmallow 4's message templates of the validators, word for word.
MARSHMALLOW_TEMPLATES = (
    N_("Shorter than minimum length {min}."),
    N_("Longer than maximum length {max}."),
    N_("Length must be between {min} and {max}."),
    N_("Length must be {equal}."),
    N_("Must be greater than or equal to {min}."),
    N_("Must be greater than {min}."),
    N_("Must be less than or equal to {max}."),
    N_("Must be less than {max}."),
    N_("Must be greater than or equal to {min} and less than or equal to {max}."),
    N_("Must be greater than or equal to {min} and less than {max}."),
    N_("Must be greater than {min} and less than or equal to {max}."),
    N_("Must be greater than {min} and less than {max}."),
    N_("Must be one of: {choices}."),
    N_("Must be equal to {other}."),
)


def _template_pattern(template: str) -> re.Pattern:
    parts = re.split(r"\{(\w+)\}", template)
    pattern = ""
    for index, part in enumerate(parts):
        pattern += re.escape(part) if index % 2 == 0 else f"(?P<{part}>.+?)"
    return re.compile(f"^{pattern}$")


# A template with more fixed text is tried first, because a shorter one such as
# "Must be greater than {min}." also matches a Range message with both bounds.
_TEMPLATE_PATTERNS = tuple(
    (template, _template_pattern(template))
    for template in sorted(MARSHMALLOW_TEMPLATES, key=lambda text: len(re.sub(r"\{\w+\}", "", text)), reverse=True)
)


def translate_message(message: str) -> str:
    """Translate one marshmallow message, or return it unchanged when the catalog lacks it."""
    if not isinstance(message, str):
        return str(message)

    translated = gettext(message)
    if translated != message:
        return translated

    for template, pattern in _TEMPLATE_PATTERNS:
        match = pattern.match(message)
        if match:
            return gettext(template).format(**match.groupdict())
    return message


def flatten_messages(messages) -> dict[str, list[str]]:
    """Return marshmallow's nested messages as {dotted field name: [translated messages]}.

    The webargs location level (``json``, ``query``, ...) is dropped. A
    ``_schema`` message of a nested object is filed under that object's name.
    """
    fields: dict[str, list[str]] = {}

    def visit(value, path: tuple[str, ...]) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                key = str(key)
                if not path and key in LOCATIONS:
                    visit(inner, path)
                elif key == SCHEMA_KEY and path:
                    visit(inner, path)
                else:
                    visit(inner, (*path, key))
            return

        name = ".".join(path) or SCHEMA_KEY
        values = value if isinstance(value, (list, tuple)) else [value]
        fields.setdefault(name, []).extend(translate_message(item) for item in values)

    visit(messages, ())
    return fields


def summarize(fields: Mapping[str, list[str]]) -> str:
    """Return one sentence per invalid field, led by how many fields are invalid."""
    parts = []
    for name, field_messages in fields.items():
        label = gettext("Request body") if name == SCHEMA_KEY else name
        parts.append(f"{label}: {field_messages[0]}")

    lead = ngettext(
        "The request has %(num)d invalid field.",
        "The request has %(num)d invalid fields.",
        len(fields),
    )
    return " ".join([lead, *parts])
