"""The development servers of the local stack: SMS sink, BankID test server and SMTP catcher.

    torget-dev-server sms-sink [options of torget-sms-sink]
    torget-dev-server bankid [options of torget-bankid-test-server]
    torget-dev-server mail [--smtp-port 1025] [--http-port 8025]

honcho stops its processes with SIGTERM. The SMS sink and the BankID test
server stop cleanly only on KeyboardInterrupt, so this launcher turns SIGTERM
into KeyboardInterrupt before it runs them, and they exit with status 0.

The SMTP catcher (``mail``) accepts every message on its SMTP port, keeps the
last ``HISTORY_LIMIT`` in memory, and lists them as JSON over HTTP:

- ``GET /messages``: every stored message, oldest first; ``?to=ADDRESS``
  keeps those sent to that address;
- ``DELETE /messages``: forget them.
"""

import argparse
import email
import email.policy
import json
import logging
import os
import signal
import sys
import threading
import uuid
from collections import deque
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

log = logging.getLogger(__name__)

HISTORY_LIMIT = 1000
DEFAULT_SMTP_PORT = 1025
DEFAULT_HTTP_PORT = 8025


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _text_body(message) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    return part.get_content() if part is not None else ""


def parse_message(raw: bytes, envelope_from: str, envelope_to: list[str]) -> dict:
    """Return the JSON shape of one received message."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    return {
        "id": str(uuid.uuid4()),
        "received_at": datetime.now(timezone.utc).isoformat(),
        "envelope_from": envelope_from,
        "envelope_to": envelope_to,
        "from": str(message.get("From", "")),
        "to": str(message.get("To", "")),
        "subject": str(message.get("Subject", "")),
        "content_language": str(message.get("Content-Language", "")),
        "text": _text_body(message),
    }


class MailStore:
    """The received messages, shared by the SMTP thread and the HTTP threads."""

    def __init__(self):
        self._lock = threading.Lock()
        self._messages: deque[dict] = deque(maxlen=HISTORY_LIMIT)

    def add(self, message: dict) -> None:
        with self._lock:
            self._messages.append(message)

    def list(self, to: str | None = None) -> list[dict]:
        with self._lock:
            messages = list(self._messages)
        if to is None:
            return messages
        return [message for message in messages if to.lower() in (address.lower() for address in message["envelope_to"])]

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()


class SmtpHandler:
    """aiosmtpd handler that stores each message it receives."""

    def __init__(self, store: MailStore):
        self.store = store

    async def handle_DATA(self, server, session, envelope):
        message = parse_message(envelope.original_content or envelope.content, envelope.mail_from, list(envelope.rcpt_tos))
        self.store.add(message)
        # The subject may name a child, so only the count is logged.
        log.info("mail received for %d recipient(s)", len(message["envelope_to"]))
        return "250 Message accepted for delivery"


def _http_handler(store: MailStore):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            url = urlparse(self.path)
            if url.path != "/messages":
                self._reply(404, {"error": f"not found: {url.path}; use /messages"})
                return
            to = parse_qs(url.query).get("to", [None])[0]
            self._reply(200, {"messages": store.list(to)})

        def do_DELETE(self):
            if urlparse(self.path).path != "/messages":
                self._reply(404, {"error": "not found; use /messages"})
                return
            store.clear()
            self._reply(200, {"messages": []})

        def _reply(self, status: int, body: dict) -> None:
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format, *args):
            log.debug("http: " + format, *args)

    return Handler


def run_mail_catcher(argv: list[str]) -> int:
    from aiosmtpd.controller import Controller

    parser = argparse.ArgumentParser(prog="torget-dev-server mail", description="Catch e-mail over SMTP and list it over HTTP.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind both ports to (default 127.0.0.1)")
    parser.add_argument(
        "--smtp-port",
        type=int,
        default=int(os.environ.get("MAIL_CATCHER_SMTP_PORT", DEFAULT_SMTP_PORT)),
        help=f"SMTP port (default MAIL_CATCHER_SMTP_PORT or {DEFAULT_SMTP_PORT})",
    )
    parser.add_argument(
        "--http-port",
        type=int,
        default=int(os.environ.get("MAIL_CATCHER_HTTP_PORT", DEFAULT_HTTP_PORT)),
        help=f"HTTP port of the message list (default MAIL_CATCHER_HTTP_PORT or {DEFAULT_HTTP_PORT})",
    )
    args = parser.parse_args(argv)

    # aiosmtpd logs each recipient address at INFO on its "mail.log" logger;
    # addresses are personal data and stay out of the log.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    store = MailStore()
    controller = Controller(SmtpHandler(store), hostname=args.host, port=args.smtp_port)
    server = ThreadingHTTPServer((args.host, args.http_port), _http_handler(store))
    controller.start()
    log.info("SMTP catcher listening on %s:%d, messages at http://%s:%d/messages", args.host, args.smtp_port, args.host, args.http_port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        controller.stop()
    log.info("SMTP catcher stopped")
    return 0


def run_sms_sink(argv: list[str]) -> int:
    from torget_messaging.sms_sink import main as sms_sink_main

    return sms_sink_main(argv)


def run_bankid_test_server(argv: list[str]) -> int:
    from torget_identity.bankid_test_server import main as bankid_main

    return bankid_main(argv)


SERVERS = {"sms-sink": run_sms_sink, "bankid": run_bankid_test_server, "mail": run_mail_catcher}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in SERVERS:
        print(f"usage: torget-dev-server {{{','.join(SERVERS)}}} [options]", file=sys.stderr)
        return 2
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    signal.signal(signal.SIGTERM, _interrupt)
    return SERVERS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
