"""BankID Relying Party API v6: the client, the animated QR code and the user messages."""

from torget_identity.bankid.client import BankIdClient, BankIdError, BankIdUnavailable
from torget_identity.bankid.messages import user_message
from torget_identity.bankid.qr import qr_data

__all__ = ["BankIdClient", "BankIdError", "BankIdUnavailable", "qr_data", "user_message"]
