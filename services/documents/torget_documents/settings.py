"""Settings of the documents service, from its nameko configuration or the environment."""

import os
from dataclasses import dataclass

from torget_documents.crypto import Keyring
from torget_documents.filestore import DEFAULT_MAX_BYTES
from torget_shared.config import database_url

DEFAULT_ROTATION_INTERVAL = 60.0
DEFAULT_DIRECTORY_TIMEOUT = 5.0


def _setting(config, name: str, default=None):
    value = config.get(name)
    if value in (None, ""):
        value = os.environ.get(name)
    return default if value in (None, "") else value


@dataclass(frozen=True)
class DocumentsSettings:
    database_url: str
    keys: str
    active_key_id: str | None
    administration_id: str
    file_store: str
    max_attachment_bytes: int
    rotation_interval: float
    directory_timeout: float

    @classmethod
    def from_mapping(cls, config) -> "DocumentsSettings":
        """Read each setting from ``config`` (the nameko config), else from the environment."""
        var_dir = os.environ.get("TORGET_VAR_DIR", "var")
        return cls(
            # Only the nameko config's DATABASE_URL counts: in the environment that
            # name is not the documents service's, and DOCUMENTS_DATABASE_URL is.
            database_url=config.get("DATABASE_URL") or database_url("documents"),
            keys=_setting(config, "DOCUMENTS_KEYS", ""),
            active_key_id=_setting(config, "DOCUMENTS_ACTIVE_KEY"),
            administration_id=_setting(config, "DOCUMENTS_ADMINISTRATION_ID", "default"),
            file_store=_setting(config, "DOCUMENTS_FILE_STORE", os.path.abspath(os.path.join(var_dir, "documents-files"))),
            max_attachment_bytes=int(_setting(config, "DOCUMENTS_MAX_ATTACHMENT_BYTES", DEFAULT_MAX_BYTES)),
            rotation_interval=float(_setting(config, "DOCUMENTS_ROTATION_INTERVAL", DEFAULT_ROTATION_INTERVAL)),
            directory_timeout=float(_setting(config, "RPC_TIMEOUT", DEFAULT_DIRECTORY_TIMEOUT)),
        )

    def keyring(self) -> Keyring | None:
        return Keyring.from_config(self.keys, self.active_key_id, self.administration_id)
