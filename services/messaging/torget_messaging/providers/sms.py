"""A client of an SMS HTTP API shaped like 46elks.

Sending is ``POST {base}/a1/sms`` with the form fields ``from``, ``to`` and
``message`` and HTTP Basic authentication; the response is JSON with the
message ``id`` and ``status``. The history ``GET {base}/a1/sms`` takes ``to``
(recipient filter), ``end`` (only messages created after this UTC time),
``start`` (only messages created before it, used for paging) and ``limit``,
and returns ``{"data": [...], "next": <timestamp of the next page>}``.
"""

import logging
from datetime import datetime, timezone

import requests

from torget_messaging.providers import DeliveryOutcomeUnknown, PermanentDeliveryError, TransientDeliveryError

log = logging.getLogger(__name__)

# HTTP statuses after which a later attempt may succeed; every other 4xx is final.
RETRYABLE_CLIENT_STATUSES = {408, 409, 425, 429}
HISTORY_PAGE_LIMIT = 100
HISTORY_MAX_PAGES = 20


def provider_timestamp(moment: datetime) -> str:
    """Format ``moment`` the way the API writes times: naive UTC ISO 8601."""
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat()


class SmsClient:
    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        sender: str,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
    ):
        self.base_url = base_url.rstrip("/")
        self.auth = (username, password)
        self.sender = sender
        self.timeout = (connect_timeout, read_timeout)
        self.session = requests.Session()

    def send(self, to: str, message: str) -> str:
        """Send one SMS and return the provider's message id."""
        try:
            response = self.session.post(
                f"{self.base_url}/a1/sms",
                data={"from": self.sender, "to": to, "message": message},
                auth=self.auth,
                timeout=self.timeout,
            )
        except requests.exceptions.ConnectTimeout as exc:
            raise TransientDeliveryError(f"SMS API connect timed out: {exc}") from exc
        except requests.exceptions.ReadTimeout as exc:
            raise DeliveryOutcomeUnknown(f"SMS API response timed out after {self.timeout[1]} s") from exc
        except requests.exceptions.ConnectionError as exc:
            if _never_connected(exc):
                raise TransientDeliveryError(f"SMS API unreachable: {exc}") from exc
            raise DeliveryOutcomeUnknown(f"SMS API connection lost before a response: {exc}") from exc

        if response.status_code >= 500 or response.status_code in RETRYABLE_CLIENT_STATUSES:
            raise TransientDeliveryError(f"SMS API returned {response.status_code}: {response.text[:200]}")
        if response.status_code >= 400:
            raise PermanentDeliveryError(f"SMS API rejected the message with {response.status_code}: {response.text[:200]}")

        try:
            message_id = response.json()["id"]
        except (ValueError, KeyError, TypeError) as exc:
            # The provider accepted the request but the body is unreadable.
            raise DeliveryOutcomeUnknown(f"SMS API response has no message id: {response.text[:200]}") from exc
        return str(message_id)

    def find_sent(self, to: str, message: str, since: datetime) -> str | None:
        """Return the id of an SMS with this text sent to ``to`` after ``since``, or None.

        Raises :class:`TransientDeliveryError` when the history cannot be read.
        """
        params = {"to": to, "end": provider_timestamp(since), "limit": HISTORY_PAGE_LIMIT}
        for _ in range(HISTORY_MAX_PAGES):
            page = self._history_page(params)
            for item in page.get("data", []):
                if item.get("to") == to and item.get("message") == message and item.get("direction", "outgoing") != "incoming":
                    return str(item["id"])
            if not page.get("next"):
                return None
            params["start"] = page["next"]
        # NOTE: a recipient with more than HISTORY_MAX_PAGES pages of SMS in
        # the window is reported as not found.
        return None

    def _history_page(self, params: dict) -> dict:
        try:
            response = self.session.get(f"{self.base_url}/a1/sms", params=params, auth=self.auth, timeout=self.timeout)
        except requests.exceptions.RequestException as exc:
            raise TransientDeliveryError(f"SMS history could not be read: {exc}") from exc
        if response.status_code != 200:
            raise TransientDeliveryError(f"SMS history returned {response.status_code}: {response.text[:200]}")
        try:
            return response.json()
        except ValueError as exc:
            raise TransientDeliveryError(f"SMS history is not JSON: {response.text[:200]}") from exc


def _never_connected(exc: requests.exceptions.ConnectionError) -> bool:
    """Tell a connection that was never made from one lost after the request was sent."""
    text = repr(exc)
    return "NewConnectionError" in text or "Connection refused" in text or "NameResolutionError" in text
