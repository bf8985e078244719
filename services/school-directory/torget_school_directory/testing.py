"""An SS 12000 API played by a werkzeug server on 127.0.0.1, for tests of the import.

It serves a data set with ``limit``/``pageToken`` paging and the
``meta.modified.after`` filter, checks the bearer token, and fails a chosen
request with a chosen status code.
"""

import json
import threading
from datetime import datetime

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


def _modified(record) -> datetime:
    return datetime.fromisoformat(record["meta"]["modified"])


class Ss12000Server:
    def __init__(self, entities: dict, token: str = "test-token"):
        self.entities = entities
        self.deleted: dict[str, list] = {}
        self.token = token
        self.requests: list[tuple[str, dict]] = []
        # (path, nth request to it counted from 1) -> status code to respond with instead
        self.failures: dict[tuple[str, int], int] = {}
        self._pages: dict[str, list] = {}
        self._counts: dict[str, int] = {}
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/v2.1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._server.shutdown()
        self._thread.join(5)

    def fail(self, path: str, nth: int, status: int) -> None:
        self.failures[(path, nth)] = status

    def _json(self, body, status=200) -> Response:
        return Response(json.dumps(body), status=status, mimetype="application/json")

    def app(self, environ, start_response):
        request = Request(environ)
        path = request.path.removeprefix("/v2.1")
        self.requests.append((path, dict(request.args)))
        self._counts[path] = self._counts.get(path, 0) + 1

        if request.headers.get("Authorization") != f"Bearer {self.token}":
            response = self._json({"code": "unauthorized", "message": "invalid token"}, 401)
        elif (path, self._counts[path]) in self.failures:
            response = self._json({"code": "error", "message": "failure"}, self.failures[(path, self._counts[path])])
        elif path == "/deletedEntities":
            response = self._json({"data": self.deleted, "pageToken": None})
        elif path.lstrip("/") in self.entities:
            response = self._json(self._page(path.lstrip("/"), request.args))
        else:
            response = self._json({"code": "not_found", "message": path}, 404)
        return response(environ, start_response)

    def _page(self, entity: str, args) -> dict:
        limit = int(args.get("limit", 100))
        token = args.get("pageToken")
        if token:
            key, offset = token.rsplit(":", 1)
            records, offset = self._pages[key], int(offset)
        else:
            records = self.entities[entity]
            after = args.get("meta.modified.after")
            if after:
                records = [record for record in records if _modified(record) > datetime.fromisoformat(after)]
            key = f"{entity}-{len(self._pages)}"
            self._pages[key] = records
            offset = 0
        page = records[offset : offset + limit]
        next_offset = offset + limit
        return {"data": page, "pageToken": f"{key}:{next_offset}" if next_offset < len(records) else None}
