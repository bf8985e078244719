"""A client of the BankID Relying Party API v6.0: auth, collect and cancel.

BankID authenticates the relying party by mutual TLS: the client certificate
and key come from configuration, and so does the CA that signs BankID's
server certificate. The base URL is configuration too, so the service runs
unchanged against BankID's test or production environment or the local test
server.
"""

import logging

import requests

log = logging.getLogger(__name__)


class BankIdError(Exception):
    """An error response from BankID; ``error_code`` is its errorCode (e.g. alreadyInProgress)."""

    def __init__(self, error_code: str, details: str = "", http_status: int | None = None):
        super().__init__(f"BankID error {error_code} (HTTP {http_status}): {details}")
        self.error_code = error_code
        self.details = details
        self.http_status = http_status


class BankIdUnavailable(Exception):
    """BankID could not be reached or did not respond in time."""


class BankIdClient:
    """Calls one BankID RP API v6.0 base URL, e.g. ``https://appapi2.test.bankid.com/rp/v6.0``."""

    def __init__(
        self,
        base_url: str,
        *,
        client_cert: str | None = None,
        client_key: str | None = None,
        ca_bundle: str | None = None,
        timeout: float = 10.0,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.cert = None
        if client_cert:
            self.cert = (client_cert, client_key) if client_key else client_cert
        self.verify = ca_bundle or True

    def auth(self, end_user_ip: str, *, user_visible_data: str | None = None, requirement: dict | None = None) -> dict:
        """Start an authentication order and return orderRef, autoStartToken, qrStartToken and qrStartSecret.

        No personal identity number is sent: the user picks the BankID in the
        app, by QR code or on the same device.
        """
        body: dict = {"endUserIp": end_user_ip}
        if user_visible_data:
            body["userVisibleData"] = user_visible_data
            body["userVisibleDataFormat"] = "simpleMarkdownV1"
        if requirement:
            body["requirement"] = requirement
        return self._post("auth", body)

    def collect(self, order_ref: str) -> dict:
        """Return the order's status (pending, failed, complete), hintCode and completionData."""
        return self._post("collect", {"orderRef": order_ref})

    def cancel(self, order_ref: str) -> None:
        self._post("cancel", {"orderRef": order_ref})

    def _post(self, method: str, body: dict) -> dict:
        url = f"{self.base_url}/{method}"
        try:
            # verify and cert go with each request: requests lets REQUESTS_CA_BUNDLE
            # from the environment override a Session's own verify setting.
            response = self.session.post(url, json=body, timeout=self.timeout, verify=self.verify, cert=self.cert)
        except requests.RequestException as exc:
            log.warning("BankID %s failed: %s", method, type(exc).__name__)
            raise BankIdUnavailable(f"BankID {method} failed: {type(exc).__name__}") from exc

        if response.status_code == 200:
            return response.json() if response.content else {}

        try:
            error = response.json()
        except ValueError:
            error = {}
        error_code = error.get("errorCode") or f"http{response.status_code}"
        log.warning("BankID %s returned HTTP %d, errorCode %s", method, response.status_code, error_code)
        if response.status_code >= 500 and error_code not in ("internalError", "maintenance"):
            raise BankIdUnavailable(f"BankID {method} returned HTTP {response.status_code}")
        raise BankIdError(error_code, str(error.get("details", ""))[:200], response.status_code)
