"""Attachment files: type sniffing, the size limit and the folder of encrypted files.

An attachment's bytes live in a file outside the database, encrypted like a
document body. The file is named after the attachment id and the key id.
Key rotation therefore writes the re-encrypted file under a new name,
switches the row to it in one transaction and only then removes the old
file, so a reader always finds the file its row names.
"""

import logging
import os
import re
import tempfile
from pathlib import Path

from torget_documents.errors import AttachmentTooLarge, AttachmentTypeNotAllowed

log = logging.getLogger(__name__)

JPEG = "image/jpeg"
PNG = "image/png"
ALLOWED_CONTENT_TYPES = (JPEG, PNG)
DEFAULT_MAX_BYTES = 5 * 1024 * 1024
MAX_ATTACHMENTS_PER_ENTRY = 20

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SIGNATURE = b"\xff\xd8\xff"
_STORED_NAME = re.compile(r"^[0-9a-f-]{36}\.[A-Za-z0-9_-]{1,32}\.bin$")


def sniff_content_type(data: bytes) -> str | None:
    """Return the image type that ``data``'s leading bytes show, or None for anything else."""
    if data.startswith(_PNG_SIGNATURE) and data[12:16] == b"IHDR":
        return PNG
    if data.startswith(_JPEG_SIGNATURE):
        return JPEG
    return None


def check_image(data: bytes, declared_type: str | None, max_bytes: int) -> str:
    """Return the sniffed content type of an upload, or raise when it is too large or not JPEG/PNG."""
    if len(data) > max_bytes:
        raise AttachmentTooLarge(
            f"the attachment has {len(data)} bytes; at most {max_bytes} bytes are allowed",
            size_bytes=len(data),
            max_bytes=max_bytes,
        )

    sniffed = sniff_content_type(data)
    if sniffed is None:
        raise AttachmentTypeNotAllowed(
            "the attachment is not a JPEG or PNG image",
            allowed=list(ALLOWED_CONTENT_TYPES),
        )
    declared = (declared_type or "").split(";")[0].strip().lower()
    if declared and declared != sniffed:
        raise AttachmentTypeNotAllowed(
            f"the attachment was sent as {declared[:50]} but its content is {sniffed}",
            allowed=list(ALLOWED_CONTENT_TYPES),
            declared=declared[:50],
        )
    return sniffed


def stored_name(attachment_id: str, key_id: str) -> str:
    return f"{attachment_id}.{key_id}.bin"


class FileStore:
    """A folder of sealed attachment files."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def _path(self, name: str) -> Path:
        # Names are built from a UUID and a validated key id; this guards the folder anyway.
        if not _STORED_NAME.match(name):
            raise ValueError(f"invalid stored file name {name!r}")
        return self.root / name

    def write(self, name: str, sealed: bytes) -> None:
        """Write ``sealed`` atomically: a reader sees the whole file or none."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle, temporary = tempfile.mkstemp(dir=self.root, prefix=".upload-")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(sealed)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self._path(name))
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def read(self, name: str) -> bytes:
        return self._path(name).read_bytes()

    def delete(self, name: str) -> None:
        try:
            self._path(name).unlink(missing_ok=True)
        except OSError as exc:
            # A left-over file holds only ciphertext; it is logged, not fatal.
            log.warning("could not remove attachment file %s: %s", name, exc)
