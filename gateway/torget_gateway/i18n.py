"""The language of what clients read: Swedish, or English when the client prefers it."""

from flask import Flask, request
from flask_babel import Babel

# The first locale is the default, used when Accept-Language names neither.
LOCALES = ("sv", "en")


def select_locale() -> str:
    """Return the locale of the client's most preferred language that the gateway speaks.

    A regional tag counts for its language: "en-GB,sv;q=0.1" prefers English.
    werkzeug's best_match would pick sv there, because it matches a regional
    tag to its language only when no tag matches exactly.
    """
    best, best_quality = LOCALES[0], 0.0
    for tag, quality in request.accept_languages:
        language = tag.replace("_", "-").split("-", 1)[0].lower()
        if language in LOCALES and quality > best_quality:
            best, best_quality = language, quality
    return best


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=select_locale, default_locale=LOCALES[0])
