"""Rendering notices in the recipient's language with Jinja2 and gettext catalogs.

The templates (``locale/templates``) are written with English source texts
inside ``{% trans %}`` blocks; each language has a gettext catalog
``locale/<language>/LC_MESSAGES/messages.po``, read directly without a
compile step. Swedish is the default: an unknown language gets Swedish, and
a text missing from another language's catalog falls back to Swedish.

A municipality adds a language, or changes a text, in a folder of its own
(``MESSAGING_LOCALE_DIR``) laid out like ``locale/``: its catalogs and
templates win over the built-in ones (see ``locale/README.md``).
"""

import io
import os
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from gettext import NullTranslations

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_skeleton
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from personnummer import personnummer

BUILTIN_LOCALE_DIR = os.path.join(os.path.dirname(__file__), "locale")
DEFAULT_LANGUAGE = "sv"
# The language of the msgids in the templates: it needs no catalog.
SOURCE_LANGUAGE = "en"

# Ten or twelve digits, optionally with a - or + before the last four: the
# shapes of a Swedish personal identity number. A match is checked with the
# Luhn digit before a text is refused, so dates and times do not trip it.
_PIN_CANDIDATE = re.compile(r"(?<!\d)(?:\d{2})?\d{6}[-+]?\d{4}(?!\d)")


class PersonalIdentityNumberInText(ValueError):
    """A rendered text contains something that is a valid personal identity number."""


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def normalize_language(language: str | None) -> str:
    """Return the bare language code of ``language`` (``sv-SE`` becomes ``sv``), lower case."""
    if not language:
        return DEFAULT_LANGUAGE
    return re.split(r"[-_]", language.strip(), maxsplit=1)[0].lower() or DEFAULT_LANGUAGE


def text_direction(language: str) -> str:
    try:
        order = Locale.parse(language).character_order
    except (UnknownLocaleError, ValueError):
        return "ltr"
    return "rtl" if order == "right-to-left" else "ltr"


def check_no_personal_identity_number(text: str) -> None:
    """Raise :class:`PersonalIdentityNumberInText` if ``text`` contains a valid personal identity number."""
    for candidate in _PIN_CANDIDATE.findall(text):
        if personnummer.valid(candidate):
            raise PersonalIdentityNumberInText("a rendered notice contains a personal identity number")


def _load_catalog(path: str) -> Translations:
    with open(path, "rb") as po_file:
        catalog = read_po(po_file)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


class NoticeTexts:
    """The templates and catalogs of every offered language."""

    def __init__(self, extra_dir: str | None = None):
        self.locale_dirs = [path for path in (extra_dir, BUILTIN_LOCALE_DIR) if path]
        self._environments: dict[str, Environment] = {}

    @lru_cache(maxsize=None)
    def languages(self) -> tuple[str, ...]:
        """Return the offered languages: Swedish, the source language and every language with a catalog."""
        found = {DEFAULT_LANGUAGE, SOURCE_LANGUAGE}
        for locale_dir in self.locale_dirs:
            for entry in os.listdir(locale_dir):
                if os.path.isfile(os.path.join(locale_dir, entry, "LC_MESSAGES", "messages.po")):
                    found.add(entry)
        return tuple(sorted(found))

    def resolve_language(self, language: str | None) -> str:
        """Return ``language`` if it is offered, else Swedish."""
        code = normalize_language(language)
        return code if code in self.languages() else DEFAULT_LANGUAGE

    def _catalog_path(self, language: str) -> str | None:
        for locale_dir in self.locale_dirs:
            path = os.path.join(locale_dir, language, "LC_MESSAGES", "messages.po")
            if os.path.isfile(path):
                return path
        return None

    def _translations(self, language: str):
        if language == SOURCE_LANGUAGE and self._catalog_path(language) is None:
            return NullTranslations()
        translations = _load_catalog(self._catalog_path(language))
        if language != DEFAULT_LANGUAGE:
            # A text the catalog lacks is shown in Swedish, not in the English source.
            translations.add_fallback(_load_catalog(self._catalog_path(DEFAULT_LANGUAGE)))
        return translations

    def environment(self, language: str) -> Environment:
        """Return the Jinja2 environment of ``language``, built once."""
        if language not in self._environments:
            search_path = []
            for locale_dir in self.locale_dirs:
                search_path.append(os.path.join(locale_dir, "templates", language))
                search_path.append(os.path.join(locale_dir, "templates"))
            environment = Environment(
                loader=FileSystemLoader([path for path in search_path if os.path.isdir(path)]),
                extensions=["jinja2.ext.i18n"],
                autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
                undefined=StrictUndefined,
                keep_trailing_newline=False,
            )
            translations = self._translations(language)
            environment.install_gettext_translations(translations, newstyle=True)
            # Shown while the directory has not sent the child's name yet.
            environment.globals["unknown_child_name"] = translations.gettext("your child")
            self._environments[language] = environment
        return self._environments[language]

    def _render(self, language: str, template_name: str, context: dict) -> str:
        environment = self.environment(language)
        if context.get("child_name", "") is None:
            context = {**context, "child_name": environment.globals["unknown_child_name"]}
        template = environment.get_template(template_name)
        text = template.render(language=language, direction=text_direction(language), **context).strip()
        check_no_personal_identity_number(text)
        return text

    def render_sms(self, kind: str, language: str, context: dict) -> str:
        language = self.resolve_language(language)
        return self._render(language, f"{kind}.sms.txt", _with_dates(language, context))

    def render_email(self, kind: str, language: str, context: dict) -> RenderedEmail:
        language = self.resolve_language(language)
        context = _with_dates(language, context)
        subject = self._render(language, f"{kind}.subject.txt", context)
        context = {**context, "subject": subject}
        return RenderedEmail(
            subject=subject,
            text=self._render(language, f"{kind}.email.txt", context),
            html=self._render(language, f"{kind}.email.html", context),
        )


def _with_dates(language: str, context: dict) -> dict:
    local_date = context.get("local_date")
    if not isinstance(local_date, date):
        return context
    return {
        **context,
        "short_date": format_skeleton("MMMMEd", local_date, locale=language),
        "long_date": format_date(local_date, format="full", locale=language),
    }
