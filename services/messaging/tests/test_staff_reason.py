"""The delivery error texts that staff see carry no recipient address."""

import pytest

from torget_messaging.views import staff_reason


@pytest.mark.parametrize("error, expected", [
    ("SMTP RCPT TO omar@example.se rejected with 550 5.1.1 Mailbox unavailable",
     "SMTP RCPT TO [recipient] rejected with 550 5.1.1 Mailbox unavailable"),
    ("SMTP 550 5.1.1 <karin@example.se>: unknown user", "SMTP 550 5.1.1 <[recipient]>: unknown user"),
    ("SMS API rejected +46701234567: invalid number", "SMS API rejected [recipient]: invalid number"),
    ("SMS API returned HTTP 500", "SMS API returned HTTP 500"),
    (None, None),
])
def test_staff_reason_hides_addresses(error, expected):
    assert staff_reason(error) == expected
