"""The gateway app of the attendance benchmark: the real app, plus a caller taken from a header.

BENCHMARK ONLY. The gateway does not verify access tokens yet, so this
factory sets the caller of each request from the X-Bench-Person header.
Never serve it to clients.
"""

from flask import g, request

from torget_gateway.app import create_app as create_gateway_app
from torget_shared.caller import ACCOUNT, Caller

PERSON_HEADER = "X-Bench-Person"


def _set_caller() -> None:
    person_id = request.headers.get(PERSON_HEADER)
    if person_id:
        g.caller = Caller(kind=ACCOUNT, account_id=f"account-{person_id}", person_id=person_id)


def create_app():
    app = create_gateway_app()
    app.before_request(_set_caller)
    return app
