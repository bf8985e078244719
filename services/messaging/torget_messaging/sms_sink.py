"""An SMS sink for development and tests: a small HTTP server that speaks the 46elks-shaped API.

    torget-sms-sink [--host 127.0.0.1] [--port 8046] [--username torget --password torget]

It accepts ``POST /a1/sms`` (form fields from, to, message; Basic auth) and
records each message instead of sending it, and serves the history at
``GET /a1/sms`` and one message at ``GET /a1/sms/<id>``.

For tests it also offers:

- ``GET /sink/messages``: every recorded message with the time it arrived;
- ``DELETE /sink/messages``: forget them;
- ``POST /sink/behaviour`` with JSON ``{"mode": ..., "count": n, "delay": s}``:
  the next ``n`` sends (every send when count is absent) get the mode
  ``fail`` (500, nothing recorded), ``timeout`` (no response for ``delay``
  seconds, nothing recorded, then the connection closes), ``late`` (recorded,
  then the response comes after ``delay`` seconds), ``reject`` (400, nothing
  recorded) or ``normal``.
"""

import argparse
import base64
import json
import logging
import os
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from torget_messaging.sms_text import count_sms

log = logging.getLogger(__name__)

MODES = ("normal", "fail", "timeout", "late", "reject")
DEFAULT_PORT = 8046
HISTORY_LIMIT = 100


class SinkState:
    """The recorded messages and the behaviour of the next sends."""

    def __init__(self, username: str | None = None, password: str | None = None):
        self.username = username
        self.password = password
        self.lock = threading.Lock()
        self.messages: list[dict] = []
        self.mode = "normal"
        self.remaining: int | None = None
        self.delay = 0.0

    def set_behaviour(self, mode: str, count: int | None, delay: float) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        with self.lock:
            self.mode, self.remaining, self.delay = mode, count, delay

    def next_behaviour(self) -> tuple[str, float]:
        with self.lock:
            mode, delay = self.mode, self.delay
            if self.remaining is not None:
                self.remaining -= 1
                if self.remaining <= 0:
                    self.mode, self.remaining = "normal", None
            return mode, delay

    def record(self, sender: str, to: str, message: str) -> dict:
        now = datetime.now(timezone.utc)
        count = count_sms(message)
        entry = {
            "id": "s" + uuid.uuid4().hex,
            "created": now.replace(tzinfo=None).isoformat(),
            "direction": "outgoing",
            "from": sender,
            "to": to,
            "message": message,
            "status": "delivered",
            "parts": count.segments,
            "encoding": count.encoding,
            "received_at": time.time(),
        }
        with self.lock:
            self.messages.append(entry)
        return entry

    def history(self, to: str | None, created_after: str | None, created_before: str | None, limit: int) -> dict:
        with self.lock:
            matching = [
                message
                for message in reversed(self.messages)
                if (to is None or message["to"] == to)
                and (created_after is None or message["created"] > created_after)
                and (created_before is None or message["created"] < created_before)
            ]
        page = matching[:limit]
        body = {"data": [_public(message) for message in page]}
        if len(matching) > limit:
            body["next"] = page[-1]["created"]
        return body


def _public(message: dict) -> dict:
    return {key: value for key, value in message.items() if key not in ("received_at", "encoding")}


class SinkHandler(BaseHTTPRequestHandler):
    server_version = "TorgetSmsSink/1"
    state: SinkState

    def log_message(self, format, *args):  # noqa: A002 - the name is BaseHTTPRequestHandler's
        log.debug("sms sink: " + format, *args)

    def _send_json(self, status: int, body) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_text(self, status: int, text: str) -> None:
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        if self.state.username is None:
            return True
        expected = base64.b64encode(f"{self.state.username}:{self.state.password}".encode()).decode()
        return self.headers.get("Authorization") == f"Basic {expected}"

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_POST(self):  # noqa: N802 - the name is BaseHTTPRequestHandler's
        path = urlparse(self.path).path
        if path == "/sink/behaviour":
            return self._set_behaviour()
        if path.rstrip("/").lower() != "/a1/sms":
            return self._send_text(404, "Not found")
        if not self._authorized():
            return self._send_text(401, "Invalid credentials")
        return self._send_sms()

    def _send_sms(self):
        form = {key: values[0] for key, values in parse_qs(self._body().decode("utf-8"), keep_blank_values=True).items()}
        missing = [field for field in ("from", "to", "message") if not form.get(field)]
        if missing:
            return self._send_text(400, f"Missing fields: {', '.join(missing)}")

        mode, delay = self.state.next_behaviour()
        if mode == "fail":
            return self._send_text(500, "Internal error")
        if mode == "reject":
            return self._send_text(400, "Invalid to number")
        if mode == "timeout":
            time.sleep(delay)
            self.close_connection = True
            return None

        entry = self.state.record(form["from"], form["to"], form["message"])
        if mode == "late":
            time.sleep(delay)
        return self._send_json(200, {**_public(entry), "status": "created"})

    def _set_behaviour(self):
        try:
            request = json.loads(self._body() or b"{}")
            count = request.get("count")
            self.state.set_behaviour(
                request.get("mode", "normal"), int(count) if count is not None else None, float(request.get("delay", 0))
            )
        except (ValueError, TypeError, AttributeError) as exc:
            return self._send_text(400, f"Invalid behaviour: {exc}")
        return self._send_json(200, {"mode": self.state.mode, "count": self.state.remaining, "delay": self.state.delay})

    def do_GET(self):  # noqa: N802
        parsed = urlparse(self.path)
        query = {key: values[0] for key, values in parse_qs(parsed.query).items()}
        path = parsed.path.rstrip("/")
        if path == "/sink/messages":
            with self.state.lock:
                return self._send_json(200, list(self.state.messages))
        if not path.lower().startswith("/a1/sms"):
            return self._send_text(404, "Not found")
        if not self._authorized():
            return self._send_text(401, "Invalid credentials")
        if path.lower() == "/a1/sms":
            try:
                limit = min(int(query.get("limit", HISTORY_LIMIT)), HISTORY_LIMIT)
            except ValueError:
                return self._send_text(400, "limit must be a number")
            # As in 46elks: "end" keeps messages created after it, "start" those before it.
            return self._send_json(200, self.state.history(query.get("to"), query.get("end"), query.get("start"), limit))

        message_id = path.rsplit("/", 1)[1]
        with self.state.lock:
            found = [message for message in self.state.messages if message["id"] == message_id]
        if not found:
            return self._send_text(404, "Not found")
        return self._send_json(200, _public(found[0]))

    def do_DELETE(self):  # noqa: N802
        if urlparse(self.path).path.rstrip("/") != "/sink/messages":
            return self._send_text(404, "Not found")
        with self.state.lock:
            self.state.messages.clear()
        return self._send_json(200, [])


class SmsSink:
    """The sink's HTTP server; ``start()`` runs it in a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, username: str | None = None, password: str | None = None):
        self.state = SinkState(username, password)
        handler = type("BoundSinkHandler", (SinkHandler,), {"state": self.state})
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "SmsSink":
        self.thread = threading.Thread(target=self.server.serve_forever, name="sms-sink", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def messages(self) -> list[dict]:
        with self.state.lock:
            return list(self.state.messages)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Run an SMS sink that accepts the 46elks-shaped SMS API and records messages.")
    parser.add_argument("--host", default=os.environ.get("SMS_SINK_HOST", "127.0.0.1"), help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("SMS_SINK_PORT", DEFAULT_PORT)), help=f"TCP port (default {DEFAULT_PORT}, or SMS_SINK_PORT)"
    )
    parser.add_argument("--username", default=os.environ.get("SMS_SINK_USERNAME", "torget"), help="Basic auth user name")
    parser.add_argument("--password", default=os.environ.get("SMS_SINK_PASSWORD", "torget"), help="Basic auth password")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    sink = SmsSink(args.host, args.port, args.username, args.password)
    log.info("SMS sink listening on %s", sink.url)
    try:
        sink.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sink.server.server_close()
    log.info("SMS sink stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
