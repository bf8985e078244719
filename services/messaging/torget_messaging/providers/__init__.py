"""Providers that carry a notice to its recipient: SMS over an HTTP API, e-mail over SMTP.

A provider call ends in one of four ways, and the delivery ledger records
each differently: it returns the provider's message id (sent); it raises
:class:`TransientDeliveryError` (not sent, try again later),
:class:`PermanentDeliveryError` (not sent, and no retry can mend it) or
:class:`DeliveryOutcomeUnknown` (the request may have reached the provider,
so the outcome must be reconciled before anything is sent again).
"""


class DeliveryError(Exception):
    """A provider call that did not confirm the message."""


class TransientDeliveryError(DeliveryError):
    """The message was not accepted, but a later attempt may succeed."""


class PermanentDeliveryError(DeliveryError):
    """The provider rejected the message for good (for example an invalid recipient)."""


class DeliveryOutcomeUnknown(DeliveryError):
    """The request may have reached the provider: the message may exist there."""
