"""Where an SS 12000 import reads from: a live SS 12000 API or a JSON dump.

Both give the records of one entity as pages. A page of the live API comes
with the ``pageToken`` of the next page, which the importer stores once the
page is applied, so an interrupted import resumes after the last good page.
"""

import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import requests

from torget_school_directory import ss12000

log = logging.getLogger(__name__)


class SourceError(Exception):
    """The source failed to deliver a page; the import stops and can resume later."""


@dataclass
class Page:
    records: list
    # The token that fetches the page after this one; None on the last page.
    next_page_token: str | None


class DumpSource:
    """A JSON dump in SS 12000 shapes.

    ``path`` is a folder with one file per entity (``organisations.json``,
    ``persons.json``, ..., ``deletedEntities.json``), each a list of records
    or an API response ``{"data": [...]}``; or one file with an object whose
    keys are the entity names. A missing entity is read as empty.
    """

    def __init__(self, path: str, page_size: int = 2000):
        self.path = os.path.abspath(path)
        self.page_size = page_size
        self.name = f"dump:{self.path}"
        self._single_file = None
        if not os.path.exists(self.path):
            raise SourceError(f"the dump {self.path} does not exist")
        if os.path.isfile(self.path):
            self._single_file = self._read_json(self.path)
            if not isinstance(self._single_file, dict):
                raise SourceError(f"the dump {self.path} must contain a JSON object keyed by entity name")

    @staticmethod
    def _read_json(path: str):
        try:
            with open(path, encoding="utf-8") as dump_file:
                return json.load(dump_file)
        except (OSError, ValueError) as exc:
            raise SourceError(f"cannot read the dump file {path}: {exc}") from exc

    def _entity_content(self, entity: str):
        if self._single_file is not None:
            return self._single_file.get(entity)
        path = os.path.join(self.path, f"{entity}.json")
        if not os.path.exists(path):
            return None
        return self._read_json(path)

    def pages(self, entity: str, modified_after: str | None = None, page_token: str | None = None) -> Iterator[Page]:
        """Yield the entity's records in pages; a dump is read whole, so both arguments are ignored."""
        content = self._entity_content(entity)
        if isinstance(content, dict):
            content = content.get("data")
        if content is None:
            return
        if not isinstance(content, list):
            raise SourceError(f"{entity} in the dump {self.path} is not a list of records")
        for start in range(0, len(content), self.page_size):
            yield Page(content[start : start + self.page_size], None)

    def deleted_entities(self, after: str | None = None) -> dict[str, list]:
        content = self._entity_content("deletedEntities") or {}
        if isinstance(content, dict) and isinstance(content.get("data"), dict):
            content = content["data"]
        if not isinstance(content, dict):
            raise SourceError(f"deletedEntities in the dump {self.path} is not an object")
        return content


class ApiSource:
    """A live SS 12000 API, read with a bearer token.

    ``retry_delays`` are the seconds to wait before each new try after a
    server error (HTTP 5xx) or a connection failure; 401 and 403 are not
    retried because another try with the same token fails the same way.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None,
        page_size: int = 1000,
        timeout: float = 30.0,
        retry_delays: tuple[float, ...] = (1.0, 5.0),
        session: requests.Session | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.name = self.base_url
        self.page_size = page_size
        self.timeout = timeout
        self.retry_delays = retry_delays
        self.session = session or requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        self.session.headers["Accept"] = "application/json"

    def _get(self, path: str, params: dict) -> dict:
        url = f"{self.base_url}{path}"
        for attempt in range(len(self.retry_delays) + 1):
            try:
                response = self.session.get(url, params=params, timeout=self.timeout)
            except requests.RequestException as exc:
                failure = f"GET {url} failed: {exc.__class__.__name__}"
            else:
                if response.status_code in (401, 403):
                    raise SourceError(
                        f"GET {url} was rejected with HTTP {response.status_code}: check the bearer token "
                        "and the client's access at the SS 12000 source"
                    )
                if response.status_code < 500:
                    return self._json(url, response)
                failure = f"GET {url} returned HTTP {response.status_code}"

            if attempt < len(self.retry_delays):
                log.warning("%s; retry %d of %d", failure, attempt + 1, len(self.retry_delays))
                time.sleep(self.retry_delays[attempt])
        raise SourceError(f"{failure} after {len(self.retry_delays) + 1} tries")

    @staticmethod
    def _json(url: str, response: requests.Response) -> dict:
        if response.status_code != 200:
            raise SourceError(f"GET {url} returned HTTP {response.status_code}: {response.text[:200]}")
        try:
            body = response.json()
        except ValueError:
            raise SourceError(f"GET {url} returned a body that is not JSON") from None
        if not isinstance(body, dict) or "data" not in body:
            raise SourceError(f"GET {url} returned no data member")
        return body

    def pages(self, entity: str, modified_after: str | None = None, page_token: str | None = None) -> Iterator[Page]:
        """Yield pages of ``/<entity>``; start at ``page_token`` or at the first record modified after the watermark."""
        params: dict = {"limit": self.page_size}
        if page_token:
            params["pageToken"] = page_token
        elif modified_after:
            params["meta.modified.after"] = modified_after

        while True:
            body = self._get(f"/{entity}", params)
            if not isinstance(body["data"], list):
                raise SourceError(f"GET {self.base_url}/{entity} returned data that is not a list")
            next_token = body.get("pageToken") or None
            yield Page(body["data"], next_token)
            if next_token is None:
                return
            # SS 12000: a pageToken cannot be combined with other filters, only with limit.
            params = {"limit": self.page_size, "pageToken": next_token}

    def deleted_entities(self, after: str | None = None) -> dict[str, list]:
        """Return the ids deleted at the source since ``after``, by entity, from every page."""
        deleted: dict[str, list] = {}
        params: dict = {"limit": self.page_size, "entities": list(ss12000.ENTITIES)}
        if after:
            params["after"] = after
        while True:
            body = self._get("/deletedEntities", params)
            if not isinstance(body["data"], dict):
                raise SourceError(f"GET {self.base_url}/deletedEntities returned data that is not an object")
            for key, ids in body["data"].items():
                deleted.setdefault(key, []).extend(ids or [])
            next_token = body.get("pageToken")
            if not next_token:
                return deleted
            params = {"limit": self.page_size, "pageToken": next_token}
