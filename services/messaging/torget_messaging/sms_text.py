"""Counting an SMS text in GSM-7 or UCS-2 segments (3GPP TS 23.038, GSM 03.38).

A text whose every character is in the GSM 7-bit default alphabet or its
extension table is sent in GSM-7: 160 septets in one segment, 153 per
segment of a concatenated message (the user data header takes the rest).
An extension character is sent as an escape plus the character, so it takes
two septets, and the pair is never split between segments. Any other
character (an en dash, a curly apostrophe, Arabic) makes the whole text UCS-2:
70 UTF-16 code units in one segment, 67 per segment when concatenated, and
a surrogate pair is never split.
"""

from dataclasses import dataclass

GSM7 = "gsm7"
UCS2 = "ucs2"

# The GSM 7-bit default alphabet, in code order 0x00-0x7F. 0x1B is the
# escape to the extension table and is not a character of its own.
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_BASIC_SET = frozenset(GSM7_BASIC) - {"\x1b"}

# The default extension table: each takes an escape septet plus its own.
GSM7_EXTENSION_SET = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE_SEPTETS = 160
GSM7_CONCATENATED_SEPTETS = 153
UCS2_SINGLE_UNITS = 70
UCS2_CONCATENATED_UNITS = 67


@dataclass(frozen=True)
class SmsCount:
    encoding: str
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    segments: int


def encoding_for(text: str) -> str:
    """Return ``gsm7`` when every character of ``text`` fits GSM-7, else ``ucs2``."""
    for character in text:
        if character not in GSM7_BASIC_SET and character not in GSM7_EXTENSION_SET:
            return UCS2
    return GSM7


def _character_units(text: str, encoding: str) -> list[int]:
    if encoding == GSM7:
        return [2 if character in GSM7_EXTENSION_SET else 1 for character in text]
    # Characters outside the Basic Multilingual Plane are a surrogate pair.
    return [2 if ord(character) > 0xFFFF else 1 for character in text]


def _segments(units: list[int], single: int, concatenated: int) -> int:
    total = sum(units)
    if total == 0:
        return 1
    if total <= single:
        return 1

    # Fill segments character by character, so a two-unit character that
    # does not fit at the end of a segment starts the next one.
    segments = 1
    used = 0
    for size in units:
        if used + size > concatenated:
            segments += 1
            used = 0
        used += size
    return segments


def count_sms(text: str) -> SmsCount:
    """Return the encoding, length in units and number of segments of ``text``."""
    encoding = encoding_for(text)
    units = _character_units(text, encoding)
    if encoding == GSM7:
        segments = _segments(units, GSM7_SINGLE_SEPTETS, GSM7_CONCATENATED_SEPTETS)
    else:
        segments = _segments(units, UCS2_SINGLE_UNITS, UCS2_CONCATENATED_UNITS)
    return SmsCount(encoding=encoding, units=sum(units), segments=segments)

