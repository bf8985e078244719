"""A BankID test server for development and tests: the RP API v6.0 without real BankID.

It answers /rp/v6.0/auth, /collect and /cancel with the JSON shapes and error
responses of the real API. Nobody holds a BankID app here, so a control API
plays the user: it opens an order in the app for a chosen personal identity
number, completes it with a chosen name, or fails it with a chosen hint code.

Control API (JSON bodies):

- ``POST /control/v1/orders/<orderRef>/user`` ``{"personalNumber"}``: the user
  opened the order in the app (hint code userSign).
- ``POST /control/v1/orders/<orderRef>/complete`` ``{"personalNumber",
  "givenName", "surname"}``: the user identified.
- ``POST /control/v1/orders/<orderRef>/fail`` ``{"hintCode"}``: the order
  failed, e.g. with userCancel, certificateErr or startFailed.
- ``GET /control/v1/orders``: the orders and their states.

As in the real service, an order for a person who already has a pending order
cancels the older one: an auth request naming the person with
``requirement.personalNumber`` is answered with alreadyInProgress, and a
person opening a second order in the app leaves the first one failed with
hint code cancelled. A pending order fails with expiredTransaction after
``order_lifetime`` seconds.
"""

import argparse
import base64
import ipaddress
import json
import logging
import os
import re
import secrets
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger(__name__)

API_PREFIX = "/rp/v6.0/"
CONTROL_PREFIX = "/control/v1/orders"
DEFAULT_PORT = 5055
DEFAULT_ORDER_LIFETIME = 180.0

FAIL_HINTS = {"userCancel", "certificateErr", "startFailed", "expiredTransaction", "userDeclinedCall"}
PERSONAL_NUMBER = re.compile(r"^\d{12}$")


@dataclass
class Order:
    order_ref: str
    end_user_ip: str
    created: float
    auto_start_token: str = field(default_factory=lambda: str(uuid.uuid4()))
    qr_start_token: str = field(default_factory=lambda: str(uuid.uuid4()))
    qr_start_secret: str = field(default_factory=lambda: str(uuid.uuid4()))
    status: str = "pending"
    hint_code: str = "outstandingTransaction"
    personal_number: str | None = None
    completion_data: dict | None = None


class ApiError(Exception):
    def __init__(self, http_status: int, error_code: str, details: str):
        super().__init__(details)
        self.http_status = http_status
        self.error_code = error_code
        self.details = details


class OrderBook:
    """The orders of the test server, safe for the server's request threads."""

    def __init__(self, order_lifetime: float = DEFAULT_ORDER_LIFETIME):
        self.order_lifetime = order_lifetime
        self._orders: dict[str, Order] = {}
        self._lock = threading.Lock()

    def auth(self, body: dict) -> dict:
        end_user_ip = body.get("endUserIp")
        if not isinstance(end_user_ip, str) or not _is_ip(end_user_ip):
            raise ApiError(400, "invalidParameters", "Invalid endUserIp")
        requirement = body.get("requirement") or {}
        if not isinstance(requirement, dict):
            raise ApiError(400, "invalidParameters", "Invalid requirement")
        personal_number = requirement.get("personalNumber")
        if personal_number is not None and not PERSONAL_NUMBER.match(str(personal_number)):
            raise ApiError(400, "invalidParameters", "Invalid personalNumber")

        with self._lock:
            self._expire()
            if personal_number is not None:
                pending = self._pending_for(personal_number)
                if pending:
                    for order in pending:
                        self._fail(order, "cancelled")
                    raise ApiError(400, "alreadyInProgress", "Order already in progress for pno")

            order = Order(order_ref=str(uuid.uuid4()), end_user_ip=end_user_ip, created=time.monotonic())
            order.personal_number = personal_number
            self._orders[order.order_ref] = order
        log.info("order started", extra={"order_ref": order.order_ref})
        return {
            "orderRef": order.order_ref,
            "autoStartToken": order.auto_start_token,
            "qrStartToken": order.qr_start_token,
            "qrStartSecret": order.qr_start_secret,
        }

    def collect(self, body: dict) -> dict:
        with self._lock:
            self._expire()
            order = self._order(body)
            result = {"orderRef": order.order_ref, "status": order.status}
            if order.status != "complete":
                result["hintCode"] = order.hint_code
            else:
                result["completionData"] = order.completion_data
            return result

    def cancel(self, body: dict) -> dict:
        with self._lock:
            self._expire()
            order = self._order(body)
            # A cancelled order is gone: collecting it finds no such order.
            del self._orders[order.order_ref]
        log.info("order cancelled", extra={"order_ref": order.order_ref})
        return {}

    def open_in_app(self, order_ref: str, body: dict) -> dict:
        personal_number = _personal_number(body)
        with self._lock:
            order = self._pending_order(order_ref)
            self._engage(order, personal_number)
            order.hint_code = "userSign"
            return self._describe(order)

    def complete(self, order_ref: str, body: dict) -> dict:
        personal_number = _personal_number(body)
        given_name = str(body.get("givenName") or "Test")
        surname = str(body.get("surname") or "Testsson")
        with self._lock:
            order = self._pending_order(order_ref)
            self._engage(order, personal_number)
            order.status = "complete"
            order.hint_code = ""
            order.completion_data = {
                "user": {
                    "personalNumber": personal_number,
                    "name": f"{given_name} {surname}",
                    "givenName": given_name,
                    "surname": surname,
                },
                "device": {"ipAddress": order.end_user_ip, "uhi": secrets.token_urlsafe(18)},
                "bankIdIssueDate": date.today().isoformat(),
                "stepUp": {"mrtd": False},
                "signature": base64.b64encode(b"<test-signature/>").decode(),
                "ocspResponse": base64.b64encode(b"test-ocsp-response").decode(),
            }
            return self._describe(order)

    def fail(self, order_ref: str, body: dict) -> dict:
        hint_code = body.get("hintCode")
        if hint_code not in FAIL_HINTS:
            raise ApiError(400, "invalidParameters", f"hintCode must be one of {', '.join(sorted(FAIL_HINTS))}")
        with self._lock:
            order = self._pending_order(order_ref)
            self._fail(order, hint_code)
            return self._describe(order)

    def describe_all(self) -> list[dict]:
        with self._lock:
            self._expire()
            return [self._describe(order) for order in self._orders.values()]

    def _engage(self, order: Order, personal_number: str) -> None:
        for other in self._pending_for(personal_number):
            if other is not order:
                self._fail(other, "cancelled")
        order.personal_number = personal_number

    def _pending_for(self, personal_number: str) -> list[Order]:
        return [
            order
            for order in self._orders.values()
            if order.status == "pending" and order.personal_number == personal_number
        ]

    def _fail(self, order: Order, hint_code: str) -> None:
        order.status = "failed"
        order.hint_code = hint_code

    def _expire(self) -> None:
        now = time.monotonic()
        for order in self._orders.values():
            if order.status == "pending" and now - order.created > self.order_lifetime:
                self._fail(order, "expiredTransaction")

    def _order(self, body: dict) -> Order:
        order_ref = body.get("orderRef")
        if not isinstance(order_ref, str) or order_ref not in self._orders:
            raise ApiError(400, "invalidParameters", "No such order")
        return self._orders[order_ref]

    def _pending_order(self, order_ref: str) -> Order:
        self._expire()
        order = self._orders.get(order_ref)
        if order is None:
            raise ApiError(404, "notFound", "No such order")
        if order.status != "pending":
            raise ApiError(409, "invalidParameters", f"The order is {order.status}, not pending")
        return order

    @staticmethod
    def _describe(order: Order) -> dict:
        return {"orderRef": order.order_ref, "status": order.status, "hintCode": order.hint_code}


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


def _personal_number(body: dict) -> str:
    personal_number = str(body.get("personalNumber") or "")
    if not PERSONAL_NUMBER.match(personal_number):
        raise ApiError(400, "invalidParameters", "personalNumber must be 12 digits, YYYYMMDDNNNN")
    return personal_number


class Handler(BaseHTTPRequestHandler):
    server_version = "TorgetBankIdTestServer/1"
    orders: OrderBook  # set on the subclass made by make_server

    def log_message(self, format, *args):  # noqa: A002 - the name is BaseHTTPRequestHandler's
        # Paths carry no personal identity numbers; bodies are never logged.
        log.debug("%s %s", self.command, self.path)

    def do_GET(self):
        if self.path.rstrip("/") == CONTROL_PREFIX:
            self._send(200, {"orders": self.orders.describe_all()})
        elif self.path.startswith(API_PREFIX):
            self._send(405, {"errorCode": "methodNotAllowed", "details": "Use POST"})
        else:
            self._send(404, {"errorCode": "notFound", "details": "No such endpoint"})

    def do_POST(self):
        try:
            body = self._read_json()
            self._send(200, self._dispatch(body))
        except ApiError as exc:
            self._send(exc.http_status, {"errorCode": exc.error_code, "details": exc.details})

    def _dispatch(self, body: dict) -> dict:
        if self.path.startswith(API_PREFIX):
            method = self.path[len(API_PREFIX):]
            handlers = {"auth": self.orders.auth, "collect": self.orders.collect, "cancel": self.orders.cancel}
            if method not in handlers:
                raise ApiError(404, "notFound", "No such endpoint")
            return handlers[method](body)

        if self.path.startswith(CONTROL_PREFIX + "/"):
            parts = self.path[len(CONTROL_PREFIX) + 1:].split("/")
            if len(parts) == 2:
                order_ref, action = parts
                handlers = {"user": self.orders.open_in_app, "complete": self.orders.complete, "fail": self.orders.fail}
                if action in handlers:
                    return handlers[action](order_ref, body)
        raise ApiError(404, "notFound", "No such endpoint")

    def _read_json(self) -> dict:
        if self.headers.get_content_type() != "application/json":
            raise ApiError(415, "unsupportedMediaType", "Content-Type must be application/json")
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            raise ApiError(400, "invalidParameters", "The body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "invalidParameters", "The body must be a JSON object")
        return body

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def make_server(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    order_lifetime: float = DEFAULT_ORDER_LIFETIME,
    *,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    client_ca: str | None = None,
) -> ThreadingHTTPServer:
    """Return a bound server (port 0 picks a free port); call ``serve_forever`` to run it.

    With ``tls_cert`` and ``tls_key`` it speaks HTTPS; with ``client_ca`` too
    it requires a client certificate signed by that CA, as BankID does.
    """
    handler = type("BoundHandler", (Handler,), {"orders": OrderBook(order_lifetime)})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    server.orders = handler.orders
    if tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls_cert, tls_key)
        if client_ca:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(client_ca)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    return server


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Run a BankID RP API v6.0 test server with a control API.")
    parser.add_argument("--host", default=os.environ.get("BANKID_TEST_SERVER_HOST", "127.0.0.1"), help="address to bind")
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("BANKID_TEST_SERVER_PORT", DEFAULT_PORT)), help="TCP port"
    )
    parser.add_argument(
        "--order-lifetime",
        type=float,
        default=float(os.environ.get("BANKID_TEST_ORDER_LIFETIME", DEFAULT_ORDER_LIFETIME)),
        help="seconds until a pending order fails with expiredTransaction",
    )
    parser.add_argument("--tls-cert", help="server certificate (PEM); serve HTTPS")
    parser.add_argument("--tls-key", help="server private key (PEM)")
    parser.add_argument("--client-ca", help="CA (PEM) that client certificates must be signed by")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    server = make_server(
        args.host,
        args.port,
        args.order_lifetime,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        client_ca=args.client_ca,
    )
    scheme = "https" if args.tls_cert else "http"
    log.info("BankID test server listening on %s://%s:%d%s", scheme, args.host, server.server_port, API_PREFIX)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        log.info("BankID test server stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
