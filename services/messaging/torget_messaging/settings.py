"""Settings of the messaging service, read from the nameko config (see config.yaml)."""

from dataclasses import dataclass


def _delays(raw, name: str) -> tuple[float, ...]:
    if isinstance(raw, str):
        parts = [part for part in raw.split(",") if part.strip()]
    else:
        parts = list(raw)
    try:
        delays = tuple(float(part) for part in parts)
    except ValueError as exc:
        raise ValueError(f"{name} must be comma-separated seconds, got {raw!r}") from exc
    if not delays or any(delay <= 0 for delay in delays):
        raise ValueError(f"{name} must list at least one positive delay, got {raw!r}")
    return delays


@dataclass(frozen=True)
class MessagingSettings:
    sms_api_url: str = "http://127.0.0.1:8046"
    sms_api_username: str = "torget"
    sms_api_password: str = "torget"
    sms_sender: str = "Torget"
    sms_connect_timeout: float = 3.0
    # Seconds to wait for the SMS API's response; after it the outcome is unknown.
    sms_timeout: float = 10.0
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str = ""
    smtp_password: str = ""
    # none, starttls or tls
    smtp_security: str = "none"
    smtp_timeout: float = 10.0
    email_sender: str = "no-reply@torget.invalid"
    email_sender_name: str = "Torget"
    # Base of the links in e-mails, e.g. https://torget.example.se
    public_url: str = "http://127.0.0.1:8000"
    locale_dir: str = ""
    # Seconds before the 2nd, 3rd, ... attempt; a delivery fails after the last.
    retry_delays: tuple[float, ...] = (10.0, 60.0, 300.0, 900.0)
    # Seconds a claimed delivery stays in "sending" before the sweeper
    # reconciles it; must exceed the longest provider call.
    sending_lease: float = 60.0
    # Seconds after an unknown outcome before the provider's history is read,
    # so a request still in flight has reached the history.
    reconcile_delay: float = 30.0
    sweep_interval: float = 5.0
    sweep_batch: int = 100

    @classmethod
    def from_config(cls, config: dict) -> "MessagingSettings":
        def value(key: str, default, cast=str):
            raw = config.get(key)
            if raw in (None, ""):
                return default
            try:
                return cast(raw)
            except ValueError as exc:
                raise ValueError(f"{key} must be a {cast.__name__}, got {raw!r}") from exc

        defaults = cls()
        settings = cls(
            sms_api_url=value("SMS_API_URL", defaults.sms_api_url),
            sms_api_username=value("SMS_API_USERNAME", defaults.sms_api_username),
            sms_api_password=value("SMS_API_PASSWORD", defaults.sms_api_password),
            sms_sender=value("SMS_SENDER", defaults.sms_sender),
            sms_connect_timeout=value("SMS_CONNECT_TIMEOUT", defaults.sms_connect_timeout, float),
            sms_timeout=value("SMS_TIMEOUT", defaults.sms_timeout, float),
            smtp_host=value("SMTP_HOST", defaults.smtp_host),
            smtp_port=value("SMTP_PORT", defaults.smtp_port, int),
            smtp_username=value("SMTP_USERNAME", defaults.smtp_username),
            smtp_password=value("SMTP_PASSWORD", defaults.smtp_password),
            smtp_security=value("SMTP_SECURITY", defaults.smtp_security),
            smtp_timeout=value("SMTP_TIMEOUT", defaults.smtp_timeout, float),
            email_sender=value("EMAIL_SENDER", defaults.email_sender),
            email_sender_name=value("EMAIL_SENDER_NAME", defaults.email_sender_name),
            public_url=value("PUBLIC_URL", defaults.public_url).rstrip("/"),
            locale_dir=value("LOCALE_DIR", defaults.locale_dir),
            retry_delays=_delays(config["DELIVERY_RETRY_DELAYS"], "DELIVERY_RETRY_DELAYS")
            if config.get("DELIVERY_RETRY_DELAYS")
            else defaults.retry_delays,
            sending_lease=value("DELIVERY_SENDING_LEASE", defaults.sending_lease, float),
            reconcile_delay=value("DELIVERY_RECONCILE_DELAY", defaults.reconcile_delay, float),
            sweep_interval=value("DELIVERY_SWEEP_INTERVAL", defaults.sweep_interval, float),
            sweep_batch=value("DELIVERY_SWEEP_BATCH", defaults.sweep_batch, int),
        )
        longest_call = max(settings.sms_connect_timeout + settings.sms_timeout, settings.smtp_timeout)
        if settings.sending_lease <= longest_call:
            raise ValueError(
                f"DELIVERY_SENDING_LEASE ({settings.sending_lease} s) must exceed the longest provider call "
                f"({longest_call} s), or a delivery still in progress would be reconciled"
            )
        return settings
