"""The animated QR code of a BankID order."""

import hashlib
import hmac


def qr_data(qr_start_token: str, qr_start_secret: str, seconds: int) -> str:
    """Return the QR code content for the whole ``seconds`` since the order started.

    The content is ``bankid.<qrStartToken>.<seconds>.<qrAuthCode>``, where
    qrAuthCode is the hex HMAC-SHA256 of the decimal seconds under
    qrStartSecret. Only the server knows the secret, so the client fetches a
    new code every second.
    """
    seconds = max(0, int(seconds))
    auth_code = hmac.new(qr_start_secret.encode(), str(seconds).encode(), hashlib.sha256).hexdigest()
    return f"bankid.{qr_start_token}.{seconds}.{auth_code}"
