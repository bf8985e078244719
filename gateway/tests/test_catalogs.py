"""The message catalogs: complete, up to date with the code, and true to marshmallow."""

import re
import subprocess
import sys
from pathlib import Path

import marshmallow as ma
import pytest
from babel.messages.pofile import read_po

from torget_gateway.validation import MARSHMALLOW_MESSAGES, translate_message

GATEWAY = Path(__file__).resolve().parents[1]
TRANSLATIONS = GATEWAY / "torget_gateway" / "translations"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\w+\}")


def _catalog(path: Path):
    with path.open("rb") as po_file:
        return read_po(po_file)


def _message_ids(catalog) -> set:
    return {message.id for message in catalog if message.id}


def _marshmallow_defaults() -> set[str]:
    messages = set(ma.Schema._default_error_messages.values())
    for field_class in vars(ma.fields).values():
        if isinstance(field_class, type) and issubclass(field_class, ma.fields.Field):
            for message in field_class.default_error_messages.values():
                messages.add(message.replace("{obj_type}", getattr(field_class, "OBJ_TYPE", "{obj_type}")))
    for awareness in ("naive", "aware"):
        messages.add(f"Not a valid {awareness} datetime.")
    return messages


def test_template_matches_source(tmp_path):
    extracted = tmp_path / "messages.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", "-o", str(extracted), "."],
        cwd=GATEWAY,
        check=True,
        capture_output=True,
    )

    assert _message_ids(_catalog(extracted)) == _message_ids(_catalog(TRANSLATIONS / "messages.pot"))


@pytest.mark.parametrize("locale", ["sv", "en"])
def test_catalog_translates_every_message(locale):
    template_ids = _message_ids(_catalog(TRANSLATIONS / "messages.pot"))
    catalog = _catalog(TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po")

    assert _message_ids(catalog) == template_ids
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        assert all(strings), f"{locale}: no translation of {ids[0]!r}"
        assert not message.fuzzy, f"{locale}: fuzzy translation of {ids[0]!r}"
        for string in strings:
            assert sorted(PLACEHOLDER.findall(string)) == sorted(PLACEHOLDER.findall(ids[0])), (
                f"{locale}: placeholders differ in {string!r}"
            )


def test_swedish_differs_from_english():
    catalog = _catalog(TRANSLATIONS / "sv" / "LC_MESSAGES" / "messages.po")

    same = [message.id for message in catalog if message.id and message.string == message.id]
    assert same == []


def test_marshmallow_messages_still_exist():
    defaults = _marshmallow_defaults()

    missing = [message for message in MARSHMALLOW_MESSAGES if message not in defaults]
    assert missing == []


@pytest.mark.parametrize(
    ("validator", "value"),
    [
        (ma.validate.Length(min=2), "a"),
        (ma.validate.Length(max=1), "abc"),
        (ma.validate.Length(min=1, max=2), "abc"),
        (ma.validate.Length(equal=1), "abc"),
        (ma.validate.Range(min=1), 0),
        (ma.validate.Range(min=1, min_inclusive=False), 1),
        (ma.validate.Range(max=1), 2),
        (ma.validate.Range(max=1, max_inclusive=False), 1),
        (ma.validate.Range(min=1, max=3), 9),
        (ma.validate.Range(min=1, max=3, max_inclusive=False), 9),
        (ma.validate.Range(min=1, max=3, min_inclusive=False), 9),
        (ma.validate.Range(min=1, max=3, min_inclusive=False, max_inclusive=False), 9),
        (ma.validate.OneOf(["grundskola", "gymnasieskola"]), "förskola"),
        (ma.validate.Equal(1), 2),
    ],
    ids=lambda value: type(value).__name__,
)
def test_validator_message_translated(app, validator, value):
    with pytest.raises(ma.ValidationError) as raised:
        validator(value)
    message = raised.value.messages[0]

    with app.test_request_context(headers={"Accept-Language": "sv"}):
        translated = translate_message(message)

    assert translated != message
    assert translated.startswith(("Måste", "Längden", "Kortare", "Längre"))
