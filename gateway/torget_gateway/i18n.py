"""The language of what clients read: Swedish, or English when the client prefers it."""

from flask import Flask, request
from flask_babel import Babel

# The first locale is the default, used when Accept-Language names neither.
LOCALES = ("sv", "en")


def select_locale() -> str:
    return request.accept_languages.best_match(LOCALES, default=LOCALES[0])


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=select_locale, default_locale=LOCALES[0])
