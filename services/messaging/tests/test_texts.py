"""SMS segment counting, the language catalogs and the personal identity number guard."""

import datetime

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from torget_messaging.sms_text import GSM7, UCS2, count_sms
from torget_messaging.texts import (
    BUILTIN_LOCALE_DIR,
    NoticeTexts,
    PersonalIdentityNumberInText,
    check_no_personal_identity_number,
)


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("", GSM7, 0, 1),
        ("Åsa är sjuk i dag, ö och ä", GSM7, 26, 1),
        ("a" * 160, GSM7, 160, 1),
        ("a" * 161, GSM7, 161, 2),
        ("a" * 306, GSM7, 306, 2),
        ("a" * 307, GSM7, 307, 3),
        ("€" * 80, GSM7, 160, 1),
        ("€" * 81, GSM7, 162, 2),
        # 152 plain septets, then an escape pair that must not be split.
        ("a" * 152 + "€" + "a" * 10, GSM7, 164, 2),
        ("a" * 152 + "€" + "a" * 151, GSM7, 305, 2),
        ("a" * 152 + "€" + "a" * 152, GSM7, 306, 3),
        ("08:15–09:00", UCS2, 11, 1),
        ("Elin’s lektion", UCS2, 14, 1),
        ("ا" * 70, UCS2, 70, 1),
        ("ا" * 71, UCS2, 71, 2),
        ("ا" * 134, UCS2, 134, 2),
        ("ا" * 135, UCS2, 135, 3),
        ("😀" * 35, UCS2, 70, 1),
    ],
)
def test_count_sms(text, encoding, units, segments):
    count = count_sms(text)

    assert count.encoding == encoding
    assert count.units == units
    assert count.segments == segments


def template_msgids() -> set[str]:
    found = extract_from_dir(
        BUILTIN_LOCALE_DIR,
        method_map=[("templates/**", "jinja2")],
        options_map={"templates/**": {"extensions": "jinja2.ext.i18n"}},
    )
    return {message for _, _, message, _, _ in found}


def test_catalogs_translate_every_text():
    extracted = template_msgids()
    extracted.add("your child")
    for language in ("sv", "ar"):
        with open(f"{BUILTIN_LOCALE_DIR}/{language}/LC_MESSAGES/messages.po", "rb") as po_file:
            catalog = read_po(po_file)
        translated = {message.id for message in catalog if message.id and message.string}
        assert extracted - translated == set(), language


CONTEXT = {
    "child_name": "Åsa Lind",
    "lesson_name": "Matematik",
    "start_time": "08:15",
    "end_time": "09:00",
    "local_date": datetime.date(2026, 12, 7),
    "kind": "absent",
    "late_minutes": None,
    "notice_url": "https://torget.test/notices/1",
}


def test_swedish_sms_stays_gsm7():
    text = NoticeTexts().render_sms("absence_notice", "sv", CONTEXT)

    assert text.startswith("Torget: Åsa Lind var frånvarande från Matematik 08:15-09:00 mån 7 december.")
    assert count_sms(text).encoding == GSM7


def test_unknown_language_falls_back_to_swedish():
    texts = NoticeTexts()

    assert texts.resolve_language("fi") == "sv"
    assert "frånvarande" in texts.render_sms("absence_notice", "fi", CONTEXT)


def test_municipality_folder_adds_language(tmp_path):
    catalog = tmp_path / "fi" / "LC_MESSAGES"
    catalog.mkdir(parents=True)
    catalog.joinpath("messages.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n"Language: fi\\n"\n\n'
        'msgid "Absence registered"\nmsgstr "Poissaolo kirjattu"\n',
        encoding="utf-8",
    )
    texts = NoticeTexts(str(tmp_path))

    email = texts.render_email("absence_notice", "fi-FI", CONTEXT)

    assert "fi" in texts.languages()
    assert email.subject == "Poissaolo kirjattu"
    # Texts the catalog lacks are shown in Swedish.
    assert "frånvarande" in email.text
    assert 'lang="fi"' in email.html


def test_arabic_email_is_right_to_left():
    email = NoticeTexts().render_email("absence_notice", "ar", CONTEXT)

    assert 'dir="rtl"' in email.html
    assert 'lang="ar"' in email.html
    assert email.subject == "تم تسجيل غياب"


def test_personal_identity_number_is_refused():
    with pytest.raises(PersonalIdentityNumberInText):
        check_no_personal_identity_number("Barnet 19900101-0017 var borta")
    with pytest.raises(PersonalIdentityNumberInText):
        NoticeTexts().render_sms("absence_notice", "sv", {**CONTEXT, "child_name": "900101-0017"})


def test_dates_and_times_are_not_identity_numbers():
    check_no_personal_identity_number("2026-12-07 08:15-09:00, +46701234567")
