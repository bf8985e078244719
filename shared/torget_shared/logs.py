"""Structured JSON logging with the correlation id on every line."""

import logging
import logging.config

from pythonjsonlogger.json import JsonFormatter

from torget_shared.context import get_correlation_id

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class CorrelationIdFilter(logging.Filter):
    """Adds ``correlation_id`` and ``service`` to every record."""

    def __init__(self, service: str = ""):
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = get_correlation_id()
        record.service = self.service
        return True


def logging_config(service: str, level: str = "INFO") -> dict:
    """Return a ``logging.config.dictConfig`` dictionary for one process."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "correlation": {
                "()": "torget_shared.logs.CorrelationIdFilter",
                "service": service,
            }
        },
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": LOG_FORMAT,
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
                # Swedish names stay readable in the log instead of \u escapes.
                "json_ensure_ascii": False,
            }
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["correlation"],
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            # kombu and amqp log every connection detail at DEBUG.
            "kombu": {"level": "WARNING"},
            "amqp": {"level": "WARNING"},
        },
    }


def configure_logging(service: str, level: str = "INFO") -> None:
    logging.config.dictConfig(logging_config(service, level))


__all__ = ["CorrelationIdFilter", "JsonFormatter", "configure_logging", "logging_config"]
